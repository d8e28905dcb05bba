#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# End-to-end tests of the `ptm` command on fixtures written by the
# independent Python reference; results checked by that reference.
set -u
PTM=$1; PY=$2; SRC=$3; FIX=$4; OUT=$5
REF="$PY $SRC/tests/reference/tiny_model.py"
rm -rf "$OUT"; mkdir -p "$OUT"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
run() { name=$1; shift; if "$@" >"$OUT/$name.log" 2>&1; then ok "$name"; else bad "$name"; cat "$OUT/$name.log"; fi; }

# --help everywhere, exit 0
for c in "" plugins info convert; do
  run "help_${c:-top}" $PTM $c --help
done
run version $PTM --version

# info --json matches the reference counts
for f in head head_untied base head_f16; do
  if $PTM info "$FIX/$f" --json >"$OUT/$f.json" 2>"$OUT/$f.err"; then
    run "info_json_$f" $REF check-info "$OUT/$f.json" "$FIX/$f"
  else bad "info_json_$f"; cat "$OUT/$f.err"; fi
done
run info_text sh -c "$PTM info '$FIX/head' | grep -q 'parameters      576 (192 excluding embeddings)'"

# convert: files read back by the independent reader
for dt in f32 f16 bf16; do
  if $PTM convert "$FIX/head" "$OUT/conv_$dt" --dtype $dt >"$OUT/conv_$dt.log" 2>&1; then
    run "convert_$dt" $REF check-saved "$OUT/conv_$dt" "$FIX/head" --dtype $dt
  else bad "convert_$dt"; cat "$OUT/conv_$dt.log"; fi
done
for f in head_untied head_prefixless base; do
  if $PTM convert "$FIX/$f" "$OUT/conv_$f" >"$OUT/conv_$f.log" 2>&1; then
    run "convert_$f" $REF check-saved "$OUT/conv_$f" "$FIX/$f"
  else bad "convert_$f"; cat "$OUT/conv_$f.log"; fi
done

# failures: non-zero exit, exactly one line on stderr naming the problem
expect_fail() {
  name=$1; needle=$2; shift 2
  if "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; then bad "$name (exit 0)"; return; fi
  lines=$(wc -l <"$OUT/$name.err")
  if [ "$lines" -eq 1 ] && grep -q -- "$needle" "$OUT/$name.err"; then ok "$name"
  else bad "$name"; echo "stderr:"; cat "$OUT/$name.err"; fi
}
expect_fail err_bad_json "bad_json/config.json: not valid JSON" $PTM info "$FIX/bad_json"
expect_fail err_no_model_type "no \"model_type\"" $PTM info "$FIX/no_model_type"
expect_fail err_unknown_arch "available: " $PTM info "$FIX/unknown_arch"
expect_fail err_no_weights "no weights found" $PTM info "$FIX/no_weights"
expect_fail err_missing "nope: no such file or folder" $PTM info "$OUT/nope"
expect_fail err_bad_dtype "dtype must be" $PTM convert "$FIX/head" "$OUT/x" --dtype int7
expect_fail err_usage "need MODEL and OUT_DIR" $PTM convert "$FIX/head"
expect_fail err_unknown_cmd "unknown command" $PTM frobnicate
mkdir -p "$OUT/garbage"; cp "$FIX/head/config.json" "$OUT/garbage/"
printf 'not safetensors at all' >"$OUT/garbage/model.safetensors"
expect_fail err_garbage "garbage/model.safetensors" $PTM info "$OUT/garbage"
head -c 100 "$FIX/head/model.safetensors" >"$OUT/garbage/model.safetensors"
expect_fail err_truncated "garbage/model.safetensors" $PTM info "$OUT/garbage"
[ -d "$OUT/x" ] && bad "failed convert left $OUT/x behind" || ok "no_partial_output"

# plugins lists what the build registered
run plugins_list sh -c "$PTM plugins | grep -q 'safetensors' && $PTM plugins | grep -q 'TinyForCausalLM'"
run plugins_verbose sh -c "$PTM plugins -v | grep -q 'load report:'"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
