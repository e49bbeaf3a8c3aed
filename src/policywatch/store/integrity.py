"""The integrity check behind ``policywatch db check``: the database file is
sound and the history obeys its invariants.

The invariants: a source's version numbers run 1, 2, 3... without a gap; no
two consecutive versions hold the same text; every version after the first
has exactly one change, and every change joins two consecutive versions of its
source; every version's text and snapshot exist. With ``deep``, every stored
text and raw page is decompressed and its SHA-256 compared with its key.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Iterator

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import aliased

from policywatch.store import Store, migrate, sha256
from policywatch.store.engine import READ_ONLY
from policywatch.store.models import (
    ChangeRow,
    SnapshotRow,
    SourceRow,
    TextRow,
    VersionRow,
)

log = logging.getLogger(__name__)


def check(store: Store, *, deep: bool = False) -> list[str]:
    """Every problem found, one sentence each; empty when the store is sound."""
    with store.engine.connect() as connection:
        # Reads one consistent state, without stopping checks that are running.
        connection.execution_options(**{READ_ONLY: True})
        problems = list(_schema(store))
        if connection.dialect.name == "sqlite":
            problems += _sqlite_file(connection)
        for finder in (
            _gaps,
            _repeated_texts,
            _changes_off_the_line,
            _versions_without_change,
            _missing_content,
        ):
            problems += finder(connection)
        if deep:
            problems += _content_hashes(connection)
    return problems


def _schema(store: Store) -> Iterator[str]:
    current, head = migrate.current(store.engine), migrate.head()
    if current != head:
        yield (
            f"schema is at revision {current}, not {head}: run `policywatch db upgrade`"
        )


def _sqlite_file(connection: Connection) -> list[str]:
    problems = [
        f"sqlite: {row[0]}"
        for row in connection.exec_driver_sql("PRAGMA integrity_check")
        if row[0] != "ok"
    ]
    problems += [
        f"sqlite: row {row[1]} of {row[0]} points at a missing row of {row[2]}"
        for row in connection.exec_driver_sql("PRAGMA foreign_key_check")
    ]
    return problems


def _key(connection: Connection, source_pk: int) -> str:
    row = connection.execute(
        select(SourceRow.vendor_id, SourceRow.source_id).where(
            SourceRow.id == source_pk
        )
    ).first()
    return f"{row[0]}/{row[1]}" if row else f"source #{source_pk}"


def _gaps(connection: Connection) -> list[str]:
    query = (
        select(
            VersionRow.source_id,
            func.count(),
            func.min(VersionRow.seq),
            func.max(VersionRow.seq),
        )
        .group_by(VersionRow.source_id)
        .having(
            (func.min(VersionRow.seq) != 1) | (func.max(VersionRow.seq) != func.count())
        )
    )
    return [
        f"{_key(connection, pk)}: versions {low}..{high} are not numbered 1..{n}"
        for pk, n, low, high in connection.execute(query)
    ]


def _repeated_texts(connection: Connection) -> list[str]:
    before, after = aliased(VersionRow), aliased(VersionRow)
    query = select(before.source_id, before.seq, after.seq).join(
        after,
        (after.source_id == before.source_id)
        & (after.seq == before.seq + 1)
        & (after.text_id == before.text_id),
    )
    return [
        f"{_key(connection, pk)}: versions {a} and {b} hold the same text"
        for pk, a, b in connection.execute(query)
    ]


def _changes_off_the_line(connection: Connection) -> list[str]:
    start, end = aliased(VersionRow), aliased(VersionRow)
    query = (
        select(ChangeRow.id, ChangeRow.source_id, start.seq, end.seq)
        .join(start, start.id == ChangeRow.from_version_id)
        .join(end, end.id == ChangeRow.to_version_id)
        .where(
            (start.source_id != ChangeRow.source_id)
            | (end.source_id != ChangeRow.source_id)
            | (end.seq != start.seq + 1)
        )
    )
    return [
        f"{_key(connection, pk)}: change {change} joins versions {a} and {b}, "
        "which are not consecutive versions of this source"
        for change, pk, a, b in connection.execute(query)
    ]


def _versions_without_change(connection: Connection) -> list[str]:
    query = (
        select(VersionRow.source_id, VersionRow.seq)
        .outerjoin(ChangeRow, ChangeRow.to_version_id == VersionRow.id)
        .where(VersionRow.seq > 1, ChangeRow.id.is_(None))
    )
    return [
        f"{_key(connection, pk)}: version {seq} has no change leading to it"
        for pk, seq in connection.execute(query)
    ]


def _missing_content(connection: Connection) -> list[str]:
    texts = (
        select(VersionRow.source_id, VersionRow.seq)
        .outerjoin(TextRow, TextRow.id == VersionRow.text_id)
        .where(TextRow.id.is_(None))
    )
    snapshots = (
        select(VersionRow.source_id, VersionRow.seq)
        .outerjoin(SnapshotRow, SnapshotRow.id == VersionRow.snapshot_id)
        .where(VersionRow.snapshot_id.is_not(None), SnapshotRow.id.is_(None))
    )
    problems = [
        f"{_key(connection, pk)}: the text of version {seq} is missing"
        for pk, seq in connection.execute(texts)
    ]
    problems += [
        f"{_key(connection, pk)}: the snapshot version {seq} came from is missing"
        for pk, seq in connection.execute(snapshots)
    ]
    return problems


def _content_hashes(connection: Connection) -> list[str]:
    problems = []
    for model in (TextRow, SnapshotRow):
        table = model.__tablename__
        rows = connection.execute(
            select(model.id, model.sha256, model.size, model.body)
        )
        for row_id, digest, size, body in rows:
            try:
                data = zlib.decompress(body)
            except zlib.error:
                problems.append(f"{table} {row_id}: the stored body is corrupt")
                continue
            if sha256(data) != digest or len(data) != size:
                problems.append(f"{table} {row_id}: the body does not match its hash")
    return problems
