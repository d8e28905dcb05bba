#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end tests of ptm's Hub client against tests/hub/server.py on
loopback (no test touches the internet).

usage: test_hub.py PTM_BINARY WORK_DIR CASE

Expected cache trees are computed here independently of ptm: blob names
with hashlib (sha256 for LFS files, git blob sha1 for regular files),
symlink targets from the layout rules, refs content = the commit the test
server reports, without a newline."""

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import urllib.request

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import server as hubserver  # noqa: E402
import proxy as hubproxy  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import safetensors_ref  # noqa: E402

PTM, WORK, CASE = sys.argv[1], sys.argv[2], sys.argv[3]
TOKEN = "hf_SecretTokenValue_1234567890"
FAILS = []


def check(cond, what):
    if cond:
        print("ok   %s" % what)
    else:
        print("FAIL %s" % what)
        FAILS.append(what)


def git_sha1(b):
    return hashlib.sha1(b"blob %d\0" % len(b) + b).hexdigest()


def sha256(b):
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------ a tiny model

def safetensors_bytes(tensors):
    hdr, off, blobs = {"__metadata__": {"format": "pt"}}, 0, []
    for k in sorted(tensors):
        b = tensors[k].tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(tensors[k].shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h + b"".join(blobs)


def tiny_gpt2(seed=0):
    """config.json, two safetensors shards and their index (GPT2Model)."""
    V, H, P, L = 37, 8, 16, 2
    rng = np.random.default_rng(seed)
    t = {}

    def w(name, *shape):
        t[name] = (0.2 * rng.standard_normal(shape)).astype("<f4")
    w("wte.weight", V, H)
    w("wpe.weight", P, H)
    for i in range(L):
        p = "h.%d." % i
        for n, s in (("ln_1.weight", (H,)), ("ln_1.bias", (H,)), ("attn.c_attn.weight", (H, 3 * H)),
                     ("attn.c_attn.bias", (3 * H,)), ("attn.c_proj.weight", (H, H)), ("attn.c_proj.bias", (H,)),
                     ("ln_2.weight", (H,)), ("ln_2.bias", (H,)), ("mlp.c_fc.weight", (H, 4 * H)),
                     ("mlp.c_fc.bias", (4 * H,)), ("mlp.c_proj.weight", (4 * H, H)), ("mlp.c_proj.bias", (H,))):
            w(p + n, *s)
    w("ln_f.weight", H)
    w("ln_f.bias", H)
    names = sorted(t)
    half = len(names) // 2
    shards = {"model-00001-of-00002.safetensors": {k: t[k] for k in names[:half]},
              "model-00002-of-00002.safetensors": {k: t[k] for k in names[half:]}}
    index = {"metadata": {"total_size": sum(a.nbytes for a in t.values())},
             "weight_map": {k: f for f, d in shards.items() for k in d}}
    cfg = {"architectures": ["GPT2Model"], "model_type": "gpt2", "vocab_size": V, "n_embd": H, "n_positions": P,
           "n_layer": L, "n_head": 2, "layer_norm_epsilon": 1e-5, "torch_dtype": "float32"}
    files = {"config.json": (json.dumps(cfg, indent=2).encode(), False),
             "model.safetensors.index.json": (json.dumps(index, indent=2).encode(), False)}
    for f, d in shards.items():
        files[f] = (safetensors_bytes(d), True)
    nparams = sum(a.size for a in t.values())
    return files, nparams


# -------------------------------------------------------------- harness

class Env:
    def __init__(self):
        self.srv = hubserver.Server().start()
        self.store = self.srv.store
        self.store.tokens[TOKEN] = "alice"
        self.files, self.nparams = tiny_gpt2()
        self.store.create_repo("org/tiny")
        self.commit = self.store.commit("org/tiny", "main", self.files, "add model")

    def cache(self, name):
        d = os.path.join(WORK, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        return d

    def env(self, cache, env_extra=None, endpoint=None):
        """The environment of a ptm run; a None value in env_extra unsets."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGING", "TRANSFORMERS_"))}
        env.update({"HF_HUB_CACHE": cache, "HF_HOME": os.path.join(WORK, "hf_home_empty"),
                    "HF_ENDPOINT": endpoint or self.srv.endpoint, "PTM_HUB_RETRY_BASE_MS": "20",
                    "no_proxy": "*", "NO_PROXY": "*"})
        for k in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
            env.pop(k, None)
        env.update(env_extra or {})
        return {k: v for k, v in env.items() if v is not None}

    def run(self, args, cache, env_extra=None, endpoint=None):
        p = subprocess.run([PTM] + args, env=self.env(cache, env_extra, endpoint), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def run_pty(self, args, cache, env_extra=None):
        """ptm with stderr on a pseudo-terminal (stdout a pipe): (rc, stdout,
        everything written to the terminal)."""
        master, slave = os.openpty()
        p = subprocess.Popen([PTM] + args, env=self.env(cache, env_extra), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        chunks = []

        def reader():
            while True:
                try:
                    b = os.read(master, 4096)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not b:
                    break
                chunks.append(b)
        t = threading.Thread(target=reader)
        t.start()
        out = p.stdout.read()
        p.wait(timeout=120)
        t.join(timeout=30)
        os.close(master)
        return p.returncode, out.decode(), b"".join(chunks).decode("utf-8", "replace")

    def log(self):
        with self.srv.log_lock:
            return list(self.srv.log)

    def clear_log(self):
        with self.srv.log_lock:
            self.srv.log.clear()

    def faults(self, **kw):
        with self.srv.fault_lock:
            self.srv.faults.clear()
            self.srv.faults.update(kw)


def expected_tree(repo_folder, commit, files, ref="main"):
    """{relative path: ("file", bytes) | ("link", target)} per the layout rules."""
    out = {}
    for path, (data, lfs) in files.items():
        etag = sha256(data) if lfs else git_sha1(data)
        out["%s/blobs/%s" % (repo_folder, etag)] = ("file", data)
        out["%s/snapshots/%s/%s" % (repo_folder, commit, path)] = (
            "link", "../" * (2 + path.count("/")) + "blobs/" + etag)
    if ref:
        out["%s/refs/%s" % (repo_folder, ref)] = ("file", commit.encode())
    return out


def actual_tree(cache, repo_folder):
    out = {}
    base = os.path.join(cache, repo_folder)
    for root, dirs, names in os.walk(base):
        for n in names + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            full = os.path.join(root, n)
            rel = os.path.relpath(full, cache)
            if os.path.islink(full):
                out[rel] = ("link", os.readlink(full))
            else:
                with open(full, "rb") as fh:
                    out[rel] = ("file", fh.read())
    return out


def grep_cache(cache, needle):
    hits = []
    for root, dirs, names in os.walk(cache):
        for n in names:
            full = os.path.join(root, n)
            if needle.encode() in n.encode():
                hits.append(full)
            if os.path.islink(full):
                continue
            with open(full, "rb") as fh:
                if needle.encode() in fh.read():
                    hits.append(full)
    return hits


# ---------------------------------------------------------------- cases

def case_download(e):
    c = e.cache("c_download")
    rc, out, err = e.run(["download", "org/tiny", "--no-progress"], c)
    snap = os.path.join(c, "models--org--tiny", "snapshots", e.commit)
    check(rc == 0 and out.strip() == snap, "ptm download prints the snapshot folder (rc %d, %r %s)" % (rc, out, err))
    want = expected_tree("models--org--tiny", e.commit, e.files)
    for absent in ("model.safetensors", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json"):
        want["models--org--tiny/.no_exist/%s/%s" % (e.commit, absent)] = ("file", b"")
    got = actual_tree(c, "models--org--tiny")
    check(got == want, "cache tree equals the layout computed from hashlib (extra: %s, missing: %s)"
          % (sorted(set(got) - set(want)), sorted(set(want) - set(got))))
    check(os.path.isfile(os.path.join(c, ".locks", "models--org--tiny",
                                      sha256(e.files["model-00001-of-00002.safetensors"][0]) + ".lock")),
          "lock file under .locks/models--org--tiny/<etag>.lock")
    rc, out, err = e.run(["info", "org/tiny", "--json", "--no-progress"], c)
    info = json.loads(out) if rc == 0 else {}
    check(rc == 0 and info.get("num_parameters") == e.nparams,
          "ptm info REPO_ID loads the sharded model (%s params, want %d) %s" % (info.get("num_parameters"),
                                                                            e.nparams, err))
    check(rc == 0 and all(f.startswith(snap + "/") for f in info.get("files", [])) and len(info.get("files", [])) == 2,
          "the loaded files are the two shards in the snapshot")
    check(rc == 0 and (not info.get("can_generate") or
                       ("generation_config" in info and info.get("generation_config_file", 0) is None)),
          "no generation_config.json in the repo: the generation config is derived from config.json")
    # offline: no request at all
    e.clear_log()
    rc, out, err = e.run(["info", "org/tiny", "--json"], c, {"HF_HUB_OFFLINE": "1"})
    check(rc == 0 and json.loads(out).get("num_parameters") == e.nparams, "HF_HUB_OFFLINE=1 loads from the cache")
    rc2, _, _ = e.run(["info", "org/tiny", "--local-files-only"], c)
    check(rc2 == 0, "--local-files-only loads from the cache")
    check(not e.log(), "offline runs sent no request")
    # a file in a folder of the repo: one more ../ per level
    e.store.commit("org/tiny", "main", {"sub/dir/extra.json": (b'{"a": 1}\n', False)}, "extra")
    rc, out, err = e.run(["download", "org/tiny", "sub/dir/extra.json"], c)
    p = out.strip()
    check(rc == 0 and os.readlink(p) == "../../../../blobs/" + git_sha1(b'{"a": 1}\n'),
          "nested file links to ../../../../blobs/<git sha1>")
    # subfolder option = the same file
    rc, out2, err = e.run(["download", "org/tiny", "extra.json", "--subfolder", "sub/dir"], c)
    check(rc == 0 and out2.strip() == p, "--subfolder prefixes the path in the repo")
    # --force-download fetches again
    e.clear_log()
    rc, out, err = e.run(["download", "org/tiny", "model-00001-of-00002.safetensors", "--force-download"], c)
    gets = [r for r in e.log() if r.get("port") == "cdn" and r.get("method") == "GET"]
    check(rc == 0 and len(gets) == 1, "--force-download downloads again (%d CDN GETs)" % len(gets))


def case_auth(e):
    c = e.cache("c_auth")
    e.store.create_repo("org/gated", gated=True)
    e.store.repos["org/gated"].granted.add("alice")
    e.store.commit("org/gated", "main", e.files, "model")
    e.clear_log()
    rc, out, err = e.run(["download", "org/gated"], c, {"HF_TOKEN": TOKEN})
    check(rc == 0, "gated repo with a granted token downloads (%s)" % err)
    log = e.log()
    cdn = [r for r in log if r.get("port") == "cdn"]
    hub = [r for r in log if r.get("port") == "hub" and "method" in r]
    check(cdn and not any(r.get("auth") for r in cdn) and not any("violation" in r for r in log),
          "no Authorization reached the CDN port (%d CDN requests)" % len(cdn))
    check(hub and all(r.get("auth") for r in hub), "every Hub request carried the token")
    check(not grep_cache(c, TOKEN), "the token appears in no cache file or name")
    check(TOKEN not in err and TOKEN not in out, "the token is not printed")
    # a token file under HF_HOME
    home = os.path.join(WORK, "hf_home_tok")
    os.makedirs(home, exist_ok=True)
    with open(os.path.join(home, "token"), "w") as fh:
        fh.write(TOKEN + "\n")
    c2 = e.cache("c_auth2")
    rc, out, err = e.run(["download", "org/gated", "config.json"], c2, {"HF_HOME": home})
    check(rc == 0, "the token file under HF_HOME is used")
    # errors never show the token
    rc, out, err = e.run(["download", "org/missing", "config.json"], c2, {"HF_TOKEN": TOKEN})
    check(rc == 4 and TOKEN not in err and TOKEN not in out, "the token is not in messages")


def case_errors(e):
    c = e.cache("c_errors")
    e.store.create_repo("org/gated", gated=True)
    e.store.commit("org/gated", "main", {"config.json": e.files["config.json"]}, "cfg")
    e.store.create_repo("org/private", private=True, owner="bob")
    cases = [
        (["download", "org/missing", "config.json"], {}, 4, "Repository not found"),
        (["download", "org/private", "config.json"], {}, 4, "Repository not found"),
        (["download", "org/gated", "config.json"], {}, 5, "gated"),
        (["download", "org/gated", "config.json"], {"HF_TOKEN": TOKEN}, 5, "restricted"),
        (["download", "org/gated", "config.json", "--token", "hf_wrong"], {}, 5, "Invalid credentials"),
        (["download", "org/tiny", "config.json", "--revision", "nope"], {}, 6, "Invalid rev id: nope"),
        (["download", "org/tiny", "nothing.bin"], {}, 7, "EntryNotFound"),
        (["download", "org/tiny", "config.json"], {"HF_HUB_OFFLINE": "1"}, 8, "HF_HUB_OFFLINE"),
        (["download", "org/tiny", "config.json", "--local-files-only"], {}, 8, "local_files_only"),
        (["info", "org/missing"], {}, 4, "Repository not found"),
        (["info", "org/tiny", "--revision", "nope"], {}, 6, "nope"),
    ]
    for args, env, want, needle in cases:
        rc, out, err = e.run(args, c, env)
        check(rc == want and needle in err and len(err.strip().splitlines()) == 1,
              "%s %s -> exit %d with %r (got %d: %s)" % (" ".join(args), env, want, needle, rc, err.strip()))
    # unreachable endpoint and nothing cached
    rc, out, err = e.run(["download", "org/tiny", "config.json"], c, endpoint="http://127.0.0.1:9")
    check(rc == 8 and "cannot reach" in err, "unreachable Hub, nothing cached -> exit 8 (%d: %s)" % (rc, err.strip()))
    # EntryNotFound leaves the .no_exist marker and the ref
    marker = os.path.join(c, "models--org--tiny", ".no_exist", e.commit, "nothing.bin")
    check(os.path.isfile(marker) and os.path.getsize(marker) == 0, ".no_exist/<commit>/nothing.bin marker")
    # weights by the priority of local loading: pytorch_model.bin after the
    # safetensors names (both recorded in .no_exist), TF only with --from-tf
    e.store.create_repo("org/ptonly")
    pt = e.store.commit("org/ptonly", "main", {"config.json": e.files["config.json"],
                                               "pytorch_model.bin": (b"PK-not-really", True)}, "pt")
    rc, out, err = e.run(["download", "org/ptonly"], c)
    ne = os.path.join(c, "models--org--ptonly", ".no_exist", pt)
    check(rc == 0 and os.path.islink(os.path.join(out.strip(), "pytorch_model.bin")) and
          sorted(os.listdir(ne)) == ["generation_config.json", "model.safetensors", "model.safetensors.index.json",
                                     "special_tokens_map.json", "tokenizer_config.json"],
          "pytorch_model.bin picked after the safetensors names, which are in .no_exist with the absent "
          "optional files (%s)" % err.strip())
    e.store.create_repo("org/tfonly")
    e.store.commit("org/tfonly", "main", {"config.json": e.files["config.json"],
                                          "tf_model.h5": (b"\x89HDF-not-really", True)}, "tf")
    rc, out, err = e.run(["download", "org/tfonly"], c)
    check(rc == 7 and "--from-tf" in err, "a TF-only repo says to use --from-tf (%d %s)" % (rc, err.strip()))
    rc, out, err = e.run(["download", "org/tfonly", "--from-tf"], c)
    check(rc == 0 and os.path.islink(os.path.join(out.strip(), "tf_model.h5")), "--from-tf fetches tf_model.h5")
    # a path that is not a repo id keeps the local "not found"
    rc, out, err = e.run(["info", "./no/such/dir"], c)
    check(rc == 1 and "no such file or folder" in err, "a missing local path is still 'not found'")


def case_python_cache(e):
    """A cache written the way huggingface_hub writes it, for a repo the
    server does not have: ptm must find it offline."""
    c = e.cache("c_pycache")
    files, nparams = tiny_gpt2(seed=3)
    commit = hashlib.sha1(b"python-made").hexdigest()
    folder = os.path.join(c, "models--someone--pymodel")
    for path, (data, lfs) in files.items():
        etag = sha256(data) if lfs else git_sha1(data)
        os.makedirs(os.path.join(folder, "blobs"), exist_ok=True)
        with open(os.path.join(folder, "blobs", etag), "wb") as fh:
            fh.write(data)
        ptr = os.path.join(folder, "snapshots", commit, path)
        os.makedirs(os.path.dirname(ptr), exist_ok=True)
        os.symlink(os.path.relpath(os.path.join(folder, "blobs", etag), os.path.dirname(ptr)), ptr)
    os.makedirs(os.path.join(folder, "refs"), exist_ok=True)
    with open(os.path.join(folder, "refs", "main"), "w") as fh:
        fh.write(commit)
    rc, out, err = e.run(["info", "someone/pymodel", "--json"], c, {"HF_HUB_OFFLINE": "1"})
    check(rc == 0 and json.loads(out).get("num_parameters") == nparams,
          "a huggingface_hub-made cache is loaded offline (%d %s)" % (rc, err.strip()))
    # a commit id revision: no network even when online (endpoint unreachable)
    rc, out, err = e.run(["download", "someone/pymodel", "--revision", commit], c, endpoint="http://127.0.0.1:9")
    check(rc == 0 and out.strip() == os.path.join(folder, "snapshots", commit),
          "a full commit id is served from the cache with no network (%d %s)" % (rc, err.strip()))
    # online but the Hub does not answer: falls back to refs/main
    rc, out, err = e.run(["download", "someone/pymodel", "config.json"], c, endpoint="http://127.0.0.1:9")
    check(rc == 0, "connection failure falls back to the cached file")
    # plain files (no-symlink caches) are accepted too
    cfg = os.path.join(folder, "snapshots", commit, "config.json")
    data = open(cfg, "rb").read()
    os.unlink(cfg)
    with open(cfg, "wb") as fh:
        fh.write(data)
    rc, out, err = e.run(["info", "someone/pymodel"], c, {"HF_HUB_OFFLINE": "1"})
    check(rc == 0, "a regular file in snapshots/ is accepted")


def case_resume(e):
    c = e.cache("c_resume")
    name = "model-00002-of-00002.safetensors"
    data = e.files[name][0]
    e.faults(drop_once={"path": name, "after": 1000})
    e.clear_log()
    rc, out, err = e.run(["download", "org/tiny", name], c)
    blob = os.path.join(c, "models--org--tiny", "blobs", sha256(data))
    check(rc == 0 and open(blob, "rb").read() == data, "dropped connection: resumed, blob correct (%s)" % err.strip())
    ranges = [r.get("range") for r in e.log() if r.get("port") == "cdn"]
    check("bytes=1000-" in ranges, "the second GET asked for bytes=1000- (%s)" % ranges)
    # a server that ignores Range: the download starts over
    c = e.cache("c_resume2")
    e.faults(drop_once={"path": name, "after": 500}, ignore_range={"path": name})
    rc, out, err = e.run(["download", "org/tiny", name], c)
    blob = os.path.join(c, "models--org--tiny", "blobs", sha256(data))
    check(rc == 0 and open(blob, "rb").read() == data, "Range ignored (200): restarted, blob correct")
    # an .incomplete left by an earlier run is resumed
    c = e.cache("c_resume3")
    os.makedirs(os.path.join(c, "models--org--tiny", "blobs"))
    with open(blob.replace(os.path.join(WORK, "c_resume2"), c) + ".incomplete", "wb") as fh:
        fh.write(data[:777])
    e.faults()
    e.clear_log()
    rc, out, err = e.run(["download", "org/tiny", name], c)
    ranges = [r.get("range") for r in e.log() if r.get("port") == "cdn"]
    check(rc == 0 and ranges == ["bytes=777-"] and
          open(os.path.join(c, "models--org--tiny", "blobs", sha256(data)), "rb").read() == data,
          "a partial .incomplete from an earlier run is resumed (%s)" % ranges)
    # 500 twice, then OK
    c = e.cache("c_500")
    e.faults(fail={"path": "config.json", "status": 500, "count": 2})
    rc, out, err = e.run(["download", "org/tiny", "config.json"], c)
    check(rc == 0, "HTTP 500 twice then OK: retried (%s)" % err.strip())


def case_corrupt(e):
    for fault, name, needle in (("wrong_size", "model-00001-of-00002.safetensors", "announced"),
                                ("wrong_sha", "model-00001-of-00002.safetensors", "sha256"),
                                ("wrong_size", "config.json", "announced"),
                                ("wrong_sha", "config.json", "git sha1")):
        c = e.cache("c_corrupt")
        e.faults(**{fault: {"path": name}})
        rc, out, err = e.run(["download", "org/tiny", name], c)
        blobs = os.path.join(c, "models--org--tiny", "blobs")
        snaps = os.path.join(c, "models--org--tiny", "snapshots")
        left = (os.listdir(blobs) if os.path.isdir(blobs) else []) + \
               [f for r, d, fs in os.walk(snaps) for f in fs]
        check(rc == 3 and needle in err and "nothing was cached" in err and not left,
              "%s on %s refused, nothing in blobs/ or snapshots/ (rc %d, left %s, %s)" % (fault, name, rc, left,
                                                                                       err.strip()))


def case_timeout(e):
    c = e.cache("c_timeout")
    e.faults(slow={"path": "config.json", "seconds": 4})
    rc, out, err = e.run(["download", "org/tiny", "config.json"], c,
                         {"HF_HUB_ETAG_TIMEOUT": "1", "PTM_HUB_MAX_RETRIES": "0"})
    check(rc == 3 and ("imeout" in err or "timed out" in err), "a slow answer times out -> exit 3 (%d %s)"
          % (rc, err.strip()))
    # a download that stalls: HF_HUB_DOWNLOAD_TIMEOUT, partial file kept for the next run
    name = "model-00001-of-00002.safetensors"
    e.faults(slow={"path": "/cdn/" + sha256(e.files[name][0]), "seconds": 4})
    rc, out, err = e.run(["download", "org/tiny", name], c,
                         {"HF_HUB_DOWNLOAD_TIMEOUT": "1", "PTM_HUB_MAX_RETRIES": "0"})
    blob = os.path.join(c, "models--org--tiny", "blobs", sha256(e.files[name][0]))
    check(rc == 3 and not os.path.exists(blob) and not os.path.exists(os.path.join(c, "models--org--tiny", "snapshots")),
          "a stalled download times out -> exit 3, nothing cached (%d %s)" % (rc, err.strip()))
    e.faults()
    rc, out, err = e.run(["download", "org/tiny", name], c)
    check(rc == 0 and open(blob, "rb").read() == e.files[name][0], "the next run completes it")


def case_concurrent(e):
    c = e.cache("c_conc")
    name = "model-00001-of-00002.safetensors"
    e.faults(slow={"path": "/cdn/" + sha256(e.files[name][0]), "seconds": 1})
    e.clear_log()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({"HF_HUB_CACHE": c, "HF_ENDPOINT": e.srv.endpoint, "no_proxy": "*",
                "HF_HOME": os.path.join(WORK, "hf_home_empty")})
    procs = [subprocess.Popen([PTM, "download", "org/tiny"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for _ in range(2)]
    res = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    check(all(r[2] == 0 for r in res) and res[0][0] == res[1][0], "two concurrent downloads both succeed")
    want = expected_tree("models--org--tiny", e.commit, e.files)
    for absent in ("model.safetensors", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json"):
        want["models--org--tiny/.no_exist/%s/%s" % (e.commit, absent)] = ("file", b"")
    got = actual_tree(c, "models--org--tiny")
    check(got == want, "one correct blob per file, no leftovers (%s)" % sorted(set(got) ^ set(want)))
    gets = [r for r in e.log() if r.get("port") == "cdn" and r.get("method") == "GET"]
    check(len(gets) == 2, "each LFS blob was fetched once (%d CDN GETs)" % len(gets))
    e.faults()


def case_revisions(e):
    c = e.cache("c_rev")
    old = e.store.repos["org/tiny"].branches["main"]
    e.store.tag("org/tiny", "v1", "main")
    e.store.commit("org/tiny", "dev", {"config.json": (b'{"dev": true}', False)}, "dev", base=old)
    rc, out, err = e.run(["download", "org/tiny", "config.json", "--revision", "v1"], c)
    ref = os.path.join(c, "models--org--tiny", "refs", "v1")
    check(rc == 0 and open(ref, "rb").read() == old.encode(), "tag v1 -> refs/v1 holds the bare commit")
    rc, out, err = e.run(["download", "org/tiny", "config.json", "--revision", "dev"], c)
    check(rc == 0 and open(out.strip(), "rb").read() == b'{"dev": true}', "branch dev has its own config")
    rc, out, err = e.run(["download", "org/tiny", "config.json", "--revision", old], c)
    check(rc == 0 and not os.path.exists(os.path.join(c, "models--org--tiny", "refs", old)),
          "a commit id revision writes no ref")
    # refs/pr/1 style names: escaped in the URL, nested under refs/
    e.store.repos["org/tiny"].branches["refs/pr/1"] = old
    rc, out, err = e.run(["download", "org/tiny", "config.json", "--revision", "refs/pr/1"], c)
    check(rc == 0 and os.path.isfile(os.path.join(c, "models--org--tiny", "refs", "refs", "pr", "1")),
          "revision refs/pr/1 -> refs/refs/pr/1 (%s)" % err.strip())
    # renamed repo: 307 with a relative Location, cached under the asked name
    e.store.renamed["org/oldname"] = "org/tiny"
    rc, out, err = e.run(["download", "org/oldname", "config.json"], c)
    check(rc == 0 and "/models--org--oldname/snapshots/" in out, "renamed repo followed (relative 307)")


def case_generate(e):
    """The bundled model served as a repo: `ptm generate REPO --prompt` finds
    the tokenizer files the load fetched into the snapshot, and continues the
    prompt as the training script's PyTorch run did (expected_greedy.json)."""
    bundled = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "models", "gpt2-kjv")
    names = ["config.json", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json",
             "model.safetensors"]
    files = {}
    for n in names:
        with open(os.path.join(bundled, n), "rb") as fh:
            files[n] = (fh.read(), n.endswith(".safetensors"))
    e.store.create_repo("kjv/gpt2-kjv")
    e.store.commit("kjv/gpt2-kjv", "main", files, "bundled model")
    with open(os.path.join(bundled, "expected_greedy.json")) as fh:
        exp = json.load(fh)
    c = e.cache("c_generate")
    args = ["generate", "kjv/gpt2-kjv", "--prompt", exp["prompt"], "--max-new-tokens", str(len(exp["greedy_ids"])),
            "--greedy", "--no-progress"]
    rc, out, err = e.run(args, c)
    check(rc == 0 and out.startswith(exp["prompt"] + exp["greedy_text"]),
          "generate REPO --prompt continues as PyTorch did (rc %d, %r, %s)" % (rc, out[:80], err.strip()[-200:]))
    rc, out, err = e.run(args, c, {"HF_HUB_OFFLINE": "1"})
    check(rc == 0 and out.startswith(exp["prompt"] + exp["greedy_text"]), "and again offline from the cache")
    # the repo's generation_config.json was fetched and is the one the load used
    rc, out, err = e.run(["info", "kjv/gpt2-kjv", "--json", "--no-progress"], c, {"HF_HUB_OFFLINE": "1"})
    info = json.loads(out) if rc == 0 else {}
    gfile = info.get("generation_config_file") or ""
    check(rc == 0 and "/models--kjv--gpt2-kjv/snapshots/" in gfile and gfile.endswith("/generation_config.json")
          and open(gfile, "rb").read() == files["generation_config.json"][0]
          and info.get("generation_config") == json.loads(files["generation_config.json"][0]),
          "info REPO: the generation config is the repo's file from the snapshot (%s, %s)" % (gfile, err[-200:]))


def model_tree_ok(e, c):
    """The cache tree of a full `ptm download org/tiny` (as case_download)."""
    want = expected_tree("models--org--tiny", e.commit, e.files)
    for absent in ("model.safetensors", "generation_config.json", "tokenizer_config.json", "special_tokens_map.json"):
        want["models--org--tiny/.no_exist/%s/%s" % (e.commit, absent)] = ("file", b"")
    return actual_tree(c, "models--org--tiny") == want


def case_proxy(e):
    """A forward proxy (tests/hub/proxy.py) between ptm and both ports."""
    px = hubproxy.Proxy().start()
    hub_host, cdn_host = "127.0.0.1:%d" % e.srv.hub_port, "127.0.0.1:%d" % e.srv.cdn_port
    shard_gets = sorted("GET http://%s/cdn/%s?" % (cdn_host, sha256(e.files[n][0]))
                        for n in e.files if n.endswith(".safetensors"))
    no_env_proxy = {"no_proxy": None, "NO_PROXY": None}
    try:
        for label, args, env in (
                ("--proxy", ["--proxy", px.url], no_env_proxy),
                ("--proxy with no_proxy=* in the environment", ["--proxy", px.url], {}),
                ("http_proxy", [], dict(no_env_proxy, http_proxy=px.url))):
            c = e.cache("c_proxy")
            px.clear()
            e.clear_log()
            rc, out, err = e.run(["download", "org/tiny", "--no-progress"] + args, c, dict(env, HF_TOKEN=TOKEN))
            check(rc == 0 and model_tree_ok(e, c), "%s: download through the proxy is correct (rc %d %s)"
                  % (label, rc, err.strip()))
            got = px.entries()
            lines = [g["line"] for g in got]
            check("HEAD http://%s/org/tiny/resolve/main/config.json HTTP/1.1" % hub_host in lines,
                  "%s: the proxy got the Hub HEAD as an absolute URI (%s)" % (label, lines[:2]))
            cdn = sorted(ln for ln in lines if ln.startswith("GET http://%s/cdn/" % cdn_host))
            check(len(cdn) == 2 and all(c_.startswith(w) for c_, w in zip(cdn, shard_gets)),
                  "%s: the proxy got both CDN GETs (%s)" % (label, cdn))
            served = [r for r in e.log() if "method" in r]
            check(len(served) == len(got) and {g["host"] for g in got} == {hub_host, cdn_host},
                  "%s: every request the servers saw came through the proxy (%d served, %d proxied)"
                  % (label, len(served), len(got)))
            check(all(g["auth"] for g in got if g["host"] == hub_host) and
                  not any(g["auth"] for g in got if g["host"] == cdn_host) and
                  not any("violation" in r for r in e.log()),
                  "%s: Authorization on every Hub request, never on the CDN URL" % label)
            check(TOKEN not in out + err, "%s: the token is not printed" % label)
        for var in ("NO_PROXY", "no_proxy"):
            c = e.cache("c_proxy")
            px.clear()
            env = dict(no_env_proxy, http_proxy=px.url)
            env[var] = "localhost,127.0.0.1"
            rc, out, err = e.run(["download", "org/tiny", "--no-progress"], c, env)
            check(rc == 0 and model_tree_ok(e, c) and not px.entries(),
                  "http_proxy with %s=localhost,127.0.0.1: the proxy is bypassed (rc %d, %d proxied)"
                  % (var, rc, len(px.entries())))
    finally:
        px.stop()


def case_progress(e):
    """The progress bar on a terminal (a pty as stderr), and its absence."""
    data = np.random.default_rng(7).integers(0, 256, 192 * 1024, dtype=np.uint8).tobytes()
    e.store.create_repo("org/big")
    e.store.commit("org/big", "main", {"big.bin": (data, True)}, "big")
    e.faults(throttle={"path": "big.bin", "chunk": 8192, "delay": 0.04})
    blob = ("models--org--big", "blobs", sha256(data))
    size_text = "%.1f kB" % (len(data) / 1000.0)   # the final size, as the bar prints it
    c = e.cache("c_progress")
    rc, out, tty = e.run_pty(["download", "org/big", "big.bin"], c, {"HF_TOKEN": TOKEN})
    check(rc == 0 and open(os.path.join(c, *blob), "rb").read() == data, "download under a pty is correct (%d)" % rc)
    frames = [f for f in tty.split("\r") if "big.bin" in f]
    check(len(frames) >= 3, "the bar is redrawn with carriage returns (%d frames)" % len(frames))
    last = frames[-1] if frames else ""
    check("100%" in last and size_text in last and re.search(r"\d B/s|\d(\.\d)? [kMG]B/s", last) and "ETA" in last,
          "the final frame shows the name, 100%%, %s, a rate and the ETA field (%r)" % (size_text, last))
    check(any(re.search(r"\s\d{1,2}%", f) for f in frames[:-1]), "earlier frames show a partial percentage")
    check(TOKEN not in tty and TOKEN not in out, "the token is not on the terminal")
    check(not any(ch in out for ch in "\r\033"), "stdout (a pipe) has no bar")
    c = e.cache("c_progress")
    rc, out, err = e.run(["download", "org/big", "big.bin"], c)
    check(rc == 0 and "\r" not in err and "big.bin" not in err and "ETA" not in err,
          "stderr not a terminal: no bar (%r)" % err[:120])
    for label, args, env in (("HF_HUB_DISABLE_PROGRESS_BARS=1", [], {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}),
                             ("--no-progress", ["--no-progress"], {})):
        c = e.cache("c_progress")
        rc, out, tty = e.run_pty(["download", "org/big", "big.bin"] + args, c, env)
        check(rc == 0 and "\r" not in tty and "ETA" not in tty and "big.bin" not in tty,
              "%s: no bar on a terminal (%r)" % (label, tty[:120]))
    e.faults()


def case_ratelimit(e):
    """429 with Retry-After (Hub HEAD) and with RateLimit (CDN GET): the
    retry comes no sooner than the server asked (the suite's short
    PTM_HUB_RETRY_BASE_MS must not shorten it)."""
    c = e.cache("c_429")
    e.faults(fail={"path": "config.json", "status": 429, "count": 1, "headers": {"Retry-After": "1"}})
    e.clear_log()
    rc, out, err = e.run(["download", "org/tiny", "config.json"], c)
    check(rc == 0 and open(out.strip(), "rb").read() == e.files["config.json"][0],
          "429 + Retry-After: 1 on the metadata HEAD, then the file (rc %d %s)" % (rc, err.strip()))
    heads = [r for r in e.log() if r.get("method") == "HEAD" and r["path"].endswith("/resolve/main/config.json")]
    gap = heads[1]["t"] - heads[0]["t"] if len(heads) >= 2 else -1
    check(gap >= 1.0, "the HEAD was retried after >= 1 s (%.3f s, %d HEADs)" % (gap, len(heads)))
    name = "model-00001-of-00002.safetensors"
    cdn_path = "/cdn/" + sha256(e.files[name][0])
    e.faults(fail={"path": cdn_path, "status": 429, "count": 1,
                   "headers": {"RateLimit": '"api";r=0;t=1', "RateLimit-Policy": '"fixed window";"api";q=100;w=300'}})
    e.clear_log()
    rc, out, err = e.run(["download", "org/tiny", name], c)
    check(rc == 0 and open(os.path.join(c, "models--org--tiny", "blobs", sha256(e.files[name][0])), "rb").read()
          == e.files[name][0], "429 + RateLimit r=0;t=1 on the CDN GET, then the file (rc %d %s)" % (rc, err.strip()))
    gets = [r for r in e.log() if r.get("port") == "cdn" and r.get("method") == "GET"]
    gap = gets[1]["t"] - gets[0]["t"] if len(gets) >= 2 else -1
    check(gap >= 1.0, "the CDN GET was retried after >= 1 s (%.3f s, %d GETs)" % (gap, len(gets)))
    e.faults()


def case_run_convert(e):
    """`ptm run REPO_ID` prints what `ptm run FOLDER` prints for the folder the
    repo was made from; `ptm convert REPO_ID OUT` writes a folder the
    independent reader (tests/reference/safetensors_ref.py) reads back to the
    tensors of the repo's shards."""
    local = os.path.join(WORK, "local_tiny")
    shutil.rmtree(local, ignore_errors=True)
    os.makedirs(local)
    for n, (data, _) in e.files.items():
        with open(os.path.join(local, n), "wb") as fh:
            fh.write(data)
    c = e.cache("c_runconv")
    o1, o2 = os.path.join(WORK, "run_repo.safetensors"), os.path.join(WORK, "run_local.safetensors")
    rc1, out1, err1 = e.run(["run", "org/tiny", "--ids", "1,5,2,36", "--output", o1, "--no-progress"], c)
    rc2, out2, err2 = e.run(["run", local, "--ids", "1,5,2,36", "--output", o2], c)
    check(rc1 == 0 and rc2 == 0 and out1 and out1 == out2,
          "ptm run REPO_ID prints what ptm run FOLDER prints (%d %d %r %r %s)" % (rc1, rc2, out1[:200], out2[:200],
                                                                             err1.strip()))
    h1 = st_tensors(open(o1, "rb").read()) if rc1 == 0 else {}
    h2 = st_tensors(open(o2, "rb").read()) if rc2 == 0 else {}
    check(list(h1) == ["last_hidden_state"] and h1["last_hidden_state"].shape == (1, 4, 8) and
          np.array_equal(h1["last_hidden_state"], h2.get("last_hidden_state")),
          "run --output: the same last_hidden_state [1, 4, 8] from the repo and from the folder")
    out_dir = os.path.join(WORK, "converted")
    shutil.rmtree(out_dir, ignore_errors=True)
    rc, out, err = e.run(["convert", "org/tiny", out_dir, "--no-progress"], c)
    check(rc == 0, "ptm convert REPO_ID OUT (rc %d %s)" % (rc, err.strip()))
    want = {}
    for n, (data, _) in e.files.items():
        if n.endswith(".safetensors"):
            want.update(st_tensors(data))
    got = {}
    for n in sorted(os.listdir(out_dir)) if rc == 0 else []:
        if n.endswith(".safetensors"):
            with open(os.path.join(out_dir, n), "rb") as fh:
                got.update(st_tensors(fh.read()))
    check(got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in want),
          "the converted safetensors read back to the repo's tensors (%d of %d)" % (len(got), len(want)))
    cfg = json.load(open(os.path.join(out_dir, "config.json"))) if rc == 0 else {}
    check(cfg.get("model_type") == "gpt2" and cfg.get("n_embd") == 8, "the converted config.json is the repo's model")


def st_tensors(blob):
    """{name: array} by the independent reader of tests/reference."""
    n, hb, pairs, data = safetensors_ref.parse_file(blob)
    out = {}
    for k, v in pairs:
        if k == "__metadata__":
            continue
        v = dict(v)
        b, end = v["data_offsets"]
        out[k] = np.frombuffer(data[b:end], dtype=safetensors_ref.NP[v["dtype"]]).reshape(v["shape"])
    return out


def case_http(e):
    """The C request helper (test_hub_http, passed as the binary) against
    the server's /_echo and /_redirect routes."""
    p = subprocess.run([PTM, e.srv.endpoint, e.srv.cdn], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120, env=dict(os.environ, no_proxy="*", NO_PROXY="*"))
    sys.stdout.write(p.stdout.decode())
    check(p.returncode == 0, "test_hub_http against the loopback server")


CASES = {"http": case_http, "download": case_download, "auth": case_auth, "errors": case_errors, "python_cache": case_python_cache,
         "resume": case_resume, "corrupt": case_corrupt, "timeout": case_timeout, "concurrent": case_concurrent,
         "revisions": case_revisions, "generate": case_generate, "proxy": case_proxy, "progress": case_progress,
         "ratelimit": case_ratelimit, "run_convert": case_run_convert}


def main():
    os.makedirs(WORK, exist_ok=True)
    e = Env()
    try:
        CASES[CASE](e)
    finally:
        e.srv.stop()
    print("%d failed" % len(FAILS))
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
