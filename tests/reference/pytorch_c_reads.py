#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""C reads what real torch.save writes; C refuses hostile archives.

  pytorch_c_reads.py TOOL OUTDIR     TOOL = test_pytorch (dump / expect-error)

Every good file is written by torch.save (Debian's torch) or derived from
one, and the values C reports are compared with torch.load's own values
(bytes of the contiguous tensor, dtype, shape).  Hostile archives are built
here by hand (zipfile + hand-written pickle bytes) and must be refused with
a message naming the file and the problem.  Exit status 1 on any failure.
"""
import collections
import io
import os
import shutil
import struct
import subprocess
import sys
import zipfile
import zlib

try:
    import torch
except ImportError as e:  # fail loudly, never skip
    sys.stderr.write(f"pytorch_c_reads.py: cannot import {e.name}: install python3-torch\n")
    sys.exit(2)

TOOL, OUT = sys.argv[1], sys.argv[2]
shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
passed = failed = 0

PTM_DTYPE = {torch.float64: "F64", torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16",
             torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8", torch.uint8: "U8",
             torch.bool: "BOOL"}


def ok(name):
    global passed
    passed += 1
    print("ok  ", name)


def bad(name, why):
    global failed
    failed += 1
    print("FAIL", name, ":", why)


def raw(t):
    t = t.detach().contiguous()
    if t.dtype == torch.bfloat16:
        t = t.view(torch.int16)
    return t.numpy().tobytes()


def dump(path):
    r = subprocess.run([TOOL, "dump", path], capture_output=True, text=True)
    lines = r.stdout.splitlines()
    if r.returncode != 0 or not lines or not lines[0].startswith("ok "):
        return None, r.stdout + r.stderr
    out = collections.OrderedDict()
    for l in lines[1:]:
        _, name, dt, nd, dims, mapped, data = l.split(" ")
        name = bytes.fromhex(name[1:]).decode()
        shape = () if dims == "-" else tuple(int(d) for d in dims.split(","))
        assert int(nd) == len(shape)
        out[name] = (dt, shape, int(mapped), bytes.fromhex(data[1:]))
    return out, ""


def check_file(name, path, want_mapped=None):
    """Compare C's view of `path` with torch.load(weights_only=True) of it."""
    want = torch.load(path, weights_only=True)
    got, err = dump(path)
    if got is None:
        return bad(name, "C refused it: " + err.strip())
    if list(got) != list(want):
        return bad(name, f"names differ: {list(got)[:5]} vs {list(want)[:5]}")
    for k, t in want.items():
        dt, shape, mapped, data = got[k]
        if dt != PTM_DTYPE[t.dtype] or shape != tuple(t.shape):
            return bad(name, f"{k}: {dt} {shape}, torch {t.dtype} {tuple(t.shape)}")
        if data != raw(t):
            return bad(name, f"{k}: bytes differ")
        contiguous = t.is_contiguous()
        if want_mapped is not None and want_mapped(k, t) != mapped:
            return bad(name, f"{k}: mapped={mapped}, expected {want_mapped(k, t)}")
        if not contiguous and mapped:
            return bad(name, f"{k}: a non-contiguous tensor must be a copy")
    ok(name)
    return got


def expect_error(name, path, needle):
    r = subprocess.run([TOOL, "expect-error", path, needle], capture_output=True, text=True)
    if r.returncode != 0:
        return bad(name, (r.stdout + r.stderr).strip())
    ok(name)


def P(name):
    return os.path.join(OUT, name)


torch.manual_seed(0)

# ---------------------------------------------------------------- good files

# every dtype ptm has (torch 1.13 writes no float8), scalars, empty, 3-d
d = collections.OrderedDict()
for dt in PTM_DTYPE:
    if dt == torch.bool:
        d["t.bool"] = torch.rand(2, 3, 4) > 0.5
    elif dt.is_floating_point:
        d["t." + str(dt)[6:]] = (torch.randn(2, 3, 4) * 100).to(dt)
    else:
        d["t." + str(dt)[6:]] = torch.randint(-100 if dt != torch.uint8 else 0, 100, (2, 3, 4)).to(dt)
d["scalar"] = torch.tensor(3.5)
d["empty"] = torch.zeros(0, 3)
d["f16.extremes"] = torch.tensor([65504.0, -65504.0, 6e-8, float("inf"), float("-inf")], dtype=torch.float16)
d["bf16.extremes"] = torch.tensor([3e38, -1e-38, float("inf")], dtype=torch.bfloat16)
torch.save(d, P("dtypes.bin"))
check_file("dtypes", P("dtypes.bin"), want_mapped=lambda k, t: 1)

# shared storages: tied names, slices with offsets, transposed and strided views
base = torch.arange(40, dtype=torch.float32)
w = torch.randn(6, 4)
sh = {
    "emb.weight": w,
    "lm_head.weight": w,                       # tied: the same tensor
    "slice": base[2:6],                        # offset 2 into a storage of 40
    "rows": base.view(8, 5)[3:5],              # offset 15, contiguous
    "transposed": base[:12].view(3, 4).t(),    # size (4,3) stride (1,4)
    "every_other": base.view(4, 10)[:, ::2],   # stride (10, 2)
    "expanded": torch.arange(3.0).expand(4, 3),  # stride (0, 1)
    "col": base.view(8, 5)[:, 1],              # stride (5,), offset 1
    "int_t": torch.arange(12, dtype=torch.int64).view(3, 4).t(),
    "bf16_t": torch.randn(3, 5).to(torch.bfloat16).t(),
    "f16_perm": torch.randn(2, 3, 4).half().permute(2, 0, 1),
}
torch.save(sh, P("shared.bin"))
got = check_file("shared_storages_and_views", P("shared.bin"),
                 want_mapped=lambda k, t: int(t.is_contiguous()))
with zipfile.ZipFile(P("shared.bin")) as z:
    n_storages = len([n for n in z.namelist() if "/data/" in n])
if n_storages == 6:  # w (tied), base (5 views), expand's arange, the int, bf16 and f16 bases
    ok("shared_storage_count")
else:
    bad("shared_storage_count", f"torch wrote {n_storages} storages")

# an nn.Module state_dict: OrderedDict with the _metadata BUILD
model = torch.nn.Sequential(torch.nn.Embedding(10, 4), torch.nn.Linear(4, 3), torch.nn.LayerNorm(3),
                            torch.nn.BatchNorm1d(3))
sd = model.state_dict()
assert hasattr(sd, "_metadata")
torch.save(sd, P("module_sd.pt"))
check_file("ordered_dict_with_metadata", P("module_sd.pt"))

# more than 64 (and 256: LONG_BINPUT) tensors; plain dict as transformers writes
many = {f"layer.{i}.weight": torch.full((i % 7 + 1,), float(i)) for i in range(300)}
torch.save(many, P("many.bin"))
check_file("many_tensors", P("many.bin"))

# Parameters (_rebuild_parameter) and requires_grad
params = collections.OrderedDict(a=torch.nn.Parameter(torch.randn(3, 2)),
                                 b=torch.nn.Parameter(torch.randn(2), requires_grad=False))
torch.save(params, P("params.bin"))
check_file("parameters", P("params.bin"))

# archive folder names: a file object gives "archive/", a dotted name keeps its stem
buf = io.BytesIO()
torch.save({"x": torch.arange(5)}, buf)
open(P("from_buffer.bin"), "wb").write(buf.getvalue())
torch.save({"x": torch.arange(5)}, P("a.b.c.pt"))
with zipfile.ZipFile(P("from_buffer.bin")) as z1, zipfile.ZipFile(P("a.b.c.pt")) as z2:
    assert z1.namelist()[0].startswith("archive/") and z2.namelist()[0].startswith("a.b.c/")
check_file("prefix_archive", P("from_buffer.bin"))
check_file("prefix_dotted", P("a.b.c.pt"))


# zip64: the records of dtypes.bin rewritten with every zip64 field in use
# (0xFFFFFFFF placeholders, sizes and offsets in zip64 extras, zip64 end
# records) and no alignment padding, so loads are copies; torch reads it too.
def write_zip(path, records, zip64=False, align=None, method=0, eocd_count=None):
    out = bytearray()
    cen = bytearray()
    for name, data in records:
        nb = name.encode()
        lho = len(out)
        crc = zlib.crc32(data)
        body = zlib.compress(data)[2:-4] if method == 8 else data
        extra = b""
        if zip64:
            extra = struct.pack("<HHQQ", 1, 16, len(data), len(body))
        if align:
            fixed = lho + 30 + len(nb) + len(extra) + 4
            pad = (-fixed) % align
            extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        s32 = 0xFFFFFFFF if zip64 else None
        out += struct.pack("<IHHHHHIIIHH", 0x04034b50, 45, 0, method, 0, 0x21, crc,
                           s32 or len(body), s32 or len(data), len(nb), len(extra)) + nb + extra + body
        cx = struct.pack("<HHQQQ", 1, 24, len(data), len(body), lho) if zip64 else b""
        cen += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014b50, 45, 45, 0, method, 0, 0x21, crc,
                           s32 or len(body), s32 or len(data), len(nb), len(cx), 0, 0, 0, 0,
                           s32 or lho) + nb + cx
    cd_off = len(out)
    out += cen
    n = len(records) if eocd_count is None else eocd_count
    if zip64:
        z64 = len(out)
        out += struct.pack("<IQHHIIQQQQ", 0x06064b50, 44, 45, 45, 0, 0, n, n, len(cen), cd_off)
        out += struct.pack("<IIQI", 0x07064b50, 0, z64, 1)
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    else:
        out += struct.pack("<IHHHHIIH", 0x06054b50, 0, 0, n, n, len(cen), cd_off, 0)
    open(path, "wb").write(bytes(out))


def records_of(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


recs = records_of(P("dtypes.bin"))
write_zip(P("zip64.bin"), recs, zip64=True)
got = check_file("zip64_crafted", P("zip64.bin"))
if got and not any(v[2] == 0 for v in got.values()):
    bad("zip64_unaligned_copies", "every tensor was mapped although no record is padded")
write_zip(P("zip64_aligned.bin"), recs, zip64=True, align=64)
check_file("zip64_aligned_zero_copy", P("zip64_aligned.bin"), want_mapped=lambda k, t: 1)
# Python's zipfile with force_zip64 (zip64 local headers)
with zipfile.ZipFile(P("pyzip64.bin"), "w", zipfile.ZIP_STORED) as z:
    for name, data in recs:
        with z.open(name, "w", force_zip64=True) as f:
            f.write(data)
check_file("zip64_python_zipfile", P("pyzip64.bin"))

# unaligned storages of a shared-storage file (copies, bytes must still match)
write_zip(P("unaligned.bin"), records_of(P("shared.bin")))
check_file("unaligned_copies", P("unaligned.bin"))

# big-endian archive (byteorder record "big", every storage swapped)
be = []
for name, data in records_of(P("dtypes.bin")):
    be.append((name, data))
# rebuild storages byte-swapped by each tensor's element size (dtypes.bin
# has one tensor per storage, in key order "0", "1", ...)
sizes = [t.element_size() for t in torch.load(P("dtypes.bin"), weights_only=True).values()]
swapped = []
for name, data in be:
    if "/data/" in name:
        es = sizes[int(name.rsplit("/", 1)[1])]
        data = b"".join(data[i:i + es][::-1] for i in range(0, len(data), es))
    swapped.append((name, data))
prefix = be[0][0].split("/")[0]
swapped.insert(1, (prefix + "/byteorder", b"big"))
write_zip(P("bigendian.bin"), swapped, align=64)
want = torch.load(P("dtypes.bin"), weights_only=True)
got, err = dump(P("bigendian.bin"))
if got is not None and all(got[k][3] == raw(t) for k, t in want.items()):
    ok("big_endian_swapped")
else:
    bad("big_endian_swapped", err or "bytes differ")

# ------------------------------------------------------------ refused kinds

torch.save({"x": torch.ones(3)}, P("legacy.bin"), _use_new_zipfile_serialization=False)
expect_error("legacy_format", P("legacy.bin"), "_use_new_zipfile_serialization=True")
expect_error("legacy_format_named", P("legacy.bin"), "legacy PyTorch checkpoint")
torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), P("script.pt"))
expect_error("torchscript", P("script.pt"), "TorchScript archive")
open(P("lfs.bin"), "w").write("version https://git-lfs.github.com/spec/v1\n"
                              "oid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\n"
                              "size 548118077\n")
expect_error("git_lfs_pointer", P("lfs.bin"), "Git LFS pointer")

# ------------------------------------------------------------ hostile files

PFX = "archive/"
F32 = b"\x00\x00\x80\x3f" * 4  # four 1.0 floats


def pkl_str(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def pkl_int(v):
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if -2**31 <= v < 2**31:
        return b"J" + struct.pack("<i", v)
    n = (v.bit_length() + 8) // 8
    return b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)


def pkl_tuple(items):
    return b"(" + b"".join(items) + b"t"


def storage(key="0", cls=b"FloatStorage", numel=4):
    return pkl_tuple([pkl_str("storage"), b"ctorch\n" + cls + b"\n", pkl_str(key), pkl_str("cpu"),
                      pkl_int(numel)]) + b"Q"


def tensor(st=None, offset=0, size=(4,), stride=(1,)):
    st = storage() if st is None else st
    return (b"ctorch._utils\n_rebuild_tensor_v2\n" +
            pkl_tuple([st, pkl_int(offset), pkl_tuple([pkl_int(v) for v in size]),
                       pkl_tuple([pkl_int(v) for v in stride]), b"\x89",
                       b"ccollections\nOrderedDict\n)R"]) + b"R")


def state_dict(*kv):
    return b"\x80\x02}(" + b"".join(kv) + b"u."


def hostile(name, pickle_bytes, needle, extra=None, records=None):
    recs = records if records is not None else (
        [(PFX + "data.pkl", pickle_bytes), (PFX + "data/0", F32)] + (extra or []) + [(PFX + "version", b"3\n")])
    path = P("hostile_" + name + ".bin")
    write_zip(path, recs, align=64)
    expect_error("hostile_" + name, path, needle)


good = state_dict(pkl_str("w"), tensor())
# sanity: the hand-made good pickle is accepted by C and by torch
write_zip(P("handmade_good.bin"), [(PFX + "data.pkl", good), (PFX + "data/0", F32), (PFX + "version", b"3\n")],
          align=64)
check_file("handmade_good", P("handmade_good.bin"))

for mod, nm in [("os", "system"), ("builtins", "eval"), ("builtins", "exec"), ("posix", "system"),
                ("subprocess", "Popen"), ("__builtin__", "getattr"), ("torch", "load"),
                ("torch.nn.modules.linear", "Linear"), ("numpy.core.multiarray", "_reconstruct"),
                ("collections", "defaultdict"), ("torch._utils", "_rebuild_from_anything")]:
    evil = b"\x80\x02c" + mod.encode() + b"\n" + nm.encode() + b"\n" + pkl_tuple([pkl_str("echo pwned")]) + b"R."
    hostile("global_" + mod.replace(".", "_") + "_" + nm, evil, f"global {mod}.{nm} is not allowed")
# a global inside an otherwise fine state dict is refused too
hostile("global_in_value", state_dict(pkl_str("w"), b"cos\nsystem\n" + pkl_tuple([pkl_str("id")]) + b"R"),
        "global os.system is not allowed")
# opcodes torch's weights-only unpickler does not allow
hostile("op_stack_global", b"\x80\x02" + pkl_str("os") + pkl_str("system") + b"\x93.", "STACK_GLOBAL")
hostile("op_inst", b"\x80\x02(S'x'\nios\nsystem\n.", "not allowed")
hostile("op_obj", b"\x80\x02(cos\nsystem\no.", "global os.system")
hostile("op_persid_text", b"\x80\x02P0\n.", "PERSID")
hostile("op_ext1", b"\x80\x02\x82\x01.", "EXT1")
# REDUCE on a callable that is not allowed (allowed globals that are not callables, other objects)
hostile("reduce_on_storage_class", b"\x80\x02ctorch\nFloatStorage\n)R.", "REDUCE on torch.FloatStorage")
hostile("reduce_on_dtype", b"\x80\x02ctorch\nfloat32\n)R.", "REDUCE on torch.float32")
hostile("reduce_on_str", b"\x80\x02" + pkl_str("os.system") + b")R.", "REDUCE on a str")
hostile("newobj_on_rebuild", b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n)\x81.", "NEWOBJ on torch._utils")
hostile("build_on_dict", b"\x80\x02}}b.", "BUILD on a dict")
hostile("setitems_on_list", b"\x80\x02](" + pkl_str("a") + pkl_str("b") + b"u.", "only dicts")
hostile("append_on_dict", b"\x80\x02}" + pkl_str("a") + b"a.", "only lists")
hostile("persid_not_storage", b"\x80\x02" + pkl_tuple([pkl_str("module"), pkl_str("x")]) + b"Q.",
        "persistent id must be a tuple starting with 'storage'")
hostile("persid_class_not_storage", b"\x80\x02" + pkl_tuple([pkl_str("storage"), b"ccollections\nOrderedDict\n",
                                                             pkl_str("0"), pkl_str("cpu"), pkl_int(4)]) + b"Q.",
        "not a storage class")
# storages and tensors that do not fit
hostile("storage_offset_out_of_range", state_dict(pkl_str("w"), tensor(offset=100)), "reaches past storage '0'")
hostile("size_past_storage", state_dict(pkl_str("w"), tensor(size=(4, 4), stride=(4, 1))), "reaches past storage")
hostile("stride_past_storage", state_dict(pkl_str("w"), tensor(size=(2, 2), stride=(3, 1))), "reaches past storage")
hostile("offset_plus_size", state_dict(pkl_str("w"), tensor(offset=1, size=(4,))), "reaches past storage")
hostile("huge_stride", state_dict(pkl_str("w"), tensor(size=(2,), stride=(2**62,))), "reaches past storage")
hostile("huge_size_overflow", state_dict(pkl_str("w"), tensor(size=(2**40, 2**40), stride=(0, 0))),
        "reaches past storage")
hostile("expanded_huge", state_dict(pkl_str("w"), tensor(size=(2**40,), stride=(0,))), "refuses to materialise")
hostile("negative_stride", state_dict(pkl_str("w"), tensor(size=(4,), stride=(-1,))), "negative value")
hostile("too_many_dims", state_dict(pkl_str("w"), tensor(size=(1,) * 9, stride=(1,) * 9)), "at most 8")
hostile("storage_bigger_than_record", state_dict(pkl_str("w"), tensor(st=storage(numel=1000))),
        "declares 4000 bytes")
hostile("storage_numel_overflow", state_dict(pkl_str("w"), tensor(st=storage(numel=2**62))), "overflows")
hostile("missing_storage_record", state_dict(pkl_str("w"), tensor(st=storage(key="7"))), "no record data/7")
hostile("storage_key_with_slash", state_dict(pkl_str("w"), tensor(st=storage(key="../0"))), "storage key")
hostile("storage_redeclared", state_dict(pkl_str("w"), tensor(), pkl_str("v"), tensor(st=storage(numel=2))),
        "declared twice")
hostile("storage_class_unsupported", state_dict(pkl_str("w"), tensor(st=storage(cls=b"ComplexFloatStorage"))),
        "torch.ComplexFloatStorage has no ptm dtype")
# pickle-level damage
hostile("memo_get_unset", b"\x80\x02h\x32.", "memo index 50")
hostile("memo_long_get_huge", b"\x80\x02j\xff\xff\xff\xff.", "memo index 4294967295")
hostile("memo_put_huge", b"\x80\x02Nr\xff\xff\xff\x7f.", "memo index 2147483647 out of range")
hostile("deep_marks", b"\x80\x02" + b"(" * 100000 + b"N.", "MARK nesting deeper")
hostile("huge_unicode_length", b"\x80\x02X\xf0\xff\xff\xff" + b"abc", "declares 4294967280 bytes")
hostile("huge_short_binstring", b"\x80\x02U\xffab", "declares 255 bytes")
hostile("huge_long1", b"\x80\x02\x8a\xff\x01\x02.", "truncated pickle")
hostile("long1_too_wide", b"\x80\x02\x8a\x09" + b"\x01" * 9 + b".", "does not fit in 64 bits")
hostile("no_stop", b"\x80\x02}", "no STOP")
hostile("empty_pickle", b"", "no STOP")
hostile("stack_underflow", b"\x80\x02R.", "stack underflow")
hostile("setitems_no_mark", b"\x80\x02}u.", "without a MARK")
hostile("tuple_past_mark", b"\x80\x02N(\x85.", "stack underflow")
hostile("odd_setitems", state_dict(pkl_str("w")), "odd number")
hostile("invalid_utf8_name", b"\x80\x02}(X\x02\x00\x00\x00\xff\xfe" + tensor() + b"u.", "not valid UTF-8")
hostile("not_a_dict", b"\x80\x02](" + tensor() + b"e.", "not a state dict")
hostile("key_not_str", b"\x80\x02}(K\x01" + tensor() + b"u.", "not a str")
hostile("rebuild_wrong_arity", state_dict(pkl_str("w"), b"ctorch._utils\n_rebuild_tensor_v2\n" +
                                          pkl_tuple([storage()]) + b"R"), "takes 6 or 7 arguments")
# zip-level damage
valid = open(P("handmade_good.bin"), "rb").read()
for cut in (10, len(valid) // 2, len(valid) - 30, len(valid) - 1):
    open(P(f"truncated_{cut}.bin"), "wb").write(valid[:cut])
    expect_error(f"truncated_zip_{cut}", P(f"truncated_{cut}.bin"), "zip")
hostile("not_in_subdirectory", None, "not in a subdirectory", records=[("data.pkl", good), ("version", b"3\n")])
hostile("mixed_folders", None, "is not under the archive folder",
        records=[(PFX + "data.pkl", good), ("other/data/0", F32), (PFX + "version", b"3\n")])
hostile("no_data_pkl", None, "without archive/data.pkl", records=[(PFX + "data/0", F32), (PFX + "version", b"3\n")])
hostile("no_version", None, "without archive/version", records=[(PFX + "data.pkl", good), (PFX + "data/0", F32)])
hostile("bad_byteorder", good, "byteorder", extra=[(PFX + "byteorder", b"middle")])
path = P("hostile_deflated.bin")
write_zip(path, [(PFX + "data.pkl", good), (PFX + "data/0", F32), (PFX + "version", b"3\n")], method=8)
expect_error("hostile_deflated", path, "compressed (method 8)")
path = P("hostile_eocd_count.bin")
write_zip(path, [(PFX + "data.pkl", good), (PFX + "data/0", F32), (PFX + "version", b"3\n")], eocd_count=60000)
expect_error("hostile_eocd_count", path, "60000 entries declared")
path = P("hostile_zip64_count.bin")
write_zip(path, [(PFX + "data.pkl", good), (PFX + "data/0", F32), (PFX + "version", b"3\n")], zip64=True,
          eocd_count=2**62)
expect_error("hostile_zip64_count", path, "entries declared")
# a local header offset pointing outside the file, via the zip64 extra
b = bytearray(open(P("zip64.bin"), "rb").read())
i = b.find(b"PK\x01\x02")
off = i + 46 + struct.unpack_from("<H", b, i + 28)[0] + 4 + 16
b[off:off + 8] = struct.pack("<Q", 2**60)
open(P("hostile_zip64_lho.bin"), "wb").write(bytes(b))
expect_error("hostile_zip64_lho", P("hostile_zip64_lho.bin"), "no local header")
# a data size reaching past the central directory, via the zip64 extra
b = bytearray(open(P("zip64.bin"), "rb").read())
off = i + 46 + struct.unpack_from("<H", b, i + 28)[0] + 4
b[off:off + 16] = struct.pack("<QQ", 2**40, 2**40)
open(P("hostile_zip64_size.bin"), "wb").write(bytes(b))
expect_error("hostile_zip64_size", P("hostile_zip64_size.bin"), "reach past the central directory")
# TorchScript marker inside an otherwise good archive
hostile("torchscript_constants", good, "TorchScript", extra=[(PFX + "constants.pkl", b"\x80\x02).")])

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
