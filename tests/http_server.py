"""A tiny HTTP server on 127.0.0.1 for tests: routes map a path to a function that writes the response.

Usage:
    with LocalServer({"/page": html("<p>hi</p>")}) as server:
        server.url("/page")
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable
from urllib.parse import urlsplit

Route = Callable[[BaseHTTPRequestHandler], None]


def respond(status: int = 200, body: bytes | str = b"", content_type: str = "text/html; charset=utf-8",
            headers: dict[str, str] | None = None, delay: float = 0.0) -> Route:
    """A route that answers with a fixed status, body and headers (after an optional delay)."""
    data = body.encode() if isinstance(body, str) else body

    def route(handler: BaseHTTPRequestHandler) -> None:
        if delay:
            time.sleep(delay)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        try:
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (time-out tests)
            pass

    return route


def html(body: str, status: int = 200) -> Route:
    """A route answering a small HTML page."""
    return respond(status, f"<html><head><title>t</title></head><body>{body}</body></html>")


def json_route(payload: object, status: int = 200, delay: float = 0.0) -> Route:
    """A route answering JSON."""
    return respond(status, json.dumps(payload), "application/json", delay=delay)


def redirect(location: str, status: int = 302) -> Route:
    """A route answering a redirect to location."""
    return respond(status, b"", headers={"Location": location})


def endless(content_type: str = "text/plain", chunk: bytes = b"x" * 65536, max_seconds: float = 10.0) -> Route:
    """A route that streams without end (bounded at max_seconds so the test server always stops)."""

    def route(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.end_headers()
        stop = time.monotonic() + max_seconds
        try:
            while time.monotonic() < stop:
                handler.wfile.write(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass

    return route


class LocalServer:
    """A threaded HTTP server on 127.0.0.1 and a free port; records the paths (with query) it was asked for."""

    def __init__(self, routes: dict[str, Route]):
        self.routes = routes
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                server.headers.append(dict(self.headers))
                route = server.routes.get(urlsplit(self.path).path)
                if route is None:
                    respond(404, "not found", "text/plain")(self)
                else:
                    route(self)

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address) -> None:  # clients that hang up are expected
                pass

        self._httpd = Server(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    def url(self, path: str = "/") -> str:
        """The full URL of path on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> "LocalServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
