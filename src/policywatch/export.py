"""The JSON the tracker site reads: per vendor, the verdict, tiers and claims,
the state of each source, the open changes and the last verified date.

Its shape is published as a JSON Schema (``schema/export.schema.json``), which
:func:`schema` returns. The export reads what was recorded; it never fetches.
Store reads are a handful of queries for the whole catalog, not a few per
source, so it stays quick for tens of thousands of sources.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from policywatch.catalog import Catalog, Source, Vendor
from policywatch.files import replace_file
from policywatch.review import ChangeSummary, open_changes
from policywatch.store import Store
from policywatch.store.models import (
    ChangeRow,
    FetchAttemptRow,
    SourceRow,
    VendorStateRow,
    utcnow,
)

FORMAT = 1
SCHEMA_FILE = "export.schema.json"


@dataclass(frozen=True)
class SourceState:
    """What the store knows of one source, for the export."""

    checked_at: dt.datetime | None = None
    outcome: str | None = None
    reason: str | None = None
    status_code: int | None = None
    failing_since: dt.datetime | None = None
    moved_to: str | None = None
    change: int | None = None
    changed_at: dt.datetime | None = None
    change_severity: str | None = None
    change_state: str | None = None


def schema() -> dict[str, Any]:
    """The published JSON Schema of the export."""
    text = resources.files("policywatch").joinpath("schema", SCHEMA_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def build(
    store: Store, catalog: Catalog, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """The export of every vendor in the catalog, as JSON-ready data."""
    changes = open_changes(store, catalog)
    states = _source_states(store)
    verified = _last_verified(store)

    by_vendor: dict[str, list[ChangeSummary]] = {}
    for change in changes:
        by_vendor.setdefault(change.vendor, []).append(change)
    return {
        "format": FORMAT,
        "generated_at": _time(now or utcnow()),
        "vendors": [
            _vendor(
                vendor,
                states,
                by_vendor.get(vendor.id, []),
                verified.get(vendor.id),
            )
            for vendor in catalog.vendors
        ],
    }


def dumps(data: dict[str, Any]) -> str:
    """The export as JSON text."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step, keeping its permissions (a
    new file is readable by all, as a site's web server needs)."""
    replace_file(path.resolve(), text)


# -- reading the store ------------------------------------------------------


def _source_states(store: Store) -> dict[tuple[str, str], SourceState]:
    with store.session() as session:
        last_attempt = (
            select(func.max(FetchAttemptRow.id).label("id"))
            .group_by(FetchAttemptRow.source_id)
            .subquery()
        )
        attempts = {
            row.source_id: row
            for row in session.execute(
                select(
                    FetchAttemptRow.source_id,
                    FetchAttemptRow.started_at,
                    FetchAttemptRow.outcome,
                    FetchAttemptRow.reason,
                    FetchAttemptRow.status_code,
                ).join(last_attempt, FetchAttemptRow.id == last_attempt.c.id)
            )
        }
        last_change = (
            select(func.max(ChangeRow.id).label("id"))
            .where(ChangeRow.technical.is_(False))
            .group_by(ChangeRow.source_id)
            .subquery()
        )
        changes = {
            row.source_id: row
            for row in session.execute(
                select(
                    ChangeRow.source_id,
                    ChangeRow.id,
                    ChangeRow.created_at,
                    ChangeRow.severity,
                    ChangeRow.state,
                ).join(last_change, ChangeRow.id == last_change.c.id)
            )
        }
        sources = session.execute(
            select(
                SourceRow.id,
                SourceRow.vendor_id,
                SourceRow.source_id,
                SourceRow.failing_since,
                SourceRow.moved_to,
            )
        ).all()
    return {
        (row.vendor_id, row.source_id): _state(
            row, attempts.get(row.id), changes.get(row.id)
        )
        for row in sources
    }


def _state(source: Any, attempt: Any, change: Any) -> SourceState:
    return SourceState(
        checked_at=attempt.started_at if attempt else None,
        outcome=attempt.outcome if attempt else None,
        reason=attempt.reason if attempt else None,
        status_code=attempt.status_code if attempt else None,
        failing_since=source.failing_since,
        moved_to=source.moved_to,
        change=change.id if change else None,
        changed_at=change.created_at if change else None,
        change_severity=change.severity if change else None,
        change_state=change.state if change else None,
    )


def _last_verified(store: Store) -> dict[str, dt.datetime]:
    with store.session() as session:
        rows = session.execute(
            select(VendorStateRow.vendor_id, VendorStateRow.last_verified_at).where(
                VendorStateRow.last_verified_at.is_not(None)
            )
        )
        return {vendor_id: when for vendor_id, when in rows if when is not None}


# -- shaping the JSON -------------------------------------------------------


def _time(when: dt.datetime | None) -> str | None:
    if when is None:
        return None
    return when.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _vendor(
    vendor: Vendor,
    states: dict[tuple[str, str], SourceState],
    changes: list[ChangeSummary],
    verified_at: dt.datetime | None,
) -> dict[str, Any]:
    verdict = vendor.verdict
    days = [d for d in (verdict.reviewed, verified_at and verified_at.date()) if d]
    return {
        "id": vendor.id,
        "name": vendor.name,
        "category": vendor.category,
        "site": vendor.site or None,
        "verdict": {
            "unreviewed": verdict.unreviewed,
            "reviewed": verdict.reviewed.isoformat() if verdict.reviewed else None,
            "badges": {
                "trains_by_default": verdict.trains_by_default,
                "zero_retention": verdict.zero_retention,
                "dpa": verdict.dpa,
                "opt_out": verdict.opt_out,
                "opt_out_for": verdict.opt_out_for,
            },
            "answer": verdict.answer,
            "how_to_opt_out": verdict.how_to_opt_out,
            "retention": verdict.retention,
            "nuance": verdict.nuance,
        },
        "tiers": [
            {"name": t.name, "verdict": t.verdict, "detail": t.detail}
            for t in verdict.tiers
        ],
        "claims": [
            {
                "id": c.id,
                "text": c.text,
                "sources": list(c.sources),
                "evidence": list(c.evidence),
                "section": c.section,
            }
            for c in vendor.claims
        ],
        "sources": [
            _source(s, states.get((vendor.id, s.id), SourceState()))
            for s in vendor.sources
        ],
        "open_changes": [_change(c) for c in changes],
        "last_verified": max(days).isoformat() if days else None,
        "last_verified_at": _time(verified_at),
    }


def _source(source: Source, state: SourceState) -> dict[str, Any]:
    if state.checked_at is None:
        status = "unchecked"
    elif state.failing_since is not None:
        status = "failing"
    elif state.moved_to:
        status = "moved"
    else:
        status = "ok"
    return {
        "id": source.id,
        "title": source.title,
        "url": source.url,
        "kind": source.kind,
        "status": status,
        "failing_since": _time(state.failing_since),
        "moved_to": state.moved_to or None,
        "last_check": None
        if state.checked_at is None
        else {
            "at": _time(state.checked_at),
            "outcome": state.outcome,
            "reason": state.reason,
            "status_code": state.status_code,
        },
        "last_change": None
        if state.change is None
        else {
            "change": state.change,
            "recorded_at": _time(state.changed_at),
            "severity": state.change_severity,
            "state": state.change_state,
        },
    }


def _change(change: ChangeSummary) -> dict[str, Any]:
    return {
        "change": change.id,
        "source": change.source,
        "url": change.url,
        "severity": change.severity,
        "state": change.state,
        "recorded_at": _time(change.recorded_at),
        "claims_at_risk": list(change.claims_at_risk),
    }
