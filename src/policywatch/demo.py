"""The offline demo: the whole loop on real pages served from 127.0.0.1.

It serves bundled real captures of two policy pages, checks them (two new
versions), swaps in later real captures, checks again (two changes, one of
which removes a sentence a claim quotes as evidence) and writes the report.
Nothing leaves the machine.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

from policywatch.catalog import Catalog, load
from policywatch.check import Checker, SourceResult
from policywatch.report import write_reports
from policywatch.store import Store

PAGES = {
    "/openai/model-training": (
        "openai-chatgpt_model-training-data-use_2026-01-30T11-30-06Z",
        "openai-chatgpt_model-training-data-use_2026-05-18T10-30-06Z",
    ),
    "/deepseek/privacy-policy": (
        "deepseek_privacy-policy_2025-07-04T12-31-34Z",
        "deepseek_privacy-policy_2025-07-18T00-31-43Z",
    ),
}


def page(name: str) -> bytes:
    """A bundled real page, decompressed."""
    data = resources.files("policywatch").joinpath(f"demo_pages/{name}.html.gz")
    return gzip.decompress(data.read_bytes())


def catalog_text(base: str) -> str:
    """The demo's catalog, its sources served from ``base``."""
    template = resources.files("policywatch").joinpath("demo_pages/sources.toml")
    return template.read_text(encoding="utf-8").replace("$BASE", base)


@dataclass
class DemoServer:
    """Serves one capture of each demo page; :meth:`swap` moves to the later one."""

    later: bool = False

    def body(self, path: str) -> bytes | None:
        names = PAGES.get(path)
        return page(names[1 if self.later else 0]) if names else None

    def swap(self) -> None:
        self.later = True


@contextmanager
def serving(demo: DemoServer) -> Iterator[str]:
    """Serve ``demo`` on 127.0.0.1 and yield its base URL."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = demo.body(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


Say = Callable[[str], None]


def run(folder: Path, say: Say = print) -> list[SourceResult]:
    """Run the demo in ``folder`` and return the second check's results."""
    folder.mkdir(parents=True, exist_ok=True)
    demo = DemoServer()
    with serving(demo) as base:
        catalog_path = folder / "sources.toml"
        catalog_path.write_text(catalog_text(base), encoding="utf-8")
        catalog = load(catalog_path)
        store = Store(f"sqlite:///{folder / 'state' / 'policywatch.db'}")
        try:
            say(f"Serving two real policy pages on {base}")
            _check(catalog, store, folder, "First check (the earlier captures)", say)
            demo.swap()
            say("Swapped in the later real captures of both pages.")
            results = _check(catalog, store, folder, "Second check", say)
            written = write_reports(store, catalog, folder / "reports")
        finally:
            store.close()
    index = folder / "reports" / "index.html"
    say(f"Report: {index} ({len(written)} files in {index.parent})")
    return results


def _check(
    catalog: Catalog, store: Store, folder: Path, title: str, say: Say
) -> list[SourceResult]:
    say(f"{title}:")
    checker = Checker(catalog, store, snapshots=folder / "snapshots")
    results = checker.run(list(catalog.sources()))
    width = max(len(r.key) for r in results)
    for result in results:
        line = f"  {result.key:<{width}}  {result.outcome}"
        if result.change is not None:
            line += f" (change {result.change}, {result.severity})"
            if result.claims_at_risk:
                line += f", claims at risk: {', '.join(result.claims_at_risk)}"
        if result.error:
            line += f": {result.error}"
        say(line)
    return results
