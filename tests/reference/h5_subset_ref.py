#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Checks of ptm's own HDF5 reader (formats/h5/h5_file.c, h5_group.c) on the
HDF5 subset h5py writes, against h5py and numpy.

  h5_subset_ref.py subset TEST_H5 OUT   files in every layout h5py writes
        (superblock v0 and libver='latest' v3, v1 and v2 object headers,
        symbol tables with multi-level B-trees, link messages, dense links and
        dense attributes in fractal heaps, variable-length string attributes,
        big-endian data, user blocks, compact datasets, model_weights, a
        group that contains itself): names, dtypes, shapes and values from
        `test_h5 dump` equal numpy's (kernels transposed as transformers
        does); refused layouts (chunked, huge dense attributes) give exit 1
        and a message naming the file and the object.
  h5_subset_ref.py damaged TEST_H5 OUT  damaged files: truncated every 97
        bytes, every 7th byte flipped, corrupt checksums, cycles in B-trees
        and continuation chunks, overlong attributes, absurd dimension
        counts and sizes, wrong dataset sizes: exit 0 or exit 1 with an error
        naming the file, never a crash (nor a sanitizer report).

Exit 0 all passed, 1 a check failed, 77 the plugin is not built.
"""
import os
import shutil
import struct
import subprocess
import sys

import numpy as np

try:
    import h5py
except ImportError:
    sys.stderr.write("h5_subset_ref.py: needs python3-h5py (Debian: apt-get install python3-h5py)\n")
    sys.exit(2)

failures = []
M = "tf_bert/bert/"


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    return p.returncode, p.stdout, p.stderr


def dump(tool, path):
    """(rc, {name: (dtype, array)} or the error line, stderr)."""
    rc, so, se = run([tool, "dump", path])
    if rc:
        return rc, so.strip(), se
    res = {}
    for line in so.splitlines():
        n, dt, dims, vals = line.split(" ")
        shape = [] if dims == "-" else [int(x) for x in dims.split(",")]
        a = np.array([] if vals == "-" else [float(x) for x in vals.split(",")]).reshape(shape)
        res[n] = (dt, a)
    return rc, res, se


def sane(rc, out, se, path):
    """No crash: exit 0, or exit 1 with "error ... <path>: ..."; no sanitizer report."""
    if "Sanitizer" in se or "runtime error" in se:
        return False
    if rc == 0:
        return True
    return rc == 1 and isinstance(out, str) and out.startswith("error ") and path in out


# ------------------------------------------------------------ writers

def layers_of(n, dt="<f4"):
    """n Keras layers, each with a dense kernel [2, 3] and bias [3]."""
    out = []
    for i in range(n):
        ln = "layer%d" % i
        k = (np.arange(6).reshape(2, 3) + i).astype(dt)
        b = (np.arange(3) * 0.5 - i).astype(dt)
        out.append((ln, [(M + ln + "/dense/kernel:0", k), (M + ln + "/dense/bias:0", b)]))
    return out


def expected(layers):
    exp = {}
    for ln, ws in layers:
        for n, a in ws:
            pt = n.split("/", 1)[1].replace(":0", "").replace("/", ".")
            if pt.endswith(".kernel"):
                pt = pt[:-len("kernel")] + "weight"
                a = a.T
            exp[pt] = a
    return exp


def write(path, layers, libver="earliest", vlen=False, ub=0, track=False, nattr=0, root=None, compact=False):
    kw = dict(libver=libver, track_order=track)
    if ub:
        kw["userblock_size"] = ub
    with h5py.File(path, "w", **kw) as f:
        top = f.create_group(root, track_order=track) if root else f
        names = [ln for ln, _ in layers]
        if vlen:
            top.attrs.create("layer_names", names, dtype=h5py.string_dtype())
        else:
            top.attrs["layer_names"] = [x.encode() for x in names]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for k in range(nattr):
            top.attrs["extra%d" % k] = np.arange(k + 1)
        for ln, ws in layers:
            g = top.create_group(ln, track_order=track)
            wn = [n for n, _ in ws]
            if vlen:
                g.attrs.create("weight_names", wn, dtype=h5py.string_dtype())
            else:
                g.attrs["weight_names"] = [x.encode() for x in wn]
            for n, a in ws:
                if not compact:
                    g.create_dataset(n, data=a)
                    continue
                parent, leaf = n.rsplit("/", 1)
                pg = g.require_group(parent)
                dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
                dcpl.set_layout(h5py.h5d.COMPACT)
                space = h5py.h5s.create_simple(a.shape)
                tid = h5py.h5t.py_create(a.dtype)
                ds = h5py.h5d.create(pg.id, leaf.encode(), tid, space, dcpl=dcpl)
                ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(a))


def same(got, exp):
    if not isinstance(got, dict) or sorted(got) != sorted(exp):
        return False
    for n, a in exp.items():
        dt, g = got[n]
        want_dt = {"f": "F%d" % (8 * a.dtype.itemsize), "i": "I%d" % (8 * a.dtype.itemsize)}[a.dtype.kind]
        if dt != want_dt or g.shape != a.shape or not np.array_equal(g, a.astype(np.float64)):
            return False
    return True


# ------------------------------------------------------------ subset

def part_subset(tool, out):
    variants = [
        ("v0", dict(), 3),
        ("latest", dict(libver="latest"), 3),
        ("v0_multilevel_btree", dict(), 300),          # > 32 symbol nodes: an internal B-tree level
        ("latest_dense", dict(libver="latest", track=True, nattr=20), 40),
        ("latest_dense_many", dict(libver="latest", track=True, nattr=10), 400),  # indirect fractal heap blocks
        ("v0_dense_attrs", dict(nattr=20), 12),
        ("vlen", dict(vlen=True), 3),
        ("latest_vlen", dict(vlen=True, libver="latest"), 3),
        ("userblock512", dict(ub=512), 2),
        ("latest_userblock1024", dict(ub=1024, libver="latest"), 2),
        ("model_weights", dict(root="model_weights"), 2),
        ("compact", dict(compact=True), 2),
        ("latest_compact", dict(compact=True, libver="latest"), 2),
    ]
    for name, kw, n in variants:
        p = os.path.join(out, name + ".h5")
        layers = layers_of(n)
        write(p, layers, **kw)
        rc, got, se = dump(tool, p)
        check(rc == 0 and same(got, expected(layers)), "subset %s: names, dtypes, shapes, values (%s)" %
              (name, got if rc else "%d tensors" % len(got)))
        data = open(p, "rb").read()
        if "dense" in name and "latest" in name:
            check(b"FRHP" in data and b"FHDB" in data, "subset %s: the fixture really uses fractal heaps" % name)
        if name == "latest_dense_many":
            check(b"FHIB" in data, "subset %s: the fixture really has indirect heap blocks" % name)
        if name == "v0_multilevel_btree":
            check(data.count(b"TREE") > 1, "subset %s: the fixture really has several B-tree nodes" % name)

    # big-endian and other dtypes
    p = os.path.join(out, "dtypes.h5")
    exp = {"l.be32": np.arange(6, dtype=">f4").reshape(2, 3), "l.be64": np.arange(3, dtype=">f8") / 4 + 100,
           "l.bei64": np.array([-2, 5, 1 << 20], ">i8"), "l.bei16": np.array([-3, 300], ">i2"),
           "l.f16": np.array([0.5, -2], "<f2"), "l.u8": np.array([0, 255], "u1"), "l.i8": np.array([-128, 7], "i1"),
           "l.scalar": np.float64(2.25), "l.flag": np.array([True, False, True])}
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = [b"l"]
        g = f.create_group("l")
        wn = ["m/l/" + k.split(".")[1] + ":0" for k in exp]
        g.attrs["weight_names"] = [x.encode() for x in wn]
        for n, a in zip(wn, exp.values()):
            g.create_dataset(n, data=a)
    rc, got, se = dump(tool, p)
    ok = rc == 0 and sorted(got) == sorted(exp)
    for n, a in exp.items():
        if not ok:
            break
        dt, g = got[n]
        a = np.asarray(a)
        want = "BOOL" if a.dtype.kind == "b" else "%s%d" % (a.dtype.kind.upper(), 8 * a.dtype.itemsize)
        ok = dt == want and g.shape == a.shape and np.array_equal(g, a.astype(np.float64))
        if not ok:
            print("  mismatch", n, dt, want, g, a)
    check(ok, "dtypes: big-endian f32/f64/i64/i16 swapped, f16, u8, i8, scalar, bool (%s)" % (got if rc else ""))

    # a group that contains itself: paths through the cycle resolve, nothing loops
    p = os.path.join(out, "cycle.h5")
    with h5py.File(p, "w") as f:
        f.attrs["layer_names"] = [b"layer0"]
        g = f.create_group("layer0")
        g["self"] = g
        g.attrs["weight_names"] = [b"m/self/self/self/x/kernel:0"]
        g.create_dataset("m/self/self/self/x/kernel:0", data=np.ones((2, 3), "<f4"))
    with h5py.File(p, "r") as f:
        check(f["layer0/self/self"].id == f["layer0"].id, "cycle: the fixture's group contains itself")
    rc, got, se = dump(tool, p)
    check(rc == 0 and sorted(got) == ["self.self.self.x.weight"], "cycle: a path through the cycle resolves (%s)" %
          (got if rc else sorted(got)))
    with h5py.File(p, "a") as f:
        f["layer0"].attrs["weight_names"] = [b"m/self/self/self/self/missing:0"]
    rc, got, se = dump(tool, p)
    check(rc == 1 and p in got and "does not exist" in got, "cycle: a missing name through the cycle: %s" % got)

    # refused layouts: exit 1, naming the file and the object
    def refused(name, build, needle):
        p = os.path.join(out, name + ".h5")
        build(p)
        rc, got, se = dump(tool, p)
        check(rc == 1 and isinstance(got, str) and p in got and needle in got,
              "refused %s: exit 1 naming the file and %r (%s)" % (name, needle, got if rc else "accepted"))

    def chunked(p):
        with h5py.File(p, "w") as f:
            f.attrs["layer_names"] = [b"l"]
            g = f.create_group("l")
            g.attrs["weight_names"] = [b"m/c:0"]
            g.create_dataset("m/c:0", data=np.ones(8, "<f4"), chunks=(4,))
    refused("chunked", chunked, "\"l/m/c:0\": is stored in chunks")

    # dense links and attributes deleted and written again: found through
    # the name index, the stale heap objects are never read
    p = os.path.join(out, "rewritten_dense.h5")
    layers = layers_of(12)
    write(p, layers, libver="latest", track=True, nattr=12)
    with h5py.File(p, "a") as f:
        del f.attrs["layer_names"]  # dense attributes: a deleted heap object
        f.attrs["layer_names"] = [b"layer3", b"layer7"]
        del f["layer3"]  # dense links: a deleted heap object, then a new one of the same name
        g = f.create_group("layer3")
        g.attrs["weight_names"] = [(M + "layer3/dense/kernel:0").encode()]
        g[M + "layer3/dense/kernel:0"] = np.full((2, 3), 9, "<f4")
        del f["layer7"].attrs["weight_names"]
        f["layer7"].attrs["weight_names"] = [(M + "layer7/dense/bias:0").encode()]
    exp = expected([layers[3], layers[7]])
    exp["bert.layer3.dense.weight"] = np.full((3, 2), 9, "<f4")
    del exp["bert.layer3.dense.bias"], exp["bert.layer7.dense.weight"]
    with h5py.File(p, "r") as f:
        ln = [x.decode() if isinstance(x, bytes) else x for x in f.attrs["layer_names"]]
        check(len(f.keys()) == 12 and ln == ["layer3", "layer7"] and len(f.attrs) == 15,
              "rewritten dense: h5py sees the rewritten file")
    rc, got, se = dump(tool, p)
    check(rc == 0 and same(got, exp), "rewritten dense: the rewritten attributes and dataset, not the deleted ones (%s)" %
          (got if rc else sorted(got)))

    # > 8 attributes and a layer_names over 4 KiB: a huge object of the dense attribute heap
    p = os.path.join(out, "huge_dense_attribute.h5")
    exp = {}
    with h5py.File(p, "w", libver="latest") as f:
        for k in range(10):
            f.attrs["a%d" % k] = k
        names = ["bert/a_rather_long_layer_name_%04d/bias:0" % i for i in range(200)]
        f.attrs["layer_names"] = [x.encode() for x in names]
        for i, n in enumerate(names):
            f.create_dataset(n, data=np.full(2, i, "<f4"))
            exp[n[:-2].replace("/", ".")] = np.full(2, i, "<f4")
    rc, got, se = dump(tool, p)
    check(rc == 0 and same(got, exp), "huge dense attribute: layer_names read from a huge heap object (%s)" %
          (got if rc else "%d tensors" % len(got)))


# ------------------------------------------------------------ damaged

def part_damaged(tool, out):
    base = {}
    for name, kw in (("v0", dict()), ("latest", dict(libver="latest")), ("dense", dict(libver="latest", track=True,
                                                                                         nattr=12))):
        p = os.path.join(out, "good_" + name + ".h5")
        write(p, layers_of(12 if name == "dense" else 2), **kw)
        base[name] = open(p, "rb").read()
    for name in base:
        p = os.path.join(out, "good_" + name + ".h5")
        rc, so, se = run([tool, "mutate", p, os.path.join(out, "case.h5"), "97", "7"])
        check(rc == 0 and "Sanitizer" not in se and "runtime error" not in se,
              "damaged %s: truncated every 97 bytes, every 7th byte flipped: each loads or fails naming the file "
              "(%s%s)" % (name, so.strip(), se[-500:]))

    def one(tag, data, needle):
        p = os.path.join(out, tag + ".h5")
        open(p, "wb").write(data)
        rc, got, se = dump(tool, p)
        check(sane(rc, got, se, p) and rc == 1 and needle in got,
              "damaged %s: exit 1 naming the file and %r (%s)" % (tag, needle, got if rc else "accepted"))

    # corrupt checksums: one byte inside the first v2 object header
    d = bytearray(base["latest"])
    i = d.find(b"OHDR")
    d[i + 12] ^= 0x5A
    one("ohdr_checksum", bytes(d), "checksum mismatch")
    d = bytearray(base["latest"])
    d[20] ^= 0x01  # inside the v2/v3 superblock
    one("superblock_checksum", bytes(d), "superblock checksum")
    d = bytearray(base["dense"])
    i = d.find(b"FRHP")
    d[i + 30] ^= 0x40
    one("fractal_heap_checksum", bytes(d), "checksum mismatch")

    # a B-tree node that is its own child (v0 symbol table)
    d = bytearray(base["v0"])
    i = d.find(b"TREE")
    d[i + 5] = 1  # level 1: its children are B-tree nodes
    d[i + 8 + 16 + 8:i + 8 + 16 + 16] = struct.pack("<Q", i)  # child 0 = itself
    one("btree_cycle", bytes(d), "B-tree")

    # a v1 object header whose continuation points back at its own chunk
    d = bytearray(base["v0"])
    root = struct.unpack_from("<Q", d, 64)[0]
    nmsg, hsz = struct.unpack_from("<H", d, root + 2)[0], struct.unpack_from("<I", d, root + 8)[0]
    at, found = root + 16, False
    while at < root + 16 + hsz:
        t, sz = struct.unpack_from("<HH", d, at)
        if t == 0x10:
            d[at + 8:at + 16] = struct.pack("<Q", root + 16)
            found = True
            break
        at += 8 + sz
    if not found:  # no continuation: turn the first message into one
        at = root + 16
        struct.pack_into("<HH", d, at, 0x10, struct.unpack_from("<H", d, at + 2)[0])
    d[at + 8:at + 24] = struct.pack("<QQ", root + 16, hsz)  # its own chunk, again
    del nmsg
    one("continuation_cycle", bytes(d), "continuation chunks form a cycle")

    # overlong attribute: layer_names claims 10**6 names in a small message
    d = bytearray(base["v0"])
    i = d.find(b"layer_names\0")
    j = d.find(struct.pack("<Q", 2), i)  # its dataspace's one dimension (2 layers)
    d[j:j + 8] = struct.pack("<Q", 10 ** 6)
    one("overlong_attribute", bytes(d), "layer_names")

    # absurd dimension count / size on a dataset (v0 dataspace: version 1, rank 2, dims 2, 3)
    d = bytearray(base["v0"])
    i = d.find(struct.pack("<QQ", 2, 3)) - 8
    assert i > 0 and d[i] == 1 and d[i + 1] == 2, "the dataspace of a [2, 3] kernel"
    d[i + 1] = 200
    one("absurd_rank", bytes(d), "dimensions")
    d = bytearray(base["v0"])
    d[i + 8:i + 16] = struct.pack("<Q", 1 << 62)
    one("absurd_dimension", bytes(d), "kernel:0")
    d = bytearray(base["v0"])
    d[i + 8:i + 16] = struct.pack("<Q", 3)  # 3 x 3: stores 24 bytes, needs 36
    one("wrong_size", bytes(d), "stores 24 bytes")


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("subset", "damaged"):
        sys.stderr.write(__doc__)
        return 2
    part, tool, out = sys.argv[1:]
    rc, so, _ = run([tool, "dump", "/nonexistent.h5"])
    if rc == 77:
        print("h5 plugin not built: skipped")
        return 77
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    {"subset": part_subset, "damaged": part_damaged}[part](tool, out)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
