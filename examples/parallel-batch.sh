#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# The same manifest split over 4 processes with GNU parallel: shard K of N
# takes the rows whose index mod N is K-1, so the four runs together cover
# it exactly once (on one machine or, with parallel -S, several).
#
#   examples/parallel-batch.sh regions.csv crops
set -eu
manifest=${1:?usage: parallel-batch.sh MANIFEST OUT_DIR}
out_dir=${2:?usage: parallel-batch.sh MANIFEST OUT_DIR}

parallel slidepipe batch "$manifest" --out-dir "$out_dir" --shard {}/4 -j 1 \
	--report "$out_dir/report-{}.csv" ::: 1 2 3 4
