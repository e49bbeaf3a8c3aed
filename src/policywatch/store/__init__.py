"""The store: every check, raw page, version and change, in one database.

The store knows nothing of HTTP or HTML. Callers hand it plain records
(:class:`Attempt`, :class:`NewVersion`) and it writes each check of one source
in one transaction, so a crash leaves either the whole check or none of it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Subquery,
    func,
    insert,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from policywatch.errors import NotFoundError, PolicywatchError, StoreError
from policywatch.store import migrate
from policywatch.store.engine import READ_ONLY, make_engine
from policywatch.store.models import (
    Base,
    ChangeRow,
    FetchAttemptRow,
    ReviewRow,
    SnapshotRow,
    SourceRow,
    TextRow,
    VendorStateRow,
    VersionRow,
    utcnow,
)

log = logging.getLogger(__name__)

RECORD_TRIES = 3

__all__ = [
    "Attempt",
    "LatestRef",
    "NewVersion",
    "Recorded",
    "Store",
    "StoredVersion",
    "compress",
    "decompress",
    "sha256",
]


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


# zlib level 1: two to three times faster than the default 6 on a policy
# page, for about a fifth more compressed bytes (docs/store.md has the
# figures). Reading is unaffected: any level decompresses the same way, so
# rows written at level 6 stay readable.
COMPRESS_LEVEL = 1


def _newest_versions(
    source_ids: Sequence[int] | None = None,
) -> tuple[Subquery, ColumnElement[bool]]:
    """What to join VersionRow on to keep each source's newest version (of
    ``source_ids`` only, when given): the subquery and the join condition."""
    query = select(VersionRow.source_id, func.max(VersionRow.seq).label("seq"))
    if source_ids is not None:
        query = query.where(VersionRow.source_id.in_(source_ids))
    newest = query.group_by(VersionRow.source_id).subquery()
    on = (newest.c.source_id == VersionRow.source_id) & (newest.c.seq == VersionRow.seq)
    return newest, on


def compress(data: bytes) -> bytes:
    """Compress a page or text for storage."""
    return zlib.compress(data, COMPRESS_LEVEL)


def decompress(data: bytes) -> bytes:
    """Undo :func:`compress`."""
    return zlib.decompress(data)


class _Conflict(Exception):
    """Raised inside a transaction to roll it back when a version was recorded
    concurrently."""


@dataclass
class Attempt:
    """What happened when a source was fetched, as the store records it."""

    outcome: str  # "fetched", "not-modified" or "failed"
    started_at: dt.datetime = field(default_factory=utcnow)
    duration: float = 0.0
    status_code: int | None = None
    reason: str | None = None
    message: str | None = None
    final_url: str | None = None
    headers: dict[str, str] | None = None
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    raw: bytes | None = None
    content_type: str = ""


@dataclass
class NewVersion:
    """A text to record, and the diff and triage against ``based_on``."""

    text: str
    sha256: str
    normalizer: int
    based_on: int | None
    diff: Any = None
    severity: str = "minor"
    triage: Any = None
    technical: bool = False
    extraction: str | None = None


@dataclass(frozen=True)
class StoredVersion:
    """A recorded version of a source's text."""

    id: int
    key: str
    seq: int
    sha256: str
    text: str
    size: int
    normalizer: int
    technical: bool
    recorded_at: dt.datetime
    snapshot_id: int | None


@dataclass(frozen=True)
class LatestRef:
    """The latest version of a source without its text: enough to tell
    whether a new text differs from it."""

    id: int
    sha256: str
    normalizer: int


@dataclass(frozen=True)
class _Latest:
    """The columns of the latest version that recording a check reads."""

    id: int
    seq: int
    sha256: str
    normalizer: int
    snapshot_id: int | None


@dataclass(frozen=True)
class Recorded:
    """What one recorded check amounted to.

    ``outcome`` is "new", "unchanged", "changed" or "failed"; ``conflict`` is
    set when another process recorded a version first, so the caller must diff
    again against the new latest version.
    """

    outcome: str
    version_id: int | None = None
    change_id: int | None = None
    conflict: bool = False


class Store:
    """The database behind policywatch, opened from a SQLAlchemy URL."""

    def __init__(self, url: str, *, create: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if create:
            self.create()

    def create(self) -> None:
        """Create the database's tables, or bring them to the current schema."""
        self.upgrade()

    def upgrade(self) -> None:
        """Apply the migrations the database lacks (see :mod:`.migrate`)."""
        try:
            if migrate.current(self.engine) != migrate.head():
                migrate.upgrade(self.engine)
        except migrate.MigrationError as exc:
            raise StoreError(f"database {self.safe_url}: {exc}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(
                f"cannot set up the database {self.safe_url}: {exc}"
            ) from exc

    @property
    def safe_url(self) -> str:
        """The database URL with any password hidden, for messages and logs."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    @contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on
        error, with database errors turned into :class:`StoreError`.

        On SQLite a ``read_only`` session starts with a plain BEGIN, so it
        reads a consistent snapshot without waiting for a running check.
        """
        session = self._sessions()
        try:
            with session.begin():
                if read_only:
                    session.connection(execution_options={READ_ONLY: True})
                yield session
        except IntegrityError:
            raise  # a concurrent write; record() handles it
        except OperationalError as exc:
            raise StoreError(f"database {self.safe_url}: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"database {self.safe_url}: {exc}") from exc
        finally:
            session.close()

    # -- sources -----------------------------------------------------------

    def sync_sources(self, entries: Sequence[tuple[str, str, str, str]]) -> None:
        """Make sure a row exists for each (vendor, source, url, kind) and that
        its URL and kind are current. Safe when several processes race."""
        if not entries:
            return
        with self.session() as session:
            insert = (
                postgresql.insert
                if self.engine.dialect.name == "postgresql"
                else sqlite.insert
            )
            for vendor_id, source_id, url, kind in entries:
                values = {
                    "vendor_id": vendor_id,
                    "source_id": source_id,
                    "url": url,
                    "kind": kind,
                }
                statement = insert(SourceRow).values(**values)
                statement = statement.on_conflict_do_update(
                    index_elements=["vendor_id", "source_id"],
                    set_={"url": url, "kind": kind},
                )
                session.execute(statement)

    def _source(self, session: Session, key: str, *, lock: bool = False) -> SourceRow:
        vendor_id, _, source_id = key.partition("/")
        query = select(SourceRow).where(
            SourceRow.vendor_id == vendor_id, SourceRow.source_id == source_id
        )
        if lock and self.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.scalars(query).first()
        if row is None:
            raise NotFoundError(f"no source {key!r} in the store")
        return row

    def source_state(self, key: str) -> SourceRow:
        """The store's row for ``vendor/source`` (validators, schedule, failures)."""
        with self.session(read_only=True) as session:
            return self._source(session, key)

    def source_states(self) -> list[SourceRow]:
        """Every source row the store holds."""
        with self.session(read_only=True) as session:
            return list(session.scalars(select(SourceRow).order_by(SourceRow.id)))

    # -- versions ----------------------------------------------------------

    def _latest_row(self, session: Session, source_pk: int) -> VersionRow | None:
        query = (
            select(VersionRow)
            .where(VersionRow.source_id == source_pk)
            .order_by(VersionRow.seq.desc())
            .limit(1)
        )
        return session.scalars(query).first()

    @staticmethod
    def _latest_columns(session: Session, source_pk: int) -> _Latest | None:
        """The latest version's id, seq, text hash, normalizer and snapshot,
        read without loading (or decompressing) its text."""
        query = (
            select(
                VersionRow.id,
                VersionRow.seq,
                TextRow.sha256,
                VersionRow.normalizer,
                VersionRow.snapshot_id,
            )
            .join(TextRow, TextRow.id == VersionRow.text_id)
            .where(VersionRow.source_id == source_pk)
            .order_by(VersionRow.seq.desc())
            .limit(1)
        )
        row = session.execute(query).first()
        return _Latest(*row) if row is not None else None

    @staticmethod
    def _stored(row: VersionRow, key: str) -> StoredVersion:
        return StoredVersion(
            id=row.id,
            key=key,
            seq=row.seq,
            sha256=row.text.sha256,
            text=decompress(row.text.body).decode("utf-8"),
            size=row.text.size,
            normalizer=row.normalizer,
            technical=row.technical,
            recorded_at=row.recorded_at,
            snapshot_id=row.snapshot_id,
        )

    def latest(self, key: str) -> StoredVersion | None:
        """The newest version of ``vendor/source``, or None before the first."""
        with self.session(read_only=True) as session:
            try:
                source = self._source(session, key)
            except NotFoundError:
                return None
            row = self._latest_row(session, source.id)
            return self._stored(row, key) if row else None

    def latest_ref(self, key: str) -> LatestRef | None:
        """The id, text hash and normalizer of the newest version of
        ``vendor/source``, or None before the first: :meth:`latest` without
        reading the text, for callers that only compare hashes."""
        vendor_id, _, source_id = key.partition("/")
        query = (
            select(VersionRow.id, TextRow.sha256, VersionRow.normalizer)
            .join(TextRow, TextRow.id == VersionRow.text_id)
            .join(SourceRow, SourceRow.id == VersionRow.source_id)
            .where(SourceRow.vendor_id == vendor_id, SourceRow.source_id == source_id)
            .order_by(VersionRow.seq.desc())
            .limit(1)
        )
        with self.session(read_only=True) as session:
            row = session.execute(query).first()
            return LatestRef(*row) if row is not None else None

    def latest_versions(self) -> list[StoredVersion]:
        """The newest version of every source that has one, by source key."""
        with self.session(read_only=True) as session:
            rows = session.execute(
                select(VersionRow, SourceRow)
                .join(*_newest_versions())
                .join(SourceRow, SourceRow.id == VersionRow.source_id)
                .order_by(SourceRow.vendor_id, SourceRow.source_id)
            )
            return [self._stored(version, source.key) for version, source in rows]

    def versions(self, key: str) -> list[StoredVersion]:
        """Every version of ``vendor/source``, oldest first."""
        with self.session(read_only=True) as session:
            source = self._source(session, key)
            rows = session.scalars(
                select(VersionRow)
                .where(VersionRow.source_id == source.id)
                .order_by(VersionRow.seq)
            )
            return [self._stored(row, key) for row in rows]

    def changes_of(self, key: str) -> dict[int, ChangeRow]:
        """The changes of ``vendor/source``, by the id of the version each led to."""
        with self.session(read_only=True) as session:
            source = self._source(session, key)
            rows = session.scalars(
                select(ChangeRow).where(ChangeRow.source_id == source.id)
            )
            return {row.to_version_id: row for row in rows}

    def version_at(self, key: str, when: dt.datetime) -> StoredVersion:
        """The version of ``vendor/source`` that was current at ``when``."""
        with self.session(read_only=True) as session:
            source = self._source(session, key)
            row = session.scalars(
                select(VersionRow)
                .where(
                    VersionRow.source_id == source.id, VersionRow.recorded_at <= when
                )
                .order_by(VersionRow.seq.desc())
                .limit(1)
            ).first()
            if row is None:
                raise NotFoundError(
                    f"{key} had no version yet at {when:%Y-%m-%d %H:%M}"
                )
            return self._stored(row, key)

    def snapshot(self, snapshot_id: int) -> tuple[bytes, str]:
        """The raw page (body, content type) stored under ``snapshot_id``."""
        with self.session(read_only=True) as session:
            row = session.get(SnapshotRow, snapshot_id)
            if row is None:
                raise NotFoundError(f"no snapshot {snapshot_id}")
            return decompress(row.body), row.content_type

    def snapshot_headers(self, snapshot_id: int) -> dict[str, str]:
        """The response headers of the latest fetch that stored ``snapshot_id``
        (empty when none were kept)."""
        with self.session() as session:
            headers = session.scalars(
                select(FetchAttemptRow.headers)
                .where(FetchAttemptRow.snapshot_id == snapshot_id)
                .order_by(FetchAttemptRow.id.desc())
                .limit(1)
            ).first()
            return dict(headers or {})

    # -- recording a check -------------------------------------------------

    def _content_id(
        self,
        session: Session,
        model: type[SnapshotRow] | type[TextRow],
        data: bytes,
        **extra: Any,
    ) -> int:
        """The id of the row holding ``data``, inserting it if new.

        Safe when another transaction stores the same bytes at the same time
        (the insert does nothing and the row is read back), and, on
        PostgreSQL, the row is share-locked so retention cannot delete it
        before this transaction commits.
        """
        digest = sha256(data)
        insert = (
            postgresql.insert
            if self.engine.dialect.name == "postgresql"
            else sqlite.insert
        )
        found = self._content_row(session, model, digest)
        if found is None:
            values = {"sha256": digest, "body": compress(data), "size": len(data)}
            session.execute(
                insert(model)
                .values(**values, **extra)
                .on_conflict_do_nothing(index_elements=["sha256"])
            )
            found = self._content_row(session, model, digest)
        if found is None:
            raise StoreError(f"could not store {model.__tablename__} {digest}")
        return found

    def _content_row(
        self, session: Session, model: type[SnapshotRow] | type[TextRow], digest: str
    ) -> int | None:
        query = select(model.id).where(model.sha256 == digest)
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(key_share=True, read=True)
        return session.scalars(query).first()

    def record(
        self, key: str, attempt: Attempt, version: NewVersion | None = None
    ) -> Recorded:
        """Record one check of ``vendor/source`` in one transaction.

        With a ``version``, the text is compared with the latest version inside
        the transaction: equal gives "unchanged"; different gives a new version
        and a change, unless another process recorded a version since the
        caller read ``based_on`` (then nothing is written and ``conflict`` is set).
        """
        for _ in range(RECORD_TRIES):
            try:
                with self.session() as session:
                    return self._record(session, key, attempt, version)
            except (IntegrityError, _Conflict):
                if version is not None:
                    # Another process recorded a version since the caller
                    # compared: the caller must diff against the new latest.
                    log.info("a version of %s was recorded concurrently", key)
                    return Recorded(outcome="changed", conflict=True)
                log.info("recording a check of %s collided; trying again", key)
        raise StoreError(f"could not record the check of {key}: it kept colliding")

    def record_unchanged(
        self, checks: Sequence[tuple[str, Attempt]]
    ) -> list[Recorded | PolicywatchError]:
        """Record checks that found no new text (a 304, or the very raw page
        the latest version came from) in one transaction, a few statements for
        the lot: what a warm run spends most of its store time on.

        Each gives "unchanged" with the latest version's id, as :meth:`record`
        would. If the batch cannot be written, each check is recorded on its
        own, and one that still fails gets its error in its place.
        """
        if any(a.outcome == "failed" for _, a in checks):
            raise ValueError("record_unchanged takes fetched checks only")
        if not checks:
            return []
        try:
            with self.session() as session:
                return self._record_unchanged(session, checks)
        except (IntegrityError, StoreError, NotFoundError) as exc:
            log.info("recording %d checks together failed (%s)", len(checks), exc)
        results: list[Recorded | PolicywatchError] = []
        for key, attempt in checks:
            try:
                results.append(self.record(key, attempt))
            except (StoreError, NotFoundError) as exc:
                results.append(exc)
        return results

    def _record_unchanged(
        self, session: Session, checks: Sequence[tuple[str, Attempt]]
    ) -> list[Recorded | PolicywatchError]:
        pairs = {tuple(key.partition("/")[::2]) for key, _ in checks}
        query = select(
            SourceRow.id,
            SourceRow.vendor_id,
            SourceRow.source_id,
            SourceRow.etag,
            SourceRow.last_modified,
        ).where(tuple_(SourceRow.vendor_id, SourceRow.source_id).in_(pairs))
        if self.engine.dialect.name == "postgresql":
            # Locked in one order by every process, so two batches that share
            # sources wait for each other instead of deadlocking.
            query = query.order_by(SourceRow.id).with_for_update()
        sources = {f"{r.vendor_id}/{r.source_id}": r for r in session.execute(query)}
        for key, _ in checks:
            if key not in sources:
                raise NotFoundError(f"no source {key!r} in the store")
        rows = session.execute(
            select(VersionRow.source_id, VersionRow.id).join(
                *_newest_versions([r.id for r in sources.values()])
            )
        )
        latest: dict[int, int] = {row.source_id: row.id for row in rows}
        attempts, states = [], {}
        for key, attempt in checks:
            source = sources[key]
            snapshot_id = None
            if attempt.raw is not None:
                snapshot_id = self._content_id(
                    session, SnapshotRow, attempt.raw, content_type=attempt.content_type
                )
            attempts.append(
                {
                    "source_id": source.id,
                    "started_at": attempt.started_at,
                    "duration": attempt.duration,
                    "status_code": attempt.status_code,
                    "outcome": "unchanged",
                    "reason": attempt.reason,
                    "message": attempt.message,
                    "final_url": attempt.final_url,
                    "headers": attempt.headers,
                    "snapshot_id": snapshot_id,
                    "version_id": latest.get(source.id),
                }
            )
            validators = attempt.etag is not None or attempt.last_modified is not None
            # The last check of a source counts when it appears more than once.
            states[source.id] = {
                "id": source.id,
                "last_checked_at": attempt.started_at,
                "failing_since": None,
                "moved_to": attempt.moved_to,
                "etag": attempt.etag if validators else source.etag,
                "last_modified": (
                    attempt.last_modified if validators else source.last_modified
                ),
            }
        session.execute(insert(FetchAttemptRow), attempts)
        session.execute(update(SourceRow), list(states.values()))
        return [
            Recorded(outcome="unchanged", version_id=latest.get(sources[key].id))
            for key, _ in checks
        ]

    def _record(
        self, session: Session, key: str, attempt: Attempt, version: NewVersion | None
    ) -> Recorded:
        source = self._source(session, key, lock=True)
        snapshot_id = None
        if attempt.raw is not None:
            snapshot_id = self._content_id(
                session, SnapshotRow, attempt.raw, content_type=attempt.content_type
            )
        row = FetchAttemptRow(
            source_id=source.id,
            started_at=attempt.started_at,
            duration=attempt.duration,
            status_code=attempt.status_code,
            outcome=attempt.outcome,
            reason=attempt.reason,
            message=attempt.message,
            final_url=attempt.final_url,
            headers=attempt.headers,
            snapshot_id=snapshot_id,
        )
        session.add(row)
        # A technical version (re-derived from a stored page) is no fetch: it
        # leaves the source's fetch state as it was.
        technical = version is not None and version.technical
        if not technical:
            source.last_checked_at = attempt.started_at
        if attempt.outcome == "failed":
            row.outcome = "failed"
            source.failing_since = source.failing_since or attempt.started_at
            return Recorded(outcome="failed")

        if not technical:
            source.failing_since = None
            source.moved_to = attempt.moved_to
        if attempt.etag is not None or attempt.last_modified is not None:
            source.etag, source.last_modified = attempt.etag, attempt.last_modified
        latest = self._latest_columns(session, source.id)
        if version is None or (latest and latest.sha256 == version.sha256):
            row.outcome = "unchanged"
            row.version_id = latest.id if latest else None
            return Recorded(outcome="unchanged", version_id=row.version_id)
        if (latest.id if latest else None) != version.based_on:
            raise _Conflict

        text_id = self._content_id(session, TextRow, version.text.encode("utf-8"))
        new = VersionRow(
            source_id=source.id,
            seq=(latest.seq + 1) if latest else 1,
            text_id=text_id,
            snapshot_id=snapshot_id,
            normalizer=version.normalizer,
            extraction=version.extraction,
            technical=version.technical,
            recorded_at=attempt.started_at,
        )
        session.add(new)
        session.flush()
        row.version_id = new.id
        if latest is None:
            row.outcome = "new"
            return Recorded(outcome="new", version_id=new.id)
        change = ChangeRow(
            source_id=source.id,
            from_version_id=latest.id,
            to_version_id=new.id,
            severity=version.severity,
            technical=version.technical,
            diff=version.diff,
            triage=version.triage,
            state="technical" if version.technical else "open",
            created_at=attempt.started_at,
        )
        session.add(change)
        session.flush()
        row.outcome = attempt.outcome if version.technical else "changed"
        return Recorded(outcome="changed", version_id=new.id, change_id=change.id)

    # -- changes and reviews ---------------------------------------------

    def changes(
        self, *, state: str | None = None, technical: bool = False
    ) -> list[ChangeRow]:
        """Recorded changes, newest first, with their versions loaded."""
        with self.session(read_only=True) as session:
            query = select(ChangeRow).order_by(ChangeRow.id.desc())
            if state is not None:
                query = query.where(ChangeRow.state == state)
            if not technical:
                query = query.where(ChangeRow.technical.is_(False))
            rows = list(session.scalars(query))
            for row in rows:
                _ = row.source, row.from_version.text, row.to_version.text
            return rows

    def change(self, change_id: int) -> ChangeRow:
        """One change, with its source and versions loaded."""
        with self.session(read_only=True) as session:
            row = session.get(ChangeRow, change_id)
            if row is None:
                raise NotFoundError(f"no change {change_id}")
            _ = row.source, row.from_version.text, row.to_version.text
            return row

    def reviews(self, change_id: int) -> list[ReviewRow]:
        """The decisions recorded on a change, oldest first."""
        with self.session(read_only=True) as session:
            return list(
                session.scalars(
                    select(ReviewRow)
                    .where(ReviewRow.change_id == change_id)
                    .order_by(ReviewRow.id)
                )
            )

    def last_verified(self, vendor_id: str) -> dt.datetime | None:
        """When a reviewer last confirmed this vendor's verdict."""
        with self.session(read_only=True) as session:
            row = session.get(VendorStateRow, vendor_id)
            return row.last_verified_at if row else None

    def attempts(self, key: str, limit: int = 20) -> list[FetchAttemptRow]:
        """The latest fetch attempts of a source, newest first."""
        with self.session(read_only=True) as session:
            source = self._source(session, key)
            return list(
                session.scalars(
                    select(FetchAttemptRow)
                    .where(FetchAttemptRow.source_id == source.id)
                    .order_by(FetchAttemptRow.id.desc())
                    .limit(limit)
                )
            )

    def count(self, model: type[Base]) -> int:
        """How many rows a table holds."""
        with self.session(read_only=True) as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    # -- versions made by our own rules (added for the review workflow) ----

    def record_technical(
        self,
        key: str,
        text: str,
        *,
        normalizer: int,
        based_on: int,
        diff: Any = None,
    ) -> Recorded:
        """Record ``text`` as a technical version of ``vendor/source``: one
        made by a change of our extraction rules, not of the page, so its
        change is never reviewed.

        It keeps the snapshot of the version it replaces. Nothing is written
        when the text equals the latest version's ("unchanged"), or when a
        version was recorded since ``based_on`` was read (``conflict``).
        """
        with self.session() as session:
            source = self._source(session, key, lock=True)
            latest = self._latest_columns(session, source.id)
            if latest is None or latest.id != based_on:
                return Recorded(outcome="changed", conflict=True)
            if latest.sha256 == sha256(text.encode("utf-8")):
                return Recorded(outcome="unchanged", version_id=latest.id)

            now = utcnow()
            text_id = self._content_id(session, TextRow, text.encode("utf-8"))
            new = VersionRow(
                source_id=source.id,
                seq=latest.seq + 1,
                text_id=text_id,
                snapshot_id=latest.snapshot_id,
                normalizer=normalizer,
                technical=True,
                recorded_at=now,
            )
            session.add(new)
            session.flush()
            change = ChangeRow(
                source_id=source.id,
                from_version_id=latest.id,
                to_version_id=new.id,
                severity="cosmetic",
                technical=True,
                diff=diff or {},
                triage={"severity": "cosmetic", "terms": [], "claims_at_risk": []},
                state="technical",
                created_at=now,
            )
            session.add(change)
            session.flush()
            return Recorded(outcome="changed", version_id=new.id, change_id=change.id)

    # -- the daemon's schedule (added for the daemon) -----------------------

    def set_next_due(self, due: Sequence[tuple[str, dt.datetime | None]]) -> None:
        """Record when each ``vendor/source`` is next due, in one transaction.

        Keys the store does not hold are skipped: the daemon syncs sources
        before it schedules them, so a missing row means one just removed.
        """
        if not due:
            return
        with self.session() as session:
            for key, when in due:
                vendor_id, _, source_id = key.partition("/")
                row = session.scalars(
                    select(SourceRow).where(
                        SourceRow.vendor_id == vendor_id,
                        SourceRow.source_id == source_id,
                    )
                ).first()
                if row is not None:
                    row.next_due_at = when

    # -- fetch state (appended for the check pipeline) ----------------------

    def latest_raw_sha256s(
        self, normalizer: int, *, keys: Sequence[str] | None = None
    ) -> dict[str, tuple[str, str | None]]:
        """For each ``vendor/source`` (or only ``keys``) whose latest version
        release ``normalizer`` made: the SHA-256 of the raw page that last
        gave that version, and the extraction fingerprint the version was
        made with. An identical page read the same way gives the same text."""
        latest = (
            select(VersionRow.id, VersionRow.source_id, VersionRow.extraction)
            .join(*_newest_versions())
            .where(VersionRow.normalizer == normalizer)
            .subquery()
        )
        raw = (
            select(SnapshotRow.sha256)
            .join(FetchAttemptRow, FetchAttemptRow.snapshot_id == SnapshotRow.id)
            .where(
                FetchAttemptRow.source_id == latest.c.source_id,
                FetchAttemptRow.version_id == latest.c.id,
                FetchAttemptRow.outcome.in_(("new", "changed", "unchanged")),
            )
            .order_by(FetchAttemptRow.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        query = select(
            SourceRow.vendor_id, SourceRow.source_id, raw, latest.c.extraction
        ).join(latest, latest.c.source_id == SourceRow.id)
        wanted = set(keys) if keys is not None else None
        with self.session(read_only=True) as session:
            return {
                f"{vendor_id}/{source_id}": (digest, extraction)
                for vendor_id, source_id, digest, extraction in session.execute(query)
                if digest is not None
                and (wanted is None or f"{vendor_id}/{source_id}" in wanted)
            }
