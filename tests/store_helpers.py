"""Small helpers the storage tests share: record checks of a source directly."""

from __future__ import annotations

import datetime as dt

from policywatch.store import Attempt, NewVersion, Store, sha256

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def record_text(
    store: Store, key: str, text: str, when: dt.datetime = T0, raw: str | None = None
) -> int | None:
    """Record one successful check of ``key`` whose page gives ``text``;
    the id of the version it recorded or found."""
    latest = store.latest(key)
    attempt = Attempt(
        "fetched", started_at=when, raw=(raw or f"<p>{text}</p>").encode()
    )
    version = NewVersion(
        text=text,
        sha256=sha256(text.encode()),
        normalizer=1,
        based_on=latest.id if latest else None,
        diff={"hunks": []},
        triage={"claims_at_risk": []},
    )
    recorded = store.record(key, attempt, version)
    assert not recorded.conflict
    return recorded.version_id
