# SPDX-License-Identifier: Apache-2.0
"""An independent safetensors writer and reader in plain Python + numpy.

Written from formats.md section 1 (the byte layout of the reference crate),
not from the C plugin: the C side is checked against what this module
writes and reads.  The `safetensors` package is not needed.
"""
import json
import struct
import subprocess

import numpy as np

# The v0.4 dtype enum in declaration order; the writer sorts by it descending.
V04_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
             "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]

# numpy storage of each dtype (bf16 and f8 kept as raw bit patterns).
NP = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2", "BF16": "<u2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
    "U8": "u1", "BOOL": "?", "F8_E4M3": "u1", "F8_E5M2": "u1",
    "U16": "<u2", "U32": "<u4", "U64": "<u8",
}

MAX_HEADER = 100_000_000

# ptm_status values (sdk/include/ptm/status.h)
ERR_NOT_FOUND = -5
ERR_IO = -3
ERR_FORMAT = -4
ERR_UNSUPPORTED = -6
ERR_OVERFLOW = -12


class Tensor:
    def __init__(self, name, dtype, array):
        self.name = name
        self.dtype = dtype
        self.array = np.ascontiguousarray(np.asarray(array).astype(NP[dtype]))
        self.shape = list(self.array.shape)
        self.data = self.array.tobytes()


def sample_tensors(rng):
    """One tensor of every dtype ptm has, with awkward values."""
    f32 = rng.standard_normal((3, 4)).astype("<f4")
    f32[0, 0] = np.nan
    f32[0, 1] = -np.inf
    f32[0, 2] = -0.0
    bf16 = (rng.standard_normal(7).astype("<f4").view("<u4") >> 16).astype("<u2")
    return [
        Tensor("f64", "F64", rng.standard_normal((2, 3))),
        Tensor("f32", "F32", f32),
        Tensor("f16", "F16", rng.standard_normal((5,)).astype("<f2")),
        Tensor("bf16", "BF16", bf16),
        Tensor("i64", "I64", np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max])),
        Tensor("i32", "I32", np.arange(-6, 6).reshape(2, 2, 3)),
        Tensor("i16", "I16", np.array([-32768, 32767, 5])),
        Tensor("i8", "I8", np.array([-128, 127, 0, 1])),
        Tensor("u8", "U8", np.arange(0, 256, 17)),
        Tensor("bool", "BOOL", np.array([True, False, True])),
        Tensor("f8e4m3", "F8_E4M3", np.array([0x00, 0x7f, 0x80, 0x38, 0xff])),
        Tensor("f8e5m2", "F8_E5M2", np.array([0x3c, 0x7c, 0x7e, 0xfc])),
    ]


def reference_order(tensors):
    """The reference writer's order: dtype descending (v0.4 enum), then name bytes."""
    return sorted(tensors, key=lambda t: (-V04_ORDER.index(t.dtype), t.name.encode("utf-8")))


def compact(obj):
    """JSON as serde_json writes it compactly (Python escapes the same set:
    quote, backslash, \\b \\f \\n \\r \\t, other controls as \\u00xx lowercase)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def build_file(tensors, metadata=None, layout=None, header_order=None, pad=True,
               leading="", trailing="", indent=None, extras=None, meta_raw=None):
    """Bytes of a safetensors file.

    layout: the tensors in data order (default: the reference order);
    header_order: names in header order (default: the layout order);
    extras: {name: {member: value}} unknown members added to tensor objects.
    """
    layout = list(layout if layout is not None else reference_order(tensors))
    offsets, off = {}, 0
    for t in layout:
        offsets[t.name] = (off, off + len(t.data))
        off += len(t.data)
    by_name = {t.name: t for t in tensors}
    hdr = {}
    if metadata is not None:
        hdr["__metadata__"] = dict(metadata)
    for name in (header_order or [t.name for t in layout]):
        t = by_name[name]
        entry = {"dtype": t.dtype, "shape": t.shape, "data_offsets": list(offsets[name])}
        if extras and name in extras:
            entry.update(extras[name])
        hdr[name] = entry
    if indent is None:
        text = json.dumps(hdr, separators=(",", ":"), ensure_ascii=False)
    else:
        text = json.dumps(hdr, indent=indent, ensure_ascii=False)
    raw = (leading + text + trailing).encode("utf-8")
    if pad:
        raw += b" " * ((8 - len(raw) % 8) % 8)
    data = b"".join(t.data for t in layout)
    return struct.pack("<Q", len(raw)) + raw + data, len(raw), offsets


def raw_file(header_bytes, data=b"", declared=None):
    n = len(header_bytes) if declared is None else declared
    return struct.pack("<Q", n) + header_bytes + data


def _no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError("duplicate key in %r" % keys)
    return pairs


def parse_file(blob):
    """Independent strict reader: returns (N, header bytes, [(key, value)],
    data section).  Raises AssertionError/ValueError on any rule broken."""
    assert len(blob) >= 8, "shorter than 8 bytes"
    (n,) = struct.unpack("<Q", blob[:8])
    assert n <= MAX_HEADER, "header too large"
    assert 8 + n <= len(blob), "header past the end"
    hb = blob[8:8 + n]
    text = hb.decode("utf-8")  # strict
    pairs = json.loads(text, object_pairs_hook=_no_dups)
    assert isinstance(pairs, list), "top level is not an object"
    data = blob[8 + n:]
    tens = [(k, v) for k, v in pairs if k != "__metadata__"]
    spans = []
    for k, v in tens:
        v = dict(v)
        b, e = v["data_offsets"]
        numel = 1
        for d in v["shape"]:
            assert isinstance(d, int) and d >= 0
            numel *= d
        assert e - b == numel * np.dtype(NP[v["dtype"]]).itemsize, k
        spans.append((b, e, k))
    spans.sort()
    prev = 0
    for b, e, k in spans:
        assert b == prev and e >= b, "invalid offset for %r" % k
        prev = e
    assert 8 + n + prev == len(blob), "file not fully covered"
    return n, hb, pairs, data


def run_tool(tool, *args):
    """Run st_tool; returns (returncode, stdout lines)."""
    p = subprocess.run([tool] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=300)
    if p.stderr:
        raise AssertionError("st_tool wrote to stderr: %r" % p.stderr.decode(errors="replace"))
    return p.returncode, p.stdout.decode("utf-8").splitlines()


def unhex(field):
    assert field.startswith("x"), field
    return bytes.fromhex(field[1:])


def parse_dump(lines):
    """st_tool dump output -> (count, [tensor dicts], {key: value or None})."""
    head = lines[0].split(" ", 2)
    if head[0] == "error":
        return ("error", int(head[1]), head[2] if len(head) > 2 else ""), None, None
    assert head[0] == "ok", lines[0]
    count = int(head[1])
    tensors, meta = [], {}
    for line in lines[1:]:
        f = line.split(" ")
        if f[0] == "tensor":
            tensors.append({
                "index": int(f[1]),
                "name": unhex(f[2]).decode("utf-8"),
                "dtype": f[3],
                "shape": [] if f[5] == "-" else [int(x) for x in f[5].split(",")],
                "file_offset": int(f[6]),
                "mapped": int(f[7]),
                "data": unhex(f[8]),
            })
            assert int(f[4]) == len(tensors[-1]["shape"])
        elif f[0] == "meta":
            key = unhex(f[1]).decode("utf-8")
            meta[key] = None if f[2] == "-" else unhex(f[2]).decode("utf-8")
        else:
            raise AssertionError("unexpected dump line %r" % line)
    return count, tensors, meta


class Checker:
    def __init__(self):
        self.failures = 0
        self.checks = 0

    def check(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures += 1
            print("FAIL:", what)

    def done(self):
        print("%d checks, %d failed" % (self.checks, self.failures))
        return 1 if self.failures else 0
