#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent PyTorch reference for the gpt2 architecture plugin.

A GPT-2 written here in plain PyTorch (no transformers, no ptm code),
following the math of transformers 4.37's GPT2Model / GPT2LMHeadModel:
Conv1D weights stored [in, out] and used as x @ W + b; learned positions;
causal masking with finfo(float32).min; the additive attention mask
(1 - mask) * finfo(float32).min; scale_attn_weights;
scale_attn_by_inverse_layer_idx; layer_norm_epsilon; n_inner;
activation_function; lm_head tied to wte unless tie_word_embeddings is false.

  gpt2_ref.py make OUTDIR     write the fixture folders (see FIXTURES) with
                              config.json, model.safetensors (own writer) and
                              the expected outputs (raw little-endian .bin
                              files, shapes in expected.json)
  gpt2_ref.py selftest        check the reference itself: the torch model
                              against an independent float64 numpy
                              implementation (explicit per-head loops),
                              padded-batch valid positions against the
                              unpadded sequences, the writer against a reader

Every expected output is computed in float32 from the stored weights (for
f16/bf16 fixtures: the rounded weights widened to float32).

Expected files in each fixture folder (row-major, little endian):
  input_ids.i64        [batch, seq]            a plain batch
  logits.f32           [batch, seq, vocab]     head-class logits of it
  hidden.f32           [batch, seq, n_embd]    base-class last_hidden_state
  pad_input_ids.i64    [batch, seq]            a left-padded batch
  pad_mask.i64         [batch, seq]            its attention mask (1 = token)
  pad_position_ids.i64 [batch, seq]            cumsum(mask) - 1, masked -> 1
  pad_logits.f32       [batch, seq, vocab]     (only mask == 1 rows are meaningful)
  gen_prompt.i64       [1, prompt_len]         greedy prompt
  gen_out.i64          [1, prompt_len + gen_new]  prompt + greedy continuation
  padgen_prompt.i64    [batch, padgen_len]     left-padded greedy prompts
  padgen_mask.i64      [batch, padgen_len]
  padgen_out.i64       [batch, padgen_len + padgen_new]
Greedy decoding recomputes the whole sequence at every step (no cache) and
stops like transformers' generate: at max_new_tokens, or when every row has
produced eos_token_id (finished rows are padded with eos).
"""
import json
import math
import os
import shutil
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
except ImportError as e:  # the fixture test must fail loudly, never skip
    sys.stderr.write(f"gpt2_ref.py: cannot import {e.name}: install python3-torch and python3-numpy "
                     "(Debian: apt-get install python3-torch python3-numpy)\n")
    sys.exit(2)

F32_MIN = torch.finfo(torch.float32).min

# safetensors' Dtype order; files list tensors by dtype descending, then name
ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
            "I32", "U32", "F32", "F64", "I64", "U64"]
ST_NAME = {torch.bool: "BOOL", torch.uint8: "U8", torch.int8: "I8", torch.int16: "I16",
           torch.float16: "F16", torch.bfloat16: "BF16", torch.int32: "I32",
           torch.float32: "F32", torch.float64: "F64", torch.int64: "I64"}
TORCH_DTYPE = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}
TORCH_NAME = {"f32": "float32", "f16": "float16", "bf16": "bfloat16"}

BASE = dict(vocab_size=97, n_positions=64, n_embd=32, n_layer=3, n_head=4, n_inner=None,
            activation_function="gelu_new", layer_norm_epsilon=1e-5, scale_attn_weights=True,
            scale_attn_by_inverse_layer_idx=False, tie_word_embeddings=True,
            bos_token_id=96, eos_token_id=96)
# n_inner, erf gelu, inverse-layer-idx scaling, an untied lm_head
VARIANT = dict(BASE, n_inner=48, activation_function="gelu", scale_attn_by_inverse_layer_idx=True,
               tie_word_embeddings=False)
# no 1/sqrt(d) scaling, gelu_pytorch_tanh, another eps and head count
# and an eos_token_id that greedy decoding reaches (generation stops early)
MISC = dict(BASE, n_layer=2, n_head=2, activation_function="gelu_pytorch_tanh",
            layer_norm_epsilon=1e-3, scale_attn_weights=False, eos_from_greedy=3)

# name: (config, weight dtype, key layout, seed, legacy buffer dtype for layout "base")
#   layout "head": GPT2LMHeadModel.state_dict() as transformers saves it
#                  ("transformer." prefix; lm_head.weight only when untied)
#   layout "base": the original gpt2 repo: GPT2Model keys without prefix plus
#                  the legacy h.{i}.attn.bias / h.{i}.attn.masked_bias buffers,
#                  architectures ["GPT2LMHeadModel"]
FIXTURES = {
    "head": (BASE, "f32", "head", 1, None),
    "base_layout": (BASE, "f32", "base", 1, torch.bool),
    "variant": (VARIANT, "f32", "head", 2, None),
    "misc": (MISC, "f32", "base", 3, torch.uint8),
    "head_f16": (BASE, "f16", "head", 4, None),
    "head_bf16": (BASE, "bf16", "head", 5, None),
    "base_f16": (BASE, "f16", "base", 6, torch.uint8),
    "base_bf16": (BASE, "bf16", "base", 7, torch.bool),
}

BATCH, SEQ = 2, 7
PROMPT_LEN, MAX_NEW = 5, 10
PAD_ID = 0


# ------------------------------------------------------------------ model

def act_fn(name):
    if name == "gelu_new":
        return lambda x: 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))
    if name == "gelu_pytorch_tanh":
        return lambda x: nn.functional.gelu(x, approximate="tanh")
    if name == "gelu":
        return nn.functional.gelu
    if name == "relu":
        return torch.relu
    if name in ("silu", "swish"):
        return nn.functional.silu
    raise ValueError(f"activation {name}")


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D: weight [nx (in), nf (out)]."""

    def __init__(self, nf, nx):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        return x @ self.weight + self.bias


class Attention(nn.Module):
    def __init__(self, cfg, layer_idx):
        super().__init__()
        self.n_head = cfg["n_head"]
        self.d = cfg["n_embd"] // cfg["n_head"]
        self.layer_idx = layer_idx
        self.scale = cfg["scale_attn_weights"]
        self.inv_layer = cfg["scale_attn_by_inverse_layer_idx"]
        P = cfg["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones(P, P, dtype=torch.bool)).view(1, 1, P, P),
                             persistent=False)
        self.c_attn = Conv1D(3 * cfg["n_embd"], cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], cfg["n_embd"])

    def split(self, x):
        B, T, _ = x.shape
        return x.view(B, T, self.n_head, self.d).permute(0, 2, 1, 3)

    def forward(self, x, attn_mask):
        q, k, v = self.c_attn(x).split(self.n_head * self.d, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = q @ k.transpose(-1, -2)
        if self.scale:
            w = w / torch.full([], v.size(-1) ** 0.5, dtype=w.dtype)
        if self.inv_layer:
            w = w / float(self.layer_idx + 1)
        Tq, Tk = q.size(-2), k.size(-2)
        causal = self.bias[:, :, Tk - Tq:Tk, :Tk]
        w = torch.where(causal, w, torch.full([], F32_MIN, dtype=w.dtype))
        if attn_mask is not None:
            w = w + attn_mask
        w = nn.functional.softmax(w, dim=-1)
        o = (w @ v).permute(0, 2, 1, 3).contiguous()
        return self.c_proj(o.view(o.size(0), o.size(1), -1))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        inner = cfg["n_inner"] if cfg["n_inner"] is not None else 4 * cfg["n_embd"]
        self.c_fc = Conv1D(inner, cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], inner)
        self.act = act_fn(cfg["activation_function"])

    def forward(self, x):
        return self.c_proj(self.act(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg, i):
        super().__init__()
        eps = cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.attn = Attention(cfg, i)
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x, attn_mask):
        x = x + self.attn(self.ln_1(x), attn_mask)
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList([Block(cfg, i) for i in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        B, T = input_ids.shape
        if position_ids is None:
            position_ids = torch.arange(T, dtype=torch.long).unsqueeze(0)
        mask = None
        if attention_mask is not None:
            mask = attention_mask.view(B, -1)[:, None, None, :].to(torch.float32)
            mask = (1.0 - mask) * F32_MIN
        x = self.wte(input_ids) + self.wpe(position_ids)
        for blk in self.h:
            x = blk(x, mask)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.transformer = GPT2Model(cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        if cfg["tie_word_embeddings"]:
            self.lm_head.weight = self.transformer.wte.weight

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        return self.lm_head(self.transformer(input_ids, attention_mask, position_ids))


def init_weights(model, seed, dtype):
    """randn * 0.2 (norm weights 1 + randn * 0.2), rounded to the storage dtype."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied lm_head appears once
            r = torch.randn(p.shape, generator=g) * 0.2
            if name.endswith(("ln_1.weight", "ln_2.weight", "ln_f.weight")):
                r += 1.0
            p.copy_(r.to(TORCH_DTYPE[dtype]).to(torch.float32))


# ------------------------------------------------------------- safetensors

def tensor_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)  # numpy has no bfloat16: take the raw bits
    return t.numpy().astype(t.numpy().dtype.newbyteorder("<")).tobytes()


def write_safetensors(path, tensors):
    """tensors: {name: torch.Tensor}.  The layout of the safetensors crate:
    u64 LE header length, compact JSON header (__metadata__ first), padded
    with spaces to a multiple of 8, data ordered by dtype descending then
    name, raw little-endian bytes."""
    items = sorted(tensors.items(), key=lambda kv: (-ST_ORDER.index(ST_NAME[kv[1].dtype]), kv[0]))
    header = {"__metadata__": {"format": "pt"}}
    blobs, off = [], 0
    for name, t in items:
        b = tensor_bytes(t)
        header[name] = {"dtype": ST_NAME[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
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
    """An independent reader (numpy) used by selftest."""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    hdr = json.loads(data[8:8 + n])
    hdr.pop("__metadata__", None)
    np_t = {"F32": "<f4", "F16": "<f2", "BF16": "<u2", "BOOL": "u1", "U8": "u1", "I64": "<i8"}
    out = {}
    for k, info in hdr.items():
        b, e = info["data_offsets"]
        a = np.frombuffer(data[8 + n + b:8 + n + e], np_t[info["dtype"]])
        if info["dtype"] == "BF16":
            a = (a.astype(np.uint32) << 16).view(np.float32)
        out[k] = (info["dtype"], a.reshape(info["shape"]))
    return out


def checkpoint_tensors(model, cfg, dtype, layout, legacy_dtype):
    """The state dict as written in the checkpoint, in the storage dtype."""
    sd = model.state_dict()  # non-persistent attn.bias is not in it
    dt = TORCH_DTYPE[dtype]
    if layout == "head":
        out = {k: v.to(dt) for k, v in sd.items()}
        if cfg["tie_word_embeddings"]:
            del out["lm_head.weight"]  # transformers does not save the tied copy
        return out
    assert cfg["tie_word_embeddings"], "the base layout has no lm_head"
    out = {k[len("transformer."):]: v.to(dt) for k, v in sd.items() if k.startswith("transformer.")}
    P = cfg["n_positions"]
    for i in range(cfg["n_layer"]):
        out[f"h.{i}.attn.bias"] = torch.tril(torch.ones(P, P)).to(legacy_dtype).view(1, 1, P, P)
        out[f"h.{i}.attn.masked_bias"] = torch.tensor(-1e4, dtype=torch.float32)
    return out


def config_json(cfg, dtype, layout):
    """config.json as transformers 4.37's to_json_file writes a GPT2Config
    (to_diff_dict: tie_word_embeddings only when it differs from True)."""
    c = {
        "activation_function": cfg["activation_function"],
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": cfg["bos_token_id"],
        "embd_pdrop": 0.1,
        "eos_token_id": cfg["eos_token_id"],
        "initializer_range": 0.02,
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "model_type": "gpt2",
        "n_embd": cfg["n_embd"],
        "n_head": cfg["n_head"],
        "n_inner": cfg["n_inner"],
        "n_layer": cfg["n_layer"],
        "n_positions": cfg["n_positions"],
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": cfg["scale_attn_by_inverse_layer_idx"],
        "scale_attn_weights": cfg["scale_attn_weights"],
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": TORCH_NAME[dtype],
        "transformers_version": "4.37.2",
        "use_cache": True,
        "vocab_size": cfg["vocab_size"],
    }
    if not cfg["tie_word_embeddings"]:
        c["tie_word_embeddings"] = False
    if layout == "base":
        # the original gpt2 repo's config carries the pre-4.x key n_ctx too
        c["n_ctx"] = cfg["n_positions"]
    return c


# ------------------------------------------------------------------ inputs

def pad_position_ids(mask):
    """transformers' generate: cumsum(mask) - 1, masked positions set to 1."""
    pos = mask.long().cumsum(-1) - 1
    return pos.masked_fill(mask == 0, 1)


def greedy(model, ids, mask, max_new, eos):
    """Full recomputation each step.  Returns (out ids, smallest top-1/top-2 gap)."""
    ids = ids.clone()
    mask = None if mask is None else mask.clone()
    done = torch.zeros(ids.size(0), dtype=torch.bool)
    min_gap = float("inf")
    for _ in range(max_new):
        pos = None if mask is None else pad_position_ids(mask)
        logits = model(ids, mask, pos)[:, -1, :]
        top2 = logits.topk(2, dim=-1).values
        gaps = (top2[:, 0] - top2[:, 1])[~done]
        if gaps.numel():
            min_gap = min(min_gap, gaps.min().item())
        nxt = logits.argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, eos), nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
        if mask is not None:
            mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        done |= nxt == eos
        if bool(done.all()):
            break
    return ids, min_gap


def inputs(cfg, seed):
    g = torch.Generator().manual_seed(1000 + seed)
    V = cfg["vocab_size"]
    # ids avoid eos/pad so every case has real tokens
    ids = torch.randint(1, V - 1, (BATCH, SEQ), generator=g)
    pad_ids = torch.randint(1, V - 1, (BATCH, SEQ), generator=g)
    pad_mask = torch.ones(BATCH, SEQ, dtype=torch.long)
    pad_mask[1, :3] = 0
    pad_ids[1, :3] = PAD_ID
    return g, ids, pad_ids, pad_mask


def make_fixture(d, name, cfg, dtype, layout, seed, legacy_dtype):
    torch.manual_seed(seed)
    model = GPT2LMHeadModel(cfg).eval()
    init_weights(model, seed, dtype)
    g, ids, pad_ids, pad_mask = inputs(cfg, seed)
    V = cfg["vocab_size"]
    if cfg.get("eos_from_greedy"):
        # make generation stop early: eos is the token greedy decoding picks
        # at step eos_from_greedy for the first prompt tried below
        step = cfg["eos_from_greedy"]
        probe = torch.Generator().manual_seed(g.initial_seed())
        probe.set_state(g.get_state())
        with torch.no_grad():
            out, _ = greedy(model, torch.randint(1, V - 1, (1, PROMPT_LEN), generator=probe), None, MAX_NEW, -1)
        new_toks = out[0, PROMPT_LEN:].tolist()
        if new_toks[step] in new_toks[:step]:
            raise RuntimeError(f"{name}: greedy token {new_toks[step]} repeats; pick another step")
        cfg = dict(cfg, eos_token_id=new_toks[step], bos_token_id=new_toks[step])
    eos = cfg["eos_token_id"]
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(cfg, dtype, layout), f, indent=2, sort_keys=True)
        f.write("\n")
    write_safetensors(os.path.join(d, "model.safetensors"),
                      checkpoint_tensors(model, cfg, dtype, layout, legacy_dtype))

    exp = {"name": name, "dtype": dtype, "layout": layout, "batch": BATCH, "seq": SEQ, "vocab": V,
           "n_embd": cfg["n_embd"], "eos_token_id": eos}
    files = {}
    with torch.no_grad():
        files["input_ids.i64"] = ids
        files["logits.f32"] = model(ids)
        files["hidden.f32"] = model.transformer(ids)
        pos = pad_position_ids(pad_mask)
        files["pad_input_ids.i64"] = pad_ids
        files["pad_mask.i64"] = pad_mask
        files["pad_position_ids.i64"] = pos
        files["pad_logits.f32"] = model(pad_ids, pad_mask, pos)
        # greedy prompts whose every step has a clear winner (gap >= 1e-3),
        # so that f32 rounding differences cannot flip a token
        for _ in range(100):
            prompt = torch.randint(1, V - 1, (1, PROMPT_LEN), generator=g)
            out, gap = greedy(model, prompt, None, MAX_NEW, eos)
            if gap >= 1e-3:
                break
        else:
            raise RuntimeError(f"{name}: no greedy prompt with a clear argmax at every step")
        files["gen_prompt.i64"] = prompt
        files["gen_out.i64"] = out
        exp["prompt_len"], exp["gen_new"], exp["gen_min_gap"] = PROMPT_LEN, out.size(1) - PROMPT_LEN, gap
        for _ in range(100):
            pprompt = torch.randint(1, V - 1, (BATCH, PROMPT_LEN), generator=g)
            pmask = torch.ones(BATCH, PROMPT_LEN, dtype=torch.long)
            pmask[0, :2] = 0
            pprompt[0, :2] = PAD_ID
            pout, pgap = greedy(model, pprompt, pmask, MAX_NEW, eos)
            if pgap >= 1e-3:
                break
        else:
            raise RuntimeError(f"{name}: no padded greedy prompt with a clear argmax at every step")
        files["padgen_prompt.i64"] = pprompt
        files["padgen_mask.i64"] = pmask
        files["padgen_out.i64"] = pout
        exp["padgen_len"], exp["padgen_new"], exp["padgen_min_gap"] = PROMPT_LEN, pout.size(1) - PROMPT_LEN, pgap
    for fn, t in files.items():
        want = torch.int64 if fn.endswith(".i64") else torch.float32
        with open(os.path.join(d, fn), "wb") as f:
            f.write(tensor_bytes(t.to(want)))
        exp["shape_" + fn.split(".")[0]] = "x".join(str(s) for s in t.shape)
    with open(os.path.join(d, "expected.json"), "w") as f:
        json.dump(exp, f, indent=2, sort_keys=True)
        f.write("\n")
    return model


def make(argv):
    if len(argv) != 1:
        sys.exit("usage: gpt2_ref.py make OUTDIR")
    out = argv[0]
    for name in FIXTURES:  # start clean: no stale file survives a rerun
        shutil.rmtree(os.path.join(out, name), ignore_errors=True)
    for name, (cfg, dtype, layout, seed, legacy) in FIXTURES.items():
        make_fixture(os.path.join(out, name), name, cfg, dtype, layout, seed, legacy)
    # base_layout must hold the same weights as head (same seed and config)
    a = read_safetensors(os.path.join(out, "head", "model.safetensors"))
    b = read_safetensors(os.path.join(out, "base_layout", "model.safetensors"))
    for k, (dt, arr) in a.items():
        assert np.array_equal(arr, b[k[len("transformer."):]][1]), k
    print(f"gpt2 fixtures written to {out}: {', '.join(FIXTURES)}")


# ---------------------------------------------------------------- selftest

def np_forward(sd, cfg, ids, mask=None, pos=None, head=True):
    """GPT-2 in float64 numpy from the state dict, written independently of
    the torch modules: explicit loops over batch and heads, masked keys
    dropped from the softmax instead of adding large negatives."""
    W = {k: v.detach().double().numpy() for k, v in sd.items()}
    p = "transformer."
    B, T = ids.shape
    E, H = cfg["n_embd"], cfg["n_head"]
    D = E // H
    ids = ids.numpy()
    pos = np.tile(np.arange(T), (B, 1)) if pos is None else pos.numpy()
    mask = np.ones((B, T)) if mask is None else mask.numpy()
    eps = cfg["layer_norm_epsilon"]

    def ln(x, name):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * W[name + ".weight"] + W[name + ".bias"]

    def act(x):
        a = cfg["activation_function"]
        if a in ("gelu_new", "gelu_pytorch_tanh"):
            return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
        if a == "gelu":
            return np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.ravel()]).reshape(x.shape)
        raise ValueError(a)

    x = W[p + "wte.weight"][ids] + W[p + "wpe.weight"][pos]
    for i in range(cfg["n_layer"]):
        q_all = ln(x, f"{p}h.{i}.ln_1") @ W[f"{p}h.{i}.attn.c_attn.weight"] + W[f"{p}h.{i}.attn.c_attn.bias"]
        att = np.zeros((B, T, E))
        for b in range(B):
            for h in range(H):
                q = q_all[b, :, h * D:(h + 1) * D]
                k = q_all[b, :, E + h * D:E + (h + 1) * D]
                v = q_all[b, :, 2 * E + h * D:2 * E + (h + 1) * D]
                for t in range(T):
                    keys = [j for j in range(t + 1) if mask[b, j]]
                    if not keys:  # a padded query with no visible key: unused
                        continue
                    s = np.array([q[t] @ k[j] for j in keys])
                    if cfg["scale_attn_weights"]:
                        s /= math.sqrt(D)
                    if cfg["scale_attn_by_inverse_layer_idx"]:
                        s /= i + 1
                    w = np.exp(s - s.max())
                    w /= w.sum()
                    att[b, t, h * D:(h + 1) * D] = sum(w[n] * v[j] for n, j in enumerate(keys))
        x = x + att @ W[f"{p}h.{i}.attn.c_proj.weight"] + W[f"{p}h.{i}.attn.c_proj.bias"]
        m = act(ln(x, f"{p}h.{i}.ln_2") @ W[f"{p}h.{i}.mlp.c_fc.weight"] + W[f"{p}h.{i}.mlp.c_fc.bias"])
        x = x + m @ W[f"{p}h.{i}.mlp.c_proj.weight"] + W[f"{p}h.{i}.mlp.c_proj.bias"]
    x = ln(x, p + "ln_f")
    return x @ W["lm_head.weight"].T if head else x


def selftest(argv):
    import tempfile
    worst = 0.0
    for name in ("head", "variant", "misc", "head_bf16"):
        cfg, dtype, layout, seed, legacy = FIXTURES[name]
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(cfg).eval()
        init_weights(model, seed, dtype)
        sd = model.state_dict()
        _, ids, pad_ids, pad_mask = inputs(cfg, seed)
        pos = pad_position_ids(pad_mask)
        with torch.no_grad():
            got = model(ids).double().numpy()
            hid = model.transformer(ids).double().numpy()
            pgot = model(pad_ids, pad_mask, pos).double().numpy()
            # 1. the torch model against the float64 numpy one
            d1 = np.abs(got - np_forward(sd, cfg, ids)).max()
            d2 = np.abs(hid - np_forward(sd, cfg, ids, head=False)).max()
            ref = np_forward(sd, cfg, pad_ids, pad_mask, pos)
            valid = pad_mask.numpy().astype(bool)
            d3 = np.abs(pgot[valid] - ref[valid]).max()
            # 2. padded rows: valid positions equal the unpadded sequence's logits
            n_pad = int((pad_mask[1] == 0).sum())
            alone = model(pad_ids[1:, n_pad:]).double().numpy()[0]
            d4 = np.abs(pgot[1, n_pad:] - alone).max()
            # 3. the explicit attention mask of all ones changes nothing
            d5 = np.abs(model(ids, torch.ones_like(ids)).double().numpy() - got).max()
        print(f"{name}: torch vs numpy f64: logits {d1:.2e} hidden {d2:.2e} padded {d3:.2e}; "
              f"padded row vs unpadded {d4:.2e}; all-ones mask {d5:.2e}")
        for what, d, tol in (("logits", d1, 1e-5), ("hidden", d2, 1e-5), ("padded", d3, 1e-5),
                             ("padded vs unpadded", d4, 1e-5), ("all-ones mask", d5, 0.0)):
            if not d <= tol:
                sys.exit(f"FAIL {name}: {what} differs by {d} > {tol}")
        worst = max(worst, d1, d2, d3, d4)
        # 4. the writer: an independent reader gets the stored values back
        with tempfile.TemporaryDirectory() as t:
            for lay in ("head", "base") if cfg["tie_word_embeddings"] else ("head",):
                tens = checkpoint_tensors(model, cfg, dtype, lay, torch.uint8)
                path = os.path.join(t, "model.safetensors")
                write_safetensors(path, tens)
                raw = open(path, "rb").read()
                n = struct.unpack("<Q", raw[:8])[0]
                assert n % 8 == 0 and raw[8:9] == b"{", "header layout"
                back = read_safetensors(path)
                assert set(back) == set(tens), (set(back) ^ set(tens))
                for k, v in tens.items():
                    dt, arr = back[k]
                    assert dt == ST_NAME[v.dtype], (k, dt)
                    assert np.array_equal(arr.astype(np.float64), v.to(torch.float64).numpy()), k
    # 5. greedy stops like generate: a forced eos ends the row and pads it
    cfg = dict(BASE, eos_token_id=5)
    torch.manual_seed(0)
    m = GPT2LMHeadModel(cfg).eval()
    init_weights(m, 0, "f32")
    with torch.no_grad():
        m.lm_head.weight[5] = 0
        m.lm_head.weight[5, 0] = 50.0
        m.transformer.ln_f.bias[0] = 5.0  # hidden[0] large and positive: eos wins
        out, _ = greedy(m, torch.tensor([[1, 2, 3]]), None, 10, 5)
        assert out.tolist() == [[1, 2, 3, 5]], out
    print(f"selftest ok (worst torch-vs-numpy difference {worst:.2e})")


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("make", "selftest"):
        sys.exit(__doc__)
    torch.set_num_threads(1)
    {"make": make, "selftest": selftest}[sys.argv[1]](sys.argv[2:])
