"""The review workflow: the changes awaiting a reviewer, and their decisions.

A decision is appended, never edited: the newest one on a change sets its
state. "holds" confirms the vendor's verdict (its last verified date moves to
now); "verdict-changed" keeps the change open as ``verdict-update-needed``
until the catalog's verdict or claims are edited, seen by comparing their
fingerprint with the one taken at decision time; "noise" closes the change
and may teach ignore patterns to the source in sources.toml, so the same
noise is not recorded again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from policywatch import catalog_edit
from policywatch.catalog import Catalog, Extraction, Source, Vendor, load
from policywatch.diff import Diff, make_diff
from policywatch.errors import NotFoundError, ReviewError
from policywatch.normalize import normalize
from policywatch.store import Store, decompress
from policywatch.store.models import (
    ChangeRow,
    ReviewRow,
    SourceRow,
    VendorStateRow,
    utcnow,
)
from policywatch.triage import SEVERITIES

log = logging.getLogger(__name__)

OPEN_STATES = ("open", "verdict-update-needed")
# The decision a reviewer takes, and the state it gives the change.
DECISIONS = {
    "holds": "holds",
    "verdict-changed": "verdict-update-needed",
    "noise": "noise",
}
SEVERITY_RANK = {name: rank for rank, name in enumerate(reversed(SEVERITIES))}
# Ignore patterns that remove more than this share of a text are refused: they
# would hide the policy itself, not the noise around it.
MAX_IGNORED_SHARE = 0.5
MAX_CONFLICTS = 5


@dataclass(frozen=True)
class ChangeSummary:
    """One change as the review list and the export show it."""

    id: int
    vendor: str
    source: str
    url: str
    severity: str
    state: str
    recorded_at: dt.datetime
    claims_at_risk: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.vendor}/{self.source}"

    def to_json(self) -> dict[str, Any]:
        """The entry of ``review --json`` for this change."""
        return {
            "change": self.id,
            "vendor": self.vendor,
            "source": self.source,
            "url": self.url,
            "severity": self.severity,
            "state": self.state,
            "recorded_at": self.recorded_at.isoformat(),
            "claims_at_risk": list(self.claims_at_risk),
        }


@dataclass(frozen=True)
class ChangeDetail:
    """A change with what a reviewer reads before deciding."""

    summary: ChangeSummary
    from_at: dt.datetime
    diff: Diff
    claims_at_risk: list[dict[str, str]]
    terms: list[str]
    vendor: Vendor | None
    reviews: list[ReviewRow]


@dataclass(frozen=True)
class Decision:
    """A recorded decision and what it did."""

    change: int
    vendor: str
    decision: str
    state: str
    author: str
    note: str
    decided_at: dt.datetime
    ignore_added: tuple[str, ...] = ()
    technical_change: int | None = None
    still_differs: bool = False


def verdict_fingerprint(vendor: Vendor) -> str:
    """A hash of what the tracker says of ``vendor``: its verdict (without the
    reviewed date, which a bump alone does not change) and its claims."""
    verdict = asdict(vendor.verdict)
    verdict.pop("reviewed")
    data = {"verdict": verdict, "claims": [asdict(c) for c in vendor.claims]}
    encoded = json.dumps(data, sort_keys=True, default=str).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


def claim_ids(triage: Any) -> tuple[str, ...]:
    """The ids of the claims at risk in a stored triage."""
    claims = (triage or {}).get("claims_at_risk", [])
    return tuple(str(c["claim"]) for c in claims)


# -- reading ----------------------------------------------------------------


def sync_states(store: Store, catalog: Catalog) -> list[int]:
    """Move ``verdict-update-needed`` changes whose vendor's verdict or claims
    were edited in the catalog since the decision to ``verdict-updated``.

    Returns the ids of the changes moved.
    """
    with store.session() as session:
        waiting = session.execute(
            select(ChangeRow.id, SourceRow.vendor_id)
            .join(SourceRow, ChangeRow.source_id == SourceRow.id)
            .where(ChangeRow.state == "verdict-update-needed")
        ).all()
        if not waiting:
            return []
        taken = _decision_fingerprints(session, [row.id for row in waiting])
        moved = []
        for change_id, vendor_id in waiting:
            vendor = catalog.vendor(vendor_id)
            then = taken.get(change_id)
            if vendor and then and then != verdict_fingerprint(vendor):
                moved.append(change_id)
        if moved:
            session.execute(
                update(ChangeRow)
                .where(ChangeRow.id.in_(moved))
                .where(ChangeRow.state == "verdict-update-needed")
                .values(state="verdict-updated")
            )
    for change_id in moved:
        log.info("change %s: the catalog's verdict was updated", change_id)
    return moved


def _decision_fingerprints(session: Session, change_ids: list[int]) -> dict[int, str]:
    """The verdict fingerprint of the newest decision on each change."""
    rows = session.execute(
        select(ReviewRow.change_id, ReviewRow.verdict_fingerprint)
        .where(ReviewRow.change_id.in_(change_ids))
        .order_by(ReviewRow.id)
    )
    newest: dict[int, str | None] = {}
    for change_id, fingerprint in rows:
        newest[change_id] = fingerprint
    return {change: found for change, found in newest.items() if found}


def summaries(
    store: Store, *, states: Sequence[str] | None = OPEN_STATES
) -> list[ChangeSummary]:
    """Reviewable (non-technical) changes in ``states`` (None: all), the most
    severe first, then the newest."""
    query = (
        select(
            ChangeRow.id,
            SourceRow.vendor_id,
            SourceRow.source_id,
            SourceRow.url,
            ChangeRow.severity,
            ChangeRow.state,
            ChangeRow.created_at,
            ChangeRow.triage,
        )
        .join(SourceRow, ChangeRow.source_id == SourceRow.id)
        .where(ChangeRow.technical.is_(False))
    )
    if states is not None:
        query = query.where(ChangeRow.state.in_(states))
    with store.session() as session:
        found = [
            ChangeSummary(
                id=row.id,
                vendor=row.vendor_id,
                source=row.source_id,
                url=row.url,
                severity=row.severity,
                state=row.state,
                recorded_at=row.created_at,
                claims_at_risk=claim_ids(row.triage),
            )
            for row in session.execute(query)
        ]
    found.sort(key=lambda c: (SEVERITY_RANK.get(c.severity, 9), -c.id))
    return found


def open_changes(store: Store, catalog: Catalog) -> list[ChangeSummary]:
    """The changes awaiting a reviewer or a catalog edit, most severe first."""
    sync_states(store, catalog)
    return summaries(store)


def detail(store: Store, catalog: Catalog, change_id: int) -> ChangeDetail:
    """Everything about one change a reviewer needs; NotFoundError if none."""
    sync_states(store, catalog)
    row = _change(store, change_id)
    triage = row.triage or {}
    summary = ChangeSummary(
        id=row.id,
        vendor=row.source.vendor_id,
        source=row.source.source_id,
        url=row.source.url,
        severity=row.severity,
        state=row.state,
        recorded_at=row.created_at,
        claims_at_risk=claim_ids(triage),
    )
    return ChangeDetail(
        summary=summary,
        from_at=row.from_version.recorded_at,
        diff=Diff.from_json(row.diff or {}),
        claims_at_risk=list(triage.get("claims_at_risk", [])),
        terms=list(triage.get("terms", [])),
        vendor=catalog.vendor(row.source.vendor_id),
        reviews=store.reviews(change_id),
    )


# -- deciding ---------------------------------------------------------------


def decide(
    store: Store,
    catalog: Catalog,
    change_id: int,
    decision: str,
    *,
    author: str,
    note: str = "",
    ignore: Sequence[str] = (),
) -> Decision:
    """Record a reviewer's ``decision`` on a change.

    With ``ignore`` (noise only), the patterns are first checked against the
    change and added to the source in the catalog file; then the decision is
    recorded; then the source's latest text is re-derived with the patterns
    as a technical version, so the next check compares like with like.
    """
    _check_request(decision, author, ignore)
    row = _change(store, change_id)
    if row.technical:
        raise ReviewError(
            f"change {change_id} was made by policywatch's own rules "
            "(technical); it needs no review"
        )
    key = row.source.key

    still_differs, added = _teach(catalog, row, ignore) if ignore else (False, ())

    vendor = catalog.vendor(row.source.vendor_id)
    fingerprint = verdict_fingerprint(vendor) if vendor else None
    review = _record(store, change_id, decision, author, note, fingerprint, ignore)
    log.info(
        "change %s: %s by %s", change_id, decision, author, extra={"change": change_id}
    )

    technical = _rederive(store, key, _catalog_path(catalog)) if ignore else None
    return Decision(
        change=change_id,
        vendor=row.source.vendor_id,
        decision=decision,
        state=DECISIONS[decision],
        author=review.author,
        note=review.note,
        decided_at=review.decided_at,
        ignore_added=added,
        technical_change=technical,
        still_differs=still_differs,
    )


def _teach(
    catalog: Catalog, row: ChangeRow, patterns: Sequence[str]
) -> tuple[bool, tuple[str, ...]]:
    """Check the ignore patterns against the change and add them to the
    source in the catalog file; whether the change's texts still differ with
    them, and the patterns that were new."""
    source = catalog.find(row.source.key)
    if source is None:
        raise ReviewError(f"{row.source.key} is no longer in the catalog")
    still_differs = _check_ignore(row, source, patterns)
    path = _catalog_path(catalog)
    return still_differs, tuple(catalog_edit.add_ignore(path, source.key, [*patterns]))


def _change(store: Store, change_id: int) -> ChangeRow:
    try:
        return store.change(change_id)
    except NotFoundError as exc:
        raise NotFoundError(
            f"no change {change_id} (`policywatch review --all` lists them)"
        ) from exc


def _check_request(decision: str, author: str, ignore: Sequence[str]) -> None:
    if decision not in DECISIONS:
        raise ReviewError(
            f"unknown decision {decision!r}: choose holds, verdict-changed or noise"
        )
    if not author.strip():
        raise ReviewError("a decision needs its author: pass --by NAME")
    if ignore and decision != "noise":
        raise ReviewError("ignore patterns go with a noise decision only")
    for pattern in ignore:
        catalog_edit.check_pattern(pattern)


def _catalog_path(catalog: Catalog) -> Path:
    if catalog.path is None:
        raise ReviewError("the catalog was not read from a file; cannot edit it")
    return catalog.path


def apply_ignore(text: str, patterns: Sequence[str]) -> str:
    """``text`` with ``patterns`` removed, as the normalizer removes them."""
    extraction = Extraction(ignore=tuple(patterns))
    return normalize(text, content_type="text/plain", extraction=extraction)


def _check_ignore(row: ChangeRow, source: Source, patterns: Sequence[str]) -> bool:
    """Refuse patterns that miss the change or would hide the policy; return
    whether the change's texts still differ once they are applied."""
    diff = Diff.from_json(row.diff or {})
    changed = [text for p in diff.passages for text in (p.removed, p.added)]
    for pattern in patterns:
        if not any(re.search(pattern, text) for text in changed):
            raise ReviewError(
                f"ignore pattern {pattern!r} matches nothing that changed in "
                f"change {row.id}; it would not stop this noise"
            )

    every = [*source.extraction.ignore, *patterns]
    old = decompress(row.from_version.text.body).decode("utf-8")
    new = decompress(row.to_version.text.body).decode("utf-8")
    kept = apply_ignore(new, every)
    if len(kept) < (1 - MAX_IGNORED_SHARE) * len(new):
        raise ReviewError(
            f"the ignore patterns would remove {len(new) - len(kept):,} of "
            f"{len(new):,} characters of {row.source.key}; make them narrower"
        )
    return apply_ignore(old, every) != kept


def _record(
    store: Store,
    change_id: int,
    decision: str,
    author: str,
    note: str,
    fingerprint: str | None,
    ignore: Sequence[str],
) -> ReviewRow:
    """Append the decision and set the change's state (and, when the verdict
    holds, the vendor's last verified time) in one transaction."""
    now = utcnow()
    with store.session() as session:
        change = session.get(ChangeRow, change_id)
        if change is None:  # deleted since it was read
            raise ReviewError(f"change {change_id} disappeared; nothing recorded")
        review = ReviewRow(
            change_id=change_id,
            decision=decision,
            author=author.strip(),
            note=note,
            decided_at=now,
            verdict_fingerprint=fingerprint,
            ignore_patterns=list(ignore) or None,
        )
        session.add(review)
        change.state = DECISIONS[decision]
        if decision == "holds":
            vendor_id = session.scalars(
                select(SourceRow.vendor_id).where(SourceRow.id == change.source_id)
            ).one()
            _mark_verified(store, session, vendor_id, now)
    return review


def _mark_verified(
    store: Store, session: Session, vendor_id: str, when: dt.datetime
) -> None:
    """Set the vendor's last verified time to ``when`` unless it is later."""
    insert = (
        postgresql.insert
        if store.engine.dialect.name == "postgresql"
        else sqlite.insert
    )
    statement = insert(VendorStateRow).values(
        vendor_id=vendor_id, last_verified_at=when
    )
    statement = statement.on_conflict_do_update(
        index_elements=["vendor_id"],
        set_={"last_verified_at": statement.excluded.last_verified_at},
        where=(VendorStateRow.last_verified_at.is_(None))
        | (VendorStateRow.last_verified_at < statement.excluded.last_verified_at),
    )
    session.execute(statement)


def _rederive(store: Store, key: str, path: Path) -> int | None:
    """Record the source's latest text with the catalog's ignore patterns
    applied, as a technical version; return its change id, if any.

    The stored text already had the older patterns applied; applying every
    pattern to it gives what the normalizer gives for the same page, except
    where removing an older pattern's match and folding the spaces around it
    creates a new match, which we accept rather than decode the raw page here
    a second way.
    """
    source = load(path).find(key)
    if source is None:
        return None
    for _ in range(MAX_CONFLICTS):
        latest = store.latest(key)
        if latest is None:
            return None
        text = apply_ignore(latest.text, source.extraction.ignore)
        diff = make_diff(latest.text, text).to_json() if text != latest.text else None
        recorded = store.record_technical(
            key, text, normalizer=latest.normalizer, based_on=latest.id, diff=diff
        )
        if not recorded.conflict:
            if recorded.change_id is not None:
                log.info("%s: recorded a technical version without the noise", key)
            return recorded.change_id
    raise ReviewError(f"{key}: versions kept being recorded; run the decision again")
