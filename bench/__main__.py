"""``python -m bench``: policywatch's check beside urlwatch and a floor, at
100 to 10,000 sources, cold, warm and with 5% of pages changed, with and
without ETag support on the server. See docs/benchmarks.md."""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import measure, pages, report
from bench.tools import Figures, Floor, Policywatch, Tool, Urlwatch, install_urlwatch

HERE = Path(__file__).resolve().parent


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class PageServer:
    """The page server process and its control endpoint."""

    def __init__(self, templates: Path, hosts: int) -> None:
        self.ports = _free_ports(hosts)
        env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
        command = [sys.executable, "-m", "bench.server", str(templates)]
        self.process = subprocess.Popen(
            [*command, *map(str, self.ports)], stdout=subprocess.PIPE, env=env
        )
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"ready":
            raise RuntimeError("the page server did not start")

    def urls(self, count: int) -> list[str]:
        hosts = len(self.ports)
        return [
            f"http://127.0.0.1:{self.ports[n % hosts]}/site-{n % hosts}/{n}.html"
            for n in range(count)
        ]

    def control(self, *, generation: int, etag: bool) -> None:
        query = f"generation={generation}&etag={int(etag)}"
        url = f"http://127.0.0.1:{self.ports[0]}/_control?{query}"
        with urllib.request.urlopen(url) as answer:
            answer.read()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def _templates(out: Path) -> Path:
    path = out / "templates.pickle"
    if not path.exists():
        print("cutting corpus pages into templates (once)...", flush=True)
        pages.save_templates(pages.build_templates(), path)
    return path


def _run(tool: Tool, label: str, etag: bool, log: list[Figures]) -> Figures:
    figures = tool.run(label, etag=etag)
    log.append(figures)
    print(report.line(figures), flush=True)
    return figures


def bench_size(
    server: PageServer, size: int, args: argparse.Namespace, log: list[Figures]
) -> None:
    """Every run at one size, each tool over the same pages."""
    urls = server.urls(size)
    folder = args.out / "runs" / str(size)
    tools: list[Tool] = [Policywatch(folder / "policywatch", urls, args.concurrency)]
    if not args.no_urlwatch and size <= args.urlwatch_max:
        tools.append(Urlwatch(folder / "urlwatch", urls, args.concurrency))
    for tool in tools:
        tool.prepare()

    server.control(generation=0, etag=True)
    for tool in tools:
        _run(tool, "cold", True, log)
    floor = Floor(folder / "floor", urls, args.concurrency)
    floor.prepare()
    _run(floor, "floor", False, log)

    branches = [(True, tools)]
    if not args.quick:
        copies = [t.copy(t.folder.with_name(t.folder.name + "-no-etag")) for t in tools]
        branches.append((False, copies))
    for generation, label in ((0, "warm"), (1, "changed")):
        for etag, branch in branches:
            server.control(generation=generation, etag=etag)
            for tool in branch:
                _run(tool, label, etag, log)
    expected = pages.expected_changed(size, 1)
    report.check_outcomes([f for f in log if f.size == size], expected)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--sizes", default="100,1000,10000", help="source counts")
    parser.add_argument(
        "--quick", action="store_true", help="ETag-on runs only (no copy without ETag)"
    )
    parser.add_argument("--hosts", type=int, default=8, help="simulated hosts (ports)")
    parser.add_argument(
        "--concurrency", type=int, default=16, help="requests in flight"
    )
    parser.add_argument("--no-urlwatch", action="store_true", help="skip urlwatch")
    parser.add_argument(
        "--urlwatch-max",
        type=int,
        default=1000,
        help="run urlwatch only at sizes up to this (default 1000: at 10,000 "
        "its own runs take over 30 minutes)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "out", help="work folder")
    args = parser.parse_args()
    args.out = args.out.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    sizes = [int(s) for s in args.sizes.split(",")]

    measure.become_subreaper()
    Urlwatch.venv = install_urlwatch(args.out / "urlwatch-venv")
    server = PageServer(_templates(args.out), args.hosts)
    machine = report.machine()
    print(machine, flush=True)
    started = time.monotonic()
    log: list[Figures] = []
    try:
        for size in sizes:
            bench_size(server, size, args, log)
    finally:
        server.stop()
    total = time.monotonic() - started
    print(report.tables(log))
    print(f"benchmark total: {total:.0f} s for sizes {args.sizes}")
    results = {
        "machine": machine,
        "python": platform.python_version(),
        "command": " ".join(["python -m bench", *sys.argv[1:]]),
        "total_seconds": total,
        "figures": [f.to_json() for f in log],
    }
    (args.out / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
