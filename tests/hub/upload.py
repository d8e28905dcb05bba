# SPDX-License-Identifier: Apache-2.0
"""The upload side of the loopback Hub (tests/hub/server.py imports this
module and calls register(server)), after /work/shared/specs/hub.md §6-§7:

  POST /api/repos/create                    200 {url,name,id}; 409 {error,url}
                                            when it exists; 401/403 otherwise
  POST /api/models/{repo}/branch/{name}     409 when it exists
  POST /api/models/{repo}/preupload/{rev}   uploadMode per file: lfs for the
                                            .gitattributes patterns (*.safetensors,
                                            *.bin, *.h5, *.msgpack) and large files
  POST /{repo}.git/info/lfs/objects/batch   basic href, or multipart (chunk_size
                                            + numbered part URLs + completion href)
                                            at or above multipart_threshold; a
                                            verify href; no actions for stored objects
  storage port (the "cdn" server):
    PUT  /storage/{sha}?sig=                basic upload (whole file)
    PUT  /storage/{sha}/part/{n}?sig=       one part; answers an ETag
    POST /storage/{sha}/complete?sig=       {oid, parts:[{partNumber, etag}]}
    Every storage request carrying Authorization is refused (403) and
    recorded as a violation.
  POST /api/lfs/verify/{repo}               {oid, size}; needs the token
  POST /api/models/{repo}/commit/{rev}      NDJSON; every lfsFile's object must
                                            have been uploaded, its sha256 equal to
                                            its oid and its size right; create_pr=1
                                            -> refs/pr/N + pullRequestUrl
  POST /api/validate-yaml                   200 {}

Test hooks on the hub port: GET /_upload/state (violations, commits with
their parsed NDJSON, uploads), POST /_upload/config (JSON merged into the
settings: multipart_threshold, chunk_size, verify; faults object_error,
storage_fail N, corrupt_storage; hf_hrefs: verify hrefs on
https://huggingface.co, which the client must send to its endpoint).

Write access: a token's user may write repos in its own namespace (and
repos it owns)."""

import base64
import fnmatch
import hashlib
import json
import threading
import urllib.parse

REPO = r"(?P<repo>[^/]+/[^/]+|[^/]+)"
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.h5", "*.msgpack", "*.pt")


class UploadState:
    def __init__(self):
        self.lock = threading.Lock()
        # settings (POST /_upload/config): multipart above a size, the part
        # size, a verify action; faults: object_error (the batch refuses every
        # object), storage_fail (the next N storage PUTs answer 503),
        # corrupt_storage (store the uploads with one byte flipped)
        self.config = {"multipart_threshold": 8 << 20, "chunk_size": 5 << 20, "verify": True,
                       "object_error": False, "storage_fail": 0, "corrupt_storage": False,
                       "hf_hrefs": False}
        self.objects = {}     # sha256 -> bytes received (basic, or assembled parts)
        self.expected = {}    # sha256 -> size announced in a batch
        self.parts = {}       # sha256 -> {n: (bytes, etag)}
        self.verified = set()
        self.violations = []
        self.commits = []     # {repo, revision, create_pr, lines, sha}
        self.requests = []    # (method, path, had Authorization) on the storage port
        self.pr_counter = {}


def _state(req):
    return req.ctx.upload


def _user(req):
    """(user, None) or (None, True) after answering 401."""
    tok = req.token()
    user = req.ctx.store.user_of(tok)
    if tok and not user:
        req.hub_error(401, None, "Invalid credentials in Authorization header")
        return None, True
    if not user:
        req.hub_error(401, None, "You must be authenticated to do this (no token)")
        return None, True
    return user, False


def _can_write(store, user, repo_id):
    ns = repo_id.split("/")[0] if "/" in repo_id else user
    r = store.repos.get(repo_id)
    return ns == user or (r is not None and r.owner == user)


def _write_access(req, repo_id):
    """(repo, None) when the caller may write repo_id, else (None, True)."""
    user, done = _user(req)
    if done:
        return None, True
    store = req.ctx.store
    with store.lock:
        r = store.repos.get(repo_id)
    if r is None or (r.private and r.owner != user and not _can_write(store, user, repo_id)):
        req.hub_error(404, "RepoNotFound", "Repository not found")
        return None, True
    if not _can_write(store, user, repo_id):
        req.hub_error(403, None, "You don't have the rights to write to %s" % repo_id)
        return None, True
    return r, False


def _json_body(req):
    try:
        return json.loads(req.read_body() or b"null")
    except ValueError:
        return None


def _sig(sha):
    return hashlib.sha1(("sig" + sha).encode()).hexdigest()[:16]


def _storage_guard(req, sha):
    """Refuse (and record) Authorization on the storage port; check the
    signature; the storage_fail fault.  True when the request was answered."""
    st = _state(req)
    auth = req.headers.get("Authorization") is not None
    with st.lock:
        st.requests.append({"method": req.command, "path": req.path.split("?")[0], "auth": auth})
        fail = req.command == "PUT" and st.config["storage_fail"] > 0
        if fail:
            st.config["storage_fail"] -= 1
    if fail:
        req.read_body()
        req.send_json(503, {"error": "storage busy (test)"})
        return True
    if auth:
        with st.lock:
            st.violations.append("Authorization sent to storage: %s %s" % (req.command, req.path.split("?")[0]))
        req.read_body()
        req.send_json(403, {"error": "storage does not accept Authorization"})
        return True
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
    if q.get("sig", [""])[0] != _sig(sha):
        req.read_body()
        req.send_json(403, {"error": "bad signature"})
        return True
    return False


# ------------------------------------------------------------------ routes

def create_repo(req, m):
    body = _json_body(req)
    user, done = _user(req)
    if done:
        return
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        return req.send_json(400, {"error": "name is required"})
    org = body.get("organization")
    repo_id = "%s/%s" % (org, body["name"]) if org else "%s/%s" % (user, body["name"])
    private = bool(body.get("private")) or body.get("visibility") == "private"
    store = req.ctx.store
    url = "%s/%s" % (req.ctx.endpoint, repo_id)
    with store.lock:
        if repo_id in store.repos:
            return req.send_json(409, {"error": "You already created this model repo", "url": url})
        if not _can_write(store, user, repo_id):
            return req.hub_error(403, None, "You don't have the rights to create a model under the namespace "
                                 "\"%s\"" % repo_id.split("/")[0])
        store.create_repo(repo_id, private=private, owner=user)
    req.send_json(200, {"url": url, "name": repo_id, "id": "id-" + repo_id})


def create_branch(req, m):
    repo_id, name = m.group("repo"), urllib.parse.unquote(m.group("rev"))
    _json_body(req)
    repo, done = _write_access(req, repo_id)
    if done:
        return
    store = req.ctx.store
    with store.lock:
        if name in repo.branches:
            return req.hub_error(409, None, "Reference already exists")
        repo.branches[name] = repo.branches["main"]
    req.send_json(200, {})


def _is_lfs(path, size, sample):
    name = path.rsplit("/", 1)[-1]
    if any(fnmatch.fnmatch(name, p) for p in LFS_PATTERNS):
        return True
    return size > 10 * 1024 * 1024 or (size > 1000 * 1000 and b"\0" in sample)


def preupload(req, m):
    repo_id = m.group("repo")
    body = _json_body(req)
    repo, done = _write_access(req, repo_id)
    if done:
        return
    if not isinstance(body, dict) or not isinstance(body.get("files"), list):
        return req.send_json(400, {"error": "files is required"})
    rev = urllib.parse.unquote(m.group("rev"))
    store = req.ctx.store
    commit = store.resolve(repo, rev) or store.resolve(repo, "main")
    tree = repo.commits[commit]["files"] if commit else {}
    out = []
    for f in body["files"]:
        if not isinstance(f, dict) or not isinstance(f.get("path"), str) or not isinstance(f.get("size"), int):
            return req.send_json(400, {"error": "bad file entry %r" % (f,)})
        sample = base64.b64decode(f.get("sample", ""))
        if len(sample) > 512:
            return req.send_json(400, {"error": "sample longer than 512 bytes"})
        e = {"path": f["path"], "uploadMode": "lfs" if _is_lfs(f["path"], f["size"], sample) else "regular",
             "shouldIgnore": False}
        if f["path"] in tree:
            e["oid"] = tree[f["path"]].etag
        out.append(e)
    req.send_json(200, {"files": out, "commitOid": commit})


def batch(req, m):
    repo_id = m.group("repo")
    body = _json_body(req)
    repo, done = _write_access(req, repo_id)
    if done:
        return
    ct = req.headers.get("Content-Type", "")
    acc = req.headers.get("Accept", "")
    if "git-lfs+json" not in ct or "git-lfs+json" not in acc:
        return req.send_json(400, {"error": "LFS batch needs application/vnd.git-lfs+json"})
    if (not isinstance(body, dict) or body.get("operation") != "upload" or "basic" not in body.get("transfers", [])
            or body.get("hash_algo") not in ("sha256", "sha_256") or not isinstance(body.get("objects"), list)):
        return req.send_json(422, {"message": "bad batch request"})
    st = _state(req)
    cdn, hub = req.ctx.cdn, req.ctx.endpoint
    out, multipart = [], False
    for o in body["objects"]:
        sha, size = o.get("oid"), o.get("size")
        if not isinstance(sha, str) or len(sha) != 64 or not isinstance(size, int) or size < 0:
            return req.send_json(422, {"message": "bad object %r" % (o,)})
        have = req.ctx.store.blobs.get(sha)
        if have is not None and len(have) == size:
            out.append({"oid": sha, "size": size})
            continue
        with st.lock:
            st.expected[sha] = size
            cfg = dict(st.config)
        sig = _sig(sha)
        if cfg["object_error"]:
            out.append({"oid": sha, "size": size, "error": {"code": 422, "message": "object refused (test)"}})
            continue
        entry = {"oid": sha, "size": size, "authenticated": True, "actions": {}}
        if size >= cfg["multipart_threshold"]:
            multipart = True
            chunk = cfg["chunk_size"]
            n = (size + chunk - 1) // chunk
            header = {"chunk_size": str(chunk), "upload_id": "up-" + sha[:8]}
            for i in range(1, n + 1):
                header["%d" % i] = "%s/storage/%s/part/%d?sig=%s" % (cdn, sha, i, sig)
            entry["actions"]["upload"] = {"href": "%s/storage/%s/complete?sig=%s" % (cdn, sha, sig),
                                          "header": header}
        else:
            entry["actions"]["upload"] = {"href": "%s/storage/%s?sig=%s" % (cdn, sha, sig),
                                          "header": {"X-Must-Not-Be-Sent": "basic uploads send no headers"}}
        if cfg["verify"]:
            # hf_hrefs: answer with huggingface.co URLs, as a mirror passing
            # the Hub's answers through would; the client must rewrite them
            base = "https://huggingface.co" if cfg["hf_hrefs"] else hub
            entry["actions"]["verify"] = {"href": "%s/api/lfs/verify/%s" % (base, repo_id),
                                          "header": {"Authorization": "should-be-ignored"}}
        out.append(entry)
    hs = {"Content-Type": "application/vnd.git-lfs+json"}
    req.send(200, json.dumps({"transfer": "multipart" if multipart else "basic", "objects": out}).encode(), hs)


def storage_put(req, m):
    sha = m.group("sha")
    if _storage_guard(req, sha):
        return
    data = req.read_body()
    st = _state(req)
    if req.headers.get("X-Must-Not-Be-Sent") is not None:
        with st.lock:
            st.violations.append("basic upload sent the batch answer's header")
    with st.lock:
        st.objects[sha] = data[:-1] + bytes([data[-1] ^ 1]) if st.config["corrupt_storage"] and data else data
    req.send(200, b"", {"ETag": '"%s"' % hashlib.md5(data).hexdigest()})


def part_put(req, m):
    sha, n = m.group("sha"), int(m.group("n"))
    if _storage_guard(req, sha):
        return
    data = req.read_body()
    etag = '"%s"' % hashlib.md5(data).hexdigest()
    st = _state(req)
    with st.lock:
        st.parts.setdefault(sha, {})[n] = (data, etag)
    req.send(200, b"", {"ETag": etag})


def complete(req, m):
    sha = m.group("sha")
    if _storage_guard(req, sha):
        return
    body = _json_body(req)
    st = _state(req)
    if not isinstance(body, dict) or body.get("oid") != sha or not isinstance(body.get("parts"), list):
        return req.send_json(400, {"error": "bad completion body"})
    with st.lock:
        have = st.parts.get(sha, {})
        parts = body["parts"]
        if [p.get("partNumber") for p in parts] != list(range(1, len(have) + 1)) or len(parts) != len(have):
            return req.send_json(400, {"error": "parts %r do not match the %d uploaded" % (parts, len(have))})
        for p in parts:
            if have[p["partNumber"]][1] != p.get("etag"):
                return req.send_json(400, {"error": "etag mismatch for part %d" % p["partNumber"]})
        st.objects[sha] = b"".join(have[i][0] for i in range(1, len(have) + 1))
    req.send_json(200, {})


def verify(req, m):
    repo_id = m.group("repo")
    body = _json_body(req)
    if req.headers.get("Authorization") == "should-be-ignored":
        with _state(req).lock:
            _state(req).violations.append("verify sent the batch answer's header")
    repo, done = _write_access(req, repo_id)
    if done:
        return
    st = _state(req)
    if not isinstance(body, dict):
        return req.send_json(400, {"error": "bad verify body"})
    with st.lock:
        data = st.objects.get(body.get("oid"))
        if data is None or len(data) != body.get("size") or hashlib.sha256(data).hexdigest() != body.get("oid"):
            return req.send_json(404, {"error": "object %s not found or wrong" % body.get("oid")})
        st.verified.add(body["oid"])
    req.send_json(200, {})


def commit(req, m):
    repo_id = m.group("repo")
    raw = req.read_body()
    repo, done = _write_access(req, repo_id)
    if done:
        return
    if "ndjson" not in req.headers.get("Content-Type", ""):
        return req.send_json(400, {"error": "commit needs application/x-ndjson"})
    rev = urllib.parse.unquote(m.group("rev"))
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
    create_pr = q.get("create_pr", ["0"])[0] == "1"
    try:
        lines = [json.loads(x) for x in raw.decode().split("\n") if x]
    except ValueError as e:
        return req.send_json(400, {"error": "bad NDJSON: %s" % e})
    if not lines or lines[0].get("key") != "header" or not isinstance(lines[0].get("value", {}).get("summary"), str):
        return req.send_json(400, {"error": "the first line must be the header"})
    st = _state(req)
    store = req.ctx.store
    files = {}
    for ln in lines[1:]:
        v = ln.get("value", {})
        path = v.get("path")
        if not isinstance(path, str) or not path or path.startswith("/") or ".." in path.split("/"):
            return req.send_json(400, {"error": "bad path %r" % (path,)})
        if ln.get("key") == "file":
            if v.get("encoding") != "base64":
                return req.send_json(400, {"error": "only base64 content here"})
            data = base64.b64decode(v.get("content", ""), validate=True)
            if _is_lfs(path, len(data), data[:512]) and len(data) > 0:
                return req.send_json(400, {"error": "Your push was rejected because %s should be an LFS file" % path})
            files[path] = (data, False)
        elif ln.get("key") == "lfsFile":
            oid, size = v.get("oid"), v.get("size")
            if v.get("algo") != "sha256":
                return req.send_json(400, {"error": "algo must be sha256"})
            with st.lock:
                data = st.objects.get(oid)
            if data is None:
                data = store.blobs.get(oid)
            if data is None:
                return req.send_json(400, {"error": "LFS object %s of %s was never uploaded" % (oid, path)})
            if hashlib.sha256(data).hexdigest() != oid or len(data) != size:
                return req.send_json(400, {"error": "LFS object of %s: sha256 or size does not match" % path})
            files[path] = (data, True)
        else:
            return req.send_json(400, {"error": "unknown key %r" % ln.get("key")})
    with store.lock:
        base = store.resolve(repo, rev)
        if base is None:
            return req.hub_error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        summary = lines[0]["value"]["summary"]
        if create_pr:
            n = st.pr_counter.get(repo_id, 0) + 1
            st.pr_counter[repo_id] = n
            branch = "refs/pr/%d" % n
            sha = store.commit(repo_id, branch, files, summary, base=base)
        else:
            sha = store.commit(repo_id, rev, files, summary)
    with st.lock:
        st.commits.append({"repo": repo_id, "revision": rev, "create_pr": create_pr, "sha": sha,
                           "lines": lines})
    ans = {"success": True, "commitOid": sha, "commitUrl": "%s/%s/commit/%s" % (req.ctx.endpoint, repo_id, sha),
           "hookOutput": ""}
    if create_pr:
        ans["pullRequestUrl"] = "%s/%s/discussions/%d" % (req.ctx.endpoint, repo_id, n)
    req.send_json(200, ans)


def validate_yaml(req, m):
    req.read_body()
    req.send_json(200, {})


def upload_state(req, m):
    st = _state(req)
    with st.lock:
        req.send_json(200, {"violations": st.violations, "commits": st.commits, "storage": st.requests,
                            "verified": sorted(st.verified), "config": st.config})


def upload_config(req, m):
    body = _json_body(req) or {}
    st = _state(req)
    with st.lock:
        st.config.update(body)
        req.send_json(200, st.config)


def register(srv):
    srv.upload = UploadState()
    srv.add_route("POST", r"/api/repos/create", create_repo)
    srv.add_route("POST", r"/api/models/" + REPO + r"/branch/(?P<rev>[^/]+)", create_branch)
    srv.add_route("POST", r"/api/models/" + REPO + r"/preupload/(?P<rev>[^/]+)", preupload)
    srv.add_route("POST", r"/api/models/" + REPO + r"/commit/(?P<rev>[^/]+)", commit)
    srv.add_route("POST", r"/(?P<repo>[^/]+/[^/]+?|[^/]+?)\.git/info/lfs/objects/batch", batch)
    srv.add_route("POST", r"/api/lfs/verify/" + REPO, verify)
    srv.add_route("POST", r"/api/validate-yaml", validate_yaml)
    srv.add_route("GET", r"/_upload/state", upload_state)
    srv.add_route("POST", r"/_upload/config", upload_config)
    srv.add_route("PUT", r"/storage/(?P<sha>[0-9a-f]{64})", storage_put, port="cdn")
    srv.add_route("PUT", r"/storage/(?P<sha>[0-9a-f]{64})/part/(?P<n>[0-9]+)", part_put, port="cdn")
    srv.add_route("POST", r"/storage/(?P<sha>[0-9a-f]{64})/complete", complete, port="cdn")
