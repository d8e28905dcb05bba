# SPDX-License-Identifier: Apache-2.0
"""The C safetensors reader against files written by an independent Python
writer (safetensors_ref.py): names, dtypes, shapes, file offsets, zero
copy, every byte of every tensor, and metadata; then malformed files built
here, each refused with the expected status and a message naming the file
and the problem.

usage: safetensors_c_reads.py ST_TOOL TMPDIR
"""
import json
import os
import random
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_ref as ref  # noqa: E402

tool, tmp = sys.argv[1], sys.argv[2]
os.makedirs(tmp, exist_ok=True)
ck = ref.Checker()
rng = np.random.default_rng(1234)


def write(name, blob):
    path = os.path.join(tmp, name)
    with open(path, "wb") as f:
        f.write(blob)
    return path


def expect_tensors(label, path, tensors, n_hdr, offsets, order, meta_expect=None):
    """Dump `path` with st_tool and compare with what Python wrote."""
    keys = list(meta_expect or {})
    rc, lines = ref.run_tool(tool, "dump", path, *keys)
    ck.check(rc == 0, "%s: st_tool dump exit %d: %s" % (label, rc, lines[:1]))
    if rc != 0:
        return
    count, got, meta = ref.parse_dump(lines)
    by_name = {t.name: t for t in tensors}
    ck.check(count == len(tensors), "%s: count %d, wrote %d" % (label, count, len(tensors)))
    ck.check([g["name"] for g in got] == order, "%s: order %r, expected %r" % (label, [g["name"] for g in got], order))
    for g in got:
        t = by_name.get(g["name"])
        ck.check(t is not None, "%s: unexpected tensor %r" % (label, g["name"]))
        if t is None:
            continue
        ck.check(g["dtype"] == t.dtype, "%s/%s: dtype %s != %s" % (label, t.name, g["dtype"], t.dtype))
        ck.check(g["shape"] == t.shape, "%s/%s: shape %s != %s" % (label, t.name, g["shape"], t.shape))
        ck.check(g["data"] == t.data, "%s/%s: data differs" % (label, t.name))
        ck.check(g["file_offset"] == 8 + n_hdr + offsets[t.name][0],
                 "%s/%s: file offset %d != %d" % (label, t.name, g["file_offset"], 8 + n_hdr + offsets[t.name][0]))
        ck.check(g["mapped"] == 1, "%s/%s: not a zero-copy view of the mapping" % (label, t.name))
        # the values as numpy reads them back from the C bytes
        back = np.frombuffer(g["data"], dtype=ref.NP[t.dtype]).reshape(t.shape)
        ck.check(np.array_equal(back, t.array, equal_nan=t.dtype in ("F64", "F32", "F16")),
                 "%s/%s: values differ" % (label, t.name))
    for k, v in (meta_expect or {}).items():
        ck.check(meta.get(k, "<absent>") == v, "%s: metadata %r = %r, expected %r" % (label, k, meta.get(k), v))


def offset_order(tensors, offsets, header_order):
    """(begin, end) ascending, ties in header order."""
    pos = {n: i for i, n in enumerate(header_order)}
    return [t.name for t in sorted(tensors, key=lambda t: (offsets[t.name][0], offsets[t.name][1], pos[t.name]))]


# A. every ptm dtype, laid out exactly as the reference writer does
ts = ref.sample_tensors(rng)
blob, n, offs = ref.build_file(ts, metadata={"format": "pt"})
ck.check(n % 8 == 0 and blob[8:9] == b"{", "A: padded reference layout")
layout = [t.name for t in ref.reference_order(ts)]
expect_tensors("A", write("c_reads_a.safetensors", blob), ts, n, offs, layout, {"format": "pt", "missing": None})

# B. shuffled header, reversed data layout (unaligned starts), no padding,
#    leading/trailing whitespace, pretty-printed JSON, awkward names,
#    unknown members
ts = ref.sample_tensors(rng)
names = ["ü/ß.weight", "emoji 😀", "tab\tname", 'quote"name', "back\\slash", "ctl\x01\x1f",
         "del\x7f", "", "a.b.c", "/", "x" * 300, "末尾"]
for t, nm in zip(ts, names):
    t.name = nm
layout = list(reversed(ref.reference_order(ts)))
hdr_order = [t.name for t in ts]
random.Random(7).shuffle(hdr_order)
extras = {names[0]: {"note": {"a": [1, -2.5, True, None, "s"]}}, names[3]: {"z": -1e300}}
blob, n, offs = ref.build_file(ts, metadata=None, layout=layout, header_order=hdr_order, pad=False,
                               leading=" \n\t\r", trailing="\n", indent=1, extras=extras)
ck.check(n % 8 != 0, "B: header length %d is not a multiple of 8" % n)
expect_tensors("B", write("c_reads_b.safetensors", blob), ts, n, offs,
               offset_order(ts, offs, hdr_order), {"format": None})

# C. zero-size tensors sharing offsets, a scalar, an empty name
ts = [ref.Tensor("z0", "F32", np.zeros((0,))),
      ref.Tensor("scalar", "F64", np.array(3.25)),
      ref.Tensor("z1", "I64", np.zeros((2, 0, 3))),
      ref.Tensor("z2", "BF16", np.zeros((0, 0), dtype="<u2")),
      ref.Tensor("one", "U8", np.array([9])),
      ref.Tensor("z3", "BOOL", np.zeros((0,), dtype=bool))]
layout = ts  # z0 [0,0], scalar [0,8], z1 [8,8], z2 [8,8], one [8,9], z3 [9,9]
hdr_order = ["z3", "one", "z2", "z1", "scalar", "z0"]
blob, n, offs = ref.build_file(ts, layout=layout, header_order=hdr_order)
expect_tensors("C", write("c_reads_c.safetensors", blob), ts, n, offs, offset_order(ts, offs, hdr_order))

# D. metadata with escapes and non-ASCII keys and values
md = {"format": "pt", "ключ": "значение", "esc": "a\"b\\c\n\t\x01/", "empty": "", "emoji": "😀"}
ts = [ref.Tensor("w", "F32", rng.standard_normal(4))]
blob, n, offs = ref.build_file(ts, metadata=md)
expect_tensors("D", write("c_reads_d.safetensors", blob), ts, n, offs, ["w"], dict(md, nope=None))

# E. bigger tensors
ts = [ref.Tensor("big", "F32", rng.standard_normal((257, 129))),
      ref.Tensor("ids", "I64", rng.integers(-2**62, 2**62, 1000)),
      ref.Tensor("h", "F16", rng.standard_normal((3, 5, 7)))]
blob, n, offs = ref.build_file(ts, metadata={"format": "pt"})
expect_tensors("E", write("c_reads_e.safetensors", blob), ts, n, offs, [t.name for t in ref.reference_order(ts)])

# F. the empty file of the spec: 16 bytes
blob = bytes([8, 0, 0, 0, 0, 0, 0, 0]) + b"{}" + b" " * 6
expect_tensors("F", write("c_reads_f.safetensors", blob), [], 8, {}, [])

# --------------------------------------------------------------- bad files


def expect_error(label, blob, status, *needles):
    path = write("c_reads_bad_%s.safetensors" % label, blob)
    rc, lines = ref.run_tool(tool, "dump", path)
    first = lines[0] if lines else ""
    parts = first.split(" ", 2)
    ok = rc == 1 and parts[0] == "error" and int(parts[1]) == status
    msg = parts[2] if len(parts) > 2 else ""
    ok = ok and path in msg and all(nd in msg for nd in needles)
    ck.check(ok, "bad %s: got rc %d %r, wanted status %d with the path and %r" % (label, rc, first, status, needles))


def hdr(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


good_t = {"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}
good = raw_good = ref.raw_file(hdr(good_t), b"\x00" * 8)
expect_error("empty", b"", ref.ERR_FORMAT, "header too small")
expect_error("short", b"\x01\x00\x00", ref.ERR_FORMAT, "header too small")
expect_error("truncated", good[:-1], ref.ERR_FORMAT, "file truncated")
expect_error("trailing", good + b"\x00", ref.ERR_FORMAT, "1 trailing bytes")
expect_error("hdr_past_end", ref.raw_file(hdr(good_t), b"\x00" * 8, declared=1000), ref.ERR_FORMAT,
             "runs past the end of the file")
expect_error("hdr_too_large", ref.raw_file(b"{}", declared=100_000_001), ref.ERR_FORMAT, "header too large")
expect_error("overlap", ref.raw_file(hdr({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                                           "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}), b"\0" * 12),
             ref.ERR_FORMAT, 'invalid offset for tensor "b"', "overlap")
expect_error("gap", ref.raw_file(hdr({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                                       "b": {"dtype": "F32", "shape": [1], "data_offsets": [5, 9]}}), b"\0" * 9),
             ref.ERR_FORMAT, 'invalid offset for tensor "b"', "gap")
expect_error("size", ref.raw_file(hdr({"a": {"dtype": "I16", "shape": [3], "data_offsets": [0, 4]}}), b"\0" * 4),
             ref.ERR_FORMAT, 'tensor "a"', "needs 6 bytes")
expect_error("dup", ref.raw_file(b'{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},'
                                 b'"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0"),
             ref.ERR_FORMAT, 'duplicate key "a"')
expect_error("utf8", ref.raw_file(b'{"\xfe":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}', b"\0"),
             ref.ERR_FORMAT, "not valid UTF-8")
expect_error("meta_int", ref.raw_file(hdr({"__metadata__": {"format": "pt", "n": 5}})), ref.ERR_FORMAT,
             '__metadata__ value of key "n" is not a string')
expect_error("deep", ref.raw_file(b'{"a":{"x":' + b"[" * 100 + b"]" * 100 + b"}}"), ref.ERR_FORMAT,
             "nested deeper than 64")
expect_error("u32", ref.raw_file(hdr({"a": {"dtype": "U32", "shape": [1], "data_offsets": [0, 4]}}), b"\0" * 4),
             ref.ERR_UNSUPPORTED, 'unsupported dtype U32 for tensor "a"')
expect_error("dtype", ref.raw_file(hdr({"a": {"dtype": "Q8", "shape": [1], "data_offsets": [0, 1]}}), b"\0"),
             ref.ERR_FORMAT, 'unknown dtype "Q8"')
expect_error("overflow", ref.raw_file(hdr({"a": {"dtype": "F64", "shape": [2**40, 2**30], "data_offsets": [0, 0]}})),
             ref.ERR_OVERFLOW, "overflows 64 bits")
expect_error("float", ref.raw_file(b'{"a":{"dtype":"U8","shape":[1.0],"data_offsets":[0,1]}}', b"\0"),
             ref.ERR_FORMAT, "not an unsigned")
expect_error("garbage", ref.raw_file(hdr(good_t) + b" x", b"\0" * 8), ref.ERR_FORMAT, "trailing characters")
# a valid file's bytes are accepted (the bad cases above differ from it in one thing)
rc, lines = ref.run_tool(tool, "dump", write("c_reads_good.safetensors", raw_good))
ck.check(rc == 0 and lines[0] == "ok 1", "the unbroken control file is read: %r" % lines[:1])

sys.exit(ck.done())
