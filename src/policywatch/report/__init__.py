"""Reports of recorded changes: HTML pages, Markdown and JSON.

Reports read what was recorded; they never fetch. Everything that comes from a
fetched page is untrusted and escaped: no report can run a page's scripts or
load anything from elsewhere.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from policywatch.catalog import Catalog, Source, Vendor
from policywatch.diff import Diff
from policywatch.snapshots import write_atomic
from policywatch.store import Store

SEVERITY_ORDER = {"verdict-at-risk": 0, "substantive": 1, "minor": 2, "cosmetic": 3}


@dataclass
class ChangeView:
    """Everything a report shows about one change."""

    id: int
    key: str
    vendor: Vendor | None
    source: Source | None
    url: str
    severity: str
    state: str
    created_at: dt.datetime
    from_date: dt.datetime
    to_date: dt.datetime
    diff: Diff
    triage: dict[str, Any] = field(default_factory=dict)

    @property
    def claims_at_risk(self) -> list[dict[str, str]]:
        return list(self.triage.get("claims_at_risk", []))

    def side_rows(self, context: int = 3) -> list[tuple[str, str, str]]:
        """Rows of the side-by-side view: ``("same", left, right)``,
        ``("change", left, right)`` or ``("fold", count, "")`` for a long
        unchanged stretch."""
        return side_by_side(self.diff.lines, context)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of the change, for machines."""
        return {
            "change": self.id,
            "vendor": self.key.split("/")[0],
            "source": self.key.split("/")[1],
            "url": self.url,
            "severity": self.severity,
            "state": self.state,
            "created_at": self.created_at.isoformat(),
            "from": self.from_date.isoformat(),
            "to": self.to_date.isoformat(),
            "terms": self.triage.get("terms", []),
            "claims_at_risk": self.claims_at_risk,
            "passages": [
                {"heading": p.heading, "removed": p.removed, "added": p.added}
                for p in self.diff.passages
            ],
        }


def side_by_side(
    lines: list[tuple[int, str]], context: int = 3
) -> list[tuple[str, str, str]]:
    """Pair deleted and inserted lines and fold unchanged stretches."""
    rows: list[tuple[str, str, str]] = []
    index = 0
    while index < len(lines):
        if lines[index][0] == 0:
            start = index
            while index < len(lines) and lines[index][0] == 0:
                index += 1
            same = [text for _, text in lines[start:index]]
            head = same[:context] if start > 0 else []
            tail = same[-context:] if index < len(lines) else []
            if len(same) > len(head) + len(tail) + 1:
                rows += [("same", t, t) for t in head]
                rows.append(("fold", str(len(same) - len(head) - len(tail)), ""))
                rows += [("same", t, t) for t in tail]
            else:
                rows += [("same", t, t) for t in same]
            continue
        removed: list[str] = []
        added: list[str] = []
        while index < len(lines) and lines[index][0] != 0:
            (removed if lines[index][0] < 0 else added).append(lines[index][1])
            index += 1
        for number in range(max(len(removed), len(added))):
            left = removed[number] if number < len(removed) else ""
            right = added[number] if number < len(added) else ""
            rows.append(("change", left, right))
    return rows


def change_views(store: Store, catalog: Catalog) -> list[ChangeView]:
    """The recorded (non-technical) changes, open ones and the most severe first."""
    views = []
    for row in store.changes():
        key = row.source.key
        vendor = catalog.vendor(row.source.vendor_id)
        views.append(
            ChangeView(
                id=row.id,
                key=key,
                vendor=vendor,
                source=vendor.source(row.source.source_id) if vendor else None,
                url=row.source.url,
                severity=row.severity,
                state=row.state,
                created_at=row.created_at,
                from_date=row.from_version.recorded_at,
                to_date=row.to_version.recorded_at,
                diff=Diff.from_json(row.diff or {}),
                triage=row.triage or {},
            )
        )
    views.sort(
        key=lambda v: (v.state != "open", SEVERITY_ORDER.get(v.severity, 9), -v.id)
    )
    return views


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("policywatch", "report/templates"),
        autoescape=select_autoescape(["html", "xml", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["md"] = markdown_escape
    return environment


def markdown_escape(text: object) -> str:
    """Text made inert in Markdown: no HTML, no links or images from the page."""
    value = str(text)
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        value = value.replace(char, entity)
    for char in "\\`*_[]()!|#":
        value = value.replace(char, "\\" + char)
    return value


def render_markdown(views: list[ChangeView]) -> str:
    """The changes as Markdown, for a CI issue or pull request body."""
    template = _environment().get_template("changes.md.j2")
    # Markdown is not HTML: escaping is done by the md filter in the template.
    template.environment.autoescape = False
    return template.render(changes=views)


def write_reports(store: Store, catalog: Catalog, folder: Path) -> list[Path]:
    """Write index.html, one HTML page per change, changes.md and changes.json."""
    views = change_views(store, catalog)
    environment = _environment()
    written = []
    for view in views:
        html = environment.get_template("change.html.j2").render(change=view)
        path = folder / f"change-{view.id}.html"
        write_atomic(path, html)
        written.append(path)
    index = environment.get_template("index.html.j2").render(changes=views)
    write_atomic(folder / "index.html", index)
    write_atomic(folder / "changes.md", render_markdown(views))
    write_atomic(
        folder / "changes.json",
        json.dumps([v.to_json() for v in views], indent=2, ensure_ascii=False) + "\n",
    )
    written += [folder / "index.html", folder / "changes.md", folder / "changes.json"]
    return written
