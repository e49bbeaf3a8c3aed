"""The benchmark's page server: many simulated hosts (ports) on 127.0.0.1.

Run in its own process (``python -m bench.server TEMPLATES PORT...``) so that
serving pages never takes CPU time from the program being measured. A small
HTTP/1.1 server on asyncio protocols, keep-alive, no framework: it is fast
enough not to be the bottleneck. ``GET /_control?generation=G&etag=0|1``
switches every port to another generation of pages or ETag support.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from bench.pages import Template, load_templates, page_body, words_of


class State:
    """What every port serves: the generation of pages and ETag support."""

    def __init__(self, templates: list[Template]) -> None:
        self.templates = templates
        self.words = words_of(templates)
        self.generation = 0
        self.etag = True
        self.requests = 0


class PageProtocol(asyncio.Protocol):
    """One client connection; requests are answered in order."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.answer(head.decode("latin-1"))

    def answer(self, head: str) -> None:
        lines = head.split("\r\n")
        target = lines[0].split(" ")[1] if " " in lines[0] else "/"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.state.requests += 1
        status, extra, body = self.respond(target, headers)
        reply = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *extra]
        out = ("\r\n".join(reply) + "\r\n\r\n").encode() + body
        assert self.transport is not None
        self.transport.write(out)

    def respond(
        self, target: str, headers: dict[str, str]
    ) -> tuple[str, list[str], bytes]:
        url = urlsplit(target)
        if url.path == "/_control":
            query = parse_qs(url.query)
            if "generation" in query:
                self.state.generation = int(query["generation"][0])
            if "etag" in query:
                self.state.etag = query["etag"][0] == "1"
            return "200 OK", ["Content-Type: text/plain"], b"ok"
        name = url.path.rsplit("/", 1)[-1]
        if not name.endswith(".html") or not name[:-5].isdigit():
            return "404 Not Found", ["Content-Type: text/plain"], b"not found"
        number = int(name[:-5])
        state = self.state
        body, etag = page_body(state.templates, state.words, number, state.generation)
        extra = ["Content-Type: text/html; charset=utf-8"]
        if state.etag:
            extra.append(f"ETag: {etag}")
            if headers.get("if-none-match") == etag:
                return "304 Not Modified", [f"ETag: {etag}"], b""
        return "200 OK", extra, body


async def serve(templates_path: Path, ports: list[int]) -> None:
    state = State(load_templates(templates_path))
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(
            lambda: PageProtocol(state), "127.0.0.1", port, backlog=1024
        )
        for port in ports
    ]
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    templates_path = Path(sys.argv[1])
    ports = [int(p) for p in sys.argv[2:]]
    asyncio.run(serve(templates_path, ports))


if __name__ == "__main__":
    main()
