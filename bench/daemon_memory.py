"""The daemon's memory over a long run with thousands of sources.

Starts a local page server with N pages (ETags, so unchanged pages answer 304
as real servers do; a few pages change every cycle, so versions, diffs and
triage run too), a catalog of N sources on one schedule, and
``policywatch daemon`` as a real process. Samples the daemon's resident memory
once per cycle and prints it, then the ratio of the last sample to the first
one after warm-up (cycle 2) and to the one half-way through the run. Flat
memory is a ratio near 1.0.

    python bench/daemon_memory.py --sources 2000 --every 30s --cycles 10
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TEXT = (
    "we collect personal data when you use our services including content you "
    "provide account information usage data and device information we may use "
    "this data to provide improve and develop our services and models you can "
    "opt out of training in your settings retention periods vary by data type"
)
WORDS = TEXT.split(" ")


class Pages:
    """N policy pages; ``bump`` changes a few of them."""

    def __init__(self, count: int) -> None:
        self.revisions = [0] * count
        self.hits = 0
        self.lock = threading.Lock()

    def body(self, number: int) -> bytes:
        rng = random.Random(number * 1000 + self.revisions[number])
        paragraphs = [" ".join(rng.choices(WORDS, k=60)) for _ in range(6)]
        html = f"<html><body><main><h1>Privacy policy {number}</h1>"
        html += "".join(
            f"<h2>Section {i}</h2><p>{p}.</p>" for i, p in enumerate(paragraphs)
        )
        return (html + "</main></body></html>").encode()

    def bump(self, share: float) -> None:
        for number in random.sample(
            range(len(self.revisions)), max(1, int(len(self.revisions) * share))
        ):
            self.revisions[number] += 1


def serve(pages: Pages) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            number = int(self.path.strip("/").split("/")[-1])
            with pages.lock:
                pages.hits += 1
            body = pages.body(number)
            etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
            if self.headers.get("If-None-Match") == etag:
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("ETag", etag)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def catalog(port: int, count: int, every: str) -> str:
    lines = [
        "[settings]",
        'host_delay = "0s"',
        "per_host = 32",
        "concurrency = 64",
        f'[defaults]\nevery = "{every}"',
    ]
    for vendor in range(count // 100 + 1):
        numbers = range(vendor * 100, min(count, vendor * 100 + 100))
        if not numbers:
            break
        lines += [f'[[vendors]]\nid = "v{vendor}"\nname = "Vendor {vendor}"']
        for number in numbers:
            lines += [
                f'[[vendors.sources]]\nid = "p{number}"\n'
                f'url = "http://127.0.0.1:{port}/p/{number}"\nkind = "privacy-policy"'
            ]
    return "\n".join(lines) + "\n"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--every", default="30s")
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--change-share", type=float, default=0.01)
    args = parser.parse_args()
    seconds = float(args.every.rstrip("s"))

    pages = Pages(args.sources)
    httpd = serve(pages)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "sources.toml").write_text(
            catalog(httpd.server_address[1], args.sources, args.every)
        )
        env = {
            **os.environ,
            "POLICYWATCH_SOURCES": str(root / "sources.toml"),
            "POLICYWATCH_DB": f"sqlite:///{root / 'state' / 'policywatch.db'}",
            "POLICYWATCH_SNAPSHOTS": str(root / "snapshots"),
            "POLICYWATCH_REPORTS": str(root / "reports"),
        }
        log = (root / "daemon.log").open("w")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "policywatch", "--log-level", "WARNING", "daemon"],
            env=env,
            cwd=root,
            stderr=log,
        )
        samples: list[float] = []
        print(f"{args.sources} sources every {args.every}, {args.cycles} cycles")
        print("cycle  rss_mib  fetches_this_cycle")
        try:
            for cycle in range(1, args.cycles + 1):
                before = pages.hits
                time.sleep(seconds)
                assert daemon.poll() is None, (root / "daemon.log").read_text()[-2000:]
                samples.append(rss_mib(daemon.pid))
                print(
                    f"{cycle:5d}  {samples[-1]:7.1f}  {pages.hits - before:8d}",
                    flush=True,
                )
                pages.bump(args.change_share)
        finally:
            daemon.send_signal(signal.SIGTERM)
            code = daemon.wait(120)
            httpd.shutdown()
        print(f"exit status after SIGTERM: {code}")
        first, last = samples[min(1, len(samples) - 1)], samples[-1]
        peak = max(samples)
        print(
            f"rss cycle 2: {first:.1f} MiB, last: {last:.1f} MiB, peak: {peak:.1f} MiB"
        )
        print(f"ratio last / cycle 2: {last / first:.3f}")
        middle = samples[len(samples) // 2]
        print(f"ratio last / cycle {len(samples) // 2 + 1}: {last / middle:.3f}")


if __name__ == "__main__":
    main()
