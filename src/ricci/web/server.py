"""The playground's server: the standard library's ``ThreadingHTTPServer`` serving the page
(an allow-list of the files under ``static/``, made at startup) and the JSON API of
:mod:`ricci.web.api` (docs/playground.md).

Every answer carries a strict Content-Security-Policy and ``nosniff``; a request body is
read only up to 64 KiB (a larger one is a 413); at most two computations run at once (a
third waits up to 10 s, then gets a 503), each under a time limit, so a runaway program
never stops the server answering others; an error is a JSON body, never a traceback.
"""

from __future__ import annotations

import json
import mimetypes
import socket
import sys
import threading
import webbrowser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

from . import api

__all__ = ["CSP", "MAX_BODY", "PlaygroundServer", "STATIC", "make_server", "serve"]

#: the page's files
STATIC = Path(__file__).resolve().parent / "static"
#: the largest request body read
MAX_BODY = 64 * 1024
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".mjs": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".json": "application/json", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon",
          ".woff2": "font/woff2", ".woff": "font/woff", ".ttf": "font/ttf", ".txt": "text/plain; charset=utf-8",
          ".map": "application/json"}
_POST: dict[str, Callable[[Any, float], api.Answer]] = {
    "/api/inspect": api.inspect, "/api/derive": api.derive, "/api/check": api.check}
_GET: dict[str, Callable[[], api.Answer]] = {"/api/health": api.health, "/api/examples": api.examples}


def _allow_list(root: Path) -> dict[str, Path]:
    """URL path under /static/ -> file, for every regular file under ``root`` (none that
    resolves outside it)."""
    out: dict[str, Path] = {}
    if not root.is_dir():
        return out
    base = root.resolve()
    for p in root.rglob("*"):
        try:
            real = p.resolve()
        except OSError:
            continue
        if real.is_file() and real.is_relative_to(base) and not any(part.startswith(".") for part in
                                                                     p.relative_to(root).parts):
            out[p.relative_to(root).as_posix()] = real
    return out


class PlaygroundServer(ThreadingHTTPServer):
    """A ``ThreadingHTTPServer`` with the playground's settings."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], *, seconds: float, static: Path) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, Handler)
        #: the time limit of one computation
        self.seconds = seconds
        #: the computations running or waiting to run
        self.slots = threading.BoundedSemaphore(2)
        #: how long a computation waits for a slot before a 503
        self.wait = 10.0
        self.files = _allow_list(static)

    @property
    def url(self) -> str:
        host, port = str(self.server_address[0]), int(self.server_address[1])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}/"

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hung up, or a bug outside the handler: one line, no traceback
        e = sys.exc_info()[1]
        if not isinstance(e, (ConnectionError, TimeoutError)):
            sys.stderr.write(f"ricci playground: error answering {client_address[0]}: {type(e).__name__}\n")


class Handler(BaseHTTPRequestHandler):
    """One request: a route of the API, a static file, or a JSON error."""

    server: PlaygroundServer
    timeout = 30  # a client that sends nothing for this long is dropped

    def version_string(self) -> str:
        return "ricci-playground"
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Quiet: no line per request."""

    # -- answers
    def _send(self, status: int, body: bytes, content_type: str, *, api_route: bool) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Cache-Control", "no-store" if api_route else "no-cache")
        if status == 503:
            self.send_header("Retry-After", "2")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self._send(status, data, "application/json; charset=utf-8", api_route=True)

    def _error(self, status: int, message: str, hint: str | None = None) -> None:
        self._json(status, api.error_body(message, hint=hint))

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The base class's errors (a malformed request line, an unknown method) as JSON."""
        self.close_connection = True
        try:
            self._error(code, message or "bad request")
        except OSError:
            pass

    # -- routes
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        self._guarded(self._get)

    def do_HEAD(self) -> None:  # noqa: N802
        self._guarded(self._get)

    def do_POST(self) -> None:  # noqa: N802
        self._guarded(self._post)

    def _other(self) -> None:
        self._guarded(lambda: self._error(405, f"{self.command} is not allowed here"))

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _other

    def _guarded(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # noqa: BLE001 - a 500, never a traceback
            sys.stderr.write(f"ricci playground: internal error ({type(e).__name__}) on {self.command} "
                             f"{self._path()[:80]}\n")
            try:
                self._error(500, "internal error; this is a bug in the ricci playground")
            except OSError:
                pass

    def _path(self) -> str:
        return urlsplit(self.path).path

    def _get(self) -> None:
        path = self._path()
        if path in _GET:
            status, body = _GET[path]()
            return self._json(status, body)
        if path in _POST:
            return self._error(405, f"{path} takes a POST with a JSON body")
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(unquote(path[len("/static/"):]))
        if path == "/favicon.ico" and "favicon.ico" in self.server.files:
            return self._static("favicon.ico")
        return self._error(404, f"no such page: {path[:200]}")

    def _static(self, name: str) -> None:
        real = self.server.files.get(name)
        if real is None:
            if name == "index.html":
                return self._error(503, "the playground's page is missing (src/ricci/web/static/index.html); "
                                   "the API still answers under /api/")
            return self._error(404, f"no such file: {name[:200]}")
        try:
            data = real.read_bytes()
        except OSError:
            return self._error(404, f"no such file: {name[:200]}")
        ctype = _TYPES.get(real.suffix.lower()) or mimetypes.guess_type(real.name)[0] or "application/octet-stream"
        self._send(200, data, ctype, api_route=False)

    def _post(self) -> None:
        path = self._path()
        route = _POST.get(path)
        if route is None:
            if path in _GET:
                return self._error(405, f"{path} takes a GET")
            return self._error(404, f"no such route: {path[:200]}")
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            return self._error(411, "send the body with a Content-Length (no chunked transfer encoding)")
        raw = self.headers.get("Content-Length")
        try:
            length = int(raw) if raw is not None else -1
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return self._error(400, "a POST needs a valid Content-Length header")
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read
            return self._error(413, f"the request body is {length} bytes, more than the limit of {MAX_BODY}",
                               hint="send a shorter program")
        data = self.rfile.read(length)
        try:
            req = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return self._error(400, "the request body is not JSON (UTF-8)")
        if not isinstance(req, dict):
            return self._error(400, "the request body is a JSON object")
        if not self.server.slots.acquire(timeout=self.server.wait):
            return self._error(503, "the playground is busy with other derivations; try again in a moment")
        try:
            status, body = route(req, self.server.seconds)
        finally:
            self.server.slots.release()
        self._json(status, body)


def make_server(host: str = "127.0.0.1", port: int = 8000, *, seconds: float = api.SECONDS,
                static: Path | str | None = None) -> PlaygroundServer:
    """A playground server bound to ``host:port`` (port 0: any free port; see ``.url``),
    not yet serving: call ``serve_forever()`` (in a thread, for a test) and ``shutdown()``.
    ``seconds`` is the time limit of one computation; ``static`` the page's folder."""
    return PlaygroundServer((host, port), seconds=seconds, static=Path(static) if static is not None else STATIC)


def serve(host: str = "127.0.0.1", port: int = 8000, open_browser: bool = False) -> None:
    """Serve the playground until interrupted (Ctrl-C returns quietly)."""
    server = make_server(host, port)
    try:
        print(f"ricci playground: {server.url}", flush=True)
        if open_browser:
            webbrowser.open(server.url)
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
