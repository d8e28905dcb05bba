#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds ptm and runs it on the bundled model.
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
./build/bin/ptm info models/tiny
