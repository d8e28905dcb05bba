# SPDX-License-Identifier: Apache-2.0
"""Print the benchmark's one table from the JSON files bench/run.sh wrote:
limits.json, ptm-f32.json, torch-f32.json, ptm-bf16.json, torch-bf16.json
(and config.json of the f32 model for the byte and FLOP counts).

    python3 bench/report.py RESULTS_DIR MODEL_DIR
Reports figures and how far each is from its goal; asserts nothing."""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def merge_limits(a, b):
    """The best of two limit measurements (taken at the start and the end of
    the run): the limit is what the machine can do."""
    if not a or not b:
        return a or b
    out = dict(a)
    for k in ("bandwidth_gbs", "bandwidth_1t_gbs"):
        out[k] = max(a[k], b[k])
    out["sgemm"] = [x if x["gflops"] >= y["gflops"] else y for x, y in zip(a["sgemm"], b["sgemm"])]
    return out


def model_counts(cfg):
    d, L, V = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"]
    inner = cfg.get("n_inner") or 4 * d
    layer = 4 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * inner + inner) + (inner * d + d)
    return {
        "d": d, "L": L, "V": V, "inner": inner, "heads": cfg["n_head"],
        "layer_params": layer,
        # params one decode step reads: every layer, ln_f, the tied LM head
        # (= wte, which also serves the token's embedding row) and one wpe row
        "decode_params": L * layer + 2 * d + V * d + d,
    }


def decode_bytes(c, elem, T, ndec):
    """Bytes one decode step reads: weights + the f32 KV cache (K and V of
    every layer over the cached positions, averaged over the decode)."""
    avg_len = T + (ndec + 1) / 2.0
    kv = 2 * c["L"] * c["d"] * avg_len * 4
    return c["decode_params"] * elem + kv, kv


def prefill_bound(c, T, limits):
    """Seconds of the prefill's GEMMs at OpenBLAS's measured rate for each
    shape, the LM head for one position, attention (4*T*T*d per layer, unmasked) at the c_fc rate; and the
    FLOPs."""
    rate = {s["what"]: s["gflops"] * 1e9 for s in limits["sgemm"]}
    d, inner, V, L = c["d"], c["inner"], c["V"], c["L"]
    per_layer = [("c_attn", 2 * T * d * 3 * d), ("attn.c_proj", 2 * T * d * d), ("c_fc", 2 * T * d * inner),
                 ("mlp.c_proj", 2 * T * inner * d), ("c_fc", 4 * T * T * d)]
    # The LM head runs for the last position only (logits_to_keep = 1): a
    # matrix-vector product bound by reading the f32 head at the bandwidth.
    head = max(2 * d * V / rate["lm_head"], 4 * d * V / (best_bw(limits) * 1e9))
    sec = sum(L * f / rate[w] for w, f in per_layer) + head
    flops = sum(L * f for _, f in per_layer) + 2 * d * V
    return sec, flops


def best_bw(lim):
    return max(lim["bandwidth_gbs"], lim.get("bandwidth_1t_gbs", 0))


def fmt_ms(s):
    if s is None:
        return "-"
    return "%.1f ms" % (s * 1e3) if s >= 0.01 else "%.2f ms" % (s * 1e3)


def ratio(x):
    if x is None:
        return "-"
    return "%.2fx" % x if x < 10 else "%.1fx" % x if x < 100 else "%.0fx" % x


def get(r, k):
    return None if r is None else r.get(k)


def gain(p, t, key, higher_better=False):
    a, b = get(p, key), get(t, key)
    if not a or not b:
        return None
    return a / b if higher_better else b / a


def profile_lines(p, limits, c, elem_name):
    out = []
    prof = p.get("profile")
    if not prof:
        return out
    bw = best_bw(limits) if limits else None
    rate = {(s["m"], s["k"], s["n"], s["trans_b"]): s["gflops"] for s in (limits or {}).get("sgemm", [])}
    for phase in ("prefill", "decode"):
        ph = prof[phase]
        n = ph["forwards"]
        wall = ph["wall_s"]
        out.append("  ptm %s %s: %.2f ms per forward (ops %.2f ms, rest %.2f ms)" %
                   (elem_name, phase, wall / n * 1e3, ph["ops_s"] / n * 1e3, (wall - ph["ops_s"]) / n * 1e3))
        ops = sorted(ph["ops"].items(), key=lambda kv: -kv[1][1])
        out.append("    " + ", ".join("%s %.2f ms (%.0f%%)" % (k, v[1] / n * 1e3, 100 * v[1] / wall)
                                      for k, v in ops if v[1] / wall >= 0.005))
        for s in sorted(ph["matmul_shapes"], key=lambda s: -s["s"]):
            per = s["s"] / s["calls"]
            best = s.get("best_s", per)
            flops = 2.0 * s["m"] * s["k"] * s["n"] * s["batch"]
            esz = {"F32": 4, "BF16": 2, "F16": 2}.get(s["b_dtype"], 4)
            wbytes = s["k"] * s["n"] * s["batch"] * esz
            r = rate.get((s["m"], s["k"], s["n"], s["trans_b"]))
            if s["m"] == 1 and bw:  # decode: weights streamed
                fig = lambda t: "%5.1f GB/s %.2f" % (wbytes / t / 1e9, wbytes / t / 1e9 / bw)
                what = "GB/s, of bandwidth"
            elif r and s["batch"] == 1:
                fig = lambda t: "%5.1f GFLOP/s %.2f" % (flops / t / 1e9, flops / t / 1e9 / r)
                what = "GFLOP/s, of sgemm"
            else:
                fig = lambda t: "%5.1f GFLOP/s" % (flops / t / 1e9)
                what = "GFLOP/s"
            out.append("    matmul %4dx%-4dx%-5d%s %-4s x%-3d %7.3f ms/call: %s; fastest call %s  (%s)" % (
                s["m"], s["k"], s["n"], " B^T" if s["trans_b"] else "    ", s["b_dtype"],
                s["calls"] // n if n else s["calls"], per * 1e3, fig(per), fig(best), what))
    return out


def main():
    res, model_dir = sys.argv[1], sys.argv[2]
    lim = merge_limits(load(os.path.join(res, "limits.json")), load(os.path.join(res, "limits-end.json")))
    R = {k: load(os.path.join(res, k + ".json")) for k in ("ptm-f32", "torch-f32", "ptm-bf16", "torch-bf16")}
    cfg = load(os.path.join(model_dir, "config.json"))
    c = model_counts(cfg)
    any_r = next((r for r in R.values() if r), {})
    T, ndec = any_r.get("prefill_tokens", 128), any_r.get("decode_tokens", 64)
    params = any_r.get("params", 0)

    cols = [("ptm-f32", "torch-f32"), ("ptm-bf16", "torch-bf16")]
    head = "%-22s" % "" + "".join("%12s%12s%10s" % ("ptm " + a[4:], "torch " + a[4:], "gain") for a, _ in cols)
    print("GPT-2 small shape (%.1fM params), prompt %d tokens, %d decoded tokens, batch 1" % (params / 1e6, T, ndec))
    print("gain = how many times better ptm is (torch/ptm for times and memory, ptm/torch for tok/s)")
    print()
    print(head)
    print("-" * len(head))

    def row(label, key, f, higher=False):
        s = "%-22s" % label
        for a, b in cols:
            s += "%12s%12s%10s" % (f(get(R[a], key)), f(get(R[b], key)), ratio(gain(R[a], R[b], key, higher)))
        print(s)

    row("load-to-ready", "load_s", fmt_ms)
    row("1st prefill after load", "first_prefill_s", fmt_ms)
    row("prefill %d tokens" % T, "prefill_s", fmt_ms)
    row("decode (tok/s)", "decode_tok_s", lambda v: "-" if v is None else "%.2f" % v, True)
    row("peak RSS (VmHWM)", "vmhwm_kb", lambda v: "-" if v is None else "%.0f MB" % (v * 1024 / 1e6))
    s = "%-22s" % "threads"
    for a, b in cols:
        pa, pb = R[a], R[b]
        s += "%12s%12s%10s" % ("-" if not pa else "%s/%s" % (pa["prefill_threads"], pa["decode_threads"]),
                               "-" if not pb else "%s/%s" % (pb["prefill_threads"], pb["decode_threads"]), "")
    print(s)
    print("  (threads of the best prefill / best decode setting; torch: torch,OpenBLAS threads; "
          "torch peak RSS includes ~%s MB of `import torch`)" %
          ("%.0f" % (R["torch-f32"]["rss_base_kb"] * 1024 / 1e6) if R["torch-f32"] else "?"))
    for a, b in cols:
        pa, pb = R[a], R[b]
        if pa and pb and pa.get("greedy_tokens") and pb.get("greedy_tokens"):
            x, y = pa["greedy_tokens"], pb["greedy_tokens"]
            same = sum(1 for i, j in zip(x, y) if i == j)
            print("  greedy tokens %s: ptm and torch agree on %d of %d" % (a[4:], same, min(len(x), len(y))))

    if not lim:
        print("\n(no limits.json: limits not measured)")
        return 0
    print()
    sg = {s["what"]: s for s in lim["sgemm"]}
    print("limits: memory read bandwidth %.1f GB/s (%.1f with %d threads, %.1f with 1; the best is the limit)" %
          (best_bw(lim), lim["bandwidth_gbs"], lim["threads"], lim["bandwidth_1t_gbs"]))
    print("        OpenBLAS sgemm %.1f GFLOP/s at M=%d K=768 N=3072 [%s]" %
          (sg["c_fc"]["gflops"], T, lim.get("openblas_config", "")))
    print("        sgemm per shape (GFLOP/s, best thread count): " +
          ", ".join("%s %.0f (%s)" % (s["what"], s["gflops"], s.get("threads", "?")) for s in lim["sgemm"]))
    pb_s, pflops = prefill_bound(c, T, lim)
    print()
    head2 = "%-34s%22s%22s" % ("", "f32", "bf16")
    print(head2)
    print("-" * len(head2))
    vals = {}
    for key, elem in (("f32", 4), ("bf16", 2)):
        p = R["ptm-" + key]
        t = R["torch-" + key]
        wbytes = (p or t or {}).get("weight_bytes") or params * elem
        db, kv = decode_bytes(c, elem, T, ndec)
        bound = best_bw(lim) * 1e9 / db
        v = {"db": db, "kv": kv, "bound": bound, "wbytes": wbytes}
        if p:
            v["dec_frac"] = p["decode_tok_s"] / bound
            v["pre_frac"] = pb_s / p["prefill_s"]
            v["rss"] = p["vmhwm_kb"] * 1024 / wbytes
            v["load"] = (t["load_s"] / p["load_s"]) if t else None
            v["pre_vs_torch"] = (t["prefill_s"] / p["prefill_s"]) if t else None
        vals[key] = v

    def row2(label, f):
        print("%-34s%22s%22s" % (label, f(vals["f32"]), f(vals["bf16"])))

    row2("bytes read per decode token", lambda v: "%.1f MB (KV %.1f)" % (v["db"] / 1e6, v["kv"] / 1e6))
    row2("decode bound (tok/s)", lambda v: "%.1f" % v["bound"])
    row2("ptm decode / bound", lambda v: "%.2f" % v["dec_frac"] if "dec_frac" in v else "-")
    row2("prefill bound (sgemm rates)", lambda v: "%.1f ms (%.1f GFLOP)" % (pb_s * 1e3, pflops / 1e9))
    row2("ptm prefill / bound (speed)", lambda v: "%.2f" % v["pre_frac"] if "pre_frac" in v else "-")
    row2("weight bytes", lambda v: "%.1f MB" % (v["wbytes"] / 1e6))
    row2("ptm peak RSS / weight bytes", lambda v: "%.2f" % v["rss"] if "rss" in v else "-")
    print()

    def goal(label, ok_fn, show):
        s = "%-34s" % label
        for key in ("f32", "bf16"):
            v = vals[key]
            try:
                ok = ok_fn(v)
                s += "%22s" % ("%s %s" % ("met" if ok else "NOT met", show(v)))
            except (KeyError, TypeError):
                s += "%22s" % "-"
        print(s)

    print("goals (reported, not asserted)")
    goal("load <= 1/10 of torch's", lambda v: v["load"] >= 10, lambda v: "(%s)" % ratio(v["load"]))
    goal("decode >= 0.9 of bound", lambda v: v["dec_frac"] >= 0.9, lambda v: "(%.2f)" % v["dec_frac"])
    goal("prefill faster than torch", lambda v: v["pre_vs_torch"] > 1, lambda v: "(%s)" % ratio(v["pre_vs_torch"]))
    goal("peak RSS <= 1.1 x weights", lambda v: v["rss"] <= 1.1, lambda v: "(%.2f)" % v["rss"])

    lines = []
    for key in ("f32", "bf16"):
        p = R["ptm-" + key]
        if p:
            lines += profile_lines(p, lim, c, key)
    if lines:
        print()
        print("where ptm's time goes (cpu-timed pass: every op timed around the cpu backend)")
        print("\n".join(lines))
    vulkan_section(res, R)
    return 0


def vulkan_section(res, R):
    """The Vulkan column: ptm on the vulkan backend next to ptm on cpu."""
    V = {dt: load(os.path.join(res, "ptm-vulkan-%s.json" % dt)) for dt in ("f32", "bf16")}
    if not any(V.values()):
        print("\nvulkan: not run (no Vulkan device, or --no-vulkan)")
        return
    dev = ""
    try:
        dev = open(os.path.join(res, "vulkan-device.txt")).read().strip()
    except OSError:
        pass
    print("\nvulkan column (%s; one prefill, 8 decode steps; on lavapipe it only shows that it runs)" % (dev or "?"))
    print("%-22s%14s%14s%14s%14s" % ("", "vulkan f32", "cpu f32", "vulkan bf16", "cpu bf16"))

    def cell(r, key, f):
        v = get(r, key)
        return f(v) if v is not None else "-"
    rows = [("load-to-ready", "load_s", fmt_ms), ("prefill 128 tokens", "prefill_s", fmt_ms),
            ("decode (tok/s)", "decode_tok_s", lambda v: "%.2f" % v)]
    for label, key, f in rows:
        print("%-22s%14s%14s%14s%14s" % (label, cell(V["f32"], key, f), cell(R["ptm-f32"], key, f),
                                         cell(V["bf16"], key, f), cell(R["ptm-bf16"], key, f)))
    for dt in ("f32", "bf16"):
        a, b = get(V[dt], "greedy_tokens"), get(R["ptm-" + dt], "greedy_tokens")
        if a and b:
            n = min(len(a), len(b))
            print("  greedy tokens %s: vulkan and cpu agree on %d of %d" % (dt, sum(x == y for x, y in zip(a[:n], b[:n])), n))


if __name__ == "__main__":
    sys.exit(main())
