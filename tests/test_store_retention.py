"""`gc` drops old fetch attempts and raw pages no version came from, by
policy, and never a version, its text or the page it came from; on SQLite
and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from click.testing import CliRunner

from policywatch.cli import main
from policywatch.store import Attempt, Store, integrity
from policywatch.store.models import FetchAttemptRow, SnapshotRow, TextRow
from policywatch.store.retention import Policy, collect
from tests.store_helpers import DAY, T0, record_text

KEY = "acme/terms"
NOW = T0 + 200 * DAY


@pytest.fixture
def year(store: Store) -> Store:
    """acme/terms checked on days 0..199: a new text on days 0 and 100, and
    a page whose markup differs every day (a new snapshot each fetch)."""
    store.sync_sources([("acme", "terms", "http://127.0.0.1/t", "terms")])
    for day in range(0, 200, 10):
        text = "first" if day < 100 else "second"
        record_text(store, KEY, text, T0 + day * DAY, raw=f"<p>{text}</p><!--{day}-->")
    store.record(KEY, Attempt("failed", started_at=T0 + 199 * DAY, reason="timeout"))
    return store


def test_policy_drops_old_attempts_and_unversioned_pages(year: Store) -> None:
    """With 90 days of attempts and 30 of raw pages kept: attempts before day
    110 go, and so do the unversioned raw pages before day 170; the two
    versions, their texts and their raw pages stay, and the store is sound."""
    before = [v.text for v in year.versions(KEY)]

    collected = collect(year, Policy(90 * DAY, 30 * DAY), now=NOW)

    assert collected.attempts == 11  # days 0..100
    started = [a.started_at for a in year.attempts(KEY, limit=100)]
    assert min(started) == T0 + 110 * DAY
    # Left: the two versioned pages, and those of days 170, 180 and 190.
    assert year.count(SnapshotRow) == 5
    assert collected.snapshots == 20 - 5
    assert [v.text for v in year.versions(KEY)] == before
    assert all(
        year.snapshot(v.snapshot_id) for v in year.versions(KEY) if v.snapshot_id
    )
    assert integrity.check(year, deep=True) == []


def test_nothing_kept_still_keeps_the_history(year: Store) -> None:
    """A policy keeping nothing leaves each source's newest attempt, every
    version, its text and the page it came from."""
    collect(year, Policy(dt.timedelta(0), dt.timedelta(0)), now=NOW)

    assert year.count(FetchAttemptRow) == 1
    assert year.count(SnapshotRow) == 2
    assert year.count(TextRow) == 2
    assert len(year.versions(KEY)) == 2
    assert integrity.check(year) == []


def test_dry_run_drops_nothing(year: Store) -> None:
    """A dry run reports what would go and leaves every row in place."""
    counts = {m: year.count(m) for m in (FetchAttemptRow, SnapshotRow, TextRow)}

    dry = collect(year, now=NOW, dry_run=True)

    assert dry.dry_run and dry.attempts > 0 and dry.snapshots > 0
    assert {m: year.count(m) for m in counts} == counts
    assert collect(year, now=NOW).attempts == dry.attempts


def test_texts_no_version_uses_are_dropped(year: Store) -> None:
    """A text row left without a version (say by a hand edit) is dropped."""
    with year.session() as session:
        session.add(TextRow(sha256="0" * 64, body=b"x", size=1))

    assert collect(year, now=NOW).texts == 1
    assert year.count(TextRow) == 2


def test_gc_command(year: Store, db_url: str) -> None:
    """`policywatch gc --dry-run` says what it would drop; `gc` drops it;
    a bad duration is a usage error naming the value."""
    runner = CliRunner()
    env = {"POLICYWATCH_DB": db_url}

    dry = runner.invoke(main, ["gc", "--keep-attempts", "1d", "--dry-run"], env=env)
    real = runner.invoke(main, ["gc", "--keep-attempts", "1d", "--json"], env=env)
    bad = runner.invoke(main, ["gc", "--keep-attempts", "soon"], env=env)

    assert dry.exit_code == 0 and dry.output.startswith("would drop 20 fetch attempts")
    assert real.exit_code == 0 and '"attempts": 20' in real.output
    assert bad.exit_code == 2 and "'soon'" in bad.output
