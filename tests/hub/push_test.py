#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""`ptm push` end to end against the loopback Hub (server.py + upload.py).

  push_test.py PTM MODEL_DIR OUTDIR

What was pushed is read back from the server (the resolve URLs, and `ptm
download` into a fresh cache when the build has that command) and compared
byte for byte with a local `ptm convert` (save_pretrained) of the same
model; README.md against cards written out by hand; the server's record of
every request shows where the token went."""
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request

PTM, MODEL, OUT = sys.argv[1:4]
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import server as hub  # noqa: E402

TOKEN, OTHER = "hf_alice_secret_0123456789", "hf_bob_secret_9876543210"
failures = 0


def check(cond, what):
    global failures
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures += 1


def last(err):
    return err.splitlines()[-1] if err else ""


def ptm(*args, token=TOKEN, env_extra=None):
    env = dict(os.environ)
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT", "HF_HUB_OFFLINE"):
        env.pop(k, None)
    env["HF_HOME"] = os.path.join(OUT, "hf_home")       # no token file there
    env["HF_ENDPOINT"] = SRV.endpoint
    env["TMPDIR"] = TMP
    env["PTM_LOG_LEVEL"] = "debug"
    if token:
        env["HF_TOKEN"] = token
    env.update(env_extra or {})
    r = subprocess.run([PTM, *args], capture_output=True, text=True, env=env)
    secret_seen = TOKEN in r.stdout + r.stderr or OTHER in r.stdout + r.stderr
    check(not secret_seen, "token absent from the output of ptm %s" % " ".join(args[:3]))
    sanitizer = any(w in r.stderr for w in ("AddressSanitizer", "LeakSanitizer", "runtime error:"))
    check(not sanitizer, "no sanitizer report from ptm %s" % " ".join(args[:3]))
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def fetch(repo, path, rev="main", token=None):
    req = urllib.request.Request("%s/%s/resolve/%s/%s" % (SRV.endpoint, repo, urllib.request.quote(rev, safe=""),
                                                          path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req) as r:
            return r.read()
    except urllib.error.HTTPError as e:
        return e.code


def state():
    with urllib.request.urlopen(SRV.endpoint + "/_upload/state") as r:
        return json.load(r)


def config(**kw):
    req = urllib.request.Request(SRV.endpoint + "/_upload/config", data=json.dumps(kw).encode(), method="POST")
    urllib.request.urlopen(req).read()


def local_save(name, *args):
    d = os.path.join(OUT, "local_" + name)
    rc, _, err = ptm("convert", MODEL, d, *args, token=None)
    check(rc == 0, "local save_pretrained %s %s" % (name, err))
    return d


def same_as_local(repo, local, rev="main", token=None):
    names = sorted(f for f in os.listdir(local))
    for n in names:
        got = fetch(repo, n, rev, token)
        want = open(os.path.join(local, n), "rb").read()
        check(got == want, "%s@%s: %s is byte-identical to the local save (%d bytes)" % (repo, rev, n, len(want)))
    return names


def tmp_empty():
    check(os.listdir(TMP) == [], "temporary folder removed (TMPDIR empty: %s)" % os.listdir(TMP))


CARD_BODY = ("\n# {name}\n\nA transformers model (config.json and weights) uploaded with ptm. This card was written "
             "automatically: add what the model is, how it was trained and what it is for.\n")


def main():
    global SRV, TMP
    shutil.rmtree(OUT, ignore_errors=True)
    os.makedirs(OUT)
    TMP = os.path.join(OUT, "tmp")
    os.makedirs(TMP)
    SRV = hub.Server()
    SRV.store.tokens.update({TOKEN: "alice", OTHER: "bob"})
    SRV.start()
    has_download = b"download" in subprocess.run([PTM, "--help"], capture_output=True).stdout
    try:
        run_all(has_download)
    finally:
        SRV.stop()
    v = state_violations = SRV.upload.violations
    check(not state_violations, "no request broke the storage rules: %s" % v)
    check(all(not r["auth"] for r in SRV.upload.requests) and SRV.upload.requests,
          "no storage request carried Authorization (%d requests)" % len(SRV.upload.requests))
    print("%d failure(s)" % failures)
    sys.exit(1 if failures else 0)


def run_all(has_download):
    # 1. the bundled model, basic LFS upload
    local = local_save("st")
    rc, out, err = ptm("push", MODEL, "alice/kjv", "--tag", "ptm", "--tag", "text-generation")
    check(rc == 0, "push alice/kjv: " + last(err))
    commits = state()["commits"]
    check(commits and out == "%s/alice/kjv/commit/%s" % (SRV.endpoint, commits[-1]["sha"]),
          "push prints the commit URL: " + out)
    same_as_local("alice/kjv", local)
    card = "---\nlibrary_name: transformers\ntags:\n- ptm\n- text-generation\n---\n" + CARD_BODY.format(name="kjv")
    check(fetch("alice/kjv", "README.md") == card.encode(), "README.md: new card with the tags")
    hdr = commits[-1]["lines"][0]
    check(hdr == {"key": "header", "value": {"summary": "Upload model", "description": ""}}, "commit header %s" % hdr)
    kinds = {ln["value"]["path"]: ln["key"] for ln in commits[-1]["lines"][1:]}
    check(kinds == {"README.md": "file", "config.json": "file", "generation_config.json": "file",
                    "model.safetensors": "lfsFile"},
          "regular vs LFS as the server decided: %s" % kinds)
    check(SRV.upload.verified, "verify action used")
    tmp_empty()
    if has_download:
        cache = os.path.join(OUT, "cache")
        rc, _, err = ptm("download", "alice/kjv", "--cache-dir", cache)
        check(rc == 0, "ptm download alice/kjv " + err[-200:])
        snap = os.path.join(cache, "models--alice--kjv", "snapshots", commits[-1]["sha"])
        for n in os.listdir(local):
            p = os.path.join(snap, n)
            check(os.path.exists(p) and open(p, "rb").read() == open(os.path.join(local, n), "rb").read(),
                  "ptm download: %s identical to the local save" % n)

        # MODEL may itself be a repo id: downloaded, then pushed elsewhere
        rc, out, err = ptm("push", "alice/kjv", "alice/kjv-copy", "--cache-dir", os.path.join(OUT, "cache2"))
        check(rc == 0, "push from a repo id: " + last(err))
        same_as_local("alice/kjv-copy", local)

    # 2. the existing repo again: fine; tags merged into the card; the LFS
    # object is already stored, so nothing goes to storage
    nstore = len(SRV.upload.requests)
    rc, out, err = ptm("push", MODEL, "alice/kjv", "--tag", "bible", "--tag", "ptm", "--commit-message", "Again",
                       "--commit-description", "second push")
    check(rc == 0, "push to an existing repo: " + last(err))
    card2 = ("---\nlibrary_name: transformers\ntags:\n- ptm\n- text-generation\n- bible\n---\n"
             + CARD_BODY.format(name="kjv"))
    check(fetch("alice/kjv", "README.md") == card2.encode(), "README.md: tags merged, text kept")
    check(len(SRV.upload.requests) == nstore, "already-stored LFS object not uploaded again")
    last_commit = state()["commits"][-1]
    hdr = last_commit["lines"][0]["value"]
    check(hdr == {"summary": "Again", "description": "second push"}, "commit message/description %s" % hdr)
    paths = [ln["value"]["path"] for ln in last_commit["lines"][1:]]
    check(paths == ["README.md"], "unchanged files (same oid in preupload) left out of the commit: %s" % paths)
    # nothing changed at all: no commit, the current commit's URL
    n = len(state()["commits"])
    rc, out, err = ptm("push", MODEL, "alice/kjv", "--tag", "bible")
    head = SRV.store.repos["alice/kjv"].branches["main"]
    check(rc == 0 and len(state()["commits"]) == n and out == "%s/alice/kjv/commit/%s" % (SRV.endpoint, head)
          and "no files have been modified" in err, "identical push: no commit, current URL: " + out)

    # 3. sharded push with multipart LFS (small threshold and chunk size)
    config(multipart_threshold=200000, chunk_size=300000)
    local_sh = local_save("sharded", "--max-shard-size", "1MB")
    rc, out, err = ptm("push", MODEL, "alice/kjv-sharded", "--max-shard-size", "1MB")
    check(rc == 0, "sharded push: " + last(err))
    names = same_as_local("alice/kjv-sharded", local_sh)
    check("model.safetensors.index.json" in names and len([n for n in names if n.startswith("model-")]) >= 3,
          "sharded: %s" % names)
    parts = [r for r in SRV.upload.requests if "/part/" in r["path"]]
    done = [r for r in SRV.upload.requests if r["path"].endswith("/complete")]
    check(len(parts) >= 8 and len(done) >= 3, "multipart: %d part PUTs, %d completions" % (len(parts), len(done)))
    config(multipart_threshold=8 << 20, chunk_size=5 << 20)
    if has_download:
        rc, out, err = ptm("info", "alice/kjv-sharded", "--cache-dir", os.path.join(OUT, "cache3"))
        check(rc == 0 and "GPT2LMHeadModel" in out, "ptm info loads the pushed shards from the Hub " + last(err))

    # huggingface.co hrefs in the batch answer go to the configured endpoint
    config(hf_hrefs=True)
    nver = len(SRV.upload.verified)
    rc, out, err = ptm("push", MODEL, "alice/kjv-mirror", "--max-shard-size", "2MB")
    check(rc == 0 and len(SRV.upload.verified) > nver, "huggingface.co verify href rewritten to the endpoint "
          + last(err))
    config(hf_hrefs=False)

    # 4. pytorch format
    local_pt = local_save("pt", "--format", "pytorch")
    rc, out, err = ptm("push", MODEL, "alice/kjv-pt", "--format", "pytorch")
    check(rc == 0, "pytorch push: " + last(err))
    same_as_local("alice/kjv-pt", local_pt)

    # 5. an existing card (CRLF, other metadata, own text) gets the tag
    SRV.store.create_repo("alice/carded", owner="alice")
    SRV.store.commit("alice/carded", "main", {"README.md": (b"---\r\nlicense: mit\r\ntags:\r\n- nlp\r\n---\r\n\r\n"
                                                            b"# Mine\r\n\r\nKeep me.\r\n", False)}, "card")
    rc, out, err = ptm("push", MODEL, "alice/carded", "--tag", "ptm")
    check(rc == 0, "push to a repo with a card: " + last(err))
    check(fetch("alice/carded", "README.md") ==
          b"---\r\nlicense: mit\r\ntags:\r\n- nlp\r\n- ptm\r\n---\r\n\r\n# Mine\r\n\r\nKeep me.\r\n",
          "existing card: tag added, CRLF and text kept")

    # 6. create_pr: a PR URL, main untouched, refs/pr/1 has the files
    main_before = SRV.store.repos["alice/kjv"].branches["main"]
    rc, out, err = ptm("push", MODEL, "alice/kjv", "--create-pr", "--tag", "pr-tag")
    check(rc == 0 and out == SRV.endpoint + "/alice/kjv/discussions/1", "create_pr prints the PR URL: " + out + err)
    check(SRV.store.repos["alice/kjv"].branches["main"] == main_before, "create_pr leaves main alone")
    check(isinstance(fetch("alice/kjv", "README.md", "refs/pr/1"), bytes) and
          b"- pr-tag" in fetch("alice/kjv", "README.md", "refs/pr/1"), "the PR holds the new card")
    c = state()["commits"][-1]
    check(c["create_pr"], "commit sent with create_pr=1")

    # 7. a branch
    rc, out, err = ptm("push", MODEL, "alice/kjv", "--revision", "dev")
    check(rc == 0 and "dev" in SRV.store.repos["alice/kjv"].branches, "push --revision dev creates the branch " + err)
    same_as_local("alice/kjv", local, rev="dev")

    # 8. private repo: anonymous reads are refused, the owner's are not
    rc, out, err = ptm("push", MODEL, "alice/secret", "--private")
    check(rc == 0 and SRV.store.repos["alice/secret"].private, "--private creates a private repo " + err)
    check(fetch("alice/secret", "config.json") == 401, "private: anonymous read refused")
    check(isinstance(fetch("alice/secret", "config.json", token=TOKEN), bytes), "private: owner can read")

    # a bare name goes to the token's namespace, as the server's URL says
    rc, out, err = ptm("push", MODEL, "kjv-bare")
    check(rc == 0 and out.startswith(SRV.endpoint + "/alice/kjv-bare/commit/"), "bare repo name -> alice/: " + out)
    same_as_local("alice/kjv-bare", local)

    # 9. errors: bad token, no token, someone else's namespace; the temp
    # folder goes in every case and nothing is committed
    ncommits = len(state()["commits"])
    rc, out, err = ptm("push", MODEL, "alice/kjv", token="hf_wrong_token_zzz")
    check(rc == 5 and "401" in err and "token" in err and "hf_wrong_token_zzz" not in err,
          "bad token: auth error (exit 5): " + last(err))
    rc, out, err = ptm("push", MODEL, "alice/kjv", token=None)
    check(rc == 5 and "401" in err and "token" in err, "no token: auth error (exit 5): " + last(err))
    rc, out, err = ptm("push", MODEL, "bob/theirs")
    check(rc == 5 and "403" in err, "other namespace: refused (exit 5): " + last(err))
    rc, out, err = ptm("push", MODEL, "alice/x", "--endpoint", "http://127.0.0.1:9")
    check(rc == 3 and "127.0.0.1:9" in err and "alice/x: creating the repository" in err, "unreachable endpoint: network error (exit 3): " + last(err))
    rc, out, err = ptm("push", MODEL, "not a repo id")
    check(rc == 1 and "repository id" in err, "invalid repo id: " + last(err))
    rc, out, err = ptm("push", MODEL, "alice/x", "--max-shard-size", "5.5GB")
    check(rc == 2, "bad --max-shard-size is a usage error")
    rc, out, err = ptm("push", MODEL, "alice/x", "--format", "h5")
    check(rc == 2, "--format h5 is a usage error")
    # server-side faults: an object refused in the batch answer; storage
    # answering 503 twice (retried); an upload stored corrupted (the commit
    # is refused: the server checks sha256 against the oid)
    other = os.path.join(OUT, "local_bf16")
    rc, _, err = ptm("convert", MODEL, other, "--dtype", "bf16", token=None)
    config(object_error=True)
    rc, out, err = ptm("push", other, "alice/faults")
    check(rc == 3 and "refused by the server" in err, "batch object error -> network error (exit 3): " + last(err))
    config(object_error=False, corrupt_storage=True)
    rc, out, err = ptm("push", other, "alice/faults")
    check(rc == 3 and "verifying the upload" in err and "404" in err, "corrupted upload: verify fails: " + last(err))
    config(verify=False)
    rc, out, err = ptm("push", other, "alice/faults")
    check(rc == 3 and "HTTP 400" in err and "commit" in err, "corrupted upload, no verify: commit refused: "
          + last(err))
    config(verify=True)
    check(len(state()["commits"]) == ncommits, "no commit made by the failed pushes")
    config(corrupt_storage=False, storage_fail=2)
    before = len(SRV.upload.requests)
    rc, out, err = ptm("push", other, "alice/faults-retry", env_extra={"PTM_HUB_RETRY_BASE_MS": "10"})
    puts = [r for r in SRV.upload.requests[before:] if r["method"] == "PUT"]
    check(rc == 0 and len(puts) == 3, "storage 503 twice: retried (%d PUTs) %s" % (len(puts), last(err)))
    same_as_local("alice/faults-retry", other)
    ncommits = len(state()["commits"])
    tmp_empty()
    rc, out, _ = ptm("push", "--help", token=None)
    check(rc == 0 and "--create-pr" in out and "--max-shard-size" in out, "push --help")


main()
