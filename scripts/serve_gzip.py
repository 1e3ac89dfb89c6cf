"""Serve a built site on 127.0.0.1 the way a real host does: text gzip-compressed, with validators.

Python's `http.server` sends every file uncompressed, which makes a page look several times heavier
to Lighthouse than it is on any real host. This server compresses text responses (HTML, CSS, JS,
JSON, SVG, XML) when the client accepts gzip, and leaves already-compressed files (fonts, PNG,
.gz) as they are.

    python scripts/serve_gzip.py site/ [--port 8000]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import io
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

COMPRESSIBLE = (
    "text/",
    "application/javascript",
    "application/json",
    "application/xml",
    "image/svg+xml",
)


class GzipHandler(http.server.SimpleHTTPRequestHandler):
    """A static file handler that gzips text when the client accepts it."""

    protocol_version = "HTTP/1.1"
    extensions_map = {  # noqa: RUF012 - the base class declares it as a plain class attribute
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "application/javascript",
        ".json": "application/json",
        ".svg": "image/svg+xml",
        ".woff2": "font/woff2",
    }

    def log_message(self, format, *args):  # a quiet server: the callers print what matters
        pass

    def send_head(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            if not self.path.split("?", 1)[0].endswith("/"):
                return super().send_head()  # the base class redirects to the slash URL
            path = path / "index.html"
        if not path.is_file():
            return super().send_head()  # 404 and the directory cases, as usual
        ctype = self.guess_type(str(path))
        accepts = "gzip" in self.headers.get("Accept-Encoding", "")
        body = path.read_bytes()
        if accepts and ctype.startswith(COMPRESSIBLE):
            body = gzip.compress(body, compresslevel=9, mtime=0)
            self.send_response(200)
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Vary", "Accept-Encoding")
        else:
            self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        return io.BytesIO(body)

    def copyfile(self, source, outputfile):
        shutil.copyfileobj(source, outputfile)


class QuietServer(http.server.ThreadingHTTPServer):
    """Clients that drop a kept-alive connection are normal here, not an error to print."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@contextmanager
def serving(directory: Path, port: int = 0) -> Iterator[str]:
    """Serve `directory` gzipped on 127.0.0.1 in a background thread; yield the base URL."""
    handler = functools.partial(GzipHandler, directory=str(directory))
    server = QuietServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    with serving(args.directory, args.port) as url:
        print(f"serving {args.directory} gzipped on {url}/ (Ctrl-C stops)")
        with suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
