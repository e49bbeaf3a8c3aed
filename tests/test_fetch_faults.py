"""A real local server misbehaving in every way issue 3 lists, checked
through the whole check flow with a real SQLite store.

Each case runs twice: first both sources serve good pages (recorded as
new), then one source misbehaves while the other changes. The misbehaving
source must fail with the right reason, keep its latest version, flag no
change, while the other source's change is recorded; peak memory stays
bounded.
"""

from __future__ import annotations

import dataclasses
import gzip
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from policywatch.catalog import Catalog, Settings, Source, Vendor
from policywatch.check import Checker, SourceResult
from policywatch.store import Store, StoredVersion
from tests.conftest import corpus_page
from tests.server import (
    PageServer,
    Route,
    answers,
    in_turn,
    never_answers,
    resets,
    streams,
    trickles,
    truncates,
)

WATCHED = "watched/policy"
STEADY = "steady/privacy"
GOOD = corpus_page("deepseek/privacy-policy/2025-05-09T00-31-54Z")
STEADY_V1 = corpus_page("deepseek/privacy-policy/2025-07-04T12-31-34Z")
STEADY_V2 = corpus_page("deepseek/privacy-policy/2025-07-18T00-31-43Z")
MAX_BODY = 2_000_000
# Far below the 200 MB body and the 1 GiB gzip bomb: the cap and one copy.
PEAK_BOUND = 4 * MAX_BODY
FAST = Settings(
    host_delay=0.0,
    connect_timeout=5.0,
    read_timeout=5.0,
    deadline=20.0,
    retries=2,
    retry_backoff=0.01,
    retry_after_cap=5.0,
    max_body=MAX_BODY,
)
CHALLENGE = """<!DOCTYPE html><html><head><title>Just a moment...</title></head>
<body><div id="challenge-platform"><noscript>Enable JavaScript and cookies to
continue</noscript></div>
<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script>
</body></html>"""
SHELL = """<!DOCTYPE html><html><head><title>Policies</title>
<script src="/static/app.3f2a.js" defer></script></head>
<body><div id="root"></div></body></html>"""
SHORT = (
    "<html><body><h1>Training data</h1><p>"
    + "We describe here how content is handled by our services. " * 12
    + "</p></body></html>"
)


def gzip_bomb(gib: int = 1) -> bytes:
    """A valid gzip stream of ``gib`` GiB of zeros, about 1 MB long, built
    from one compressed MiB repeated (each block starts from a full flush)."""
    mib = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    count = gib * 1024
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(mib, crc)
    trailer = b"\x03\x00" + struct.pack("<II", crc, (count << 20) & 0xFFFFFFFF)
    return first + block * (count - 1) + trailer


@pytest.fixture(scope="session")
def bomb() -> bytes:
    """One gzip bomb for the whole session."""
    return gzip_bomb()


@dataclass
class Run:
    """The second check of a two-source catalog, with what it left behind."""

    results: dict[str, SourceResult]
    store: Store
    before: StoredVersion
    peak: int

    def check_untouched(self) -> None:
        """The watched source kept its version and no change but the
        steady source's was flagged; the steady source was checked."""
        assert self.store.latest(WATCHED) == self.before
        assert self.results[STEADY].outcome == "changed"
        changes = self.store.changes()
        assert [c.source.vendor_id for c in changes] == ["steady"]
        assert self.peak < PEAK_BOUND, f"peak memory {self.peak} bytes"

    def check_failed(self, reason: str, status: int | None) -> None:
        """The watched source failed for ``reason``, as the store recorded."""
        result = self.results[WATCHED]
        assert (result.outcome, result.reason) == ("failed", reason), result.error
        attempt = self.store.attempts(WATCHED, limit=1)[0]
        assert (attempt.outcome, attempt.reason) == ("failed", reason)
        assert attempt.status_code == status
        assert attempt.message == result.error
        self.check_untouched()


@pytest.fixture
def second_run(server: PageServer, tmp_path: Path) -> Iterator[Callable[..., Run]]:
    """Checks good pages once, then lets the test break the watched page
    and checks again (with the given settings) under tracemalloc."""
    stores: list[Store] = []

    def run(install: Callable[[PageServer], None], settings: Settings = FAST) -> Run:
        store = Store(f"sqlite:///{tmp_path / 'policywatch.db'}")
        stores.append(store)
        catalog = _catalog(server, FAST)
        sources = list(catalog.sources())
        server.serve("/watched", GOOD)
        server.serve("/steady", STEADY_V1)
        first = Checker(catalog, store).run(sources)
        assert [r.outcome for r in first] == ["new", "new"], first
        before = store.latest(WATCHED)
        assert before is not None

        install(server)
        server.serve("/steady", STEADY_V2)
        tracemalloc.start()
        try:
            results = Checker(_catalog(server, settings), store).run(sources)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        return Run({r.key: r for r in results}, store, before, peak)

    yield run
    for store in stores:
        store.close()


def _catalog(server: PageServer, settings: Settings) -> Catalog:
    def vendor(vendor_id: str, source_id: str, path: str) -> Vendor:
        source = Source(vendor_id, source_id, server.url(path), "privacy-policy")
        return Vendor(id=vendor_id, name=vendor_id.title(), sources=(source,))

    return Catalog(
        vendors=(
            vendor("watched", "policy", "/watched"),
            vendor("steady", "privacy", "/steady"),
        ),
        settings=settings,
    )


def _route(server: PageServer, path: str = "/watched", **kwargs: object) -> None:
    server.routes[path] = Route(**kwargs)  # type: ignore[arg-type]


FAULTS: dict[str, tuple[Callable[[PageServer], None], str, int | None]] = {
    "500": (lambda s: s.serve("/watched", "oops", status=500), "http-500", 500),
    "429": (lambda s: s.serve("/watched", "slow down", status=429), "http-429", 429),
    "reset": (lambda s: _route(s, handler=resets), "connection-reset", None),
    "truncated": (
        lambda s: _route(s, handler=truncates(GOOD[:20000])),
        "truncated",
        None,
    ),
    "200-MB": (lambda s: _route(s, handler=streams(200_000_000)), "too-large", 200),
    "redirect-loop": (
        lambda s: (
            s.serve("/watched", "", status=302, headers={"Location": "/elsewhere"}),
            s.serve("/elsewhere", "", status=301, headers={"Location": "/watched"}),
        ),
        "redirect-loop",
        301,
    ),
    "redirect-to-file": (
        lambda s: s.serve(
            "/watched", "", status=302, headers={"Location": "file:///etc/passwd"}
        ),
        "redirect-scheme",
        302,
    ),
    "403-challenge": (
        lambda s: s.serve("/watched", CHALLENGE, status=403),
        "challenge",
        403,
    ),
    "200-challenge": (lambda s: s.serve("/watched", CHALLENGE), "challenge", 200),
    "login-wall": (
        lambda s: s.serve(
            "/watched", "<html><body><p>Please sign in to continue.</p></body></html>"
        ),
        "login-wall",
        200,
    ),
    "error-page-200": (
        lambda s: s.serve(
            "/watched", "<html><body><h1>404</h1><p>Page not found.</p></body></html>"
        ),
        "error-page",
        200,
    ),
    "empty-200": (lambda s: s.serve("/watched", b""), "empty", 200),
    "script-shell": (lambda s: s.serve("/watched", SHELL), "script-shell", 200),
    "collapsed": (lambda s: s.serve("/watched", SHORT), "collapsed", 200),
    "pdf": (
        lambda s: s.serve(
            "/watched",
            b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
            headers={"Content-Type": "application/pdf"},
        ),
        "unsupported-content-type",
        200,
    ),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_fault_fails_with_reason_and_keeps_version(
    fault: str, second_run: Callable[..., Run]
) -> None:
    """Each misbehaviour is a failed check with its precise reason and
    status in the store; the latest version stays, no change is flagged,
    the other source's change is recorded, memory stays bounded."""
    install, reason, status = FAULTS[fault]

    run = second_run(install)

    run.check_failed(reason, status)


def test_retried_failures_say_how_many_tries(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A 500 is tried retries + 1 times, and the stored message says so."""
    run = second_run(lambda s: s.serve("/watched", "oops", status=500))

    run.check_failed("http-500", 500)
    assert server.hits["/watched"] == 1 + FAST.retries + 1
    assert "after 3 tries" in (run.results[WATCHED].error or "")


def test_403_without_challenge_is_not_retried(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A plain 403 is a permanent failure: one request, reason http-403."""
    run = second_run(lambda s: s.serve("/watched", "Forbidden", status=403))

    run.check_failed("http-403", 403)
    assert server.hits["/watched"] == 2


def test_silent_server_times_out(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A server that takes the request and never answers trips the read
    timeout on every try."""
    settings = dataclasses.replace(FAST, read_timeout=0.3)

    run = second_run(lambda s: _route(s, handler=never_answers), settings)

    run.check_failed("read-timeout", None)
    assert server.hits["/watched"] == 1 + FAST.retries + 1


def test_trickling_server_hits_the_deadline(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A server sending a byte a second never trips the read timeout but
    cannot hold the fetch past its deadline, and is not tried again."""
    settings = dataclasses.replace(FAST, read_timeout=5.0, deadline=1.5)

    run = second_run(lambda s: _route(s, handler=trickles(GOOD)), settings)

    run.check_failed("deadline", None)
    assert server.hits["/watched"] == 2


def test_gzip_bomb_is_refused(
    server: PageServer, second_run: Callable[..., Run], bomb: bytes
) -> None:
    """A 1 MB gzip body that inflates to 1 GiB is refused at the cap,
    without the inflated bytes ever being held."""
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}

    run = second_run(lambda s: s.serve("/watched", bomb, headers=headers))

    run.check_failed("too-large", 200)
    assert "decompressed" in (run.results[WATCHED].error or "")


def test_503_with_retry_after_then_success(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A 503 asking to retry after a second is waited out, and the page that
    follows is checked as usual: unchanged, no failure recorded."""
    install = in_turn(
        answers("busy", 503, {"Retry-After": "1", "Content-Type": "text/plain"}),
        answers(GOOD),
    )

    run = second_run(lambda s: _route(s, handler=install))

    assert run.results[WATCHED].outcome == "unchanged"
    assert server.hits["/watched"] == 3
    assert run.store.attempts(WATCHED, limit=1)[0].outcome == "unchanged"
    run.check_untouched()


def test_moved_page_is_shown_not_a_change(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """A 301 to a new URL with the same page: unchanged, and the new URL is
    reported and kept so the maintainer can update the catalog."""

    def install(s: PageServer) -> None:
        s.serve("/watched", "", status=301, headers={"Location": "/policies/training"})
        s.serve("/policies/training", GOOD)

    run = second_run(install)

    result = run.results[WATCHED]
    assert result.outcome == "unchanged"
    assert result.moved_to == server.url("/policies/training")
    assert run.store.source_state(WATCHED).moved_to == result.moved_to
    run.check_untouched()


def test_gzip_page_is_read_like_a_plain_one(
    server: PageServer, second_run: Callable[..., Run]
) -> None:
    """The same page sent gzip-compressed gives the same text: unchanged."""
    headers = {"Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"}

    run = second_run(
        lambda s: s.serve("/watched", gzip.compress(GOOD), headers=headers)
    )

    assert run.results[WATCHED].outcome == "unchanged"
    run.check_untouched()
