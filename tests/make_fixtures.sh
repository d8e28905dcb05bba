#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Writes the model fixtures the C tests and CLI tests read, with the
# independent Python writer (tests/reference/tiny_model.py).
set -eu
PY=$1; SRC=$2; OUT=$3
rm -rf "$OUT"; mkdir -p "$OUT"
T="$PY $SRC/tests/reference/tiny_model.py make"
$T "$OUT/head"
$T "$OUT/head_f16" --dtype f16
$T "$OUT/head_bf16" --dtype bf16
$T "$OUT/head_untied" --untied
$T "$OUT/base" --base
$T "$OUT/head_prefixless" --prefixless
$T "$OUT/head_untied_prefixless" --untied --prefixless
$T "$OUT/head_extra" --extra-key
$T "$OUT/head_missing" --drop model.layers.0.proj.bias
$T "$OUT/head_missing_norm" --drop model.layers.1.norm.weight
$T "$OUT/head_auto" --dtype bf16 --no-torch-dtype
# bad configs next to good weights
mkdir -p "$OUT/bad_json" "$OUT/no_model_type" "$OUT/unknown_arch" "$OUT/no_weights"
cp "$OUT/head/model.safetensors" "$OUT/bad_json/"; printf '{"model_type": "ptm-tiny",' > "$OUT/bad_json/config.json"
cp "$OUT/head/model.safetensors" "$OUT/no_model_type/"; printf '{"vocab_size": 32}\n' > "$OUT/no_model_type/config.json"
cp "$OUT/head/model.safetensors" "$OUT/unknown_arch/"
printf '{"model_type": "martian", "architectures": ["MartianForEverything"]}\n' > "$OUT/unknown_arch/config.json"
cp "$OUT/head/config.json" "$OUT/no_weights/"
echo "fixtures written to $OUT"
