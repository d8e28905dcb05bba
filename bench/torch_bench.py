# SPDX-License-Identifier: Apache-2.0
"""The PyTorch side of the benchmark: GPT-2 in plain PyTorch (transformers'
GPT2LMHeadModel math: Conv1D weights [in, out] through addmm, gelu_new, a
static KV cache) loading the same model.safetensors, parsed by hand.

Measures, for one dtype per process (so peak RSS is that dtype's alone):
  load      start of reading the file -> ready nn.Module (median of --loads)
  first     the first 128-token prefill right after the first load (cold)
  prefill   one forward of --prefill tokens with the cache (median of --reps
            after a warm-up)
  decode    tokens/s of --decode one-token forwards after a --prefill prefill
            (median of --decode-reps)
  peak RSS  resource.getrusage ru_maxrss and /proc/self/status VmHWM
Thread settings: every torch.set_num_threads(n), n = 1..nproc, crossed with
OpenBLAS's own thread count b = 1..nproc (Debian's torch runs its f32 GEMMs in
OpenBLAS, whose pthread pool ignores set_num_threads), is probed briefly in a
fresh process; the figures are then measured in this process with the best
(n, b) for prefill and the best for decode.

    python3 bench/torch_bench.py --model /tmp/ptm-bench/gpt2-f32 --json out.json
"""
import argparse
import gc
import json
import math
import os
import resource
import statistics
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F

ST_DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def proc_status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def openblas():
    """(get, set) of the process's OpenBLAS thread count, or None."""
    import ctypes

    for name in ("libopenblas.so.0", "libblas.so.3"):
        try:
            lib = ctypes.CDLL(name)
            return lib.openblas_get_num_threads, lib.openblas_set_num_threads
        except (OSError, AttributeError):
            pass
    return None


def warm_page_cache(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(1 << 24):
            pass


def read_safetensors(path):
    """name -> tensor, all viewing one uint8 tensor filled by one readinto."""
    with open(path, "rb", buffering=0) as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        size = os.fstat(f.fileno()).st_size - 8 - n
        raw = torch.empty(size, dtype=torch.uint8)
        mv = memoryview(raw.numpy()).cast("B")
        got = 0
        while got < size:
            k = f.readinto(mv[got:])
            if not k:
                raise IOError("%s: short read" % path)
            got += k
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        out[name] = raw[a:b].view(ST_DTYPES[e["dtype"]]).view(e["shape"])
    return out


class Block(torch.nn.Module):
    def __init__(self, sd, p):
        super().__init__()

        def P(name):
            return torch.nn.Parameter(sd[p + name], requires_grad=False)

        self.ln_1_w, self.ln_1_b = P("ln_1.weight"), P("ln_1.bias")
        self.c_attn_w, self.c_attn_b = P("attn.c_attn.weight"), P("attn.c_attn.bias")
        self.attn_proj_w, self.attn_proj_b = P("attn.c_proj.weight"), P("attn.c_proj.bias")
        self.ln_2_w, self.ln_2_b = P("ln_2.weight"), P("ln_2.bias")
        self.c_fc_w, self.c_fc_b = P("mlp.c_fc.weight"), P("mlp.c_fc.bias")
        self.mlp_proj_w, self.mlp_proj_b = P("mlp.c_proj.weight"), P("mlp.c_proj.bias")


class GPT2LMHead(torch.nn.Module):
    """GPT2LMHeadModel's inference math; the parameters are the loaded
    tensors themselves (no init, no copy); lm_head is tied to wte."""

    def __init__(self, cfg, sd):
        super().__init__()
        self.d = cfg["n_embd"]
        self.nh = cfg["n_head"]
        self.hd = self.d // self.nh
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.n_pos = cfg["n_positions"]
        self.wte = torch.nn.Parameter(sd["transformer.wte.weight"], requires_grad=False)
        self.wpe = torch.nn.Parameter(sd["transformer.wpe.weight"], requires_grad=False)
        self.h = torch.nn.ModuleList(Block(sd, "transformer.h.%d." % i) for i in range(cfg["n_layer"]))
        self.ln_f_w = torch.nn.Parameter(sd["transformer.ln_f.weight"], requires_grad=False)
        self.ln_f_b = torch.nn.Parameter(sd["transformer.ln_f.bias"], requires_grad=False)
        self.eval()

    def new_cache(self, capacity, batch=1):
        dt = self.wte.dtype
        shape = (batch, self.nh, capacity, self.hd)
        return [(torch.empty(shape, dtype=dt), torch.empty(shape, dtype=dt)) for _ in self.h]

    def forward(self, ids, cache, past):
        B, T = ids.shape
        d, nh, hd = self.d, self.nh, self.hd
        h = F.embedding(ids, self.wte) + self.wpe[past : past + T]
        mask = None
        if T > 1:
            mask = torch.ones(T, past + T, dtype=torch.bool).tril(past)
        scale = 1.0 / math.sqrt(hd)
        for blk, (kc, vc) in zip(self.h, cache):
            a = F.layer_norm(h, (d,), blk.ln_1_w, blk.ln_1_b, self.eps)
            qkv = torch.addmm(blk.c_attn_b, a.view(-1, d), blk.c_attn_w).view(B, T, 3, nh, hd)
            q = qkv[:, :, 0].transpose(1, 2)
            kc[:, :, past : past + T] = qkv[:, :, 1].transpose(1, 2)
            vc[:, :, past : past + T] = qkv[:, :, 2].transpose(1, 2)
            k = kc[:, :, : past + T]
            v = vc[:, :, : past + T]
            att = torch.matmul(q, k.transpose(-1, -2)) * scale
            if mask is not None:
                att = att.masked_fill(~mask, torch.finfo(att.dtype).min)
            att = torch.softmax(att, dim=-1)
            y = torch.matmul(att, v).transpose(1, 2).reshape(B * T, d)
            h = h + torch.addmm(blk.attn_proj_b, y, blk.attn_proj_w).view(B, T, d)
            m = F.layer_norm(h, (d,), blk.ln_2_w, blk.ln_2_b, self.eps)
            m = F.gelu(torch.addmm(blk.c_fc_b, m.view(-1, d), blk.c_fc_w), approximate="tanh")
            h = h + torch.addmm(blk.mlp_proj_b, m, blk.mlp_proj_w).view(B, T, d)
        # Only the last position's logits, as generate needs (transformers'
        # logits_to_keep=1; ptm_bench passes the same).
        h = F.layer_norm(h[:, -1:], (d,), self.ln_f_w, self.ln_f_b, self.eps)
        return F.linear(h, self.wte)  # logits [B, 1, vocab]


def load_model(folder):
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    sd = read_safetensors(os.path.join(folder, "model.safetensors"))
    return cfg, GPT2LMHead(cfg, sd)


def prompt(T, vocab):
    # the same ids as ptm_bench.c
    return torch.tensor([[(i * 7919 + 13) % vocab for i in range(T)]], dtype=torch.int64)


def run_prefill(model, ids, cache):
    t0 = time.perf_counter()
    logits = model(ids, cache, 0)
    return time.perf_counter() - t0, logits


def run_decode(model, ids, cache, n):
    """Prefill (untimed), then n greedy one-token steps; returns (s, tokens)."""
    logits = model(ids, cache, 0)
    past = ids.shape[1]
    tok = int(torch.argmax(logits[0, -1]))
    toks = [tok]
    t0 = time.perf_counter()
    for _ in range(n):
        logits = model(torch.tensor([[tok]], dtype=torch.int64), cache, past)
        past += 1
        tok = int(torch.argmax(logits[0, -1]))
        toks.append(tok)
    return time.perf_counter() - t0, toks


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="folder with config.json and model.safetensors")
    ap.add_argument("--prefill", type=int, default=128)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5, help="timed prefills per thread count")
    ap.add_argument("--decode-reps", type=int, default=3, help="timed decode runs per thread count")
    ap.add_argument("--loads", type=int, default=3, help="timed loads (median)")
    ap.add_argument("--threads", default="sweep",
                    help="'sweep', or N,B: torch.set_num_threads(N) and OpenBLAS threads B")
    ap.add_argument("--probe", action="store_true", help=argparse.SUPPRESS)  # one setting, briefly (a child)
    ap.add_argument("--json", help="write the results here")
    a = ap.parse_args()

    nproc = os.cpu_count() or 1
    blas = openblas()

    def use(setting):
        nt, nb = (int(x) for x in setting.split(","))
        torch.set_num_threads(nt)
        if blas:
            blas[1](nb)

    probe = {}
    if a.threads == "sweep":
        # Probe each setting in a fresh process (threads that spin after a
        # setting would slow the next one): a warm-up and one prefill, 8
        # decode steps.  Then measure here with the best for each figure.
        for nt in range(1, nproc + 1):
            for nb in range(1, nproc + 1) if blas else [1]:
                setting = "%d,%d" % (nt, nb)
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--model", a.model, "--prefill",
                                      str(a.prefill), "--decode", str(a.decode), "--threads", setting, "--probe"],
                                     check=True, stdout=subprocess.PIPE).stdout
                probe[setting] = json.loads(out)
                print("torch probe %s threads,blas=%s: prefill %.1f ms, decode %.2f tok/s" %
                      (os.path.basename(a.model), setting, probe[setting]["prefill_s"] * 1e3,
                       probe[setting]["decode_tok_s"]), file=sys.stderr)
        best_p = min(probe, key=lambda k: probe[k]["prefill_s"])
        best_d = max(probe, key=lambda k: probe[k]["decode_tok_s"])
    else:
        best_p = best_d = a.threads
    use(best_p)

    path = os.path.join(a.model, "model.safetensors")
    rss_base = proc_status_kb("VmRSS")
    warm_page_cache(path)

    with torch.inference_mode():
        if a.probe:
            cfg, model = load_model(a.model)
            ids = prompt(a.prefill, cfg["vocab_size"])
            cache = model.new_cache(a.prefill + a.decode)
            run_prefill(model, ids, cache)  # warm-up
            p = run_prefill(model, ids, cache)[0]
            k = min(8, a.decode)
            d = k / run_decode(model, ids, cache, k)[0]
            print(json.dumps({"prefill_s": p, "decode_tok_s": d}))
            return 0

        loads = []
        model = cfg = None
        first_prefill = None
        for i in range(a.loads):
            model = None
            gc.collect()
            t0 = time.perf_counter()
            cfg, model = load_model(a.model)
            loads.append(time.perf_counter() - t0)
            if i == 0:
                ids = prompt(a.prefill, cfg["vocab_size"])
                cache = model.new_cache(a.prefill + a.decode)
                first_prefill, _ = run_prefill(model, ids, cache)
                cache = None
        dtype = model.wte.dtype
        ids = prompt(a.prefill, cfg["vocab_size"])
        cache = model.new_cache(a.prefill + a.decode)

        run_prefill(model, ids, cache)  # warm-up
        pre = [run_prefill(model, ids, cache)[0] for _ in range(a.reps)]
        if best_d != best_p:
            use(best_d)
        run_decode(model, ids, cache, min(8, a.decode))  # warm-up
        dec = []
        tokens = None
        for _ in range(a.decode_reps):
            s, toks = run_decode(model, ids, cache, a.decode)
            dec.append(a.decode / s)
            tokens = tokens or toks
        print("torch %s: prefill %.1f ms (threads,blas %s), decode %.2f tok/s (threads,blas %s)" %
              (str(dtype).replace("torch.", ""), statistics.median(pre) * 1e3, best_p, statistics.median(dec),
               best_d), file=sys.stderr)
    nparams = sum(p.numel() for p in model.parameters())
    res = {
        "impl": "torch",
        "torch_version": torch.__version__,
        "model": a.model,
        "dtype": str(dtype).replace("torch.", ""),
        "params": nparams,
        "weight_bytes": sum(p.numel() * p.element_size() for p in model.parameters()),
        "load_s": statistics.median(loads),
        "load_all": loads,
        "first_prefill_s": first_prefill,
        "prefill_tokens": a.prefill,
        "prefill_s": statistics.median(pre),
        "prefill_all": pre,
        "prefill_threads": best_p,
        "decode_tokens": a.decode,
        "decode_tok_s": statistics.median(dec),
        "decode_all": dec,
        "decode_threads": best_d,
        "probe": probe,
        "greedy_tokens": tokens,
        "rss_base_kb": rss_base,
        "maxrss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "vmhwm_kb": proc_status_kb("VmHWM"),
    }
    js = json.dumps(res, indent=1)
    if a.json:
        with open(a.json, "w") as f:
            f.write(js + "\n")
    else:
        print(js)
    return 0


if __name__ == "__main__":
    sys.exit(main())
