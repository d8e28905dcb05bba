#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# ptm info/run/generate/convert end to end on tiny GPT-2 folders whose
# weights real torch.save wrote (tests/reference/pytorch_gpt2.py); logits and
# greedy continuations are compared with torch's own computation.
#   pytorch_e2e.sh PTM PYTHON OUTDIR PYTORCH_GPT2_PY
set -u
PTM=$1; PY=$2; OUT=$3; REF=$4
rm -rf "$OUT"; mkdir -p "$OUT"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
run() { name=$1; shift; if "$@" >"$OUT/$name.log" 2>&1; then ok "$name"; else bad "$name"; cat "$OUT/$name.log"; fi; }
G="$PY $REF"
IDS=72,101,108,108,111

$G make "$OUT/bin" bin 0 || { echo "FAIL cannot write fixtures"; exit 1; }
$G make "$OUT/sharded" sharded 0
$G make "$OUT/both" both 0
$G make "$OUT/bf16" bf16 0

# a folder holding only pytorch_model.bin
run info_bin sh -c "$PTM info '$OUT/bin' --json > '$OUT/info.json' && grep -q '\"model_type\": *\"gpt2\"' '$OUT/info.json' && grep -q 'pytorch_model.bin' '$OUT/info.json'"
run run_bin $PTM run "$OUT/bin" --ids $IDS --output "$OUT/bin_logits.safetensors"
run run_bin_logits $G check-logits "$OUT/bin" "$OUT/bin_logits.safetensors" $IDS 0
run generate_bin $PTM generate "$OUT/bin" --ids 10,20,30 --max-new-tokens 6
run generate_bin_greedy $G check-greedy "$OUT/bin" 10,20,30 6 "$OUT/generate_bin.log" 0

# sharded checkpoint through pytorch_model.bin.index.json
run run_sharded $PTM run "$OUT/sharded" --ids $IDS --output "$OUT/sharded_logits.safetensors"
run run_sharded_logits $G check-logits "$OUT/sharded" "$OUT/sharded_logits.safetensors" $IDS 0

# model.safetensors wins over pytorch_model.bin (its weights are seed 1)
run run_both $PTM run "$OUT/both" --ids $IDS --output "$OUT/both_logits.safetensors"
run priority_safetensors $G check-logits "$OUT/both" "$OUT/both_logits.safetensors" $IDS 1

# bfloat16 weights (torch's BFloat16Storage), computed in f32 by both sides
run run_bf16 $PTM run "$OUT/bf16" --ids $IDS --dtype f32 --output "$OUT/bf16_logits.safetensors"
run run_bf16_logits $G check-logits "$OUT/bf16" "$OUT/bf16_logits.safetensors" $IDS 0 1e-3

# convert both ways: pytorch -> pytorch (torch reads it), -> safetensors -> pytorch
run convert_to_pytorch $PTM convert "$OUT/bin" "$OUT/conv_pt" --format pytorch
run convert_torch_load $G check-same "$OUT/bin/pytorch_model.bin" "$OUT/conv_pt/pytorch_model.bin"
run convert_to_safetensors $PTM convert "$OUT/conv_pt" "$OUT/conv_st" --format safetensors
run convert_back $PTM convert "$OUT/conv_st" "$OUT/conv_pt2" --format pytorch
run convert_back_torch_load $G check-same "$OUT/bin/pytorch_model.bin" "$OUT/conv_pt2/pytorch_model.bin"
run run_converted $PTM run "$OUT/conv_pt2" --ids $IDS --output "$OUT/conv_logits.safetensors"
run run_converted_logits $G check-logits "$OUT/conv_pt2" "$OUT/conv_logits.safetensors" $IDS 0
run convert_sharded $PTM convert "$OUT/sharded" "$OUT/conv_sh" --format pytorch
run convert_sharded_torch_load $G check-same "$OUT/bin/pytorch_model.bin" "$OUT/conv_sh/pytorch_model.bin"

# a legacy-format file is refused with a message saying how to convert it
mkdir -p "$OUT/legacy" && cp "$OUT/bin/config.json" "$OUT/legacy/"
$PY -c "import torch,sys; torch.save(torch.load(sys.argv[1]), sys.argv[2], _use_new_zipfile_serialization=False)" \
  "$OUT/bin/pytorch_model.bin" "$OUT/legacy/pytorch_model.bin"
if $PTM info "$OUT/legacy" >"$OUT/legacy.log" 2>&1; then bad legacy_refused; cat "$OUT/legacy.log"
elif grep -q "_use_new_zipfile_serialization=True" "$OUT/legacy.log"; then ok legacy_refused
else bad legacy_refused; cat "$OUT/legacy.log"; fi

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
