# SPDX-License-Identifier: Apache-2.0
"""Write the benchmark model: a GPT-2-small-shaped GPT2LMHeadModel with seeded
random weights, as config.json + model.safetensors, once in float32
(DIR/gpt2-f32) and once in bfloat16 (DIR/gpt2-bf16, torch_dtype bfloat16).

Uses only torch (Debian's python3-torch) and the standard library: the
safetensors file is written by hand (u64 LE header length, compact JSON header
with __metadata__ {"format": "pt"}, space padding to 8 bytes, raw LE data).
Key layout is transformers' GPT2LMHeadModel state_dict with Conv1D weights
stored [in, out]; lm_head.weight is tied to transformer.wte.weight and so is
not stored (as save_pretrained does).

    python3 bench/make_model.py [--dir /tmp/ptm-bench] [--force]
"""
import argparse
import json
import os
import struct
import sys

import torch

CONFIG = {
    "activation_function": "gelu_new",
    "architectures": ["GPT2LMHeadModel"],
    "attn_pdrop": 0.1,
    "bos_token_id": 50256,
    "embd_pdrop": 0.1,
    "eos_token_id": 50256,
    "initializer_range": 0.02,
    "layer_norm_epsilon": 1e-05,
    "model_type": "gpt2",
    "n_ctx": 1024,
    "n_embd": 768,
    "n_head": 12,
    "n_inner": None,
    "n_layer": 12,
    "n_positions": 1024,
    "reorder_and_upcast_attn": False,
    "resid_pdrop": 0.1,
    "scale_attn_by_inverse_layer_idx": False,
    "scale_attn_weights": True,
    "summary_activation": None,
    "summary_first_dropout": 0.1,
    "summary_proj_to_labels": True,
    "summary_type": "cls_index",
    "summary_use_proj": True,
    "tie_word_embeddings": True,
    "torch_dtype": "float32",
    "use_cache": True,
    "vocab_size": 50257,
}


def state_dict(cfg, seed):
    """transformers' GPT2LMHeadModel state dict (tied lm_head left out),
    normal(0, initializer_range) weights, small random biases, norms near 1."""
    g = torch.Generator().manual_seed(seed)
    d, L, V, P = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
    inner = cfg["n_inner"] or 4 * d
    std = cfg["initializer_range"]

    def w(*shape):
        return torch.randn(*shape, generator=g) * std

    def b(n):
        return torch.randn(n, generator=g) * 0.01

    def ln(n):
        return 1.0 + torch.randn(n, generator=g) * 0.05

    sd = {"transformer.wte.weight": w(V, d), "transformer.wpe.weight": w(P, d) * 0.5}
    for i in range(L):
        p = "transformer.h.%d." % i
        sd[p + "ln_1.weight"] = ln(d)
        sd[p + "ln_1.bias"] = b(d)
        sd[p + "attn.c_attn.weight"] = w(d, 3 * d)  # Conv1D: [in, out]
        sd[p + "attn.c_attn.bias"] = b(3 * d)
        sd[p + "attn.c_proj.weight"] = w(d, d)
        sd[p + "attn.c_proj.bias"] = b(d)
        sd[p + "ln_2.weight"] = ln(d)
        sd[p + "ln_2.bias"] = b(d)
        sd[p + "mlp.c_fc.weight"] = w(d, inner)
        sd[p + "mlp.c_fc.bias"] = b(inner)
        sd[p + "mlp.c_proj.weight"] = w(inner, d)
        sd[p + "mlp.c_proj.bias"] = b(d)
    sd["transformer.ln_f.weight"] = ln(d)
    sd["transformer.ln_f.bias"] = b(d)
    return sd


ST_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        t = t.view(torch.int16)  # numpy has no bfloat16
    return t.numpy().tobytes()  # little-endian on x86


def write_safetensors(path, tensors):
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, t in tensors.items():
        data = tensor_bytes(t)
        header[name] = {"dtype": ST_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for data in blobs:
            f.write(data)
    os.replace(tmp, path)


def write_model(folder, sd, dtype, torch_dtype_name):
    os.makedirs(folder, exist_ok=True)
    cfg = dict(CONFIG)
    cfg["torch_dtype"] = torch_dtype_name
    write_safetensors(os.path.join(folder, "model.safetensors"), {k: v.to(dtype) for k, v in sd.items()})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", default="/tmp/ptm-bench")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--force", action="store_true", help="rewrite even if the files exist")
    a = ap.parse_args()
    todo = []
    for sub, dt, name in (("gpt2-f32", torch.float32, "float32"), ("gpt2-bf16", torch.bfloat16, "bfloat16")):
        folder = os.path.join(a.dir, sub)
        done = all(os.path.exists(os.path.join(folder, f)) for f in ("config.json", "model.safetensors"))
        if a.force or not done:
            todo.append((folder, dt, name))
    if not todo:
        print("models present in %s" % a.dir)
        return 0
    sd = state_dict(CONFIG, a.seed)
    n = sum(t.numel() for t in sd.values())
    for folder, dt, name in todo:
        write_model(folder, sd, dt, name)
        print("wrote %s (%d parameters, %s)" % (folder, n, name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
