#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Sharded save_pretrained checked against transformers 4.37's algorithm.

  shard_ref.py PTM OUTDIR PYTORCH_GPT2_PY

The expected shard assignment, file names and index JSON are computed here
from the tensor list of a tiny GPT-2 that real torch wrote
(pytorch_gpt2.py), with the rules of formats.md section 5 re-implemented in
Python (convert_file_size_to_int, shard_checkpoint, json.dumps(indent=2,
sort_keys=True) + "\\n").  Then `ptm convert --max-shard-size` must produce
exactly those files: the index byte for byte, every pytorch shard loadable
by torch.load(weights_only=True), every safetensors shard readable by the
independent reader in safetensors_ref.py, the same tensors as the source,
and a folder that ptm loads back to the same tensors.  Stale files of an
earlier save are removed, others are left alone.
"""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import torch

PTM, OUT, GPT2_PY = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safetensors_ref as st  # noqa: E402

spec = importlib.util.spec_from_file_location("pytorch_gpt2", GPT2_PY)
g2 = importlib.util.module_from_spec(spec)
_argv, sys.argv = sys.argv, ["pytorch_gpt2.py", "-"]
try:  # its command dispatch runs on import and exits on an unknown command
    spec.loader.exec_module(g2)
except SystemExit:
    pass
sys.argv = _argv

failures = 0


def check(cond, what):
    global failures
    if cond:
        print("ok  ", what)
    else:
        failures += 1
        print("FAIL", what)


def size_to_int(size):
    """transformers 4.37 convert_file_size_to_int (formats.md 5.5)."""
    if isinstance(size, int):
        return size
    if size.isdigit():  # ptm's CLI takes a byte count where Python takes an int
        return int(size)
    if size.upper().endswith("GIB"):
        return int(size[:-3]) * (2**30)
    if size.upper().endswith("MIB"):
        return int(size[:-3]) * (2**20)
    if size.upper().endswith("KIB"):
        return int(size[:-3]) * (2**10)
    for unit, mult in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size.upper().endswith(unit):
            v = int(size[:-2]) * mult
            return v // 8 if size.endswith("b") else v
    raise ValueError(size)


def byte_size(dtype):
    """4.37 dtype_byte_size: bool is 1/8, else bits // 8."""
    if dtype == torch.bool:
        return 1 / 8
    return int(re.search(r"[^\d](\d+)$", str(dtype)).groups()[0]) // 8


def expected(sd, max_size, weights_name):
    """4.37 shard_checkpoint: (files {name: [keys]}, index or None)."""
    max_size = size_to_int(max_size)
    blocks, cur, cur_size, total = [], {}, 0, 0
    for k, t in sd.items():
        sz = t.numel() * byte_size(t.dtype)
        if cur_size + sz > max_size and len(cur) > 0:
            blocks.append(cur)
            cur, cur_size = {}, 0
        cur[k] = t
        cur_size += sz
        total += sz
    blocks.append(cur)
    if len(blocks) == 1:
        return {weights_name: list(blocks[0])}, None
    files, wm = {}, {}
    for i, b in enumerate(blocks):
        ext = ".bin" if weights_name.endswith(".bin") else ".safetensors"
        fn = weights_name.replace(ext, f"-{i + 1:05d}-of-{len(blocks):05d}{ext}")
        files[fn] = list(b)
        for k in b:
            wm[k] = fn
    return files, {"metadata": {"total_size": total}, "weight_map": wm}


def ptm(*args):
    r = subprocess.run([PTM, *args], capture_output=True, text=True)
    sanitizer = any(w in r.stderr for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:"))
    check(not sanitizer, "no sanitizer report from ptm " + " ".join(args))
    return r.returncode, r.stdout + r.stderr


def read_st(path):
    n, _, pairs, data = st.parse_file(open(path, "rb").read())
    meta, out = {}, {}
    for k, v in pairs:
        if k == "__metadata__":
            meta = dict(v)
            continue
        v = dict(v)
        a, b = v["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=st.NP[v["dtype"]]).reshape(v["shape"])
        out[k] = (v["dtype"], arr)
    return meta, out


def as_np(t):
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().view("<u2")
    return t.numpy()


def check_folder(tag, d, sd, max_size, fmt):
    wname = "pytorch_model.bin" if fmt == "pytorch" else "model.safetensors"
    files, index = expected(sd, max_size, wname)
    iname = wname + ".index.json"
    # a GPT2LMHeadModel can generate: save_pretrained writes generation_config.json too
    want = set(files) | {"config.json", "generation_config.json"} | ({iname} if index else set())
    got = {f for f in os.listdir(d) if not f.startswith("other")}
    check(got == want, f"{tag}: files {sorted(got)} == {sorted(want)}")
    if index:
        text = json.dumps(index, indent=2, sort_keys=True) + "\n"
        have = open(os.path.join(d, iname), "rb").read()
        check(have == text.encode(), f"{tag}: {iname} byte for byte")
    for fn, keys in files.items():
        p = os.path.join(d, fn)
        if not os.path.exists(p):
            check(False, f"{tag}: {fn} exists")
            continue
        if fmt == "pytorch":
            obj = torch.load(p, weights_only=True)
            check(list(obj) == keys, f"{tag}: torch.load {fn}: keys in order")
            same = all(torch.equal(obj[k], sd[k]) for k in keys if k in obj)
            check(same, f"{tag}: torch.load {fn}: values")
        else:
            meta, tens = read_st(p)
            check(meta == {"format": "pt"}, f"{tag}: {fn}: __metadata__ {meta}")
            check(sorted(tens) == sorted(keys), f"{tag}: {fn}: tensors")
            same = all(k in tens and np.array_equal(tens[k][1], as_np(sd[k])) for k in keys)
            check(same, f"{tag}: {fn}: values")


def main():
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    src = os.path.join(OUT, "src")
    g2.make(src, "bin", 3)
    src16 = os.path.join(OUT, "src16")
    g2.make(src16, "bf16", 4)
    sd = g2.weights(3)
    del sd["lm_head.weight"]  # tied: saved once, under the owner's name
    sd16 = g2.weights(4, torch.bfloat16)
    del sd16["lm_head.weight"]

    cases = [("1", "safetensors"), ("3KB", "safetensors"), ("20KB", "safetensors"), ("6KiB", "pytorch"),
             ("8000", "pytorch"), ("1MB", "safetensors"), ("64Kb", "safetensors"), ("5GB", "pytorch")]
    for size, fmt in cases:
        d = os.path.join(OUT, f"{fmt}_{size}")
        rc, log = ptm("convert", src, d, "--format", fmt, "--max-shard-size", size)
        check(rc == 0, f"convert --format {fmt} --max-shard-size {size}: {log.strip()}")
        if rc == 0:
            check_folder(f"{fmt} {size}", d, sd, size, fmt)
            # ptm loads the sharded folder back: a single-file save of it is
            # the same tensors as the source
            back = d + "_back"
            rc, log = ptm("convert", d, back)
            check(rc == 0, f"{fmt} {size}: ptm reloads the folder {log.strip()}")
            if rc == 0:
                _, tens = read_st(os.path.join(back, "model.safetensors"))
                same = sorted(tens) == sorted(sd) and all(np.array_equal(tens[k][1], sd[k].numpy()) for k in sd)
                check(same, f"{fmt} {size}: reloaded tensors identical")
    d = os.path.join(OUT, "bf16")
    rc, log = ptm("convert", src16, d, "--max-shard-size", "5KB")
    check(rc == 0, "bf16 convert " + log.strip())
    if rc == 0:
        check_folder("bf16 5KB", d, sd16, "5KB", "safetensors")

    # stale files: shards of an earlier save that the new one does not
    # replace go, the single file / index go, unrelated files stay
    d = os.path.join(OUT, "stale")
    ptm("convert", src, d, "--max-shard-size", "1")
    for name in ("other-00001-of-00002.safetensors", "model.txt", "model-00001-of-00002.json.bak"):
        open(os.path.join(d, name), "w").write("x")
    os.makedirs(os.path.join(d, "model-00001-of-00099.safetensors.d"))
    keep = {"other-00001-of-00002.safetensors", "model.txt", "model-00001-of-00002.json.bak",
            "model-00001-of-00099.safetensors.d"}
    for size in ("20KB", "1MB", "3KB"):
        rc, log = ptm("convert", src, d, "--max-shard-size", size)
        check(rc == 0, f"stale: re-save with {size} {log.strip()}")
        files, index = expected(sd, size, "model.safetensors")
        want = (set(files) | {"config.json", "generation_config.json"} |
                ({"model.safetensors.index.json"} if index else set()) | keep)
        check(set(os.listdir(d)) == want, f"stale: after {size}: {sorted(set(os.listdir(d)) ^ want)} differ")

    # sizes: errors name the bad value; h5 cannot be sharded
    for bad in ("5.5GB", "10TB", "GB", "-1MB", "0", "12 parsecs"):
        rc, log = ptm("convert", src, os.path.join(OUT, "bad"), "--max-shard-size", bad)
        check(rc == 2 and bad in log and not os.path.exists(os.path.join(OUT, "bad")),
              f"--max-shard-size {bad!r} refused: {log.strip()}")
    rc, log = ptm("convert", src, os.path.join(OUT, "h5"), "--format", "h5", "--max-shard-size", "1KB")
    check(rc != 0 and "sharded" in log and not os.path.exists(os.path.join(OUT, "h5", "tf_model.h5")),
          "h5 sharding refused: " + log.strip())
    print(f"{failures} failure(s)")
    sys.exit(1 if failures else 0)


main()
