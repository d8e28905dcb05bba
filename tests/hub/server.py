#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A Hugging Face Hub stand-in on loopback for ptm's tests (standard library
only).  It serves the download side of the Hub protocol as
/work/shared/specs/hub.md section 7 describes it:

  HEAD/GET /{repo}/resolve/{rev}/{path}    X-Repo-Commit, ETag (git blob sha1)
        for regular files; 302 to the "CDN" port with X-Linked-Etag (sha256)
        and X-Linked-Size for LFS files; Range / 206; 404 EntryNotFound with
        X-Repo-Commit; 404 RevisionNotFound; 401/403/404 RepoNotFound /
        GatedRepo; 307 relative redirect for renamed repos
  GET /api/models/{repo}[/revision/{rev}]  {id, sha, siblings}
  GET /api/models/{repo}/tree/{rev}[/{path}]?recursive=  (Link rel="next" pages)
  GET /api/models/{repo}/refs
  CDN port: GET/HEAD /cdn/{sha256}?sig=...  (403 to any request that carries
        Authorization; the attempt is recorded)

Control (hub port): POST /_control/faults (JSON, merged), DELETE
/_control/faults, GET /_control/log (every request: port, method, path,
whether it carried Authorization), POST /_control/log/clear.

Fault switches (each may name a "path" it applies to; * = any):
  drop_once   {"path", "after": N}  send N body bytes then cut the connection (once)
  ignore_range {"path"}             answer 200 with the whole file to a Range
  wrong_size  {"path"}              metadata announces size + 7
  wrong_sha   {"path"}              the body has its last byte flipped
  slow        {"path", "seconds"}   sleep before answering
  throttle    {"path", "chunk", "delay"}  send the body `chunk` bytes at a
              time with `delay` seconds between chunks (progress bars)
  fail        {"path", "status", "count", "headers"}  answer `status` count
              times first, with the extra `headers` (e.g. Retry-After)

Each log entry also has "t", the time.monotonic() of its arrival.

Extension: the store (RepoStore: create_repo, commit, tag, resolve, blobs,
tokens) and the route table (Server.add_route(method, regex, handler,
port="hub"|"cdn"); a GET route also answers HEAD) are public; handlers get
the request object (token(), read_body(), send(), send_json(), hub_error(),
send_file(), ctx = the Server) and the regex match.  A module upload.py next
to this file, if present, is imported and its register(server) is called, so
the upload side (create repo, preupload, LFS batch, storage PUT on the "cdn"
port, commit) can live there.  Test helper routes on both ports: /_echo
(describes the request) and /_redirect/<code>?to=URL.

Run standalone: server.py [--fixture repos.json] [--ports-file F]; prints
{"hub": port, "cdn": port} as one JSON line on stdout (and into F)."""

import base64
import hashlib
import json
import os
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def git_sha1(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class FileEntry:
    def __init__(self, data, is_lfs):
        self.data = data
        self.is_lfs = is_lfs

    @property
    def etag(self):
        return sha256(self.data) if self.is_lfs else git_sha1(self.data)

    def pointer(self):
        """The git LFS pointer file stored in git for an LFS file."""
        return ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n"
                % (sha256(self.data), len(self.data))).encode()


class Repo:
    def __init__(self, repo_id, private=False, gated=False):
        self.id = repo_id
        self.private = private
        self.gated = gated
        self.granted = set()   # users allowed into a gated repo
        self.owner = None      # user who can always read (private repos)
        self.branches = {}     # name -> commit sha
        self.tags = {}         # name -> commit sha
        self.commits = {}      # sha -> {"files": {path: FileEntry}, "parent": sha, "message": str}


class RepoStore:
    """repos -> branches/tags -> commits -> {path: FileEntry}.  Thread-safe."""

    def __init__(self):
        self.lock = threading.RLock()
        self.repos = {}
        self.renamed = {}      # old id -> new id
        self.tokens = {}       # token -> user name
        self.blobs = {}        # sha256 -> bytes (what the CDN serves)
        self.counter = 0

    def create_repo(self, repo_id, private=False, gated=False, owner=None):
        with self.lock:
            r = self.repos.get(repo_id)
            if r is None:
                r = self.repos[repo_id] = Repo(repo_id, private, gated)
                r.owner = owner
                self.commit(repo_id, "main", {".gitattributes": (b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n", False)},
                            "initial commit")
            return r

    def commit(self, repo_id, branch, files, message="", deletes=(), base=None):
        """Add a commit on `branch` with files {path: (bytes, is_lfs)} (on top
        of the branch's files unless base is given); returns its sha."""
        with self.lock:
            r = self.repos[repo_id]
            parent = base if base is not None else r.branches.get(branch)
            tree = dict(r.commits[parent]["files"]) if parent else {}
            for p in deletes:
                tree.pop(p, None)
            for p, (data, is_lfs) in files.items():
                tree[p] = FileEntry(bytes(data), bool(is_lfs))
                if is_lfs:
                    self.blobs[sha256(data)] = bytes(data)
            self.counter += 1
            sha = hashlib.sha1(("%s\0%s\0%s\0%d" % (repo_id, branch, message, self.counter)).encode()).hexdigest()
            r.commits[sha] = {"files": tree, "parent": parent, "message": message}
            r.branches[branch] = sha
            return sha

    def tag(self, repo_id, name, rev):
        with self.lock:
            r = self.repos[repo_id]
            r.tags[name] = self.resolve(r, rev)

    def resolve(self, repo, rev):
        """Commit sha of a branch, tag or full commit id; None if unknown."""
        with self.lock:
            if rev in repo.branches:
                return repo.branches[rev]
            if rev in repo.tags:
                return repo.tags[rev]
            if rev in repo.commits:
                return rev
            return None

    def user_of(self, token):
        return self.tokens.get(token) if token else None

    def load_fixture(self, fx):
        for tok, user in fx.get("tokens", {}).items():
            self.tokens[tok] = user
        for rid, spec in fx.get("repos", {}).items():
            r = self.create_repo(rid, spec.get("private", False), spec.get("gated", False), spec.get("owner"))
            r.granted.update(spec.get("granted", []))
            for c in spec.get("commits", [{"branch": "main", "files": spec.get("files", {})}]):
                files = {}
                for p, f in c.get("files", {}).items():
                    if "path" in f:
                        with open(f["path"], "rb") as fh:
                            data = fh.read()
                    elif "b64" in f:
                        data = base64.b64decode(f["b64"])
                    else:
                        data = f.get("text", "").encode()
                    files[p] = (data, f.get("lfs", False))
                self.commit(rid, c.get("branch", "main"), files, c.get("message", "add files"))
            for name, rev in spec.get("tags", {}).items():
                self.tag(rid, name, rev)
        for old, new in fx.get("renamed", {}).items():
            self.renamed[old] = new


class Server:
    """Two ThreadingHTTPServers (hub, cdn) sharing one store, fault table,
    request log and route table."""

    def __init__(self, store=None, host="127.0.0.1"):
        self.store = store or RepoStore()
        self.host = host
        self.routes = {"hub": [], "cdn": []}
        self.faults = {}
        self.fault_lock = threading.Lock()
        self.log = []
        self.log_lock = threading.Lock()
        self.hub_port = self.cdn_port = None
        self._servers = []
        register_download_routes(self)
        here = os.path.dirname(os.path.abspath(__file__))
        if os.path.exists(os.path.join(here, "upload.py")):  # the push side, when present
            if here not in sys.path:
                sys.path.insert(0, here)
            import upload
            upload.register(self)

    def add_route(self, method, pattern, handler, port="hub"):
        """handler(req, match): req is the request handler (see Handler's
        helpers), match the re.Match of `pattern` against the path (no query)."""
        self.routes[port].append((method, re.compile(pattern), handler))

    @property
    def endpoint(self):
        return "http://%s:%d" % (self.host, self.hub_port)

    @property
    def cdn(self):
        return "http://%s:%d" % (self.host, self.cdn_port)

    def fault(self, name, path):
        """The fault `name` if it applies to `path` (consumed when counted)."""
        with self.fault_lock:
            f = self.faults.get(name)
            if not f:
                return None
            want = f.get("path", "*")
            if want != "*" and want != path and not path.endswith("/" + want):
                return None
            if name == "drop_once":
                del self.faults[name]
            if "count" in f:
                if f["count"] <= 0:
                    return None
                f["count"] -= 1
            return f

    def start(self):
        for kind in ("hub", "cdn"):
            srv = ThreadingHTTPServer((self.host, 0), make_handler(self, kind))
            srv.daemon_threads = True
            t = threading.Thread(target=srv.serve_forever, daemon=True)
            t.start()
            self._servers.append(srv)
            if kind == "hub":
                self.hub_port = srv.server_address[1]
            else:
                self.cdn_port = srv.server_address[1]
        return self

    def stop(self):
        for s in self._servers:
            s.shutdown()
            s.server_close()


def make_handler(server, kind):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        ctx = server
        port_kind = kind

        def log_message(self, fmt, *args):
            pass

        # ------------------------------------------------------ helpers
        def token(self):
            a = self.headers.get("Authorization")
            if a and a.lower().startswith("bearer "):
                return a[7:].strip()
            return None

        def read_body(self):
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else b""

        def send(self, status, body=b"", headers=None, head=False):
            self.send_response(status)
            hs = dict(headers or {})
            hs.setdefault("Content-Length", str(len(body)))
            for k, v in hs.items():
                self.send_header(k, v)
            self.end_headers()
            if not head and body:
                self.wfile.write(body)

        def send_json(self, status, obj, headers=None):
            hs = {"Content-Type": "application/json"}
            hs.update(headers or {})
            self.send(status, json.dumps(obj).encode(), hs, head=self.command == "HEAD")

        def hub_error(self, status, code, message, extra=None):
            hs = {"X-Error-Message": message, "X-Request-Id": "req-test"}
            if code:
                hs["X-Error-Code"] = code
            hs.update(extra or {})
            self.send_json(status, {"error": message}, hs)

        def send_file(self, data, path, headers, head):
            """Body with Range, and the drop/ignore_range/wrong_sha faults."""
            f = self.ctx.fault("wrong_sha", path)
            if f and data:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            status, start, end = 200, 0, len(data)
            rng = self.headers.get("Range")
            if rng and not self.ctx.fault("ignore_range", path):
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng.strip())
                if not m or int(m.group(1)) > len(data) or (int(m.group(1)) == len(data) and len(data)):
                    self.send(416, b"", {"Content-Range": "bytes */%d" % len(data)}, head)
                    return
                start = int(m.group(1))
                end = min(len(data), int(m.group(2)) + 1) if m.group(2) else len(data)
                status = 206
            hs = dict(headers)
            hs["Content-Length"] = str(end - start)
            hs["Accept-Ranges"] = "bytes"
            if status == 206:
                hs["Content-Range"] = "bytes %d-%d/%d" % (start, max(start, end - 1), len(data))
            self.send_response(status)
            for k, v in hs.items():
                self.send_header(k, v)
            self.end_headers()
            if head:
                return
            body = data[start:end]
            drop = self.ctx.fault("drop_once", path)
            if drop:
                self.wfile.write(body[: int(drop.get("after", len(body) // 2))])
                self.wfile.flush()
                self.close_connection = True
                return
            slow = self.ctx.fault("throttle", path)
            if slow:
                step = max(1, int(slow.get("chunk", 4096)))
                for i in range(0, len(body), step):
                    if i:
                        time.sleep(float(slow.get("delay", 0.05)))
                    self.wfile.write(body[i:i + step])
                    self.wfile.flush()
                return
            self.wfile.write(body)

        # ------------------------------------------------------ dispatch
        def handle_any(self):
            parsed = urllib.parse.urlsplit(self.path)
            with self.ctx.log_lock:
                self.ctx.log.append({"port": self.port_kind, "method": self.command, "path": self.path,
                                     "auth": self.headers.get("Authorization") is not None,
                                     "range": self.headers.get("Range"), "t": time.monotonic()})
            if self.port_kind == "hub" and parsed.path.startswith("/_control/"):
                return control(self, parsed)
            f = self.ctx.fault("slow", parsed.path)
            if f:
                time.sleep(float(f.get("seconds", 3)))
            f = self.ctx.fault("fail", parsed.path)
            if f:
                return self.hub_error(int(f.get("status", 500)), None, "injected failure", f.get("headers"))
            for method, rx, handler in self.ctx.routes[self.port_kind]:
                if method != self.command and not (method == "GET" and self.command == "HEAD"):
                    continue
                m = rx.fullmatch(parsed.path)
                if m:
                    return handler(self, m)
            self.send_json(404, {"error": "no route for %s %s" % (self.command, parsed.path)})

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = handle_any

    return Handler


def control(req, parsed):
    ctx = req.ctx
    if parsed.path == "/_control/faults":
        if req.command == "POST":
            with ctx.fault_lock:
                ctx.faults.update(json.loads(req.read_body() or b"{}"))
        elif req.command == "DELETE":
            with ctx.fault_lock:
                ctx.faults.clear()
        return req.send_json(200, ctx.faults)
    if parsed.path == "/_control/log":
        with ctx.log_lock:
            return req.send_json(200, ctx.log)
    if parsed.path == "/_control/log/clear":
        with ctx.log_lock:
            ctx.log.clear()
        return req.send_json(200, {})
    if parsed.path == "/_control/fixture" and req.command == "POST":
        ctx.store.load_fixture(json.loads(req.read_body()))
        return req.send_json(200, {})
    return req.send_json(404, {"error": "unknown control"})


# ----------------------------------------------------------- download side

REPO = r"(?P<repo>[^/]+/[^/]+|[^/]+)"


def access(req, repo_id, relative_tail):
    """(repo, None) when the caller may read repo_id, else (None, True) after
    answering the request (error or rename redirect)."""
    store = req.ctx.store
    tok = req.token()
    user = store.user_of(tok)
    if tok and not user:
        req.hub_error(401, None, "Invalid credentials in Authorization header")
        return None, True
    with store.lock:
        if repo_id in store.renamed:
            new = store.renamed[repo_id]
            loc = relative_tail(new)
            req.send(307, b"", {"Location": loc})
            return None, True
        repo = store.repos.get(repo_id)
    if repo is None or (repo.private and (user is None or user != repo.owner)):
        if user:
            req.hub_error(404, "RepoNotFound", "Repository not found")
        else:
            req.hub_error(401, "RepoNotFound", "Repository not found")
        return None, True
    if repo.gated and (user is None or (user != repo.owner and user not in repo.granted)):
        if user:
            req.hub_error(403, "GatedRepo", "Access to model %s is restricted and you are not in the authorized "
                          "list. Visit https://huggingface.co/%s to ask for access." % (repo_id, repo_id))
        else:
            req.hub_error(401, "GatedRepo", "Access to model %s is restricted. You must have access to it and be "
                          "authenticated to access it. Please log in." % repo_id)
        return None, True
    return repo, False


def access_commit(req, repo_id, rev, relative_tail):
    """(repo, commit) when the caller may read repo_id and rev names a
    commit, else (None, None) after answering the request."""
    repo, done = access(req, repo_id, relative_tail)
    if done:
        return None, None
    commit = req.ctx.store.resolve(repo, rev)
    if commit is None:
        req.hub_error(404, "RevisionNotFound", "Invalid rev id: %s" % rev)
        return None, None
    return repo, commit


def resolve_file(req, m):
    repo_id = m.group("repo")
    rev_raw, path_raw = m.group("rev"), m.group("path")
    rev = urllib.parse.unquote(rev_raw)
    path = urllib.parse.unquote(path_raw)
    query = urllib.parse.urlsplit(req.path).query

    def tail(new):
        return "/%s/resolve/%s/%s%s" % (new, rev_raw, path_raw, "?renamed=1" if not query else "")

    repo, commit = access_commit(req, repo_id, rev, tail)
    if repo is None:
        return
    head = req.command == "HEAD"
    files = repo.commits[commit]["files"]
    entry = files.get(path)
    if entry is None:
        return req.hub_error(404, "EntryNotFound", "Entry not found", {"X-Repo-Commit": commit})
    size = len(entry.data)
    if req.ctx.fault("wrong_size", path):
        size += 7
    hs = {"X-Repo-Commit": commit}
    if entry.is_lfs:
        sig = hashlib.sha1(("%s%s" % (commit, path)).encode()).hexdigest()[:16]
        hs.update({"X-Linked-Etag": '"%s"' % entry.etag, "X-Linked-Size": str(size),
                   "ETag": '"%s"' % git_sha1(entry.pointer()),
                   "Location": "%s/cdn/%s?sig=%s&name=%s" % (req.ctx.cdn, entry.etag, sig,
                                                            urllib.parse.quote(path, safe=""))})
        return req.send(302, b"", hs, head)
    hs["ETag"] = '"%s"' % entry.etag
    if head:
        hs["Content-Length"] = str(size)
        req.send_response(200)
        for k, v in hs.items():
            req.send_header(k, v)
        req.end_headers()
        return
    req.send_file(entry.data, path, hs, head)


def cdn_get(req, m):
    if req.headers.get("Authorization") is not None:
        with req.ctx.log_lock:
            req.ctx.log.append({"port": "cdn", "violation": "Authorization sent to the CDN", "path": req.path})
        return req.send_json(403, {"error": "the CDN does not accept Authorization"})
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
    if "sig" not in q:
        return req.send_json(403, {"error": "unsigned"})
    data = req.ctx.store.blobs.get(m.group("sha"))
    if data is None:
        return req.send_json(404, {"error": "no such object"})
    name = q.get("name", [""])[0]
    req.send_file(data, name, {"ETag": '"cdn-%s"' % m.group("sha")[:8]}, req.command == "HEAD")


def api_revision(req, m):
    repo_id = m.group("repo")
    rev = urllib.parse.unquote(m.group("rev") or "main")

    def tail(new):
        return "/api/models/%s/revision/%s" % (new, m.group("rev") or "main")

    repo, commit = access_commit(req, repo_id, rev, tail)
    if repo is None:
        return
    files = repo.commits[commit]["files"]
    req.send_json(200, {"_id": "x" + commit[:23], "id": repo_id, "sha": commit, "private": repo.private,
                        "gated": "manual" if repo.gated else False,
                        "siblings": [{"rfilename": p} for p in sorted(files)]})


def api_tree(req, m):
    repo_id = m.group("repo")
    rev = urllib.parse.unquote(m.group("rev"))
    sub = urllib.parse.unquote(m.group("path") or "").strip("/")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)
    recursive = query.get("recursive", ["false"])[0].lower() == "true"

    def tail(new):
        return "/api/models/%s/tree/%s" % (new, m.group("rev"))

    repo, commit = access_commit(req, repo_id, rev, tail)
    if repo is None:
        return
    files = repo.commits[commit]["files"]
    entries, dirs = [], set()
    prefix = sub + "/" if sub else ""
    for p in sorted(files):
        if not p.startswith(prefix):
            continue
        rest = p[len(prefix):]
        parts = rest.split("/")
        for i in range(1, len(parts)):
            d = prefix + "/".join(parts[:i])
            if (recursive or i == 1) and d not in dirs:
                dirs.add(d)
                entries.append({"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "path": d})
        if len(parts) > 1 and not recursive:
            continue
        e = files[p]
        ent = {"type": "file", "oid": git_sha1(e.pointer() if e.is_lfs else e.data), "size": len(e.data), "path": p}
        if e.is_lfs:
            ent["lfs"] = {"oid": e.etag, "size": len(e.data), "pointerSize": len(e.pointer())}
        entries.append(ent)
    page = int(req.ctx.faults.get("tree_page_size", 50))
    cursor = int(query.get("cursor", ["0"])[0])
    chunk = entries[cursor:cursor + page]
    hs = {}
    if cursor + page < len(entries):
        nq = dict((k, v[0]) for k, v in query.items())
        nq["cursor"] = str(cursor + page)
        hs["Link"] = '<%s%s?%s>; rel="next"' % (req.ctx.endpoint, urllib.parse.urlsplit(req.path).path,
                                               urllib.parse.urlencode(nq))
    req.send_json(200, chunk, hs)


def api_refs(req, m):
    repo, done = access(req, m.group("repo"), lambda new: "/api/models/%s/refs" % new)
    if done:
        return
    req.send_json(200, {"branches": [{"name": b, "ref": "refs/heads/" + b, "targetCommit": c}
                                     for b, c in sorted(repo.branches.items())],
                        "tags": [{"name": t, "ref": "refs/tags/" + t, "targetCommit": c}
                                 for t, c in sorted(repo.tags.items())],
                        "converts": []})


def echo(req, m):
    """Test helper on both ports: describes the request it got."""
    body = req.read_body() if req.command not in ("GET", "HEAD") else b""
    req.send_json(200, {"method": req.command, "path": req.path, "port": req.port_kind, "body_len": len(body),
                        "body_sha256": sha256(body), "auth": req.headers.get("Authorization") is not None,
                        "range": req.headers.get("Range"), "user_agent": req.headers.get("User-Agent")},
                  {"X-Echo": "1", "ETag": '"echo-etag"'})


def redirect(req, m):
    """Test helper: /_redirect/<code>?to=<absolute or relative URL>."""
    if req.command not in ("GET", "HEAD"):
        req.read_body()
    to = urllib.parse.parse_qs(urllib.parse.urlsplit(req.path).query)["to"][0]
    req.send(int(m.group("code")), b"moved", {"Location": to, "X-Hop": "1"}, req.command == "HEAD")


def register_download_routes(srv):
    for port in ("hub", "cdn"):
        for method in ("GET", "POST", "PUT"):
            srv.add_route(method, r"/_echo(?:/.*)?", echo, port=port)
            srv.add_route(method, r"/_redirect/(?P<code>\d{3})", redirect, port=port)
    for prefix in ("", "/datasets", "/spaces"):
        srv.add_route("GET", prefix + "/" + REPO + r"/resolve/(?P<rev>[^/]+)/(?P<path>.+)", resolve_file)
    srv.add_route("GET", r"/api/models/" + REPO + r"/revision/(?P<rev>[^/]+)", api_revision)
    srv.add_route("GET", r"/api/models/" + REPO + r"/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", api_tree)
    srv.add_route("GET", r"/api/models/" + REPO + r"/refs", api_refs)
    srv.add_route("GET", r"/api/models/(?P<repo>[^/]+/[^/]+|[^/]+?)(?P<rev>)", api_revision)
    srv.add_route("GET", r"/cdn/(?P<sha>[0-9a-f]{64})", cdn_get, port="cdn")


def main(argv):
    fixture, ports_file = None, None
    i = 1
    while i < len(argv):
        if argv[i] == "--fixture":
            fixture = argv[i + 1]
            i += 2
        elif argv[i] == "--ports-file":
            ports_file = argv[i + 1]
            i += 2
        else:
            sys.stderr.write("usage: server.py [--fixture repos.json] [--ports-file F]\n")
            return 2
    srv = Server()
    if fixture:
        with open(fixture) as fh:
            srv.store.load_fixture(json.load(fh))
    srv.start()
    info = json.dumps({"hub": srv.hub_port, "cdn": srv.cdn_port, "pid": os.getpid()})
    if ports_file:
        with open(ports_file + ".tmp", "w") as fh:
            fh.write(info)
        os.replace(ports_file + ".tmp", ports_file)
    print(info, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
