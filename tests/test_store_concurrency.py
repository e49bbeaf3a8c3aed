"""Two checks at once on one database, SQLite or PostgreSQL, record each
version exactly once: no duplicate, no loss; and sources storing the same
bytes at once share one row without colliding."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from policywatch.store import Store, integrity
from policywatch.store.models import ChangeRow, SnapshotRow, TextRow, VersionRow
from tests.server import PageServer
from tests.store_helpers import record_text
from tests.store_scenario import Scenario

ROUNDS = 2


@pytest.mark.slow
def test_two_processes_record_each_version_once(
    server: PageServer, tmp_path: Path, db_url: str
) -> None:
    """Over two rounds (all new, then half the pages at a later capture), two
    `policywatch check` processes run at the same time each round; each
    source's versions are exactly the texts it served, in order, once each,
    with one change between each two, and the integrity check passes."""
    scenario = Scenario(server, tmp_path, db_url, count=6)

    for round_ in range(ROUNDS):
        scenario.serve(round_)
        checks = [scenario.start_check() for _ in range(2)]
        errors = [c.communicate(timeout=300)[1].decode() for c in checks]
        assert all(c.returncode in (0, 1) for c in checks), errors

    store = Store(db_url)
    for i in range(scenario.count):
        recorded = [v.text for v in store.versions(scenario.key(i))]
        assert recorded == scenario.expected_line(i, ROUNDS), scenario.key(i)
    assert store.count(ChangeRow) == store.count(VersionRow) - scenario.count
    assert integrity.check(store, deep=True) == []
    store.close()


def test_sources_storing_the_same_page_at_once(store: Store) -> None:
    """Eight threads recording the same page and text for eight sources at
    once all succeed, and the page and text are stored once."""
    keys = [f"mirror{i}/terms" for i in range(8)]
    store.sync_sources([(*k.split("/"), "http://127.0.0.1/m", "terms") for k in keys])
    barrier = threading.Barrier(len(keys))

    def record(key: str) -> int | None:
        barrier.wait()
        return record_text(store, key, "shared text", raw="<p>shared</p>")

    with ThreadPoolExecutor(len(keys)) as pool:
        versions = list(pool.map(record, keys))

    assert all(versions)
    assert store.count(SnapshotRow) == 1
    assert store.count(TextRow) == 1
    assert store.count(VersionRow) == len(keys)
