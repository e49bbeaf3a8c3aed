"""The store's cheap reads for recording a check: the latest version's id,
text hash and normalizer without its text, and texts stored compressed so
that they read back exactly; on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest

from policywatch.store import Attempt, LatestRef, NewVersion, Store, sha256
from policywatch.store.models import TextRow

KEY = "acme/privacy"


def record(store: Store, text: str, normalizer: int = 1) -> int:
    """Record one check of KEY whose page gives ``text``; its version id."""
    latest = store.latest_ref(KEY)
    recorded = store.record(
        KEY,
        Attempt("fetched", raw=f"<p>{text}</p>".encode(), status_code=200),
        NewVersion(
            text=text,
            sha256=sha256(text.encode()),
            normalizer=normalizer,
            based_on=latest.id if latest else None,
            diff={"hunks": []},
            triage={"claims_at_risk": []},
        ),
    )
    assert not recorded.conflict and recorded.version_id is not None
    return recorded.version_id


@pytest.fixture
def sourced(store: Store) -> Store:
    """A store that knows the source acme/privacy and nothing else."""
    store.sync_sources([("acme", "privacy", "http://127.0.0.1/p", "privacy-policy")])
    return store


def test_latest_ref_is_none_before_the_first_version(sourced: Store) -> None:
    """A source without a version, or one the store does not know, has no
    latest reference."""
    assert sourced.latest_ref(KEY) is None
    assert sourced.latest_ref("acme/unknown") is None


def test_latest_ref_follows_the_newest_version(sourced: Store) -> None:
    """The reference names the newest version, its text's hash and the
    normalizer release that made it, as the full read does."""
    record(sourced, "first text", normalizer=1)
    newest = record(sourced, "second text", normalizer=2)

    ref = sourced.latest_ref(KEY)
    full = sourced.latest(KEY)
    assert ref == LatestRef(id=newest, sha256=sha256(b"second text"), normalizer=2)
    assert full is not None and (full.id, full.sha256) == (ref.id, ref.sha256)


def test_an_equal_text_is_unchanged_and_stores_nothing_new(sourced: Store) -> None:
    """Recording the latest text again gives "unchanged" and no new text row,
    and a long text reads back exactly as recorded."""
    text = "Wir verarbeiten Ihre Daten. " * 5000 + "é"
    first = record(sourced, text)

    latest = sourced.latest_ref(KEY)
    recorded = sourced.record(
        KEY,
        Attempt("fetched", raw=b"<p>same</p>", status_code=200),
        NewVersion(
            text=text,
            sha256=sha256(text.encode()),
            normalizer=1,
            based_on=latest.id if latest else None,
        ),
    )
    assert recorded.outcome == "unchanged" and recorded.version_id == first
    assert sourced.count(TextRow) == 1
    stored = sourced.latest(KEY)
    assert stored is not None and stored.text == text
