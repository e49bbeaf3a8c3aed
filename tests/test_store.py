"""The store records each check of one source in one transaction, keeps
versions in a gap-free line, and stores identical texts and pages once; on
SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest

from policywatch.errors import NotFoundError
from policywatch.store import Attempt, NewVersion, Store, sha256
from policywatch.store.models import (
    ChangeRow,
    FetchAttemptRow,
    SnapshotRow,
    TextRow,
)

KEY = "acme/privacy"
DAY = dt.timedelta(days=1)
T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def fetched(raw: str, when: dt.datetime = T0) -> Attempt:
    return Attempt("fetched", started_at=when, raw=raw.encode(), status_code=200)


def version(text: str, based_on: int | None, **extra: object) -> NewVersion:
    return NewVersion(
        text=text,
        sha256=sha256(text.encode()),
        normalizer=1,
        based_on=based_on,
        diff=extra.pop("diff", {"hunks": []}),
        triage=extra.pop("triage", {"claims_at_risk": []}),
        **extra,  # type: ignore[arg-type]
    )


def check(
    store: Store, text: str, when: dt.datetime = T0, raw: str | None = None
) -> int | None:
    """Record one successful check of KEY whose page gives ``text``."""
    latest = store.latest(KEY)
    recorded = store.record(
        KEY,
        fetched(raw or f"<p>{text}</p>", when),
        version(text, latest.id if latest else None),
    )
    assert not recorded.conflict
    return recorded.version_id


@pytest.fixture
def sourced(store: Store) -> Store:
    """A store that knows the source acme/privacy and nothing else."""
    store.sync_sources([("acme", "privacy", "http://127.0.0.1/p", "privacy-policy")])
    return store


def test_new_unchanged_changed(sourced: Store) -> None:
    """The first text is version 1; the same text again records only the
    attempt; a new text is version 2 with one open change from 1 to 2."""
    first = check(sourced, "one")
    assert sourced.latest(KEY) is not None
    check(sourced, "one", T0 + DAY)
    second = check(sourced, "two", T0 + 2 * DAY)

    versions = sourced.versions(KEY)
    assert [(v.seq, v.text) for v in versions] == [(1, "one"), (2, "two")]
    assert [v.id for v in versions] == [first, second]
    assert sourced.count(FetchAttemptRow) == 3
    (change,) = sourced.changes()
    assert (change.from_version_id, change.to_version_id) == (first, second)
    assert change.state == "open"
    assert [a.outcome for a in sourced.attempts(KEY)] == ["changed", "unchanged", "new"]


def test_identical_texts_and_pages_are_stored_once(sourced: Store) -> None:
    """Two sources serving the same page share one snapshot and one text row;
    going back to an earlier text reuses its row too."""
    sourced.sync_sources([("other", "terms", "http://127.0.0.1/t", "terms")])
    check(sourced, "same", raw="<p>same</p>")
    sourced.record(
        "other/terms", fetched("<p>same</p>"), version("same", based_on=None)
    )
    check(sourced, "changed", T0 + DAY)
    check(sourced, "same", T0 + 2 * DAY, raw="<p>same</p>")

    assert sourced.count(SnapshotRow) == 2
    assert sourced.count(TextRow) == 2
    assert [v.text for v in sourced.versions(KEY)] == ["same", "changed", "same"]


def test_failed_fetch_records_the_attempt_and_keeps_the_version(
    sourced: Store,
) -> None:
    """A failed fetch is an attempt with its reason; the latest version stays
    and the source is marked failing since that attempt."""
    check(sourced, "one")
    failed = Attempt("failed", started_at=T0 + DAY, reason="http-503", message="x")
    assert sourced.record(KEY, failed).outcome == "failed"

    latest = sourced.latest(KEY)
    assert latest is not None and latest.text == "one"
    assert sourced.source_state(KEY).failing_since == T0 + DAY
    assert sourced.attempts(KEY)[0].reason == "http-503"


class Crash(Exception):
    """Stands for anything that stops a check after it started writing."""


def test_a_check_that_fails_half_way_leaves_nothing(
    sourced: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the check stops after the attempt, snapshot, text and version were
    written but before the change, the whole check is rolled back."""
    check(sourced, "one")
    before = {m: sourced.count(m) for m in (FetchAttemptRow, SnapshotRow, TextRow)}

    def crash(**_: object) -> None:
        raise Crash

    monkeypatch.setattr("policywatch.store.ChangeRow", crash)
    with pytest.raises(Crash):
        check(sourced, "two", T0 + DAY)

    assert {m: sourced.count(m) for m in before} == before
    assert [v.text for v in sourced.versions(KEY)] == ["one"]


def test_a_stale_comparison_is_a_conflict_and_writes_nothing(sourced: Store) -> None:
    """Recording a text diffed against a version that is no longer the latest
    writes nothing and asks the caller to compare again."""
    first = check(sourced, "one")
    check(sourced, "two", T0 + DAY)
    attempts = sourced.count(FetchAttemptRow)

    recorded = sourced.record(KEY, fetched("<p>three</p>"), version("three", first))

    assert recorded.conflict
    assert sourced.count(FetchAttemptRow) == attempts
    assert [v.text for v in sourced.versions(KEY)] == ["one", "two"]


def test_a_stale_comparison_to_the_same_text_is_unchanged(sourced: Store) -> None:
    """If another check already recorded the very text, a late check of it is
    unchanged rather than a second version."""
    first = check(sourced, "one")
    check(sourced, "two", T0 + DAY)

    recorded = sourced.record(KEY, fetched("<p>two</p>"), version("two", first))

    assert recorded.outcome == "unchanged"
    assert len(sourced.versions(KEY)) == 2


def test_version_at_gives_the_text_as_it_stood(sourced: Store) -> None:
    """version_at picks the newest version recorded at or before the time,
    and says so when the source had none yet."""
    check(sourced, "one", T0)
    check(sourced, "two", T0 + 10 * DAY)

    assert sourced.version_at(KEY, T0 + 5 * DAY).text == "one"
    assert sourced.version_at(KEY, T0 + 10 * DAY).text == "two"
    with pytest.raises(NotFoundError, match="no version yet"):
        sourced.version_at(KEY, T0 - DAY)


def test_technical_change_is_not_open_for_review(sourced: Store) -> None:
    """A change made by a normalizer upgrade is recorded in state technical."""
    first = check(sourced, "one")
    sourced.record(
        KEY, fetched("<p>one</p>", T0 + DAY), version("one!", first, technical=True)
    )

    assert sourced.changes() == []
    (change,) = sourced.changes(technical=True)
    assert change.state == "technical" and change.technical


def test_latest_versions_and_changes_of(sourced: Store) -> None:
    """latest_versions gives each source's newest version; changes_of maps a
    version to the change that led to it."""
    sourced.sync_sources([("zeta", "terms", "http://127.0.0.1/z", "terms")])
    check(sourced, "one")
    second = check(sourced, "two", T0 + DAY)
    sourced.record("zeta/terms", fetched("<p>z</p>"), version("z", None))

    assert [(v.key, v.text) for v in sourced.latest_versions()] == [
        (KEY, "two"),
        ("zeta/terms", "z"),
    ]
    changes = sourced.changes_of(KEY)
    assert list(changes) == [second]
    assert isinstance(changes[second], ChangeRow)


def test_unknown_source_is_not_found(store: Store) -> None:
    """Asking for the versions of a source the store never saw names it."""
    with pytest.raises(NotFoundError, match="nobody/nothing"):
        store.versions("nobody/nothing")
    assert store.latest("nobody/nothing") is None


def test_reading_does_not_wait_for_a_check(sourced: Store) -> None:
    """While a check's transaction is open and has written, a reader in
    another thread gets the last committed history at once (on SQLite it
    would otherwise wait for the write lock)."""
    check(sourced, "one")

    with sourced.session() as writing, ThreadPoolExecutor(1) as pool:
        writing.add(FetchAttemptRow(source_id=1, outcome="fetched"))
        writing.flush()
        reading = pool.submit(sourced.versions, KEY)
        texts = [v.text for v in reading.result(timeout=20)]

    assert texts == ["one"]
