"""The tables of the store: sources, fetch attempts, snapshots, versions,
changes and reviews.

Raw pages (snapshots) and normalized texts are content-addressed: one row per
distinct SHA-256, compressed with zlib, however many fetches or versions point
at it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored without zone and always read back as UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None)  # type: ignore[no-any-return]

    def process_result_value(self, value: Any, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)  # type: ignore[no-any-return]


def utcnow() -> dt.datetime:
    """The current time, in UTC."""
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class SourceRow(Base):
    """A catalog source as the store knows it, with its fetch state."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("vendor_id", "source_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[str] = mapped_column(String(200))
    source_id: Mapped[str] = mapped_column(String(200))
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(50), default="other")
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    moved_to: Mapped[str | None] = mapped_column(Text)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    next_due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    @property
    def key(self) -> str:
        return f"{self.vendor_id}/{self.source_id}"


class SnapshotRow(Base):
    """A raw page exactly as fetched, stored once per distinct body."""

    __tablename__ = "snapshots"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TextRow(Base):
    """A normalized text, stored once per distinct text."""

    __tablename__ = "texts"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)


class FetchAttemptRow(Base):
    """One check of one source: when, how it went, and why."""

    __tablename__ = "fetch_attempts"
    __table_args__ = (
        Index("ix_fetch_attempts_source_started", "source_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    duration: Mapped[float] = mapped_column(Float, default=0.0)
    status_code: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str | None] = mapped_column(Text)
    final_url: Mapped[str | None] = mapped_column(Text)
    headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("snapshots.id"), index=True
    )
    version_id: Mapped[int | None] = mapped_column(
        ForeignKey("versions.id"), index=True
    )


class VersionRow(Base):
    """A normalized text of a source, recorded when it differs from the last."""

    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("source_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    seq: Mapped[int] = mapped_column(Integer)
    text_id: Mapped[int] = mapped_column(ForeignKey("texts.id"), index=True)
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("snapshots.id"), index=True
    )
    normalizer: Mapped[int] = mapped_column(Integer)
    # normalize.fingerprint() of the settings that made the text (None when
    # unknown): an identical raw page may skip normalizing only while it holds.
    extraction: Mapped[str | None] = mapped_column(String(32))
    technical: Mapped[bool] = mapped_column(Boolean, default=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    text: Mapped[TextRow] = relationship(lazy="joined")
    source: Mapped[SourceRow] = relationship()


class ChangeRow(Base):
    """The step from one version to the next, with its diff and triage."""

    __tablename__ = "changes"
    __table_args__ = (
        # Versions form a line: each version is the start of at most one change.
        Index("ix_changes_from_version_id", "from_version_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"), index=True)
    from_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    to_version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"), unique=True)
    severity: Mapped[str] = mapped_column(String(20))
    technical: Mapped[bool] = mapped_column(Boolean, default=False)
    diff: Mapped[Any] = mapped_column(JSON)
    triage: Mapped[Any] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(30), default="open")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    source: Mapped[SourceRow] = relationship()
    from_version: Mapped[VersionRow] = relationship(foreign_keys=[from_version_id])
    to_version: Mapped[VersionRow] = relationship(foreign_keys=[to_version_id])


class ReviewRow(Base):
    """A reviewer's decision on a change. Append-only: the newest one counts."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id"), index=True)
    decision: Mapped[str] = mapped_column(String(30))
    author: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Added for the review workflow: the fingerprint of the vendor's verdict
    # and claims when the decision was taken (to see when the catalog's
    # verdict is edited), and the ignore patterns a noise decision added.
    verdict_fingerprint: Mapped[str | None] = mapped_column(String(64))
    ignore_patterns: Mapped[list[str] | None] = mapped_column(JSON)


class VendorStateRow(Base):
    """What the store knows of a vendor beyond the catalog: when a reviewer
    last confirmed its verdict."""

    __tablename__ = "vendor_states"

    vendor_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
