"""A real HTTP server on 127.0.0.1 whose routes tests set and change.

Besides plain pages it can misbehave (see the functions after
:class:`PageServer`), and it counts the connections and requests open at
once, so tests can check the fetcher's limits from the server's side.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(
        default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"}
    )
    handler: Callable[[BaseHTTPRequestHandler], None] | None = None


class PageServer:
    """Serves :class:`Route` objects; counts requests per path."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        self.headers_seen: dict[str, list[dict[str, str]]] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.connections = 0
        self.open_connections = 0
        self.max_open_connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.starts: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's
                # algorithm and delayed ACKs add 40 ms to every answer.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with server.lock:
                    server.connections += 1
                    server.open_connections += 1
                    server.max_open_connections = max(
                        server.max_open_connections, server.open_connections
                    )

            def finish(self) -> None:
                with server.lock:
                    server.open_connections -= 1
                super().finish()

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.hits[self.path] = server.hits.get(self.path, 0) + 1
                    server.headers_seen.setdefault(self.path, []).append(
                        dict(self.headers.items())
                    )
                    server.starts.append(time.monotonic())
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    route = server.routes.get(self.path)
                try:
                    self.answer(route)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def answer(self, route: Route | None) -> None:
                if route is None:
                    self.send_error(404)
                    return
                if route.handler is not None:
                    route.handler(self)
                    return
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.page_server = self  # type: ignore[attr-defined]
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes | str, **kwargs: object) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.routes[path] = Route(body=data, **kwargs)  # type: ignore[arg-type]
        return self.url(path)

    def start(self) -> PageServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


Handler = Callable[[BaseHTTPRequestHandler], None]


def _stopping(request: BaseHTTPRequestHandler) -> threading.Event:
    event: threading.Event = request.server.page_server.stopping
    return event


def _headers(
    request: BaseHTTPRequestHandler, status: int, headers: dict[str, str]
) -> None:
    request.send_response(status)
    for name, value in headers.items():
        request.send_header(name, value)
    request.end_headers()


def never_answers(request: BaseHTTPRequestHandler) -> None:
    """Reads the request, then says nothing until the server stops."""
    _stopping(request).wait(30)
    request.close_connection = True


def trickles(body: bytes, every: float = 1.0) -> Handler:
    """Sends the headers, then one byte of ``body`` every ``every`` seconds."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        _headers(
            request,
            200,
            {
                "Content-Type": "text/html; charset=utf-8",
                "Content-Length": str(len(body)),
            },
        )
        request.close_connection = True
        for index in range(len(body)):
            if _stopping(request).wait(every):
                return
            try:
                request.wfile.write(body[index : index + 1])
                request.wfile.flush()
            except OSError:
                return

    return handle


def resets(request: BaseHTTPRequestHandler) -> None:
    """Reads the request and resets the connection (TCP RST) without a word."""
    request.connection.setsockopt(
        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
    )
    request.connection.close()
    request.close_connection = True


def truncates(body: bytes) -> Handler:
    """Announces twice the length of ``body``, sends it, and hangs up."""

    def handle(request: BaseHTTPRequestHandler) -> None:
        _headers(
            request,
            200,
            {
                "Content-Type": "text/html; charset=utf-8",
                "Content-Length": str(len(body) * 2),
            },
        )
        request.wfile.write(body)
        request.close_connection = True

    return handle


def streams(size: int, *, announce: bool = False) -> Handler:
    """Generates ``size`` bytes of HTML as it sends them (never held whole),
    chunked unless ``announce`` sends a Content-Length."""
    piece = b"<p>" + b"policy text " * 5000 + b"</p>\n"

    def handle(request: BaseHTTPRequestHandler) -> None:
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if announce:
            headers["Content-Length"] = str(size)
        else:
            headers["Transfer-Encoding"] = "chunked"
        _headers(request, 200, headers)
        request.close_connection = True
        sent = 0
        try:
            while sent < size:
                data = piece[: size - sent]
                if announce:
                    request.wfile.write(data)
                else:
                    request.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                sent += len(data)
            if not announce:
                request.wfile.write(b"0\r\n\r\n")
        except OSError:
            return

    return handle


def in_turn(*handlers: Handler) -> Handler:
    """Answers the first request with the first handler, and so on; the last
    one answers every request after."""
    count = 0
    lock = threading.Lock()

    def handle(request: BaseHTTPRequestHandler) -> None:
        nonlocal count
        with lock:
            index = min(count, len(handlers) - 1)
            count += 1
        handlers[index](request)

    return handle


def answers(
    body: bytes | str = b"", status: int = 200, headers: dict[str, str] | None = None
) -> Handler:
    """A plain answer, as a handler to use with :func:`in_turn`."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    fields = (
        {"Content-Type": "text/html; charset=utf-8"} if headers is None else headers
    )

    def handle(request: BaseHTTPRequestHandler) -> None:
        _headers(request, status, {**fields, "Content-Length": str(len(data))})
        request.wfile.write(data)

    return handle
