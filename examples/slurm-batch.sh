#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# A Slurm array job that crops every region of a manifest: N tasks each
# take every N-th row (slidepipe batch --shard slurm reads
# SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_MIN and SLURM_ARRAY_TASK_COUNT),
# so together they cover the manifest exactly once. Rerunning the array
# after a failure or a pre-emption skips outputs that are already whole.
#
#   sbatch --array=1-8 examples/slurm-batch.sh regions.csv /shared/crops
#
#SBATCH --job-name=slidepipe-batch
#SBATCH --cpus-per-task=2
#SBATCH --output=slidepipe-batch-%A_%a.log
set -euo pipefail
manifest=${1:?usage: sbatch --array=1-N slurm-batch.sh MANIFEST OUT_DIR}
out_dir=${2:?usage: sbatch --array=1-N slurm-batch.sh MANIFEST OUT_DIR}

exec slidepipe batch "$manifest" --out-dir "$out_dir" \
	--shard slurm -j "${SLURM_CPUS_PER_TASK:-1}" \
	--report "$out_dir/report-${SLURM_ARRAY_TASK_ID}.csv"
