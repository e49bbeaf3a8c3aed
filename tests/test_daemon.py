"""The daemon as a real process: real pages on 127.0.0.1 on second-scale
schedules, a real store, a real webhook receiver for notifications, and real
signals to reload and stop it."""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from policywatch.store import Store
from policywatch.store.models import ChangeRow, VersionRow
from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

pytestmark = pytest.mark.slow

DEEPSEEK = "deepseek/privacy-policy"
XAI = "xai-grok/privacy-policy"


class Visits:
    """Serves one page slowly or quickly, with an ETag as real servers do, and
    notes when each request started and how many were in flight at once."""

    def __init__(self, body: bytes, delay: float = 0.0) -> None:
        self.body = body
        self.delay = delay
        self.starts: list[float] = []
        self.in_flight = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.starts.append(time.time())
            self.in_flight += 1
            self.most_at_once = max(self.most_at_once, self.in_flight)
        try:
            time.sleep(self.delay)
            etag = f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'
            if request.headers.get("If-None-Match") == etag:
                request.send_response(304)
                request.send_header("ETag", etag)
                request.end_headers()
                return
            request.send_response(200)
            request.send_header("ETag", etag)
            request.send_header("Content-Type", "text/html; charset=utf-8")
            request.send_header("Content-Length", str(len(self.body)))
            request.end_headers()
            request.wfile.write(self.body)
        finally:
            with self.lock:
                self.in_flight -= 1

    def gaps(self, after: float = 0.0) -> list[float]:
        times = [t for t in self.starts if t >= after]
        return [b - a for a, b in itertools.pairwise(times)]


class Receiver:
    """A webhook receiver on 127.0.0.1 keeping every JSON body posted to it."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                receiver.posts.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class DaemonProcess:
    """``policywatch daemon`` running in a workspace, its JSON log in a file."""

    def __init__(self, workspace: Workspace, *args: str, env: dict[str, str]) -> None:
        self.log_path = workspace.root / f"daemon-{time.monotonic_ns()}.log"
        self.log_file = self.log_path.open("w")
        command = [sys.executable, "-m", "policywatch", "--log-json"]
        command += ["--log-level", "INFO", "daemon", *args]
        self.process = subprocess.Popen(
            command,
            env={**workspace.env, **env},
            cwd=workspace.root,
            stderr=self.log_file,
        )

    def lines(self) -> list[dict[str, Any]]:
        text = self.log_path.read_text()
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def wait_for(self, predicate: Callable[[], object], timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, self.log_path.read_text()
            time.sleep(0.05)

    def logged(self, words: str) -> bool:
        return any(words in line["message"] for line in self.lines())

    def started(self) -> float:
        """Wait until the scheduler runs; return the time it did."""
        self.wait_for(lambda: self.logged("daemon started"))
        return time.time()

    def stop(self, timeout: float = 30) -> int:
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout)
        self.log_file.close()
        return code

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.log_file.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver for apprise's json:// target."""
    hook = Receiver()
    yield hook
    hook.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def catalog(server: PageServer, extra: str = "") -> str:
    return f"""
[settings]
host_delay = "0s"
per_host = 8
notify_severity = "minor"

[[vendors]]
id = "deepseek"
name = "DeepSeek"
every = "1s"

[[vendors.claims]]
id = "no-training"
text = "DeepSeek says how it uses inputs."
sources = ["privacy-policy"]

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/deepseek")}"
kind = "privacy-policy"
every = "2s"

[[vendors.sources]]
id = "slow-page"
url = "{server.url("/slow")}"
kind = "terms"

[[vendors]]
id = "xai-grok"
name = "xAI Grok"
every = "1s"

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/xai")}"
kind = "privacy-policy"

[[vendors.sources]]
id = "rarely"
url = "{server.url("/rarely")}"
kind = "terms"
every = "1m"
{extra}"""


def on_time(starts: list[float], interval: float, jitter: float, slack: float) -> bool:
    """True when the k-th request came k intervals (each stretched by at most
    the jitter) after the first, give or take ``slack`` seconds of latency on
    a busy machine: no run skipped, none early, no drift."""
    first = starts[0]
    return len(starts) > 3 and all(
        k * interval - slack <= start - first <= k * (interval + jitter) + slack
        for k, start in enumerate(starts)
    )


def attempts(workspace: Workspace, key: str) -> int:
    store = Store(workspace.db_url)
    try:
        return len(store.attempts(key, limit=10_000))
    finally:
        store.close()


def test_daemon_checks_on_time_notifies_stops_and_resumes(
    server: PageServer, workspace: Workspace, receiver: Receiver
) -> None:
    """Each source is fetched on its schedule (1 s, 2 s; a slow page is never
    fetched twice at once); a page swapped for a later real capture becomes a
    change in the store and a message at the webhook; SIGTERM exits 0 with a
    consistent store; a restart does not check a source before it is due."""
    pages = {
        "/deepseek": Visits(corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z")),
        "/slow": Visits(corpus_page(f"{DEEPSEEK}/2025-05-09T00-31-54Z"), delay=1.6),
        "/xai": Visits(corpus_page(f"{XAI}/2024-04-30T00-31-33Z")),
        "/rarely": Visits(corpus_page(f"{XAI}/2024-08-28T18-33-07Z")),
    }
    for path, visits in pages.items():
        server.serve(path, b"", handler=visits)
    workspace.write_catalog(catalog(server))
    port = free_port()
    notify = {"POLICYWATCH_NOTIFY": f"json://127.0.0.1:{receiver.port}/hook"}
    daemon = DaemonProcess(workspace, "--listen", f"127.0.0.1:{port}", env=notify)
    try:
        daemon.started()
        daemon.wait_for(lambda: len(pages["/deepseek"].starts) >= 2, timeout=15)
        daemon.wait_for(lambda: attempts(workspace, "xai-grok/rarely"), timeout=15)

        pages["/deepseek"].body = corpus_page(f"{DEEPSEEK}/2025-07-18T00-31-43Z")
        swapped = time.time()
        daemon.wait_for(lambda: receiver.posts, timeout=15)
        daemon.wait_for(lambda: len(pages["/xai"].starts) >= 9, timeout=15)
        daemon.wait_for(lambda: len(pages["/deepseek"].starts) >= 6, timeout=20)
        health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz"))
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read()
        assert daemon.stop() == 0
        stopped = time.time()
    finally:
        daemon.kill()

    message = receiver.posts[0]
    assert message["title"].startswith("policywatch: deepseek/privacy-policy changed")
    assert "Vendor: DeepSeek" in message["message"]
    assert "Claims at risk:" in message["message"]
    assert "change-1.html" in message["message"]
    assert len(receiver.posts) == 1
    assert health["status"] == "ok" and health["failing"] == []
    assert re.search(rb"policywatch_changes_total\{severity=\"[a-z-]+\"\} 1.0", metrics)

    for path in ("/xai", "/deepseek"):
        interval = 1.0 if path == "/xai" else 2.0
        # The first check of every page is processed at once at start-up. The
        # slack allows for a CI machine running many jobs on two cores; a
        # wrong period or skipped runs still break the bound within a few runs.
        starts = pages[path].starts[1:]
        assert on_time(starts, interval, jitter=interval / 10, slack=2.5)
    slow = pages["/slow"]
    assert slow.most_at_once == 1 and len(slow.starts) >= 3
    assert all(g >= 1.5 for g in slow.gaps())
    assert all(v.most_at_once == 1 for v in pages.values())
    assert len(pages["/rarely"].starts) == 1
    assert daemon.logged("deepseek/slow-page is still being checked")
    assert any(t > swapped for t in pages["/deepseek"].starts)

    store = Store(workspace.db_url)
    try:
        versions = store.versions(DEEPSEEK)
        assert [v.seq for v in versions] == [1, 2]
        assert store.count(ChangeRow) == 1 and store.count(VersionRow) == 5
        for key, path in [(DEEPSEEK, "/deepseek"), (XAI, "/xai")]:
            assert len(store.attempts(key, limit=10_000)) == len(pages[path].starts)
        due = {row.key: row.next_due_at for row in store.source_states()}
    finally:
        store.close()
    with sqlite3.connect(workspace.root / "state" / "policywatch.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []

    rarely_due = due["xai-grok/rarely"]
    assert rarely_due is not None and rarely_due.timestamp() > stopped + 30
    before = len(pages["/xai"].starts)
    again = DaemonProcess(workspace, env=notify)
    try:
        restarted = again.started()
        again.wait_for(lambda: len(pages["/xai"].starts) >= before + 2, timeout=10)
        assert again.stop() == 0
    finally:
        again.kill()
    assert len(pages["/rarely"].starts) == 1
    first_after = [t for t in pages["/xai"].starts if t > restarted - 1]
    assert first_after and first_after[0] - restarted < 1.5
    assert attempts(workspace, "xai-grok/rarely") == 1


def bad_catalog(server: PageServer) -> str:
    return catalog(server).replace('kind = "terms"', 'kind = "legalese"', 1) + (
        '\n[defaults]\nevery = "soon"\n'
    )


def test_sighup_with_a_bad_catalog_keeps_the_old_one(
    server: PageServer, workspace: Workspace
) -> None:
    """A catalog with two mistakes delivered by SIGHUP is rejected: each
    mistake is logged, the daemon keeps checking on the old catalog, and a
    good catalog sent the same way afterwards takes effect."""
    for path in ("/deepseek", "/slow", "/xai", "/rarely", "/new"):
        server.serve(path, corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    path = workspace.write_catalog(catalog(server))
    daemon = DaemonProcess(workspace, "--poll", "1h", env={})
    try:
        daemon.started()
        daemon.wait_for(lambda: server.hits.get("/xai", 0) >= 1)

        path.write_text(bad_catalog(server))
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: daemon.logged("catalog not reloaded"))
        hits = server.hits["/xai"]
        daemon.wait_for(lambda: server.hits["/xai"] >= hits + 2, timeout=10)

        extra = (
            '\n[[vendors.sources]]\nid = "new"\n'
            f'url = "{server.url("/new")}"\nkind = "terms"\n'
        )
        path.write_text(catalog(server, extra))
        daemon.process.send_signal(signal.SIGHUP)
        daemon.wait_for(lambda: server.hits.get("/new", 0) >= 1, timeout=10)
        assert daemon.stop() == 0
    finally:
        daemon.kill()

    problems = [
        line["message"]
        for line in daemon.lines()
        if line["message"].startswith("catalog problem")
    ]
    assert any("kind 'legalese' is not one of" in p for p in problems)
    assert any("every: not a duration: 'soon'" in p for p in problems)
    assert all(
        line["level"] == "error"
        for line in daemon.lines()
        if "problem" in line["message"]
    )
    assert daemon.logged("catalog reloaded after SIGHUP")


def test_an_edited_catalog_is_picked_up_without_a_signal(
    server: PageServer, workspace: Workspace
) -> None:
    """With --poll 1s, a source whose URL is edited in sources.toml is fetched
    at its new URL within a few seconds, and no longer at the old one."""
    for path in ("/deepseek", "/slow", "/xai", "/rarely", "/new"):
        server.serve(path, corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    path = workspace.write_catalog(catalog(server))
    daemon = DaemonProcess(workspace, "--poll", "1s", env={})
    try:
        daemon.started()
        daemon.wait_for(lambda: server.hits.get("/slow", 0) >= 1)

        text = catalog(server).replace(server.url("/slow"), server.url("/new"))
        path.write_text(text)
        os.utime(path, (time.time() + 5, time.time() + 5))
        daemon.wait_for(lambda: server.hits.get("/new", 0) >= 1, timeout=10)
        slow_hits = server.hits["/slow"]
        daemon.wait_for(lambda: server.hits["/new"] >= 3, timeout=10)
        assert server.hits["/slow"] == slow_hits
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert Path(workspace.root / "state" / "policywatch.db").exists()
