"""The Atom feed of recorded changes, for feed readers and chat bridges.

Built with ElementTree, so every value from a page is escaped; entries carry
plain text only (``type="text"``), never HTML a reader could render.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from xml.etree import ElementTree as ET

from policywatch.report.views import ChangeView

NAMESPACE = "http://www.w3.org/2005/Atom"
# Characters XML 1.0 does not allow, even escaped.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
SUMMARY_PASSAGES = 3


def xml_text(value: object) -> str:
    """``value`` as text XML can hold."""
    return NOT_XML.sub("\ufffd", str(value))


def _add(parent: ET.Element, tag: str, text: str = "", **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NAMESPACE}}}{tag}", attributes)
    if text:
        element.text = xml_text(text)
    return element


def summary(view: ChangeView) -> str:
    """A few plain lines on the change: state, claims at risk, first passages."""
    lines = [f"Severity: {view.severity}. State: {view.state}."]
    if view.review:
        lines.append(f"Latest review: {view.review.decision} by {view.review.author}.")
    lines += [f"Claim at risk: {r['text']} ({r['why']})" for r in view.claims_at_risk]
    for passage in view.diff.passages[:SUMMARY_PASSAGES]:
        where = passage.heading.lstrip("# ") or "top of the page"
        lines.append(f"In {where}:")
        lines += [f"- {line}" for line in passage.removed.splitlines() if line]
        lines += [f"+ {line}" for line in passage.added.splitlines() if line]
    if len(view.diff.passages) > SUMMARY_PASSAGES:
        more = len(view.diff.passages) - SUMMARY_PASSAGES
        lines.append(f"… and {more} more changed passages in the report.")
    return "\n".join(lines)


def render_atom(views: Sequence[ChangeView], *, now: dt.datetime | None = None) -> str:
    """The feed: one entry per change, newest first."""
    ET.register_namespace("", NAMESPACE)
    feed = ET.Element(f"{{{NAMESPACE}}}feed")
    _add(feed, "id", "urn:policywatch:changes")
    _add(feed, "title", "policywatch: recorded changes")
    newest = max((v.created_at for v in views), default=now or dt.datetime.now(dt.UTC))
    _add(feed, "updated", newest.isoformat())
    author = _add(feed, "author")
    _add(author, "name", "policywatch")
    _add(feed, "link", href="index.html")

    for view in sorted(views, key=lambda v: v.created_at, reverse=True):
        entry = _add(feed, "entry")
        _add(entry, "id", f"urn:policywatch:change:{view.id}")
        _add(entry, "title", f"#{view.id} {view.title} ({view.state})")
        _add(entry, "updated", view.created_at.isoformat())
        _add(entry, "link", href=f"change-{view.id}.html")
        _add(entry, "category", term=view.severity)
        _add(entry, "summary", summary(view), type="text")
    return ET.tostring(feed, encoding="unicode", xml_declaration=True) + "\n"
