#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Train the bundled byte-level GPT-2 in models/gpt2-kjv on the King James Bible.

Plain PyTorch (Debian's python3-torch; no transformers, no safetensors
package). The module below is transformers' GPT2LMHeadModel math with its
parameter names: Conv1D weights stored [in, out] (x @ W + b), gelu_new,
layer_norm_epsilon 1e-5, causal attention scaled by 1/sqrt(head_dim), lm_head
tied to transformer.wte. The vocabulary is ByT5Tokenizer's layout with no
extra ids: 0 <pad>, 1 </s>, 2 <unk>, byte b -> b + 3 (vocab_size 259).

Text: `bible -f Gen1:1-Rev22:21` from Debian's bible-kjv (the reader) and
bible-kjv-text (the public-domain KJV text and its data file), with the
"Ge1:1 " verse references stripped: one verse a line, a blank line between
chapters. Install with `apt-get install -y bible-kjv-text bible-kjv`.

  train_gpt2.py [--out DIR] [--steps N] [--ckpt FILE] [--threads N]

Training is reproducible: every random draw comes from generators seeded
from --seed (the batch of step s from seed and s alone), dropout is off and
torch runs on --threads CPU threads. A checkpoint (model, AdamW state, step)
is written to --ckpt every --ckpt-every steps; rerunning the same command
resumes from it. The outputs are what transformers' save_pretrained writes
for GPT2LMHeadModel plus a ByT5Tokenizer config, and expected_greedy.json:
a prompt and the greedy continuation this PyTorch model computes from the
saved weights, for ptm's generation test.
"""
import argparse
import hashlib
import json
import math
import os
import re
import struct
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# ---------------------------------------------------------------- vocabulary

PAD, EOS, UNK, OFFSET = 0, 1, 2, 3
VOCAB_SIZE = 256 + OFFSET


def encode(text):
    return [b + OFFSET for b in text.encode("utf-8")]


def decode(ids):
    return bytes(i - OFFSET for i in ids if i >= OFFSET).decode("utf-8", "replace")


# ---------------------------------------------------------------- text

REF = re.compile(r"^([1-3]?[A-Za-z]+)(\d+):(\d+) (.*)$")


def load_text():
    """The KJV as plain text: one verse a line, a blank line between chapters."""
    try:
        raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True,
                             stdout=subprocess.PIPE).stdout.decode("ascii")
    except FileNotFoundError:
        sys.exit("train_gpt2.py: `bible` not found; apt-get install -y bible-kjv-text bible-kjv")
    out = []
    chapter = None
    for line in raw.splitlines():
        m = REF.match(line)
        if not m:
            raise ValueError(f"unexpected line from bible: {line!r}")
        book, chap = m.group(1), int(m.group(2))
        if chapter is not None and (book, chap) != chapter:
            out.append("")
        chapter = (book, chap)
        out.append(" ".join(m.group(4).split()))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- model


class Conv1D(nn.Module):
    """transformers.pytorch_utils.Conv1D: weight [nx, nf], y = x @ W + b"""

    def __init__(self, nf, nx):
        super().__init__()
        self.nf = nf
        self.weight = nn.Parameter(torch.empty(nx, nf))
        self.bias = nn.Parameter(torch.zeros(nf))

    def forward(self, x):
        size_out = x.size()[:-1] + (self.nf,)
        x = torch.addmm(self.bias, x.view(-1, x.size(-1)), self.weight)
        return x.view(size_out)


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head = cfg["n_head"]
        self.head_dim = cfg["n_embd"] // cfg["n_head"]
        self.c_attn = Conv1D(3 * cfg["n_embd"], cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], cfg["n_embd"])
        n = cfg["n_positions"]
        self.register_buffer("bias", torch.tril(torch.ones(n, n, dtype=torch.bool)).view(1, 1, n, n),
                             persistent=False)

    def split(self, x):
        b, t, _ = x.shape
        return x.view(b, t, self.n_head, self.head_dim).permute(0, 2, 1, 3)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(x).split(c, dim=2)
        q, k, v = self.split(q), self.split(k), self.split(v)
        w = torch.matmul(q, k.transpose(-1, -2)) / (v.size(-1) ** 0.5)
        mask = self.bias[:, :, :t, :t]
        w = torch.where(mask, w, torch.full([], torch.finfo(w.dtype).min, dtype=w.dtype))
        w = F.softmax(w, dim=-1)
        y = torch.matmul(w, v).permute(0, 2, 1, 3).contiguous().view(b, t, c)
        return self.c_proj(y)


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        inner = cfg["n_inner"] or 4 * cfg["n_embd"]
        self.c_fc = Conv1D(inner, cfg["n_embd"])
        self.c_proj = Conv1D(cfg["n_embd"], inner)

    def forward(self, x):
        return self.c_proj(gelu_new(self.c_fc(x)))


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        eps = cfg["layer_norm_epsilon"]
        self.ln_1 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.attn = Attention(cfg)
        self.ln_2 = nn.LayerNorm(cfg["n_embd"], eps=eps)
        self.mlp = MLP(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT2Model(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["n_embd"])
        self.wpe = nn.Embedding(cfg["n_positions"], cfg["n_embd"])
        self.h = nn.ModuleList([Block(cfg) for _ in range(cfg["n_layer"])])
        self.ln_f = nn.LayerNorm(cfg["n_embd"], eps=cfg["layer_norm_epsilon"])

    def forward(self, ids):
        pos = torch.arange(ids.size(1), dtype=torch.long).unsqueeze(0)
        x = self.wte(ids) + self.wpe(pos)
        for block in self.h:
            x = block(x)
        return self.ln_f(x)


class GPT2LMHeadModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.transformer = GPT2Model(cfg)
        self.lm_head = nn.Linear(cfg["n_embd"], cfg["vocab_size"], bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tie_word_embeddings

    def init_weights(self, gen):
        """GPT2PreTrainedModel._init_weights, drawn from gen"""
        std = self.cfg["initializer_range"]
        for name, p in self.named_parameters():
            if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name.endswith("ln_f.weight"):
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith("c_proj.weight"):
                with torch.no_grad():
                    p.normal_(0.0, std / math.sqrt(2 * self.cfg["n_layer"]), generator=gen)
            else:
                with torch.no_grad():
                    p.normal_(0.0, std, generator=gen)

    def forward(self, ids):
        return self.lm_head(self.transformer(ids))


def state_to_save(model):
    """save_pretrained's state dict: buffers non-persistent, tied lm_head.weight dropped"""
    return {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}


# ---------------------------------------------------------------- safetensors

ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
            "I32", "U32", "F32", "F64", "I64", "U64"]


def write_safetensors(path, tensors):
    """the reference writer's layout for F32 tensors: u64 LE header length,
    compact JSON header ("__metadata__" {"format": "pt"} first, then tensors by
    dtype descending then name), space padding to 8 bytes, raw LE data"""
    items = sorted(((k, "F32", v) for k, v in tensors.items()),
                   key=lambda e: (-ST_ORDER.index(e[1]), e[0]))
    header = {"__metadata__": {"format": "pt"}}
    blobs = []
    off = 0
    for name, dt, t in items:
        b = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
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
    header = json.loads(data[8:8 + n])
    assert header.pop("__metadata__") == {"format": "pt"}
    out = {}
    for name, info in header.items():
        assert info["dtype"] == "F32"
        b, e = info["data_offsets"]
        arr = np.frombuffer(data[8 + n + b:8 + n + e], "<f4").reshape(info["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


# ---------------------------------------------------------------- files


def dump_json(path, obj):
    """transformers' to_json_file / tokenizer files: indent 2, sorted keys, newline"""
    with open(path, "w", encoding="utf-8") as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def config_json(cfg):
    """config.json as GPT2Config.save_pretrained writes it (to_diff_dict), without
    transformers_version (no transformers was involved)"""
    return {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": cfg["attn_pdrop"],
        "bos_token_id": EOS,
        "embd_pdrop": cfg["embd_pdrop"],
        "eos_token_id": EOS,
        "initializer_range": cfg["initializer_range"],
        "layer_norm_epsilon": cfg["layer_norm_epsilon"],
        "model_type": "gpt2",
        "n_embd": cfg["n_embd"],
        "n_head": cfg["n_head"],
        "n_inner": cfg["n_inner"],
        "n_layer": cfg["n_layer"],
        "n_positions": cfg["n_positions"],
        "reorder_and_upcast_attn": False,
        "resid_pdrop": cfg["resid_pdrop"],
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
        "vocab_size": cfg["vocab_size"],
    }


def save_model(model, out, cfg):
    os.makedirs(out, exist_ok=True)
    dump_json(os.path.join(out, "config.json"), config_json(cfg))
    dump_json(os.path.join(out, "generation_config.json"),
              {"_from_model_config": True, "bos_token_id": EOS, "eos_token_id": EOS})
    dump_json(os.path.join(out, "tokenizer_config.json"),
              {"tokenizer_class": "ByT5Tokenizer", "eos_token": "</s>", "pad_token": "<pad>",
               "unk_token": "<unk>", "extra_ids": 0, "model_max_length": cfg["n_positions"]})
    dump_json(os.path.join(out, "special_tokens_map.json"),
              {"eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"})
    write_safetensors(os.path.join(out, "model.safetensors"), state_to_save(model))


# ---------------------------------------------------------------- generation


@torch.no_grad()
def greedy(model, ids, n_new):
    """argmax decoding without a cache: the full sequence every step"""
    ids = list(ids)
    out, margins = [], []
    for _ in range(n_new):
        ctx = ids[-model.cfg["n_positions"]:]
        logits = model(torch.tensor([ctx]))[0, -1]
        top = torch.topk(logits, 2)
        nxt = int(torch.argmax(logits))
        margins.append(float(top.values[0] - top.values[1]))
        out.append(nxt)
        ids.append(nxt)
    return out, margins


@torch.no_grad()
def sample(model, ids, n_new, gen, temperature=0.8):
    ids = list(ids)
    for _ in range(n_new):
        logits = model(torch.tensor([ids[-model.cfg["n_positions"]:]]))[0, -1] / temperature
        ids.append(int(torch.multinomial(F.softmax(logits, -1), 1, generator=gen)))
    return ids


# ---------------------------------------------------------------- training


def batch(data, step, seed, bsz, t):
    g = torch.Generator().manual_seed(seed * 1_000_003 + step)
    starts = torch.randint(0, len(data) - t - 1, (bsz,), generator=g)
    w = torch.stack([data[s:s + t + 1] for s in starts.tolist()])
    return w[:, :-1], w[:, 1:]


@torch.no_grad()
def evaluate(model, data, seed, bsz, t, n_batches=8):
    model.eval()
    total = 0.0
    for i in range(n_batches):
        x, y = batch(data, i, seed + 7777, bsz, t)
        total += float(F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1)))
    model.train()
    return total / n_batches


def lr_at(step, a):
    if step < a.warmup:
        return a.lr * (step + 1) / a.warmup
    p = (step - a.warmup) / max(1, a.steps - a.warmup)
    return a.lr * (a.min_lr_frac + (1 - a.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))


def train_args(a):
    """the arguments a checkpoint must match to be resumed"""
    return {k: v for k, v in vars(a).items()
            if k not in ("out", "ckpt", "ckpt_every", "log_every", "prompt", "new_tokens")}


# glibc hands the large attention buffers back to the kernel after every step
# and faults them in again; keeping them makes a step about a third faster.
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1073741824",
              "MALLOC_TOP_PAD_": "268435456"}


def main():
    if any(k not in os.environ for k in MALLOC_ENV):
        os.environ.update({k: os.environ.get(k, v) for k, v in MALLOC_ENV.items()})
        os.execv(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:])
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(here, "gpt2-kjv"))
    ap.add_argument("--ckpt", default=os.path.join(here, "..", "build", "train_gpt2.ckpt"),
                    help="checkpoint for resuming (default build/train_gpt2.ckpt)")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.1)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=1611)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=128)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-positions", type=int, default=256)
    ap.add_argument("--prompt", default="And God said")
    ap.add_argument("--new-tokens", type=int, default=100)
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)

    text = load_text()
    print(f"text: {len(text)} bytes, sha256 {hashlib.sha256(text.encode()).hexdigest()}", flush=True)
    data = torch.tensor(encode(text), dtype=torch.long)
    split = int(len(data) * 0.98)
    split = text.rfind("\n\n", 0, split) + 2  # hold out whole chapters at the end
    train, val = data[:split], data[split:]
    print(f"train {len(train)} bytes, held out {len(val)} bytes (from {text[split:split + 40]!r}...)")

    cfg = {"vocab_size": VOCAB_SIZE, "n_positions": a.n_positions, "n_embd": a.n_embd,
           "n_layer": a.n_layer, "n_head": a.n_head, "n_inner": None,
           "layer_norm_epsilon": 1e-5, "initializer_range": 0.02,
           "attn_pdrop": 0.0, "embd_pdrop": 0.0, "resid_pdrop": 0.0}
    model = GPT2LMHeadModel(cfg)
    model.init_weights(torch.Generator().manual_seed(a.seed))
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params} parameters ({n_params * 4} bytes f32)")

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.95), eps=1e-8)

    step = 0
    if a.ckpt and os.path.exists(a.ckpt):
        ck = torch.load(a.ckpt)
        if ck["args"] == train_args(a):
            model.load_state_dict(ck["model"])
            opt.load_state_dict(ck["opt"])
            step = ck["step"]
            print(f"resumed from {a.ckpt} at step {step}")
        else:
            print(f"ignoring {a.ckpt}: it was written with other arguments")

    t = a.n_positions
    t0 = time.time()
    elapsed0 = ck["elapsed"] if step else 0.0
    loss_avg = None
    while step < a.steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a)
        x, y = batch(train, step, a.seed, a.batch, t)
        loss = F.cross_entropy(model(x).reshape(-1, VOCAB_SIZE), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_avg = float(loss) if loss_avg is None else 0.95 * loss_avg + 0.05 * float(loss)
        if step % a.log_every == 0 or step == a.steps:
            el = elapsed0 + time.time() - t0
            msg = (f"step {step}/{a.steps} loss {float(loss):.4f} (avg {loss_avg:.4f}) "
                   f"lr {lr_at(step - 1, a):.2e} {el:.0f}s")
            if step % (a.log_every * 10) == 0 or step == a.steps:
                msg += f" held-out {evaluate(model, val, a.seed, a.batch, t):.4f}"
            print(msg, flush=True)
        if a.ckpt and (step % a.ckpt_every == 0 or step == a.steps):
            os.makedirs(os.path.dirname(os.path.abspath(a.ckpt)), exist_ok=True)
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                        "elapsed": elapsed0 + time.time() - t0,
                        "args": train_args(a)}, a.ckpt + ".tmp")
            os.replace(a.ckpt + ".tmp", a.ckpt)
    el = elapsed0 + time.time() - t0
    train_loss = evaluate(model, train, a.seed, a.batch, t)
    val_loss = evaluate(model, val, a.seed, a.batch, t)
    print(f"done: {step} steps, {el:.0f}s of training; loss train {train_loss:.4f} "
          f"held-out {val_loss:.4f} nats/byte")

    model.eval()
    save_model(model, a.out, cfg)

    # reload the saved weights into a fresh model and check they reproduce it
    saved = read_safetensors(os.path.join(a.out, "model.safetensors"))
    fresh = GPT2LMHeadModel(cfg)
    missing, unexpected = fresh.load_state_dict(saved, strict=False)
    assert missing == ["lm_head.weight"] and not unexpected, (missing, unexpected)
    fresh.eval()
    assert fresh.lm_head.weight is fresh.transformer.wte.weight

    prompt = encode(a.prompt)
    out, margins = greedy(fresh, prompt, a.new_tokens)
    assert out == greedy(model, prompt, a.new_tokens)[0]
    with torch.no_grad():
        last = fresh(torch.tensor([prompt]))[0, -1]
    print(f"greedy: {a.prompt!r} -> {decode(out)!r}")
    print(f"smallest top-1/top-2 logit margin along the greedy path: {min(margins):.4f}")
    dump_json(os.path.join(a.out, "expected_greedy.json"), {
        "prompt": a.prompt,
        "prompt_ids": prompt,
        "greedy_ids": out,
        "greedy_text": decode(out),
        "min_logit_margin": round(min(margins), 6),
        "prompt_last_logits": [float(v) for v in last.tolist()],
    })

    gen = torch.Generator().manual_seed(a.seed)
    for p in ("And God said", "In the beginning", "Jesus"):
        s = sample(fresh, encode(p), 200, gen)
        print(f"sample (T=0.8): {decode(s)!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
