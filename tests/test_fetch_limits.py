"""Politeness at scale: a run over 1,000 sources on four local hosts keeps
to the per-host and global limits, reuses connections and finishes; the
minimum delay between two requests to one host is kept."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from policywatch.catalog import Catalog, Settings, Source, Vendor
from policywatch.check import Checker
from policywatch.fetch import Fetcher
from policywatch.store import Store
from tests.server import PageServer, Route, answers

SETTINGS = Settings(
    concurrency=8, per_host=2, host_delay=0.0, retries=0, read_timeout=30.0
)
PAGE = (
    "<html><body><h1>Privacy policy {n}</h1><p>"
    + "We process the data you give us to run the service and nothing else. " * 5
    + "</p></body></html>"
)


@pytest.fixture
def hosts() -> Iterator[list[PageServer]]:
    """Four page servers: four hosts as the fetcher sees them (host:port)."""
    servers = [PageServer().start() for _ in range(4)]
    yield servers
    for server in servers:
        server.stop()


@pytest.mark.slow
def test_thousand_sources_keep_to_the_per_host_limit(
    hosts: list[PageServer], tmp_path: Path
) -> None:
    """1,000 sources over four hosts: every source is recorded as new; no host
    ever sees more than per_host requests or connections at once; all hosts
    together never more than the global limit; connections are reused.

    Slow because each source goes through the whole check (store included).
    """
    vendors = []
    for index in range(250):
        sources = tuple(
            Source(
                f"v{index}",
                f"s{number}",
                server.serve(f"/{index}", PAGE.format(n=index)),
                "privacy-policy",
            )
            for number, server in enumerate(hosts)
        )
        vendors.append(Vendor(id=f"v{index}", name=f"V{index}", sources=sources))
    catalog = Catalog(vendors=tuple(vendors), settings=SETTINGS)
    store = Store(f"sqlite:///{tmp_path / 'policywatch.db'}")

    results = Checker(catalog, store).run(list(catalog.sources()))
    store.close()

    assert len(results) == 1000
    assert {r.outcome for r in results} == {"new"}
    for server in hosts:
        assert sum(server.hits.values()) == 250
        assert 1 <= server.max_in_flight <= SETTINGS.per_host
        assert server.max_open_connections <= SETTINGS.per_host
        # Reused: a handful of connections for 250 requests (the pool may
        # close an idle one and open another, never more than per_host at once).
        assert server.connections <= 10
    assert sum(s.max_in_flight for s in hosts) >= 4  # the hosts ran side by side


def test_global_limit_holds_across_many_hosts() -> None:
    """With more hosts than the global limit allows at once, the requests in
    flight over all hosts together never pass the global limit."""
    servers = [PageServer().start() for _ in range(6)]
    settings = dataclasses.replace(SETTINGS, concurrency=3, per_host=2)
    lock = threading.Lock()
    in_flight, peak = 0, 0

    def slow_page(request: BaseHTTPRequestHandler) -> None:
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.05)
        with lock:
            in_flight -= 1
        answers(PAGE.format(n=0))(request)

    urls = []
    for server in servers:
        for number in range(5):
            server.routes[f"/{number}"] = Route(handler=slow_page)
            urls.append(server.url(f"/{number}"))

    try:
        asyncio.run(_fetch_all(settings, urls))
    finally:
        for server in servers:
            server.stop()

    assert 2 <= peak <= settings.concurrency
    assert sum(sum(s.hits.values()) for s in servers) == 30


def test_host_delay_spaces_requests_to_one_host(server: PageServer) -> None:
    """With host_delay, two requests to one host start at least that far
    apart (measured at the server), even with per_host slots free."""
    settings = dataclasses.replace(SETTINGS, per_host=4, host_delay=0.3)
    urls = [server.serve(f"/{n}", PAGE.format(n=n)) for n in range(5)]

    asyncio.run(_fetch_all(settings, urls))

    starts = sorted(server.starts)
    gaps = [later - earlier for earlier, later in itertools.pairwise(starts)]
    assert len(gaps) == 4
    assert min(gaps) > 0.2, gaps


async def _fetch_all(settings: Settings, urls: list[str]) -> None:
    async with Fetcher(settings) as fetcher:
        await asyncio.gather(
            *(
                fetcher.fetch(Source("v", f"s{n}", url, "terms"))
                for n, url in enumerate(urls)
            )
        )
