#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# `ptm run` and `ptm generate` end to end on tiny random GPT-2 folders this
# script writes with numpy (config.json, a hand-made model.safetensors,
# tokenizer_config.json).  Logits and greedy continuations are checked
# against a numpy GPT-2 written here from the transformers definition;
# error paths must exit 1 (failure) or 2 (usage) with one line on stderr.
set -u
PTM=$1; PY=$2; OUT=$3
rm -rf "$OUT"; mkdir -p "$OUT"
pass=0; fail=0
ok() { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
run() { name=$1; shift; if "$@" >"$OUT/$name.log" 2>&1; then ok "$name"; else bad "$name"; cat "$OUT/$name.log"; fi; }

cat >"$OUT/gpt2np.py" <<'EOF'
import json, math, os, struct, sys
import numpy as np

def write_model(out, cls, V=259, H=16, P=32, L=2, nh=4, tokenizer=True, seed=0):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(seed)
    t = {}
    def w(name, *shape, ln=False):
        a = (1 + 0.1 * rng.standard_normal(shape)) if ln else 0.3 * rng.standard_normal(shape)
        t[name] = a.astype("<f4")
    w("wte.weight", V, H); w("wpe.weight", P, H)
    for i in range(L):
        p = "h.%d." % i
        w(p + "ln_1.weight", H, ln=True); w(p + "ln_1.bias", H)
        w(p + "attn.c_attn.weight", H, 3 * H); w(p + "attn.c_attn.bias", 3 * H)
        w(p + "attn.c_proj.weight", H, H); w(p + "attn.c_proj.bias", H)
        w(p + "ln_2.weight", H, ln=True); w(p + "ln_2.bias", H)
        w(p + "mlp.c_fc.weight", H, 4 * H); w(p + "mlp.c_fc.bias", 4 * H)
        w(p + "mlp.c_proj.weight", 4 * H, H); w(p + "mlp.c_proj.bias", H)
    w("ln_f.weight", H, ln=True); w("ln_f.bias", H)
    prefix = "transformer." if cls == "GPT2LMHeadModel" else ""
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, a in t.items():
        b = a.tobytes()
        hdr[prefix + k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        off += len(b); blobs.append(b)
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(os.path.join(out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(hj))); f.write(hj); f.write(b"".join(blobs))
    cfg = {"architectures": [cls], "model_type": "gpt2", "vocab_size": V, "n_positions": P, "n_embd": H,
           "n_layer": L, "n_head": nh, "n_inner": None, "activation_function": "gelu_new",
           "layer_norm_epsilon": 1e-5, "eos_token_id": 1, "bos_token_id": 1, "torch_dtype": "float32"}
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if tokenizer:
        with open(os.path.join(out, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "ByT5Tokenizer", "extra_ids": 0}, f)

def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    d = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        assert v["dtype"] == "F32", v
        d[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"]).astype(np.float64)
    return d, h.get("__metadata__")

def forward(model, ids):
    cfg = json.load(open(os.path.join(model, "config.json")))
    W = {k.replace("transformer.", ""): v for k, v in read_st(os.path.join(model, "model.safetensors"))[0].items()}
    H, nh, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    hd, T = H // nh, len(ids)
    def ln(x, w, b):
        mu = x.mean(-1, keepdims=True); var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + b
    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    def heads(a):
        return a.reshape(T, nh, hd).transpose(1, 0, 2)
    h = W["wte.weight"][ids] + W["wpe.weight"][:T]
    for i in range(L):
        p = "h.%d." % i
        x = ln(h, W[p + "ln_1.weight"], W[p + "ln_1.bias"])
        q, k, v = map(heads, np.split(x @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"], 3, -1))
        s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + np.triu(np.full((T, T), -np.inf), 1)
        s = np.exp(s - s.max(-1, keepdims=True)); s /= s.sum(-1, keepdims=True)
        h = h + (s @ v).transpose(1, 0, 2).reshape(T, H) @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        x = ln(h, W[p + "ln_2.weight"], W[p + "ln_2.bias"])
        f = gelu(x @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"])
        h = h + f @ W[p + "mlp.c_proj.weight"] + W[p + "mlp.c_proj.bias"]
    x = ln(h, W["ln_f.weight"], W["ln_f.bias"])
    return x, x @ W["wte.weight"].T

cmd = sys.argv[1]
if cmd == "make":
    write_model(sys.argv[2], sys.argv[3], tokenizer=sys.argv[4] == "tok")
elif cmd == "check-output":  # MODEL FILE IDS NAME
    ids = [int(v) for v in sys.argv[4].split(",")]
    d, meta = read_st(sys.argv[3])
    hidden, logits = forward(sys.argv[2], ids)
    want = logits if sys.argv[5] == "logits" else hidden
    assert list(d) == [sys.argv[5]], list(d)
    assert meta == {"format": "pt"}, meta
    got = d[sys.argv[5]]
    assert got.shape == (1,) + want.shape, got.shape
    diff = np.abs(got[0] - want).max()
    assert diff < 1e-4, diff
elif cmd == "check-top":  # MODEL IDS LOG: the first candidate line names the argmax
    ids = [int(v) for v in sys.argv[3].split(",")]
    last = forward(sys.argv[2], ids)[1][-1]
    lines = [l.split() for l in open(sys.argv[4], errors="replace") if l.startswith("  ") and l.split()[0].isdigit()]
    assert len(lines) == 5, lines
    order = [int(l[0]) for l in lines]
    assert order == list(np.argsort(-last, kind="stable")[:5]), (order, np.argsort(-last)[:5])
    p = np.exp(last - last.max()); p /= p.sum()
    assert abs(float(lines[0][2]) - p[order[0]]) < 1e-5
elif cmd == "check-greedy":  # MODEL PROMPT_IDS N LOG
    ids = [int(v) for v in sys.argv[3].split(",")]
    for _ in range(int(sys.argv[4])):
        nxt = int(np.argmax(forward(sys.argv[2], ids)[1][-1]))
        ids.append(nxt)
        if nxt == 1:  # eos_token_id
            break
    line = [l for l in open(sys.argv[5], errors="replace") if l.startswith("ids:")]
    assert line and line[-1].split()[1] == ",".join(map(str, ids)), (line, ids)
EOF
NP="$PY $OUT/gpt2np.py"
$NP make "$OUT/head" GPT2LMHeadModel tok || { echo "FAIL cannot write fixtures"; exit 1; }
$NP make "$OUT/base" GPT2Model tok
$NP make "$OUT/notok" GPT2LMHeadModel none

# --help, exit 0; both commands listed
run help_run $PTM run --help
run help_generate $PTM generate --help
run help_lists sh -c "$PTM --help | grep -q '^  run ' && $PTM --help | grep -q '^  generate '"

# run: top candidates and the output file, checked by numpy
IDS=72,101,108,108,111
if $PTM run "$OUT/head" --ids $IDS --output "$OUT/logits.safetensors" --threads 1 >"$OUT/run.log" 2>&1; then
  run run_top $NP check-top "$OUT/head" $IDS "$OUT/run.log"
  run run_output $NP check-output "$OUT/head" "$OUT/logits.safetensors" $IDS logits
  run run_token_text grep -q "  '" "$OUT/run.log"
else bad run_head; cat "$OUT/run.log"; fi
if $PTM run "$OUT/base" --ids 3,4,5 --output "$OUT/hidden.safetensors" >"$OUT/run_base.log" 2>&1; then
  run run_base_output $NP check-output "$OUT/base" "$OUT/hidden.safetensors" 3,4,5 last_hidden_state
else bad run_base; cat "$OUT/run_base.log"; fi
run run_f16 $PTM run "$OUT/head" --ids 5,6 --dtype f16 --backend cpu

# generate: greedy ids match numpy's greedy search; text streaming with a tokenizer
if $PTM generate "$OUT/notok" --ids 10,20,30 --max-new-tokens 6 >"$OUT/gen_ids.log" 2>&1; then
  run gen_greedy_ids $NP check-greedy "$OUT/notok" 10,20,30 6 "$OUT/gen_ids.log"
else bad gen_greedy_ids; cat "$OUT/gen_ids.log"; fi
if $PTM generate "$OUT/head" --prompt "Hi" --max-new-tokens 5 --greedy >"$OUT/gen_text.log" 2>&1; then
  run gen_prompt_greedy $NP check-greedy "$OUT/head" 75,108 5 "$OUT/gen_text.log"
else bad gen_prompt_greedy; cat "$OUT/gen_text.log"; fi
$PTM generate "$OUT/head" --ids 10,20 --max-new-tokens 8 --seed 5 --top-k 10 --temperature 0.8 >"$OUT/s1.log" 2>&1
$PTM generate "$OUT/head" --ids 10,20 --max-new-tokens 8 --seed 5 --top-k 10 --temperature 0.8 >"$OUT/s2.log" 2>&1
run gen_seeded_repeatable sh -c "grep -q '^ids: 10,20,' '$OUT/s1.log' && cmp -s '$OUT/s1.log' '$OUT/s2.log'"

# failures: exit status, exactly one line on stderr naming the problem
expect() {
  name=$1; code=$2; needle=$3; shift 3
  "$@" >"$OUT/$name.out" 2>"$OUT/$name.err"; rc=$?
  lines=$(wc -l <"$OUT/$name.err")
  if [ "$rc" -eq "$code" ] && [ "$lines" -eq 1 ] && grep -q -- "$needle" "$OUT/$name.err"; then ok "$name"
  else bad "$name (exit $rc, want $code)"; echo "stderr:"; cat "$OUT/$name.err"; fi
}
expect err_run_no_ids 2 "need MODEL and --ids" $PTM run "$OUT/head"
expect err_run_bad_ids 2 "comma-separated integers" $PTM run "$OUT/head" --ids 1,x
expect err_run_oov 1 "token id 300" $PTM run "$OUT/head" --ids 5,300
expect err_run_negative 1 "token id -1" $PTM run "$OUT/head" --ids -1
expect err_run_backend 1 "warp" $PTM run "$OUT/head" --ids 5 --backend warp
expect err_run_dtype 2 "dtype must be" $PTM run "$OUT/head" --ids 5 --dtype int3
expect err_run_threads 2 "threads" $PTM run "$OUT/head" --ids 5 --threads 0
expect err_run_too_long 1 "maximum of 32" $PTM run "$OUT/head" --ids $(seq -s, 1 33)
expect err_run_output_dir 1 "nodir" $PTM run "$OUT/head" --ids 5 --output "$OUT/nodir/x.safetensors"
run no_partial_output sh -c "! ls '$OUT'/nodir* 2>/dev/null | grep -q ."
expect err_run_missing_model 1 "no such file" $PTM run "$OUT/nope" --ids 5
expect err_gen_oov 1 "token id 259" $PTM generate "$OUT/head" --ids 1,259
expect err_gen_no_tokenizer 1 "use --ids" $PTM generate "$OUT/notok" --prompt "hello"
expect err_gen_missing_model 1 "no such file" $PTM generate "$OUT/nope" --prompt "hello"
expect err_gen_empty_prompt 2 "empty" $PTM generate "$OUT/head" --prompt ""
expect err_gen_both 2 "one of --ids or --prompt" $PTM generate "$OUT/head" --ids 1 --prompt x
expect err_gen_neither 2 "one of --ids or --prompt" $PTM generate "$OUT/head"
expect err_gen_greedy_seed 2 "--greedy cannot" $PTM generate "$OUT/head" --ids 1 --greedy --seed 3
expect err_gen_top_p 2 "top-p" $PTM generate "$OUT/head" --ids 1 --top-p 1.5
expect err_gen_temperature 2 "temperature" $PTM generate "$OUT/head" --ids 1 --temperature 0
expect err_gen_too_many 1 "maximum of 32" $PTM generate "$OUT/head" --ids 1,2,3 --max-new-tokens 30
expect err_gen_base 1 "cannot generate" $PTM generate "$OUT/base" --ids 1,2
expect err_gen_unknown 2 "unexpected argument" $PTM generate "$OUT/head" --ids 1 --beams 4

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
