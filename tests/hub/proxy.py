#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A forward HTTP proxy on loopback for ptm's Hub tests (standard library
only).  It takes absolute-URI requests ("GET http://host:port/path
HTTP/1.1"), forwards each one to its origin with a fresh connection (no
redirect is followed: a 302 goes back to the client as it came), relays the
status, the headers and the body (streamed in chunks), and records every
request: {"line": request line, "auth": whether Authorization was present,
"host": "host:port"}.  CONNECT (https tunnels) is refused with 501."""

import http.client
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "proxy-authenticate",
              "te", "trailer", "transfer-encoding", "upgrade"}


class Proxy:
    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.log = []
        self.lock = threading.Lock()
        self._srv = None
        self.port = None

    @property
    def url(self):
        return "http://%s:%d" % (self.host, self.port)

    def entries(self):
        with self.lock:
            return list(self.log)

    def clear(self):
        with self.lock:
            self.log.clear()

    def start(self):
        self._srv = ThreadingHTTPServer((self.host, 0), make_handler(self))
        self._srv.daemon_threads = True
        self.port = self._srv.server_address[1]
        threading.Thread(target=self._srv.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._srv.shutdown()
        self._srv.server_close()


def make_handler(proxy):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            pass

        def fail(self, status, text):
            body = text.encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def forward(self):
            u = urllib.parse.urlsplit(self.path)
            with proxy.lock:
                proxy.log.append({"line": self.requestline, "auth": self.headers.get("Authorization") is not None,
                                  "host": u.netloc})
            if u.scheme != "http" or not u.hostname:
                return self.fail(400, "not an absolute http URI: %s" % self.path)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            target = u.path or "/"
            if u.query:
                target += "?" + u.query
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=30)
            try:
                conn.request(self.command, target, body=body, headers=headers)
                resp = conn.getresponse()
            except OSError as ex:
                conn.close()
                return self.fail(502, "proxy: %s" % ex)
            try:
                self.send_response(resp.status, resp.reason)
                length = resp.getheader("Content-Length")
                for k, v in resp.getheaders():
                    if k.lower() not in HOP_BY_HOP:
                        self.send_header(k, v)
                no_body = self.command == "HEAD" or resp.status in (204, 304) or 100 <= resp.status < 200
                if length is None and not no_body:  # length unknown: the end of the body is the close
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                if no_body:
                    return
                while True:
                    chunk = resp.read(16384)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                self.close_connection = True
            finally:
                conn.close()

        def do_CONNECT(self):
            with proxy.lock:
                proxy.log.append({"line": self.requestline, "auth": False, "host": self.path})
            self.fail(501, "CONNECT is not supported by this test proxy")

        do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = forward

    return Handler
