#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""C writes pytorch_model.bin files; real torch reads them.

  pytorch_c_writes.py TOOL OUTDIR     TOOL = test_pytorch (fixture / convert)

* `TOOL fixture` writes the state dict described in test_pytorch.c; every
  value is recomputed here from the same formula and compared with what
  torch.load(weights_only=True) returns; tied names must share one storage
  and "part" must view "whole"'s storage at element offset 8.
* The zip is checked with Python's zipfile: stored entries, CRCs, 64-byte
  aligned data, one folder.
* `TOOL fixture-f8` writes float8 tensors, which Debian's torch 1.13 cannot
  load: the pickle is decoded here with stub classes and must use
  _rebuild_tensor_v3, UntypedStorage and the torch float8 dtypes.
* `TOOL convert` turns files written by torch.save into C-written files;
  torch.load of both must agree (names, dtypes, shapes, values, sharing).
"""
import collections
import os
import pickle
import shutil
import struct
import subprocess
import sys
import zipfile

try:
    import numpy as np
    import torch
except ImportError as e:  # fail loudly, never skip
    sys.stderr.write(f"pytorch_c_writes.py: cannot import {e.name}: install python3-torch and python3-numpy\n")
    sys.exit(2)

TOOL, OUT = sys.argv[1], sys.argv[2]
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
passed = failed = 0


def ok(name):
    global passed
    passed += 1
    print("ok  ", name)


def bad(name, why):
    global failed
    failed += 1
    print("FAIL", name, ":", why)


def P(name):
    return os.path.join(OUT, name)


def tool(*args):
    r = subprocess.run([TOOL] + list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(" ".join(args) + ": " + (r.stdout + r.stderr).strip())


def fixture_value(dt, k):
    if dt == torch.bool:
        return k % 3 == 0
    if dt == torch.uint8:
        return (k * 7) % 256
    if dt == torch.int8:
        return (k * 5) % 200 - 100
    if dt in (torch.int16, torch.int32, torch.int64):
        return k * 3 - 7
    return (k * 3 - 7) * 0.25


def check_zip(name, path):
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        folders = {i.filename.split("/")[0] for i in infos}
        if len(folders) != 1:
            return bad(name, f"folders {folders}")
        if z.testzip() is not None:
            return bad(name, "CRC mismatch")
        raw = open(path, "rb").read()
        for i in infos:
            if i.compress_type != zipfile.ZIP_STORED:
                return bad(name, f"{i.filename} compressed")
            nl, xl = struct.unpack_from("<HH", raw, i.header_offset + 26)
            if (i.header_offset + 30 + nl + xl) % 64:
                return bad(name, f"{i.filename} data not 64-aligned")
        names = [i.filename.split("/", 1)[1] for i in infos]
        if names[0] != "data.pkl" or "version" not in names or z.read(infos[names.index("version")]) != b"3\n":
            return bad(name, f"records {names[:3]} ... {names[-2:]}")
    ok(name)


# ------------------------------------------------------------ the fixture
tool("fixture", P("pytorch_model.bin"))
check_zip("fixture_zip", P("pytorch_model.bin"))
sd = torch.load(P("pytorch_model.bin"), weights_only=True)
errs = []
if type(sd) is not dict:
    errs.append(f"top level is {type(sd)}, transformers writes a plain dict")
dts = [torch.float64, torch.float32, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
       torch.int8, torch.uint8, torch.bool]
for dt in dts:
    t = sd.get("t." + str(dt)[6:])
    want = torch.tensor([fixture_value(dt, k) for k in range(24)]).to(dt).view(2, 3, 4)
    if t is None or t.dtype != dt or not torch.equal(t, want):
        errs.append(f"t.{dt}: {None if t is None else (t.dtype, t.flatten()[:4])}")
if sd["scalar"].shape != () or sd["scalar"].item() != 2.5:
    errs.append("scalar")
if sd["empty"].shape != (0, 3) or sd["empty"].dtype != torch.float32:
    errs.append("empty")
ta, tb = sd["tied.a"], sd["tied.b"]
if not torch.equal(ta, torch.tensor([fixture_value(torch.float32, k) for k in range(5)])):
    errs.append("tied values")
if ta.storage().data_ptr() != tb.storage().data_ptr():
    errs.append("tied.a and tied.b do not share a storage")
w, p = sd["whole"], sd["part"]
if not torch.equal(w, torch.arange(24.0).view(4, 6)) or not torch.equal(p, torch.arange(8.0, 16.0).view(2, 4)):
    errs.append("whole/part values")
if p.storage().data_ptr() != w.storage().data_ptr() or p.storage_offset() != 8:
    errs.append(f"part does not view whole's storage at 8 (offset {p.storage_offset()})")
for i in range(70):
    t = sd[f"many.{i}"]
    want = torch.tensor([fixture_value(torch.float16, k) for k in range(i % 5 + 1)], dtype=torch.float16)
    if not torch.equal(t, want):
        errs.append(f"many.{i}")
if list(sd)[:10] != ["t." + str(dt)[6:] for dt in dts] or len(sd) != 10 + 6 + 70:
    errs.append("names or order")
with zipfile.ZipFile(P("pytorch_model.bin")) as z:
    n_st = len([n for n in z.namelist() if "/data/" in n])
if n_st != 10 + 1 + 1 + 1 + 1 + 70:
    errs.append(f"{n_st} storage records")
if errs:
    bad("fixture_torch_load", "; ".join(errs))
else:
    ok("fixture_torch_load")
# the archive folder is named after the file, as torch.save names it
with zipfile.ZipFile(P("pytorch_model.bin")) as z:
    if z.namelist()[0] == "pytorch_model/data.pkl":
        ok("fixture_archive_name")
    else:
        bad("fixture_archive_name", z.namelist()[0])


# ------------------------------------------------------------ float8
class Stub:
    def __init__(self, name):
        self.name = name

    def __call__(self, *args):
        return (self.name, args)

    def __repr__(self):
        return self.name


class F8Unpickler(pickle.Unpickler):
    def find_class(self, mod, name):
        return Stub(mod + "." + name)

    def persistent_load(self, pid):
        return ("storage",) + tuple(repr(x) if isinstance(x, Stub) else x for x in pid[1:])


tool("fixture-f8", P("f8.bin"))
check_zip("f8_zip", P("f8.bin"))
with zipfile.ZipFile(P("f8.bin")) as z:
    pfx = z.namelist()[0].split("/")[0]
    obj = F8Unpickler(z.open(pfx + "/data.pkl")).load()
    errs = []
    for name, dt, pattern in (("e4m3", "torch.float8_e4m3fn", lambda k: (k * 37 + 1) & 255),
                              ("e5m2", "torch.float8_e5m2", lambda k: (k * 11 + 3) & 255)):
        fn, args = obj[name]
        st, off, size, stride, rg, hooks, dtype = args
        if fn != "torch._utils._rebuild_tensor_v3" or repr(dtype) != dt:
            errs.append(f"{name}: {fn} {dtype}")
        if st[1] != "torch.storage.UntypedStorage" or st[4] != 15 or off != 0 or size != (3, 5) or stride != (5, 1):
            errs.append(f"{name}: {st} {off} {size} {stride}")
        data = z.read(f"{pfx}/data/{st[2]}")
        if list(data) != [pattern(k) for k in range(15)]:
            errs.append(f"{name}: bytes")
    if errs:
        bad("f8_pickle", "; ".join(errs))
    else:
        ok("f8_pickle")


# ------------------------------------------------------------ torch -> C -> torch
def same(a, b):
    if list(a) != list(b):
        return f"names {list(a)[:4]} vs {list(b)[:4]}"
    for k in a:
        x, y = a[k], b[k]
        if x.dtype != y.dtype or x.shape != y.shape or not torch.equal(x, y):
            return f"{k}: {x.dtype} {tuple(x.shape)} vs {y.dtype} {tuple(y.shape)}"
    return None


torch.manual_seed(1)
base = torch.arange(40, dtype=torch.float32)
emb = torch.randn(6, 4)
cases = {
    "dtypes": {"f64": torch.randn(3, 2).double(), "f32": torch.randn(4), "f16": torch.randn(2, 2).half(),
               "bf16": torch.randn(5).bfloat16(), "i64": torch.arange(-3, 3), "i32": torch.arange(4).int(),
               "i16": torch.arange(4).short(), "i8": torch.arange(-2, 2).char(), "u8": torch.arange(250, 256).byte(),
               "b": torch.tensor([True, False, True]), "scalar": torch.tensor(7.0), "empty": torch.zeros(2, 0)},
    "shared": {"wte.weight": emb, "lm_head.weight": emb, "slice": base[2:6], "t": base[:12].view(3, 4).t(),
               "strided": base.view(4, 10)[:, ::3]},
    "module": torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.LayerNorm(4)).state_dict(),
}
for name, d in cases.items():
    src, dst = P(name + "_torch.bin"), P(name + "_c.bin")
    torch.save(d, src)
    try:
        tool("convert", src, dst)
    except RuntimeError as e:
        bad("convert_" + name, str(e))
        continue
    a = torch.load(src, weights_only=True)
    b = torch.load(dst, weights_only=True)
    why = same(a, b)
    if why:
        bad("convert_" + name, why)
        continue
    if name == "shared" and b["wte.weight"].storage().data_ptr() != b["lm_head.weight"].storage().data_ptr():
        bad("convert_shared", "tied weights no longer share a storage")
        continue
    ok("convert_" + name)
    check_zip("convert_zip_" + name, dst)

# safetensors written here (numpy) -> C -> torch
hdr = {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
       "b": {"dtype": "I64", "shape": [3], "data_offsets": [16, 40]}}
import json
hj = json.dumps(hdr).encode()
hj += b" " * ((8 - len(hj) % 8) % 8)
with open(P("in.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + np.arange(4, dtype="<f4").tobytes() + np.array([5, -6, 7], "<i8").tobytes())
try:
    tool("convert", P("in.safetensors"), P("from_st.bin"))
    sd = torch.load(P("from_st.bin"), weights_only=True)
    assert torch.equal(sd["a"], torch.arange(4.0).view(2, 2)) and torch.equal(sd["b"], torch.tensor([5, -6, 7]))
    ok("convert_from_safetensors")
except Exception as e:  # noqa: BLE001 - report any failure
    bad("convert_from_safetensors", repr(e))

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
