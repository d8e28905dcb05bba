#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# The Flax msgpack plugin end to end through the CLI.  Checkpoints are written
# by tests/reference/msgpack_ref.py with Python msgpack in the flax layout
# (GPT-2-shaped FlaxGPT2LMHeadModel params, FlaxConv1D kernels (out, in));
# `ptm run --output` logits are compared with the plain-PyTorch GPT-2 of
# gpt2_ref.py on the same weights; files ptm writes are read back by Python
# msgpack and must equal, byte for byte, what flax would write; dtype casts
# with a mask are checked per tensor (bf16 = numpy's round-nearest-even).
# Usage: msgpack_e2e.sh PTM PYTHON OUTDIR REF_SCRIPT
set -u
PTM=$1; PY=$2; OUT=$3; REF=$4
rm -rf "$OUT"; mkdir -p "$OUT"; cd "$OUT" || exit 1
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
run() { name=$1; shift; if "$@" >"$name.log" 2>&1; then ok "$name"; else bad "$name"; cat "$name.log"; fi; }
# expect NAME CODE NEEDLE... -- CMD: exit CODE, one line on stderr holding every needle
expect() {
  name=$1; code=$2; shift 2
  needles=""
  while [ "$1" != "--" ]; do needles="$needles
$1"; shift; done; shift
  "$@" >"$name.out" 2>"$name.err"; rc=$?
  good=1
  [ "$rc" -eq "$code" ] || good=0
  [ "$(wc -l <"$name.err")" -eq 1 ] || good=0
  printf '%s\n' "$needles" | while IFS= read -r n; do [ -z "$n" ] || grep -qF -- "$n" "$name.err" || exit 1; done || good=0
  if [ $good -eq 1 ]; then ok "$name"; else bad "$name (exit $rc, want $code)"; cat "$name.err"; fi
}
R="$PY $REF"
IDS=5,17,3,42,88,1,60

$R make head --seed 1 >/dev/null || { echo "FAIL cannot write fixtures"; exit 1; }
$R make var --cfg variant --params --seed 2 >/dev/null
$R make base --layout base --seed 3 >/dev/null
$R make bf16 --dtype bf16 --chunk 256 --seed 5 >/dev/null
$R make f16 --dtype f16 --chunk 1000 --seed 6 >/dev/null
$R make shards --shards 20000 --seed 4 >/dev/null
run shards_written test -f shards/flax_model-00011-of-00011.msgpack

# from_flax semantics: without --from-flax the error says a Flax checkpoint is there
expect no_from_flax_run 1 "flax_model.msgpack" "Flax checkpoint" "--from-flax" -- $PTM run head --ids $IDS
expect no_from_flax_convert 1 "Flax checkpoint" "--from-flax" -- $PTM convert head x_out
expect no_from_flax_shards 1 "flax_model.msgpack.index.json" "--from-flax" -- $PTM run shards --ids $IDS
run info_from_flax sh -c "$PTM info head --from-flax | grep -q GPT2LMHeadModel"

# logits against torch on the same weights
for d in head var base bf16 f16 shards; do
  if $PTM run $d --from-flax --ids $IDS --output $d.logits.safetensors >$d.run.log 2>&1; then
    run logits_$d $R check-logits $d $d.logits.safetensors
  else bad logits_$d; cat $d.run.log; fi
done
if $PTM run shards/flax_model.msgpack.index.json --from-flax --ids $IDS --output idx.safetensors >idx.log 2>&1; then
  run logits_index_file $R check-logits shards idx.safetensors
else bad logits_index_file; cat idx.log; fi
run generate_from_flax sh -c "$PTM generate head --from-flax --ids 5,6 --max-new-tokens 3 | grep -q '^ids: 5,6,'"

# round trips: msgpack -> safetensors -> msgpack; msgpack -> msgpack
run convert_to_st $PTM convert head st --from-flax
run st_matches_pt $R check-st st/model.safetensors head
run convert_st_to_flax $PTM convert st st_flax --format msgpack
run flax_written_as_flax_would $R check-flax st_flax/flax_model.msgpack head
run convert_var $PTM convert var var_flax --from-flax --format msgpack
run var_untied_lm_head $R check-flax var_flax/flax_model.msgpack var
run convert_bf16 $PTM convert bf16 bf16_flax --from-flax --format msgpack
run bf16_kept_bf16 $R check-flax bf16_flax/flax_model.msgpack bf16
run convert_shards $PTM convert shards shards_flax --from-flax --format msgpack
run shards_merged $R check-flax shards_flax/flax_model.msgpack shards
if $PTM run st_flax --from-flax --ids $IDS --output rt.safetensors >rt.log 2>&1; then
  run logits_round_trip $R check-logits head rt.safetensors
else bad logits_round_trip; cat rt.log; fi

# dtype casts with a mask (Flax to_bf16 / to_fp16 with a mask)
run cast_bf16_flax $PTM convert head cast1 --from-flax --dtype bf16 --keep-f32 '*ln_*' --format msgpack
run cast_bf16_flax_check $R check-flax cast1/flax_model.msgpack head --cast bf16 --keep '*ln_*'
run cast_bf16_st $PTM convert head cast2 --from-flax --dtype bf16 --keep-f32 '*ln_*' --keep-f32 '*wpe*'
run cast_bf16_st_check $R check-st cast2/model.safetensors head --cast bf16 --keep '*ln_*' --keep '*wpe*'
run cast_f16_flax $PTM convert head cast3 --from-flax --dtype f16 --format msgpack
run cast_f16_flax_check $R check-flax cast3/flax_model.msgpack head --cast f16
run cast_f32_flax $PTM convert cast3 cast4 --from-flax --dtype f32 --format msgpack
run cast_torch_dtype sh -c "grep -q '\"torch_dtype\": *\"float32\"' cast4/config.json && grep -q '\"torch_dtype\": *\"bfloat16\"' cast1/config.json"

# hostile files written by Python msgpack: exit 1, one line naming the file and the key
for k in truncated ext2 ext3 dtype size deep extra; do $R hostile h_$k $k >/dev/null; done
expect bad_truncated 1 "h_truncated/flax_model.msgpack" "key \"transformer/h/" "truncated" -- $PTM run h_truncated --from-flax --ids 1
expect bad_ext2 1 "h_ext2/flax_model.msgpack" "key \"transformer/h/0/attn/c_attn/bias\"" "ext type 2" -- $PTM run h_ext2 --from-flax --ids 1
expect bad_ext3 1 "h_ext3/flax_model.msgpack" "key \"transformer/h/0/ln_1/scale\"" "ext type 3" -- $PTM run h_ext3 --from-flax --ids 1
expect bad_dtype 1 "h_dtype/flax_model.msgpack" "key \"transformer/h/0/ln_2/bias\"" "unknown dtype \"float99\"" -- $PTM run h_dtype --from-flax --ids 1
expect bad_size 1 "h_size/flax_model.msgpack" "key \"transformer/h/0/mlp/c_fc/kernel\"" "needs 16384 bytes, the data has 16380" -- $PTM run h_size --from-flax --ids 1
expect bad_deep 1 "h_deep/flax_model.msgpack" "key \"transformer/deep/x/x/x" "nested too deeply" -- $PTM convert h_deep x_deep --from-flax
expect bad_extra 1 "h_extra/flax_model.msgpack" "extra data" -- $PTM info h_extra --from-flax

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
