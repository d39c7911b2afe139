#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# Installs the Debian 12 packages slidepipe needs to build, test and
# benchmark (python3-torch for the Python package's DataLoader test,
# python3-tifffile for tests/svs.sh and tests/ome.sh, gdal-bin for
# bench/metadata-table.sh; python3-scipy, python3-skimage and python3-shapely
# as the segmentation tests' references, never the library's dependencies;
# dicom3tools' dciodvfy, python3-pydicom and orthanc-wsi's OrthancWSIDicomizer
# as the DICOM tests' tools),
# and to fuzz (clang, libFuzzer in libclang-rt-14-dev, llvm's
# symbolizer and coverage tools) and check memory (valgrind, libc6-dbg).
# Safe to run again: apt-get skips what is installed.
set -eu

packages="
build-essential autoconf automake libtool pkg-config
libvips-dev libvips-tools libglib2.0-dev libtiff-dev liblcms2-dev libturbojpeg0-dev libjpeg62-turbo-dev libdeflate-dev
libjson-glib-dev libopenslide-dev openslide-tools python3 python3-openslide python3-numpy python3-pil
python3-cffi python3-pytest python3-torch
libtiff-tools time python3-tifffile gdal-bin
python3-scipy python3-skimage python3-shapely
dicom3tools python3-pydicom orthanc-wsi
slurm-wlm munge
clang libclang-rt-14-dev llvm valgrind libc6-dbg
"

missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
if [ -z "$missing" ]; then
	echo "install-deps: all packages present"
	exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing$missing"
$SUDO apt-get update -q
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
