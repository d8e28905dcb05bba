#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Builds ptm and generates text with the bundled GPT-2 (models/gpt2-kjv).
set -eu
cd "$(dirname "$0")/.."
sh scripts/install-deps.sh
cmake -S . -B build -G Ninja >/dev/null
cmake --build build
./build/bin/ptm generate models/gpt2-kjv --prompt "And God said" --max-new-tokens 120
