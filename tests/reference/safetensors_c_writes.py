# SPDX-License-Identifier: Apache-2.0
"""The C safetensors writer, checked by an independent Python reader.

Python writes a source file in a deliberately non-canonical layout;
`st_tool convert` reads it with the C plugin and saves it with the C
writer; this script then parses the output itself and checks it against
what the reference writer (formats.md §1.5) would produce, computed here:
the exact header bytes (compact JSON, __metadata__ first in the given
order, tensors by dtype descending in the v0.4 enum order then name bytes,
fields dtype/shape/data_offsets, serde_json escaping), space padding to a
multiple of 8, cumulative offsets, the exact file length and every byte.

usage: safetensors_c_writes.py ST_TOOL TMPDIR
"""
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
rng = np.random.default_rng(99)


def expected_file(tensors, metadata_pairs):
    """The bytes the reference writer produces, built here from scratch."""
    parts = []
    if metadata_pairs is not None:
        parts.append('"__metadata__":{' + ",".join(
            ref.compact(k) + ":" + ref.compact(v) for k, v in metadata_pairs) + "}")
    off = 0
    data = b""
    for t in ref.reference_order(tensors):
        parts.append(ref.compact(t.name) + ':{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}' % (
            t.dtype, ",".join(str(d) for d in t.shape), off, off + len(t.data)))
        off += len(t.data)
        data += t.data
    header = ("{" + ",".join(parts) + "}").encode("utf-8")
    header += b" " * ((8 - len(header) % 8) % 8)
    return struct.pack("<Q", len(header)) + header + data


def convert_and_check(label, tensors, metadata_pairs, **layout):
    src_blob, _, _ = ref.build_file(tensors, **layout)
    src = os.path.join(tmp, "c_writes_%s_in.safetensors" % label)
    out = os.path.join(tmp, "c_writes_%s_out.safetensors" % label)
    with open(src, "wb") as f:
        f.write(src_blob)
    if os.path.exists(out):
        os.remove(out)
    args = [x for kv in (metadata_pairs or []) for x in kv]
    rc, lines = ref.run_tool(tool, "convert", src, out, *args)
    ck.check(rc == 0 and lines == ["ok"], "%s: convert exit %d: %r" % (label, rc, lines[:1]))
    if rc != 0:
        return None
    with open(out, "rb") as f:
        got = f.read()
    # 1. an independent strict parse of what C wrote
    try:
        n, hb, pairs, data = ref.parse_file(got)
    except (AssertionError, ValueError, KeyError) as e:
        ck.check(False, "%s: output is not a valid safetensors file: %s" % (label, e))
        return got
    ck.check(n % 8 == 0, "%s: header length %d is a multiple of 8" % (label, n))
    ck.check(hb[:1] == b"{", "%s: header starts with '{'" % label)
    stripped = hb.rstrip(b" ")
    ck.check(hb[len(stripped):] == b" " * (n - len(stripped)) and n - len(stripped) < 8,
             "%s: padding is fewer than 8 spaces" % label)
    keys = [k for k, _ in pairs]
    want_keys = ([] if metadata_pairs is None else ["__metadata__"]) + [t.name for t in ref.reference_order(tensors)]
    ck.check(keys == want_keys, "%s: header order %r, expected %r" % (label, keys, want_keys))
    if metadata_pairs is not None:
        ck.check(dict(pairs)["__metadata__"] == [tuple(p) for p in metadata_pairs],
                 "%s: metadata %r" % (label, dict(pairs).get("__metadata__")))
    by_name = {t.name: t for t in tensors}
    off = 0
    for k, v in pairs:
        if k == "__metadata__":
            continue
        v = dict(v)
        t = by_name[k]
        ck.check([kk for kk, _ in dict(pairs)[k]] == ["dtype", "shape", "data_offsets"],
                 "%s/%s: field order" % (label, k))
        ck.check(v["dtype"] == t.dtype and v["shape"] == t.shape, "%s/%s: dtype/shape" % (label, k))
        b, e = v["data_offsets"]
        ck.check(b == off and e == off + len(t.data), "%s/%s: offsets [%d,%d]" % (label, k, b, e))
        arr = np.frombuffer(data[b:e], dtype=ref.NP[t.dtype]).reshape(t.shape)
        ck.check(data[b:e] == t.data and np.array_equal(arr, t.array, equal_nan=t.dtype in ("F64", "F32", "F16")),
                 "%s/%s: values" % (label, k))
        off = e
    # 2. the whole file byte for byte
    want = expected_file(tensors, metadata_pairs)
    ck.check(got == want, "%s: file bytes differ from the reference writer's\n got: %r\nwant: %r" % (
        label, got[:200], want[:200]))
    return got


# every dtype; names that sort differently as bytes than as text; the
# source laid out in reverse order, unpadded, with its header shuffled
ts = ref.sample_tensors(rng)
extra_names = ["B", "a", "b", "é", "😀", "Z9", "a.b", "a-b"]
for nm in extra_names:
    ts.append(ref.Tensor(nm, "F32", rng.standard_normal(2)))
ts.append(ref.Tensor('esc"\\\n\t\b\f\r\x01\x1f\x7f/', "U8", [1, 2]))
ts.append(ref.Tensor("scalar", "F32", np.array(1.5)))
ts.append(ref.Tensor("zero", "F32", np.zeros((0, 3))))
ts.append(ref.Tensor("zero_bool", "BOOL", np.zeros((0,), dtype=bool)))
hdr = [t.name for t in ts]
random.Random(3).shuffle(hdr)
md = [("format", "pt"), ("zeta", "1"), ("alpha", 'ü\n"\\\x02'), ("", "")]
convert_and_check("all", ts, md, layout=list(reversed(ts)), header_order=hdr, pad=False, leading="  ")

# transformers' metadata only
ts = [ref.Tensor("model.layers.0.weight", "BF16", (rng.standard_normal((4, 8)).astype("<f4").view("<u4") >> 16)),
      ref.Tensor("model.layers.0.bias", "F32", rng.standard_normal(8)),
      ref.Tensor("lm_head.weight", "F16", rng.standard_normal((8, 4)))]
convert_and_check("pt", ts, [("format", "pt")])

# the spec's worked examples, against the literal bytes from formats.md §1.1
f32 = b"".join(struct.pack("<f", float(i)) for i in range(6))
got = convert_and_check("spec1", [ref.Tensor("attn.0", "F32", np.arange(6).reshape(1, 2, 3))], None)
ck.check(got == b"\x40" + b"\0" * 7 + b'{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}' + f32,
         "spec example 1 (64-byte header)")
got = convert_and_check("spec72", [ref.Tensor("attn0", "F32", np.arange(6).reshape(1, 1, 2, 3))], None)
ck.check(got == bytes([72]) + b"\0" * 7 + b'{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}'
         + b" " * 7 + f32, "spec example: 65-byte header padded to 72")
got = convert_and_check("empty", [], None)
ck.check(got == bytes([8]) + b"\0" * 7 + b"{}" + b" " * 6, "spec example: the 16-byte empty file")
got = convert_and_check("meta40", [], [("framework", "pt")])
ck.check(got == bytes([40]) + b"\0" * 7 + b'{"__metadata__":{"framework":"pt"}}' + b" " * 5,
         "spec example: metadata only, N = 40")

# many tensors (header well past one buffer) in one dtype: name order only
ts = [ref.Tensor("layer.%d.w" % i, "F16", rng.standard_normal(3)) for i in range(500)]
convert_and_check("many", ts, [("format", "pt")], layout=ts[::-1])

sys.exit(ck.done())
