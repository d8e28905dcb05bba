#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent Flax msgpack writer/reader for the msgpack format plugin tests.

Everything here uses Python msgpack + numpy + torch only (no ptm code, no
flax): the serializer is flax.serialization.msgpack_serialize re-stated
(nested str-keyed maps; leaves ExtType(1, packb((shape, dtype.name,
tobytes('C')))); leaves over MAX_CHUNK_SIZE bytes as the
"__msgpack_chunked_array__" dict of 1-D chunks; packb(strict_types=True,
use_bin_type=True)), the PyTorch -> Flax renames are transformers'
(modeling_flax_pytorch_utils: LayerNorm weight -> scale, Embedding weight ->
embedding, other weight -> kernel = weight.T), and the reference outputs come
from the plain-PyTorch GPT-2 of gpt2_ref.py.

  msgpack_ref.py make OUT [--cfg base|variant] [--dtype f32|bf16|f16]
                 [--layout head|base] [--params] [--chunk BYTES] [--shards BYTES] [--seed N]
        write OUT/config.json and OUT/flax_model.msgpack (or flax_model-0000k-of-0000n.msgpack
        shards + flax_model.msgpack.index.json, split like flax_shard_checkpoint), the
        PyTorch state dict the weights come from (OUT/ref/pt.npz, float32 values of the
        stored dtype) and the torch logits for IDS (OUT/ref/logits.npy)
  msgpack_ref.py check-logits OUT LOGITS.safetensors     ptm run --output against torch
  msgpack_ref.py check-flax FILE OUT [--cast bf16|f16 --keep PAT]...
        ptm's flax_model.msgpack, read with Python msgpack, against the tree flax would
        write for OUT's weights (cast per PAT like FlaxPreTrainedModel.to_bf16 with a
        mask): same keys in the same order, ext type 1 leaves, dtype names, shapes,
        values, and byte-for-byte equal to this script's own serialization
  msgpack_ref.py check-st FILE OUT [--cast bf16|f16 --keep PAT]...
        ptm's model.safetensors against OUT's PyTorch weights (dtype per tensor, values)
  msgpack_ref.py hostile OUT KIND     a GPT-2 folder whose flax_model.msgpack is bad
"""
import fnmatch
import json
import os
import struct
import sys

import msgpack
import numpy as np

IDS = [5, 17, 3, 42, 88, 1, 60]
MAX_CHUNK_SIZE = 2 ** 30


# ------------------------------------------------------------ leaves

class Leaf:
    """An ndarray as flax stores it: shape, numpy dtype name, C-order bytes."""

    def __init__(self, shape, dtype, raw):
        self.shape, self.dtype, self.raw = tuple(int(d) for d in shape), dtype, bytes(raw)

    def itemsize(self):
        return {"float32": 4, "float16": 2, "bfloat16": 2, "float64": 8}[self.dtype]

    def f32(self):
        if self.dtype == "bfloat16":
            u = np.frombuffer(self.raw, "<u2").astype(np.uint32) << 16
            return u.view(np.float32).reshape(self.shape)
        return np.frombuffer(self.raw, self.dtype).astype(np.float32).reshape(self.shape)


def leaf_of(a, dtype):
    """float32 numpy array -> Leaf of dtype (values already representable)."""
    a = np.ascontiguousarray(a, np.float32)
    if dtype == "bfloat16":
        return Leaf(a.shape, dtype, bf16_bits(a).tobytes())
    return Leaf(a.shape, dtype, a.astype(dtype).tobytes())


def bf16_bits(a):
    """Round float32 to bfloat16, nearest even (what ml_dtypes/torch do)."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype("<u2")


def ext_pack(x):
    if isinstance(x, Leaf):  # flax _ndarray_to_bytes
        return msgpack.ExtType(1, msgpack.packb((x.shape, x.dtype, x.raw), use_bin_type=True))
    raise TypeError(type(x))


def chunk_tree(tree, max_chunk):
    """flax _np_convert_in_place / _chunk."""
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out[k] = chunk_tree(v, max_chunk)
        elif len(v.raw) > max_chunk:
            es = v.itemsize()
            per = max(1, int(max_chunk / es))
            n = len(v.raw) // es
            chunks = [Leaf((min(per, n - i),), v.dtype, v.raw[i * es:(i + min(per, n - i)) * es])
                      for i in range(0, n, per)]
            out[k] = {"__msgpack_chunked_array__": True,
                      "shape": {str(i): d for i, d in enumerate(v.shape)},
                      "chunks": {str(i): c for i, c in enumerate(chunks)}}
        else:
            out[k] = v
    return out


def serialize(tree, max_chunk=MAX_CHUNK_SIZE):
    return msgpack.packb(chunk_tree(tree, max_chunk), default=ext_pack, strict_types=True, use_bin_type=True)


def ext_hook(code, data):
    if code != 1:
        raise ValueError(f"ext type {code}")
    shape, dtype, raw = msgpack.unpackb(data, raw=True)
    return Leaf(shape, dtype.decode(), raw)


def deserialize(b):
    """flax msgpack_restore (raises ExtraData on trailing bytes), unchunked."""
    tree = msgpack.unpackb(b, ext_hook=ext_hook, strict_map_key=False, raw=False)

    def unchunk(t):
        if isinstance(t, dict) and "__msgpack_chunked_array__" in t:
            cs = list(t["chunks"].values())
            return Leaf(tuple(t["shape"].values()), cs[0].dtype, b"".join(c.raw for c in cs))
        if isinstance(t, dict):
            return {k: unchunk(v) for k, v in t.items()}
        return t
    return unchunk(tree)


def flatten(tree, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from flatten(v, prefix + (k,))
        else:
            yield prefix + (k,), v


def unflatten(items):
    out = {}
    for path, v in items:
        d = out
        for k in path[:-1]:
            d = d.setdefault(k, {})
        d[path[-1]] = v
    return out


# ------------------------------------------------- PyTorch <-> Flax

def pt_to_flax_key(name):
    """transformers' rename_key_and_reshape_tensor for GPT-2's modules."""
    parts = name.split(".")
    mod, last = parts[-2], parts[-1]
    if last == "weight" and mod.startswith("ln_"):
        return tuple(parts[:-1]) + ("scale",), False
    if last == "weight" and mod in ("wte", "wpe"):
        return tuple(parts[:-1]) + ("embedding",), False
    if last == "weight":
        return tuple(parts[:-1]) + ("kernel",), True
    return tuple(parts), False


def flax_tree(pt, dtypes):
    """pt: {name: float32 array} in state-dict order; dtypes: {name: numpy name}."""
    items = []
    for name, a in pt.items():
        key, transpose = pt_to_flax_key(name)
        items.append((key, leaf_of(a.T if transpose else a, dtypes[name])))
    return unflatten(items), {"/".join(k): n for (k, _), n in zip(items, pt)}


# ------------------------------------------------------------- make

def opt(argv, name, default=None, conv=str):
    if name in argv:
        i = argv.index(name)
        return conv(argv[i + 1])
    return default


def make(out, argv):
    # the plain-PyTorch GPT-2 (exits 2 if torch is missing); imported here
    # only, so the checks start fast
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import gpt2_ref
    import torch
    CFGS = {"base": gpt2_ref.BASE, "variant": gpt2_ref.VARIANT}
    cfg_name = opt(argv, "--cfg", "base")
    dtype = opt(argv, "--dtype", "f32")
    layout = opt(argv, "--layout", "head")
    seed = opt(argv, "--seed", 1, int)
    chunk = opt(argv, "--chunk", MAX_CHUNK_SIZE, int)
    shard = opt(argv, "--shards", None, int)
    cfg = CFGS[cfg_name]
    model = gpt2_ref.GPT2LMHeadModel(cfg)
    gpt2_ref.init_weights(model, seed, dtype)
    model.eval()
    sd = {k: v.detach().float().numpy().copy() for k, v in model.state_dict().items()}
    if cfg["tie_word_embeddings"]:
        del sd["lm_head.weight"]
    if layout == "base":
        assert cfg["tie_word_embeddings"]
        sd = {k[len("transformer."):]: v for k, v in sd.items()}
    npname = gpt2_ref.TORCH_NAME[dtype]
    tree, _ = flax_tree(sd, {k: npname for k in sd})
    if "--params" in argv:
        tree = {"params": tree}
    os.makedirs(os.path.join(out, "ref"), exist_ok=True)
    if shard is None:
        with open(os.path.join(out, "flax_model.msgpack"), "wb") as f:
            f.write(serialize(tree, chunk))
    else:  # flax_shard_checkpoint: greedy, split when current + size > max
        blocks, cur, size, total = [], [], 0, 0
        for path, leaf in flatten(tree):
            w = len(leaf.raw)
            if size + w > shard:
                blocks.append(cur)
                cur, size = [], 0
            cur.append((path, leaf))
            size += w
            total += w
        blocks.append(cur)
        wmap = {}
        for i, blk in enumerate(blocks):
            fn = "flax_model-%05d-of-%05d.msgpack" % (i + 1, len(blocks))
            with open(os.path.join(out, fn), "wb") as f:
                f.write(serialize(unflatten(blk), chunk))
            for path, _ in blk:
                wmap["/".join(path)] = fn
        with open(os.path.join(out, "flax_model.msgpack.index.json"), "w") as f:
            f.write(json.dumps({"metadata": {"total_size": total}, "weight_map": wmap}, indent=2, sort_keys=True)
                    + "\n")
    conf = {k: v for k, v in cfg.items() if k != "eos_from_greedy"}
    conf.update(architectures=["GPT2LMHeadModel"], model_type="gpt2", torch_dtype=gpt2_ref.TORCH_NAME[dtype])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(conf, f, indent=2)
    with torch.no_grad():
        logits = model(torch.tensor([IDS])).numpy()
    head = {k if layout == "head" else "transformer." + k: v for k, v in sd.items()}
    np.savez(os.path.join(out, "ref", "pt.npz"), **head)
    with open(os.path.join(out, "ref", "order.json"), "w") as f:
        json.dump({"names": list(head), "dtype": npname}, f)
    np.save(os.path.join(out, "ref", "logits.npy"), logits)


# ------------------------------------------------------------ checks

def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        raw = b[8 + n + s:8 + n + e]
        if v["dtype"] == "BF16":
            a = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, {"F32": "<f4", "F16": "<f2"}[v["dtype"]]).astype(np.float32)
        out[k] = (v["dtype"], a.reshape(v["shape"]), raw)
    return out, list(h)


def ref_weights(out):
    z = np.load(os.path.join(out, "ref", "pt.npz"))
    meta = json.load(open(os.path.join(out, "ref", "order.json")))
    return {k: z[k] for k in meta["names"]}, meta["dtype"]


def cast_of(argv):
    cast = opt(argv, "--cast")
    keep = [argv[i + 1] for i, a in enumerate(argv) if a == "--keep"]
    return cast, keep


def expected_dtypes(pt, stored, cast, keep):
    want = {"bf16": "bfloat16", "f16": "float16", None: None}[cast]
    return {n: stored if (want is None or any(fnmatch.fnmatchcase(n, p) for p in keep)) else want for n in pt}


def check_logits(out, path):
    got, _ = read_st(path)
    want = np.load(os.path.join(out, "ref", "logits.npy"))
    dt, a, _ = got["logits"]
    assert dt == "F32" and a.shape == want.shape, (dt, a.shape, want.shape)
    diff = float(np.abs(a - want).max())
    assert diff < 2e-4, f"max |ptm - torch| = {diff}"
    print(f"logits {a.shape} match torch (max diff {diff:.2e})")


def check_flax(path, out, argv):
    pt, stored = ref_weights(out)
    cast, keep = cast_of(argv)
    dts = expected_dtypes(pt, stored, cast, keep)
    want_tree, _ = flax_tree(pt, dts)
    data = open(path, "rb").read()
    got_tree = deserialize(data)  # independent reader; raises on a malformed file
    want_flat, got_flat = list(flatten(want_tree)), list(flatten(got_tree))
    assert [k for k, _ in got_flat] == [k for k, _ in want_flat], ([k for k, _ in got_flat], [k for k, _ in want_flat])
    for (k, g), (_, w) in zip(got_flat, want_flat):
        assert isinstance(g, Leaf), k
        assert (g.dtype, g.shape) == (w.dtype, w.shape), (k, g.dtype, g.shape, w.dtype, w.shape)
        assert g.raw == w.raw, f"{'/'.join(k)}: values differ"
    assert data == serialize(want_tree), "not byte-identical to what flax would write"
    print(f"{len(got_flat)} leaves match, bytes identical to the flax serialization")


def check_st(path, out, argv):
    pt, stored = ref_weights(out)
    cast, keep = cast_of(argv)
    dts = expected_dtypes(pt, stored, cast, keep)
    got, _ = read_st(path)
    assert set(got) == set(pt), (sorted(set(got) ^ set(pt)))
    stname = {"float32": "F32", "bfloat16": "BF16", "float16": "F16"}
    for n, a in pt.items():
        dt, g, raw = got[n]
        assert dt == stname[dts[n]], (n, dt, dts[n])
        assert g.shape == a.shape, (n, g.shape, a.shape)
        if dts[n] == "bfloat16":
            assert raw == bf16_bits(a).tobytes(), f"{n}: not the nearest-even bfloat16 of the f32 values"
        elif dts[n] == "float16":
            assert raw == a.astype("<f2").tobytes(), n
        else:
            assert raw == a.astype("<f4").tobytes(), n
    print(f"{len(pt)} tensors match ({sum(d != stored for d in dts.values())} cast)")


def hostile(out, kind):
    make(out, ["--cfg", "base"])
    p = os.path.join(out, "flax_model.msgpack")
    good = open(p, "rb").read()
    tree = deserialize(good)
    h0 = tree["transformer"]["h"]["0"]
    if kind == "truncated":
        data = good[:len(good) // 2]
    elif kind == "ext2":  # flax _MsgpackExtType.native_complex
        h0["attn"]["c_attn"]["bias"] = msgpack.ExtType(2, msgpack.packb((1.0, 2.0)))
        data = msgpack.packb(tree, default=ext_pack, strict_types=True)
    elif kind == "ext3":  # flax _MsgpackExtType.npscalar
        h0["ln_1"]["scale"] = msgpack.ExtType(3, msgpack.packb(((), "float32", np.float32(1).tobytes())))
        data = msgpack.packb(tree, default=ext_pack, strict_types=True)
    elif kind == "dtype":
        h0["ln_2"]["bias"] = Leaf((4,), "float99", b"\0" * 16)
        data = msgpack.packb(tree, default=ext_pack, strict_types=True)
    elif kind == "size":
        leaf = h0["mlp"]["c_fc"]["kernel"]
        h0["mlp"]["c_fc"]["kernel"] = Leaf(leaf.shape, leaf.dtype, leaf.raw[:-4])
        data = msgpack.packb(tree, default=ext_pack, strict_types=True)
    elif kind == "deep":
        d = {}
        for _ in range(40):
            d = {"x": d}
        tree["transformer"]["deep"] = d
        data = msgpack.packb(tree, default=ext_pack, strict_types=True)
    elif kind == "extra":
        data = good + msgpack.packb(1)
    else:
        raise SystemExit(f"unknown kind {kind}")
    with open(p, "wb") as f:
        f.write(data)


def main(argv):
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    if cmd == "make":
        make(argv[2], argv[3:])
    elif cmd == "check-logits":
        check_logits(argv[2], argv[3])
    elif cmd == "check-flax":
        check_flax(argv[2], argv[3], argv[4:])
    elif cmd == "check-st":
        check_st(argv[2], argv[3], argv[4:])
    elif cmd == "hostile":
        hostile(argv[2], argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
