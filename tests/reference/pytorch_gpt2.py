#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Tiny GPT-2 checkpoints written by real torch.save, and torch's own logits.

  pytorch_gpt2.py make DIR MODE [SEED]   config.json + weights; MODE:
        bin       pytorch_model.bin only (OrderedDict, lm_head tied to wte)
        sharded   pytorch_model-0000N-of-00003.bin + pytorch_model.bin.index.json
        both      pytorch_model.bin (SEED) and model.safetensors (SEED + 1)
        bf16      pytorch_model.bin in bfloat16
  pytorch_gpt2.py check-logits DIR OUT IDS SEED [TOL]
        OUT (a `ptm run --output` safetensors file) holds torch's logits of
        the SEED weights (float32 forward written here from transformers'
        GPT2LMHeadModel math: Conv1D [in, out], gelu_new, causal softmax)
  pytorch_gpt2.py check-greedy DIR IDS N LOG SEED
        the last "ids:" line of LOG is torch's greedy continuation
  pytorch_gpt2.py check-same A B
        torch.load(weights_only=True) of both .bin files agree; tied
        lm_head.weight / transformer.wte.weight share one storage in B
"""
import collections
import json
import math
import os
import struct
import sys

try:
    import numpy as np
    import torch
except ImportError as e:  # fail loudly, never skip
    sys.stderr.write(f"pytorch_gpt2.py: cannot import {e.name}: install python3-torch and python3-numpy\n")
    sys.exit(2)

V, H, P, L, NH = 259, 16, 32, 2, 4


def weights(seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    sd = collections.OrderedDict()

    def w(name, *shape, ln=False):
        t = torch.randn(*shape, generator=g)
        sd["transformer." + name] = (1 + 0.1 * t if ln else 0.3 * t).to(dtype)
    w("wte.weight", V, H)
    w("wpe.weight", P, H)
    for i in range(L):
        p = f"h.{i}."
        w(p + "ln_1.weight", H, ln=True); w(p + "ln_1.bias", H)
        w(p + "attn.c_attn.weight", H, 3 * H); w(p + "attn.c_attn.bias", 3 * H)
        w(p + "attn.c_proj.weight", H, H); w(p + "attn.c_proj.bias", H)
        w(p + "ln_2.weight", H, ln=True); w(p + "ln_2.bias", H)
        w(p + "mlp.c_fc.weight", H, 4 * H); w(p + "mlp.c_fc.bias", 4 * H)
        w(p + "mlp.c_proj.weight", 4 * H, H); w(p + "mlp.c_proj.bias", H)
    w("ln_f.weight", H, ln=True); w("ln_f.bias", H)
    sd["lm_head.weight"] = sd["transformer.wte.weight"]  # tied, as GPT2LMHeadModel.state_dict()
    return sd


def config(dtype="float32"):
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": V, "n_positions": P,
            "n_embd": H, "n_layer": L, "n_head": NH, "n_inner": None, "activation_function": "gelu_new",
            "layer_norm_epsilon": 1e-5, "eos_token_id": 1, "bos_token_id": 1, "torch_dtype": dtype}


def write_safetensors(path, sd):
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k, t in sd.items():
        if k == "lm_head.weight":
            continue
        b = t.float().numpy().astype("<f4").tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    hj = json.dumps(hdr, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def make(d, mode, seed):
    os.makedirs(d, exist_ok=True)
    dtype = torch.bfloat16 if mode == "bf16" else torch.float32
    sd = weights(seed, dtype)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config("bfloat16" if mode == "bf16" else "float32"), f, indent=2)
    if mode in ("bin", "both", "bf16"):
        torch.save(sd, os.path.join(d, "pytorch_model.bin"))
    if mode == "both":
        write_safetensors(os.path.join(d, "model.safetensors"), weights(seed + 1))
    if mode == "sharded":
        names = list(sd)
        parts = [names[:5], names[5:20], names[20:]]
        wm = {}
        for i, part in enumerate(parts):
            fn = f"pytorch_model-{i + 1:05d}-of-{len(parts):05d}.bin"
            shard = {k: sd[k] for k in part}
            if "lm_head.weight" in shard:  # as transformers: tied tensors go with their first owner
                shard.pop("lm_head.weight")
                parts[0].append("lm_head.weight")
            torch.save(shard, os.path.join(d, fn))
            for k in shard:
                wm[k] = fn
        wm["lm_head.weight"] = wm["transformer.wte.weight"]
        with open(os.path.join(d, "pytorch_model.bin.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2, sort_keys=True)


@torch.no_grad()
def forward(sd, ids):
    W = {k.replace("transformer.", ""): v.float() for k, v in sd.items()}
    T, hd = len(ids), H // NH
    x = W["wte.weight"][ids] + W["wpe.weight"][:T]
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), 1)

    def gelu(v):
        return 0.5 * v * (1 + torch.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))
    for i in range(L):
        p = f"h.{i}."
        a = torch.nn.functional.layer_norm(x, (H,), W[p + "ln_1.weight"], W[p + "ln_1.bias"], 1e-5)
        q, k, v = (a @ W[p + "attn.c_attn.weight"] + W[p + "attn.c_attn.bias"]).split(H, -1)
        q, k, v = (t.view(T, NH, hd).transpose(0, 1) for t in (q, k, v))
        s = (q @ k.transpose(1, 2)) / math.sqrt(hd)
        s = s.masked_fill(mask, torch.finfo(torch.float32).min).softmax(-1)
        o = (s @ v).transpose(0, 1).reshape(T, H)
        x = x + o @ W[p + "attn.c_proj.weight"] + W[p + "attn.c_proj.bias"]
        a = torch.nn.functional.layer_norm(x, (H,), W[p + "ln_2.weight"], W[p + "ln_2.bias"], 1e-5)
        x = x + gelu(a @ W[p + "mlp.c_fc.weight"] + W[p + "mlp.c_fc.bias"]) @ W[p + "mlp.c_proj.weight"] + \
            W[p + "mlp.c_proj.bias"]
    x = torch.nn.functional.layer_norm(x, (H,), W["ln_f.weight"], W["ln_f.bias"], 1e-5)
    return x @ W["wte.weight"].T


def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k != "__metadata__":
            s, e = v["data_offsets"]
            out[k] = np.frombuffer(b[8 + n + s:8 + n + e], dtype="<f4").reshape(v["shape"])
    return out


cmd = sys.argv[1]
if cmd == "make":
    make(sys.argv[2], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0)
elif cmd == "check-logits":
    d, out, ids, seed = sys.argv[2], sys.argv[3], [int(v) for v in sys.argv[4].split(",")], int(sys.argv[5])
    tol = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-4
    dtype = torch.bfloat16 if json.load(open(os.path.join(d, "config.json")))["torch_dtype"] == "bfloat16" else \
        torch.float32
    want = forward(weights(seed, dtype), ids).numpy()
    got = read_st(out)["logits"]
    assert got.shape == (1,) + want.shape, got.shape
    diff = float(np.abs(got[0] - want).max())
    assert diff < tol, f"max |ptm - torch| = {diff}"
elif cmd == "check-greedy":
    d, ids, n, log, seed = sys.argv[2], [int(v) for v in sys.argv[3].split(",")], int(sys.argv[4]), sys.argv[5], \
        int(sys.argv[6])
    sd = weights(seed)
    for _ in range(n):
        nxt = int(forward(sd, ids)[-1].argmax())
        ids.append(nxt)
        if nxt == 1:
            break
    line = [l for l in open(log, errors="replace") if l.startswith("ids:")]
    assert line and line[-1].split()[1] == ",".join(map(str, ids)), (line, ids)
elif cmd == "check-same":
    a = torch.load(sys.argv[2], weights_only=True)
    b = torch.load(sys.argv[3], weights_only=True)
    for k, t in a.items():
        if k in b:
            assert torch.equal(t, b[k]) and t.dtype == b[k].dtype, k
    missing = set(a) - set(b)
    assert missing <= {"lm_head.weight"}, missing  # ptm writes tied weights once, as transformers' safetensors
    assert set(b) <= set(a), set(b) - set(a)
else:
    sys.exit(f"unknown command {cmd}")
