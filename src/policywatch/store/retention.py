"""Retention: what ``policywatch gc`` may drop, and what it never drops.

Versions, their texts and the snapshots versions came from are history and are
kept forever. Fetch attempts older than ``keep_attempts`` are dropped, except
the newest attempt of each source. Raw pages that no version came from are
kept ``keep_snapshots`` (for looking into a failed or odd fetch), then
detached from their attempts and dropped. Texts no version uses are dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, text, update
from sqlalchemy.orm import QueryableAttribute, Session

from policywatch.store import Store
from policywatch.store.models import (
    FetchAttemptRow,
    SnapshotRow,
    TextRow,
    VersionRow,
    utcnow,
)

log = logging.getLogger(__name__)

DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Policy:
    """How long fetch attempts and unversioned raw pages are kept."""

    keep_attempts: dt.timedelta = 90 * DAY
    keep_snapshots: dt.timedelta = 30 * DAY


@dataclass(frozen=True)
class Collected:
    """What one collection dropped (or would drop, on a dry run)."""

    attempts: int
    snapshots: int
    snapshot_bytes: int
    texts: int
    dry_run: bool = False


def collect(
    store: Store,
    policy: Policy = Policy(),
    *,
    now: dt.datetime | None = None,
    dry_run: bool = False,
) -> Collected:
    """Drop what ``policy`` lets go, in one transaction (rolled back on a dry run)."""
    now = now or utcnow()
    with store.session() as session:
        attempts = _drop_attempts(session, now - policy.keep_attempts)
        _detach_snapshots(session, now - policy.keep_snapshots)
        snapshots, snapshot_bytes = _drop_snapshots(session)
        texts = _drop_texts(session)
        if dry_run:
            session.rollback()
    collected = Collected(attempts, snapshots, snapshot_bytes, texts, dry_run)
    log.info("retention: %s", collected)
    return collected


def _no_version_from(snapshot_id: QueryableAttribute[Any]) -> ColumnElement[bool]:
    """True where no version came from the snapshot ``snapshot_id``."""
    versioned = select(VersionRow.snapshot_id).where(
        VersionRow.snapshot_id.is_not(None)
    )
    return snapshot_id.not_in(versioned)


def _drop_attempts(session: Session, before: dt.datetime) -> int:
    newest = select(func.max(FetchAttemptRow.id)).group_by(FetchAttemptRow.source_id)
    result = session.execute(
        delete(FetchAttemptRow).where(
            FetchAttemptRow.started_at < before, FetchAttemptRow.id.not_in(newest)
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _detach_snapshots(session: Session, before: dt.datetime) -> None:
    session.execute(
        update(FetchAttemptRow)
        .where(
            FetchAttemptRow.started_at < before,
            FetchAttemptRow.snapshot_id.is_not(None),
            _no_version_from(FetchAttemptRow.snapshot_id),
        )
        .values(snapshot_id=None)
    )


def _drop_snapshots(session: Session) -> tuple[int, int]:
    used_by_attempts = select(FetchAttemptRow.snapshot_id).where(
        FetchAttemptRow.snapshot_id.is_not(None)
    )
    unused = _no_version_from(SnapshotRow.id) & SnapshotRow.id.not_in(used_by_attempts)
    count, size = session.execute(
        select(func.count(), func.coalesce(func.sum(func.length(SnapshotRow.body)), 0))
        .select_from(SnapshotRow)
        .where(unused)
    ).one()
    session.execute(delete(SnapshotRow).where(unused))
    return int(count), int(size)


def _drop_texts(session: Session) -> int:
    result = session.execute(
        delete(TextRow).where(TextRow.id.not_in(select(VersionRow.text_id)))
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def database_bytes(store: Store) -> int:
    """Bytes the database holds in use: SQLite pages minus free pages, or the
    total size of the PostgreSQL database."""
    with store.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            pragma = {
                name: int(connection.execute(text(f"PRAGMA {name}")).scalar_one())
                for name in ("page_size", "page_count", "freelist_count")
            }
            return pragma["page_size"] * (
                pragma["page_count"] - pragma["freelist_count"]
            )
        size = connection.execute(
            text("SELECT pg_database_size(current_database())")
        ).scalar_one()
        return int(size)
