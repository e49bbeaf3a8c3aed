"""Reports of recorded changes: HTML pages, an index, Atom, Markdown and JSON.

Reports read what was recorded; they never fetch. Everything that comes from a
fetched page is untrusted: HTML is autoescaped under a Content-Security-Policy
that allows no script and no loads, the raw pages are written as inert .txt
files, Markdown escapes it or fences it, Atom carries it as escaped text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from policywatch.catalog import Catalog
from policywatch.diff import HEADING, Diff
from policywatch.errors import NotFoundError
from policywatch.files import replace_file
from policywatch.report import markdown
from policywatch.report.atom import render_atom
from policywatch.report.views import (
    SEVERITY_ORDER,
    Block,
    ChangeView,
    Review,
    side_by_side,
)
from policywatch.store import Store
from policywatch.store.models import ChangeRow

log = logging.getLogger(__name__)

__all__ = [
    "SEVERITY_ORDER",
    "Block",
    "ChangeView",
    "Review",
    "change_views",
    "markdown_escape",
    "render_atom",
    "render_change",
    "render_index",
    "render_markdown",
    "side_by_side",
    "write_reports",
]

CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "form-action 'none'; base-uri 'none'"
)
markdown_escape = markdown.escape


def _view(row: ChangeRow, catalog: Catalog, store: Store) -> ChangeView:
    vendor = catalog.vendor(row.source.vendor_id)
    reviews = store.reviews(row.id)
    latest = reviews[-1] if reviews else None
    return ChangeView(
        id=row.id,
        key=row.source.key,
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
        review=Review(latest.decision, latest.author, latest.decided_at, latest.note)
        if latest
        else None,
        technical=row.technical or row.state == "technical",
        from_snapshot=row.from_version.snapshot_id,
        to_snapshot=row.to_version.snapshot_id,
    )


def change_views(
    store: Store, catalog: Catalog, *, technical: bool = False
) -> list[ChangeView]:
    """The recorded changes, open ones and the most severe first; technical
    changes (from a normalizer upgrade) only with ``technical=True``."""
    views = [_view(row, catalog, store) for row in store.changes(technical=technical)]
    if not technical:
        views = [v for v in views if not v.technical]
    return sorted(views, key=ChangeView.sort_key)


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("policywatch", "report/templates"),
        autoescape=select_autoescape(["html", "xml", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.globals["csp"] = Markup(CSP)  # our constant, not page text
    environment.filters["heading_level"] = heading_level
    return environment


def heading_level(line: str) -> int:
    """1 to 6 for a heading line of a normalized text, else 0."""
    match = HEADING.match(line)
    return len(match[1]) if match else 0


def render_change(view: ChangeView) -> str:
    """The self-contained HTML page of one change."""
    return _environment().get_template("change.html.j2").render(change=view)


def render_index(views: Sequence[ChangeView]) -> str:
    """The HTML index of changes: those needing attention first."""
    listed = [v for v in views if not v.technical]
    technical = [v for v in views if v.technical]
    return (
        _environment()
        .get_template("index.html.j2")
        .render(changes=listed, technical=technical)
    )


def render_markdown(views: Sequence[ChangeView]) -> str:
    """The changes as Markdown, for a CI issue or pull request body."""
    return markdown.render(views)


def _write_raw(store: Store, folder: Path, views: Sequence[ChangeView]) -> list[Path]:
    """Write each stored raw page the reports link to, once, as inert text."""
    written = []
    for snapshot in {s for v in views for s in (v.from_snapshot, v.to_snapshot)}:
        if snapshot is None:
            continue
        path = folder / "raw" / f"snapshot-{snapshot}.txt"
        if path.exists():
            continue
        try:
            body, _ = store.snapshot(snapshot)
        except NotFoundError:
            log.warning("snapshot %s is not in the store", snapshot)
            continue
        replace_file(path, body.decode("utf-8", errors="replace"))
        written.append(path)
    return written


def write_reports(store: Store, catalog: Catalog, folder: Path) -> list[Path]:
    """Write index.html, one HTML page per change, the raw pages they link to,
    changes.atom, changes.md and changes.json."""
    views = change_views(store, catalog, technical=True)
    listed = [v for v in views if not v.technical]
    written = _write_raw(store, folder, views)
    for view in views:
        path = folder / f"change-{view.id}.html"
        replace_file(path, render_change(view))
        written.append(path)

    outputs = {
        "index.html": render_index(views),
        "changes.atom": render_atom(listed),
        "changes.md": render_markdown(listed),
        "changes.json": json.dumps(
            [v.to_json() for v in listed], indent=2, ensure_ascii=False
        )
        + "\n",
    }
    for name, text in outputs.items():
        replace_file(folder / name, text)
        written.append(folder / name)
    return written
