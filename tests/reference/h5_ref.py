#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""h5 (TF/Keras tf_model.h5) reference checks for ptm's h5 format plugin.

Files are written here with h5py in exactly the layout Keras 2's
save_weights gives a transformers TF model (formats.md §4.1): root
attributes layer_names (fixed-length strings, chunked into layer_names0,
layer_names1, ... past 64512 bytes as Keras' save_attributes_to_hdf5_group
does), backend, keras_version; one group per top-level layer with
weight_names; datasets at <layer>/<full variable name>:0.  Sharded files are
transformers' own (root-level stripped names, §4.2).

  h5_ref.py gpt2 PTM TEST_H5 OUT     TF GPT-2 -> ptm run/convert --from-tf,
                                     logits vs the plain-PyTorch GPT-2 of
                                     gpt2_ref.py; ptm's own h5 read by h5py
  h5_ref.py names PTM TEST_H5 OUT    generic TF -> PyTorch names and layouts
                                     (numpy transposes) through `test_h5 dump`
  h5_ref.py hostile PTM TEST_H5 OUT  hostile files: exit 1 and a message
                                     naming the file and the object

Exit 0 all passed, 1 a check failed, 77 the plugin is not built.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

try:
    import h5py
except ImportError:
    sys.stderr.write("h5_ref.py: needs python3-h5py (Debian: apt-get install python3-h5py)\n")
    sys.exit(2)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import h5_subset_ref  # noqa: E402  (its `test_h5 dump` parser)

LIMIT = 64512  # Keras' HDF5_OBJECT_HEADER_LIMIT
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# ------------------------------------------------------------ Keras writer

def save_attr(obj, name, data, limit=LIMIT, vlen=False):
    """Keras' save_attributes_to_hdf5_group (bytes names)."""
    data = [d.encode() if isinstance(d, str) else d for d in data]
    if vlen:  # other writers: variable-length strings
        obj.attrs.create(name, [d.decode() for d in data], dtype=h5py.string_dtype())
        return
    npy = np.asarray(data)
    chunks = 1
    parts = np.array_split(npy, chunks)
    while any(x.nbytes > limit for x in parts):
        chunks += 1
        parts = np.array_split(npy, chunks)
    if chunks > 1:
        for i, part in enumerate(parts):
            obj.attrs["%s%d" % (name, i)] = part
    else:
        obj.attrs[name] = data


def write_keras(path, layers, limit=LIMIT, vlen=False):
    """layers: [(layer name, [(full variable name, array)])] in model order."""
    with h5py.File(path, "w") as f:
        save_attr(f, "layer_names", [ln for ln, _ in layers], limit, vlen)
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.15.0"
        for ln, weights in layers:
            g = f.create_group(ln)
            if weights:
                save_attr(g, "weight_names", [n for n, _ in weights], limit, vlen)
            else:
                g.attrs["weight_names"] = np.array([])  # float64, as h5py does
            for n, a in weights:
                g.create_dataset(n, data=a)


def write_shard(path, weights):
    """transformers' TF shard: datasets at root-level stripped names."""
    with h5py.File(path, "w") as f:
        save_attr(f, "layer_names", [n for n, _ in weights])
        for n, a in weights:
            f.create_dataset(n, data=a)


# ---------------------------------------------------------------- helpers

def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def read_st(path):
    import struct
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        assert v["dtype"] == "F32", v
        out[k] = np.frombuffer(b[8 + n + s:8 + n + e], "<f4").reshape(v["shape"])
    return out


def gpt2_tf_layers(sd, model_name):
    """A PyTorch GPT2LMHeadModel state dict as TFGPT2LMHeadModel's variables:
    wte "weight", wpe "embeddings", ln gamma/beta, TFConv1D weight [in, out]
    unchanged and bias [1, nf], lists as h_._i."""
    ws = []
    for k, v in sd.items():
        if not k.startswith("transformer."):
            continue
        a = v.detach().numpy().astype("<f4")
        parts = k.split(".")[1:]
        name = []
        for p in parts:
            if p.isdigit():
                name[-1] += "_._" + p
            else:
                name.append(p)
        mod, last = name[-2], name[-1]
        if mod in ("ln_1", "ln_2", "ln_f"):
            last = {"weight": "gamma", "bias": "beta"}[last]
        elif mod == "wpe":
            last = "embeddings"
        elif last == "bias" and mod in ("c_attn", "c_proj", "c_fc"):
            a = a.reshape(1, -1)
        name[-1] = last
        ws.append(("%s/transformer/%s:0" % (model_name, "/".join(name)), a))
    return [("transformer", ws)]


# --------------------------------------------------------------------- gpt2

def part_gpt2(ptm, tool, out):
    import torch
    import gpt2_ref as G
    cfg = dict(G.BASE, n_layer=2)
    model = G.GPT2LMHeadModel(cfg)
    G.init_weights(model, 11, "f32")
    model.eval()
    sd = model.state_dict()
    ids = [3, 1, 4, 1, 5, 9, 2, 6]
    with torch.no_grad():
        want = model(torch.tensor([ids])).numpy()
    layers = gpt2_tf_layers(sd, "tfgp_t2lm_head_model")

    def folder(name):
        d = os.path.join(out, name)
        os.makedirs(d)
        json.dump(G.config_json(cfg, "f32", "head"), open(os.path.join(d, "config.json"), "w"), indent=2)
        return d

    def logits_of(d, extra=("--from-tf",)):
        o = os.path.join(out, os.path.basename(d) + ".logits.safetensors")
        rc, so, se = run([ptm, "run", d, "--ids", ",".join(map(str, ids)), "--output", o] + list(extra))
        if rc:
            print(se)
            return None
        return read_st(o)["logits"]

    variants = {
        "keras": dict(),
        "chunked": dict(limit=600),   # weight_names0.. and layer_names kept whole
        "vlen": dict(vlen=True),
    }
    for name, kw in variants.items():
        d = folder("tf_" + name)
        write_keras(os.path.join(d, "tf_model.h5"), layers, **kw)
        if name == "chunked":
            with h5py.File(os.path.join(d, "tf_model.h5"), "r") as f:
                check("weight_names0" in f["transformer"].attrs and "weight_names" not in f["transformer"].attrs,
                      "chunked: the fixture really has chunked weight_names")
        got = logits_of(d)
        check(got is not None and got.shape == want.shape and np.allclose(got, want, atol=1e-4, rtol=1e-4),
              "gpt2 %s: ptm run --from-tf logits == torch" % name)

    # sharded: transformers' tf_model-0000k-of-0000n.h5 + index (full names as keys)
    d = folder("tf_sharded")
    ws = layers[0][1]
    half = len(ws) // 2
    wm = {}
    for k, chunk in enumerate((ws[:half], ws[half:])):
        fn = "tf_model-%05d-of-00002.h5" % (k + 1)
        write_shard(os.path.join(d, fn), [(n.split("/", 1)[1], a) for n, a in chunk])
        wm.update({n: fn for n, _ in chunk})
    json.dump({"metadata": {"total_size": sum(a.nbytes for _, a in ws)}, "weight_map": wm},
              open(os.path.join(d, "tf_model.h5.index.json"), "w"), indent=2, sort_keys=True)
    got = logits_of(d)
    check(got is not None and np.allclose(got, want, atol=1e-4, rtol=1e-4), "gpt2 sharded: logits == torch")

    # without --from-tf: the error says a TF checkpoint is there
    rc, so, se = run([ptm, "info", os.path.join(out, "tf_keras")])
    check(rc == 1 and "--from-tf" in se, "no --from-tf: exit 1 and the message names --from-tf (%r)" % se.strip())

    # convert TF -> safetensors: PyTorch names and layouts
    st_dir = os.path.join(out, "st")
    rc, so, se = run([ptm, "convert", os.path.join(out, "tf_keras"), st_dir, "--from-tf"])
    check(rc == 0, "convert tf -> safetensors " + se.strip())
    if rc == 0:
        got = read_st(os.path.join(st_dir, "model.safetensors"))
        exp = {k: v.numpy() for k, v in sd.items() if k != "lm_head.weight"}
        check(sorted(got) == sorted(exp), "converted names == the PyTorch state dict's")
        check(all(k in got and got[k].shape == v.shape and np.array_equal(got[k], v) for k, v in exp.items()),
              "converted shapes and values == torch's (Conv1D not transposed, biases 1-D)")

    # convert safetensors -> h5: read back with h5py, exact Keras layout
    h5_dir = os.path.join(out, "h5")
    rc, so, se = run([ptm, "convert", st_dir, h5_dir, "--format", "h5"])
    check(rc == 0, "convert safetensors -> h5 " + se.strip())
    if rc == 0:
        with h5py.File(os.path.join(h5_dir, "tf_model.h5"), "r") as f:
            ln = [x.decode() for x in f.attrs["layer_names"]]
            check(ln == ["transformer"], "h5py: layer_names == ['transformer'] (%r)" % ln)
            check(f.attrs["backend"] == b"tensorflow", "h5py: backend attribute")
            wn = [x.decode() for x in f["transformer"].attrs["weight_names"]]
            exp = dict(layers[0][1])
            check(sorted(wn) == sorted(exp), "h5py: weight_names == TFGPT2LMHeadModel's variable names")
            ok = all(np.array_equal(f["transformer"][n][()], a) and f["transformer"][n].dtype == np.float32
                     for n, a in exp.items() if n in wn)
            check(ok, "h5py: every dataset equals the TF layout (no transpose, bias [1, nf])")
            check(f["transformer"][wn[0]].chunks is None, "h5py: contiguous datasets")
        got = logits_of(h5_dir)
        check(got is not None and np.allclose(got, want, atol=1e-4, rtol=1e-4), "ptm's own h5: logits == torch")


# -------------------------------------------------------------------- names

def part_names(ptm, tool, out):
    pass  # main() made it
    rng = np.random.default_rng(5)
    r = lambda *s: rng.standard_normal(s).astype("<f4")
    m = "tf_bert_for_masked_lm"
    q, emb, pos, g, b, cls_b, conv, fb = r(3, 5), r(7, 3), r(4, 3), r(3), r(3), r(7), r(2, 2, 3, 4), r(1, 7)
    i32 = np.arange(6, dtype="<i4").reshape(2, 3)
    f16 = r(2, 3).astype("<f2")
    layers = [
        ("bert", [
            (m + "/bert/embeddings/word_embeddings/weight:0", emb),
            (m + "/bert/embeddings/position_embeddings/embeddings:0", pos),
            (m + "/bert/encoder/layer_._0/attention/self/query/kernel:0", q),
            (m + "/bert/encoder/layer_._11/output/LayerNorm/gamma:0", g),
            (m + "/bert/encoder/layer_._11/output/LayerNorm/beta:0", b),
            (m + "/bert/patch/projection/kernel:0", conv),
            (m + "/bert/ints:0", i32),
            (m + "/bert/half/dense/kernel:0", f16),
        ]),
        ("mlm___cls", [(m + "/mlm___cls/predictions/bias:0", cls_b)]),
        ("final_logits_bias", [("final_logits_bias:0", fb)]),
        ("dropout", []),
    ]
    exp = {
        "bert.embeddings.word_embeddings.weight": emb,
        "bert.embeddings.position_embeddings.weight": pos,
        "bert.encoder.layer.0.attention.self.query.weight": q.T,
        "bert.encoder.layer.11.output.LayerNorm.weight": g,
        "bert.encoder.layer.11.output.LayerNorm.bias": b,
        "bert.patch.projection.weight": conv.transpose(3, 2, 0, 1),
        "bert.ints": i32,
        "bert.half.dense.weight": f16.T,
        "cls.predictions.bias": cls_b,
        "final_logits_bias": fb,
    }
    dtypes = {"bert.ints": "I32", "bert.half.dense.weight": "F16"}

    def dump(path):
        rc, res, se = h5_subset_ref.dump(tool, path)
        if rc:
            print(res, se)
            return None
        return res

    for name, kw in (("fixed", {}), ("vlen", {"vlen": True}), ("chunked", {"limit": 150})):
        p = os.path.join(out, name + ".h5")
        write_keras(p, layers, **kw)
        got = dump(p)
        check(got is not None and sorted(got) == sorted(exp), "names %s: PyTorch names (%s)" %
              (name, sorted(got) if got else None))
        ok = got is not None and all(
            n in got and got[n][0] == dtypes.get(n, "F32") and got[n][1].shape == a.shape and
            np.allclose(got[n][1], a.astype(np.float64), rtol=1e-6, atol=0) for n, a in exp.items())
        check(ok, "names %s: dtypes, shapes and values (kernels transposed, conv2d (3,2,0,1))" % name)
    # a shard: stripped root-level names, no model-name component to drop
    p = os.path.join(out, "tf_model-00001-of-00001.h5")
    write_shard(p, [("bert/encoder/layer_._0/attention/self/query/kernel:0", q), ("bert/pooler/dense/bias:0", g)])
    got = dump(p)
    check(got is not None and sorted(got) == ["bert.encoder.layer.0.attention.self.query.weight",
                                               "bert.pooler.dense.bias"], "shard: stripped names kept")
    check(got is not None and np.allclose(got["bert.encoder.layer.0.attention.self.query.weight"][1], q.T),
          "shard: kernel transposed")


# ------------------------------------------------------------------ hostile

def part_hostile(ptm, tool, out):
    import gpt2_ref as G
    pass  # main() made it
    cfg = dict(G.BASE, n_layer=1)
    M = "tfgp_t2lm_head_model/transformer/"

    def case(name, build, needle):
        d = os.path.join(out, name)
        os.makedirs(d)
        json.dump(G.config_json(cfg, "f32", "head"), open(os.path.join(d, "config.json"), "w"))
        path = os.path.join(d, "tf_model.h5")
        build(path, d)
        rc, so, se = run([ptm, "info", d, "--from-tf"])
        line = se.strip().splitlines()[-1] if se.strip() else ""
        check(rc == 1 and path in se and needle in se,
              "hostile %s: exit 1 naming the file and %r (rc %d: %s)" % (name, needle, rc, line))

    def ext_link(path, d):
        other = os.path.join(d, "other.h5")
        with h5py.File(other, "w") as f:
            f.create_dataset("secret", data=np.zeros(4, "<f4"))
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            f["transformer"] = h5py.ExternalLink(other, "/")
    case("external_link_layer", ext_link, "external link")

    def ext_link_deep(path, d):
        other = os.path.join(d, "other.h5")
        with h5py.File(other, "w") as f:
            f.create_dataset("secret", data=np.zeros(4, "<f4"))
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g[M + "wte"] = h5py.ExternalLink(other, "/")
    case("external_link_deep", ext_link_deep, "external link")

    def ext_storage(path, d):
        raw = os.path.join(d, "raw.bin")
        open(raw, "wb").write(b"\0" * 64)
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g.create_dataset(M + "wte/weight:0", shape=(4, 4), dtype="<f4", external=[(raw, 0, 64)])
    case("external_storage", ext_storage, "external files")

    def virtual(path, d):
        other = os.path.join(d, "other.h5")
        with h5py.File(other, "w") as f:
            f.create_dataset("secret", data=np.zeros((4, 4), "<f4"))
        lay = h5py.VirtualLayout(shape=(4, 4), dtype="<f4")
        lay[:] = h5py.VirtualSource(other, "secret", shape=(4, 4))
        with h5py.File(path, "w", libver="latest") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g.create_group(M + "wte").create_virtual_dataset("weight:0", lay)
    case("virtual_dataset", virtual, "virtual dataset")

    def wrong_size(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g.create_dataset(M + "wte/weight:0", data=np.ones((37, 41), "<f4"))
        b = bytearray(open(path, "rb").read())
        pat = (37).to_bytes(8, "little") + (41).to_bytes(8, "little")
        i = b.find(pat)
        assert i > 0
        b[i + 8:i + 16] = (43).to_bytes(8, "little")  # the dataspace now says 37 x 43
        open(path, "wb").write(bytes(b))
    case("wrong_size", wrong_size, "wte/weight:0")

    def truncated(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g.create_dataset(M + "wte/weight:0", data=np.ones((64, 64), "<f4"))
        b = open(path, "rb").read()
        open(path, "wb").write(b[:len(b) - 5000])
    case("truncated", truncated, "tf_model.h5")

    def huge_count(path, d):
        with h5py.File(path, "w", libver="latest") as f:
            f.attrs.create("layer_names", np.zeros(4200000, "S1"))
    case("huge_attribute_count", huge_count, "layer_names")

    def huge_name(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["x" * 5000])
    case("huge_name", huge_name, "5000 bytes")

    def not_strings(path, d):
        with h5py.File(path, "w") as f:
            f.attrs["layer_names"] = np.arange(3)
    case("layer_names_not_strings", not_strings, "layer_names")

    def missing_layer(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
    case("missing_layer", missing_layer, "\"transformer\"")

    def missing_dataset(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            save_attr(f.create_group("transformer"), "weight_names", [M + "wte/weight:0"])
    case("missing_dataset", missing_dataset, "wte")

    def soft_link(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            f.create_group("real")
            f["transformer"] = h5py.SoftLink("/real")
    case("soft_link", soft_link, "soft link")

    def dup_names(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "ln_f/gamma:0", M + "ln_f/weight:0"])
            g.create_dataset(M + "ln_f/gamma:0", data=np.ones(4, "<f4"))
            g.create_dataset(M + "ln_f/weight:0", data=np.ones(4, "<f4"))
    case("duplicate_pt_names", dup_names, "transformer.ln_f.weight")

    def garbage(path, d):
        open(path, "wb").write(b"\x89HDF\r\n\x1a\n" + os.urandom(3000))
    case("garbage_after_signature", garbage, "tf_model.h5")

    def string_data(path, d):
        with h5py.File(path, "w") as f:
            save_attr(f, "layer_names", ["transformer"])
            g = f.create_group("transformer")
            save_attr(g, "weight_names", [M + "wte/weight:0"])
            g.create_dataset(M + "wte/weight:0", data=np.array([b"abc", b"def"]))
    case("string_dataset", string_data, "element type")


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("gpt2", "names", "hostile"):
        sys.stderr.write(__doc__)
        return 2
    part, ptm, tool, out = sys.argv[1:]
    rc, so, _ = run([tool, "dump", "/nonexistent.h5"])
    if rc == 77:
        print("h5 plugin not built: skipped")
        return 77
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    {"gpt2": part_gpt2, "names": part_names, "hostile": part_hostile}[part](ptm, tool, out)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
