#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent reference for the ptm-tiny test architecture.

Writes model folders (config.json + model.safetensors) with its own
safetensors writer (numpy + struct + json, no ptm code), records the values
the C side must reproduce (parameter counts and memory footprints computed
from the shapes, per-tensor sums), and checks folders that ptm wrote.

  tiny_model.py make DIR [--head|--base] [--untied] [--dtype f32|f16|bf16]
                [--prefixless] [--extra-key] [--drop KEY] [--no-torch-dtype]
  tiny_model.py check-saved SAVED_DIR ORIG_DIR [--dtype f32|f16|bf16]
  tiny_model.py check-info JSON_FILE ORIG_DIR
"""
import json
import os
import struct
import sys

import numpy as np

ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
            "I32", "U32", "F32", "F64", "I64", "U64"]
SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "I16": 2, "F16": 2, "BF16": 2, "I32": 4, "F32": 4,
         "F64": 8, "I64": 8}
TORCH = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}
ST = {"f32": "F32", "f16": "F16", "bf16": "BF16"}

CONFIG = {
    "model_type": "ptm-tiny",
    "vocab_size": 32,
    "hidden_size": 8,
    "num_layers": 2,
    "max_position_embeddings": 16,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-05,
    "some_float": 1.0,
    "custom_nested": {"keep": [1, 2.5, "x"], "unicode": "caf\u00e9 \u2603"},
    "empty_list": [],
    "empty_obj": {},
}


def to_bf16_bits(a):
    u = a.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def encode(arr, st_dtype):
    """bytes of arr stored as st_dtype (little endian)"""
    if st_dtype == "BF16":
        return to_bf16_bits(arr).astype("<u2").tobytes()
    np_t = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4",
            "BOOL": "u1", "U8": "u1", "I8": "i1", "I16": "<i2"}[st_dtype]
    return np.ascontiguousarray(arr).astype(np_t).tobytes()


def decode(buf, st_dtype, shape):
    if st_dtype == "BF16":
        return bf16_bits_to_f32(np.frombuffer(buf, "<u2")).reshape(shape)
    np_t = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4",
            "BOOL": "u1", "U8": "u1", "I8": "i1", "I16": "<i2"}[st_dtype]
    return np.frombuffer(buf, np_t).reshape(shape)


def write_safetensors(path, tensors, metadata=None):
    """tensors: {name: (st_dtype, ndarray)} - the reference writer's layout"""
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(kv[1][0]), kv[0]))
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    off = 0
    blobs = []
    for name, (dt, arr) in items:
        b = encode(arr, dt)
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    raw = data[8:8 + n]
    header = json.loads(raw)
    meta = header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        out[name] = (info["dtype"], decode(data[8 + n + b:8 + n + e], info["dtype"], info["shape"]))
    return raw, meta, out, data, n


def shapes(cfg, head):
    V, H, L, P = cfg["vocab_size"], cfg["hidden_size"], cfg["num_layers"], cfg["max_position_embeddings"]
    p = "model." if head else ""
    params = [(p + "embed.weight", (V, H), "emb"), (p + "pos.weight", (P, H), "emb")]
    for i in range(L):
        params += [(f"{p}layers.{i}.norm.weight", (H,), "norm_w"), (f"{p}layers.{i}.norm.bias", (H,), "bias"),
                   (f"{p}layers.{i}.proj.weight", (H, H), "w"), (f"{p}layers.{i}.proj.bias", (H,), "bias")]
    params += [(p + "final_norm.weight", (H,), "norm_w"), (p + "final_norm.bias", (H,), "bias")]
    buffers = [(p + "position_ids", (1, P), "I64", True), (p + "causal_mask", (P, P), "BOOL", False)]
    if head and not cfg.get("tie_word_embeddings", True):
        params.append(("lm_head.weight", (V, H), "w"))
    return params, buffers


def expected_counts(cfg, head, dtype):
    params, buffers = shapes(cfg, head)
    numel = lambda s: int(np.prod(s))
    total = sum(numel(s) for _, s, _ in params)
    non_emb = sum(numel(s) for _, s, r in params if r != "emb")
    esize = {"f32": 4, "f16": 2, "bf16": 2}[dtype]
    buf_bytes = sum(numel(s) * SIZES[dt] for _, s, dt, _ in buffers)
    return {"num_parameters": total, "num_parameters_non_embedding": non_emb,
            "memory_footprint_params": total * esize,
            "memory_footprint": total * esize + buf_bytes}


def make(argv):
    d = argv[0]
    opts = argv[1:]
    head = "--base" not in opts
    dtype = opts[opts.index("--dtype") + 1] if "--dtype" in opts else "f32"
    cfg = dict(CONFIG)
    cfg["architectures"] = ["TinyForCausalLM" if head else "TinyModel"]
    if "--untied" in opts:
        cfg["tie_word_embeddings"] = False
    if "--no-torch-dtype" not in opts:
        cfg["torch_dtype"] = TORCH[dtype]
    rng = np.random.default_rng(1234)
    params, buffers = shapes(cfg, head)
    tensors = {}
    for name, s, _ in params:
        tensors[name] = (ST[dtype], rng.standard_normal(s).astype(np.float32))
    for name, s, dt, persistent in buffers:
        if persistent:
            tensors[name] = (dt, np.arange(int(np.prod(s)), dtype=np.int64).reshape(s))
    if head and "--prefixless" in opts:
        # a base-model checkpoint loaded into the head class: keys without "model."
        tensors = {k[len("model."):] if k.startswith("model.") else k: v for k, v in tensors.items()}
    if "--extra-key" in opts:
        tensors["unused.extra"] = ("F32", np.ones((3,), np.float32))
    if "--drop" in opts:
        del tensors[opts[opts.index("--drop") + 1]]
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"), tensors, {"format": "pt"})
    exp = expected_counts(cfg, head, dtype)
    exp["class"] = cfg["architectures"][0]
    exp["sums"] = {}
    for k, (dt, a) in tensors.items():
        vals = a.astype(np.float64) if dt != "BF16" else bf16_bits_to_f32(to_bf16_bits(a)).astype(np.float64)
        if dt == "F16":
            vals = a.astype(np.float16).astype(np.float64)
        exp["sums"][k] = float(vals.sum())
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=2, sort_keys=True)


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def check_saved(argv):
    saved, orig = argv[0], argv[1]
    want_dt = argv[argv.index("--dtype") + 1] if "--dtype" in argv else None
    path = os.path.join(saved, "model.safetensors")
    raw, meta, got, data, n = read_safetensors(path)
    if n % 8:
        fail(f"header length {n} is not a multiple of 8")
    if not raw.startswith(b"{") or raw.rstrip(b" ") != raw.rstrip():
        fail("header must start with '{' and be padded with spaces only")
    if json.dumps(json.loads(raw), separators=(",", ":")).encode() != raw.rstrip(b" "):
        fail("header is not compact JSON in the reference writer's key order")
    if meta != {"format": "pt"}:
        fail(f"__metadata__ is {meta!r}, want {{'format': 'pt'}}")
    hdr = json.loads(raw)
    names = [k for k in hdr if k != "__metadata__"]
    if list(hdr)[0] != "__metadata__":
        fail("__metadata__ must come first")
    want_order = sorted(names, key=lambda k: (-ST_ORDER.index(hdr[k]["dtype"]), k))
    if names != want_order:
        fail(f"tensor order {names} != reference order {want_order}")
    off = 0
    for k in names:
        b, e = hdr[k]["data_offsets"]
        if b != off:
            fail(f"{k}: offsets not contiguous")
        off = e
    if 8 + n + off != len(data):
        fail("file length does not match the last offset")
    _, _, orig_t, _, _ = read_safetensors(os.path.join(orig, "model.safetensors"))
    ocfg = json.load(open(os.path.join(orig, "config.json")))
    head = ocfg["architectures"][0] == "TinyForCausalLM"
    # the saved names are the class's own names (prefix added back if it was stripped)
    params, buffers = shapes(ocfg, head)
    want_names = {p[0] for p in params} | {b[0] for b in buffers if b[3]}
    if set(names) != want_names:
        fail(f"saved names {sorted(names)} != expected {sorted(want_names)}")
    if "lm_head.weight" in names and ocfg.get("tie_word_embeddings", True):
        fail("tied lm_head.weight must not be written")
    for k in names:
        src = orig_t.get(k) or orig_t.get(k[len("model."):] if k.startswith("model.") else "model." + k)
        if src is None:
            continue
        dt, arr = got[k]
        if want_dt and src[0] in ("F32", "F16", "BF16") and dt != ST[want_dt]:
            fail(f"{k}: dtype {dt}, want {ST[want_dt]}")
        a = arr.astype(np.float64)
        b = src[1].astype(np.float64)
        tol = {"F32": 0, "I64": 0, "F16": 1e-3, "BF16": 8e-3}.get(dt, 0)
        if not np.allclose(a, b, rtol=tol, atol=tol * 4):
            fail(f"{k}: values differ (max {np.abs(a - b).max()})")
    # config: every original key kept; formatted as json.dumps(indent=2, sort_keys=True) + "\n"
    text = open(os.path.join(saved, "config.json")).read()
    scfg = json.loads(text)
    if text != json.dumps(scfg, indent=2, sort_keys=True) + "\n":
        fail("config.json is not formatted like transformers' to_json_file")
    for k, v in ocfg.items():
        if k in ("torch_dtype",):
            continue
        if scfg.get(k) != v or type(scfg.get(k)) is not type(v):
            fail(f"config key {k}: {scfg.get(k)!r} != {v!r}")
    if want_dt and scfg.get("torch_dtype") != TORCH[want_dt]:
        fail(f"torch_dtype {scfg.get('torch_dtype')} != {TORCH[want_dt]}")
    print("ok: saved folder matches the reference")


def check_info(argv):
    info = json.load(open(argv[0]))
    exp = json.load(open(os.path.join(argv[1], "expected.json")))
    for k in ("num_parameters", "num_parameters_non_embedding", "memory_footprint"):
        if info.get(k) != exp[k]:
            fail(f"{k}: ptm says {info.get(k)}, reference {exp[k]}")
    if info.get("architecture") != exp["class"] or info.get("model_type") != "ptm-tiny":
        fail(f"architecture/model_type: {info.get('architecture')}/{info.get('model_type')}")
    print("ok: info matches the reference")


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"make": make, "check-saved": check_saved, "check-info": check_info}[cmd](sys.argv[2:])
