# Copyright: (c) 2026, trainkit.aws contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A caching HTTP proxy for apt, on loopback, for the local SSH nodes (tools/local_nodes.py).

    python3 tools/local_apt_cache.py PORT CACHE_DIR [ALLOWED_HOST ...]

apt on the nodes sends `GET http://deb.debian.org/...` here (Acquire::http::Proxy). Only the allowed hosts (Debian's
mirror by default) are fetched; anything else is refused with 403, so the nodes reach nothing else. Package files
(`/pool/`, immutable by name) are kept in CACHE_DIR and served from there afterwards; indexes are passed through.
"""

import hashlib
import http.server
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ALLOWED = ("deb.debian.org",)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cache_dir = None
    allowed = ALLOWED

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.log_date_time_string(), fmt % args))

    def refuse(self, code, reason):
        body = reason.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_HEAD(self):
        self.do_GET(head=True)

    def do_GET(self, head=False):
        url = urllib.parse.urlsplit(self.path)
        if url.scheme != "http" or url.hostname not in self.allowed:
            return self.refuse(403, "local apt cache: only http://{0} is served\n".format(", ".join(self.allowed)))
        cached = None
        if "/pool/" in url.path:
            cached = os.path.join(self.cache_dir, hashlib.sha256(self.path.encode()).hexdigest())
            if os.path.exists(cached):
                return self.send_file(cached, head)
        try:
            upstream = urllib.request.urlopen(
                urllib.request.Request(self.path, method="HEAD" if head else "GET"), timeout=60
            )
        except urllib.error.HTTPError as error:
            return self.refuse(error.code, "{0}\n".format(error.reason))
        except (urllib.error.URLError, OSError) as error:
            return self.refuse(502, "local apt cache: {0}\n".format(error))
        with upstream:
            if head or cached is None:
                data = b"" if head else upstream.read()
                self.send_response(upstream.status)
                for name in ("Content-Type", "Last-Modified", "ETag"):
                    if upstream.headers.get(name):
                        self.send_header(name, upstream.headers[name])
                self.send_header("Content-Length", upstream.headers.get("Content-Length", str(len(data))))
                self.end_headers()
                self.wfile.write(data)
                return None
            handle, partial = tempfile.mkstemp(dir=self.cache_dir, suffix=".partial")
            try:
                with os.fdopen(handle, "wb") as out:
                    shutil.copyfileobj(upstream, out)
                os.replace(partial, cached)
            except OSError as error:  # a broken download is never cached
                os.unlink(partial)
                return self.refuse(502, "local apt cache: {0}\n".format(error))
        return self.send_file(cached, head)

    def send_file(self, path, head):
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.debian.binary-package")
        self.send_header("Content-Length", str(os.path.getsize(path)))
        self.end_headers()
        if not head:
            with open(path, "rb") as handle:
                shutil.copyfileobj(handle, self.wfile)
        return None


def main():
    port, cache_dir = int(sys.argv[1]), sys.argv[2]
    os.makedirs(cache_dir, exist_ok=True)
    Handler.cache_dir = cache_dir
    Handler.allowed = tuple(sys.argv[3:]) or ALLOWED
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
