#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian packages ptm builds and tests with (only the missing
# ones; apt-get update runs first when anything is missing).  Needs root, or
# sudo when available.
set -eu
PKGS="build-essential cmake ninja-build pkg-config libltdl-dev libcjson-dev libcurl4-openssl-dev libssl-dev
      libmsgpack-dev libopenblas-dev libhdf5-dev clang python3 python3-numpy python3-torch python3-h5py python3-msgpack
      libvulkan-dev glslc mesa-vulkan-drivers"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null && SUDO=sudo
echo "installing:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
