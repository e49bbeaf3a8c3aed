"""What a report shows of one change: the view every report format renders."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from policywatch.catalog import Source, Vendor
from policywatch.diff import EQUAL, Diff, Passage

SEVERITY_ORDER = {"verdict-at-risk": 0, "substantive": 1, "minor": 2, "cosmetic": 3}
# Open changes first, then those whose verdict still has to be edited.
STATE_ORDER = {"open": 0, "verdict-update-needed": 1}
NEEDS_ATTENTION = frozenset(STATE_ORDER)
# Unchanged lines shown around a change; longer unchanged stretches fold.
CONTEXT = 3


@dataclass(frozen=True)
class Review:
    """A reviewer's decision on a change, as reports show it."""

    decision: str
    author: str
    decided_at: dt.datetime
    note: str = ""

    def to_json(self) -> dict[str, str]:
        """The JSON form of the decision."""
        return {
            "decision": self.decision,
            "author": self.author,
            "decided_at": self.decided_at.isoformat(),
            "note": self.note,
        }


@dataclass(frozen=True)
class Block:
    """A stretch of the inline or side-by-side view.

    ``kind`` is ``context`` (unchanged lines shown), ``fold`` (a long
    unchanged stretch, hidden until opened) or ``passage`` (a changed
    passage, with its index in the diff and its triage).
    """

    kind: str
    lines: list[str] = field(default_factory=list)
    passage: Passage | None = None
    index: int = 0
    severity: str = ""
    terms: list[str] = field(default_factory=list)


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
    review: Review | None = None
    technical: bool = False
    from_snapshot: int | None = None
    to_snapshot: int | None = None

    @property
    def vendor_id(self) -> str:
        return self.key.partition("/")[0]

    @property
    def source_id(self) -> str:
        return self.key.partition("/")[2]

    @property
    def claims_at_risk(self) -> list[dict[str, str]]:
        return list(self.triage.get("claims_at_risk", []))

    @property
    def evidence_missing(self) -> list[dict[str, str]]:
        return list(self.triage.get("evidence_missing", []))

    @property
    def needs_attention(self) -> bool:
        """Open, or reviewed with a verdict still to be edited."""
        return not self.technical and self.state in NEEDS_ATTENTION

    @property
    def link(self) -> str | None:
        """The source URL when it is safe to link (http or https only)."""
        return self.url if urlsplit(self.url).scheme in ("http", "https") else None

    @property
    def title(self) -> str:
        return f"{self.key}: {self.severity}"

    def raw_file(self, snapshot: int | None) -> str | None:
        """The report-relative path of a stored raw page, as inert text."""
        return None if snapshot is None else f"raw/snapshot-{snapshot}.txt"

    def sort_key(self) -> tuple[int, int, int]:
        """Open ones first, then verdict updates, the most severe and newest."""
        state = 9 if self.technical else STATE_ORDER.get(self.state, 2)
        return (state, SEVERITY_ORDER.get(self.severity, 9), -self.id)

    def blocks(self, context: int = CONTEXT) -> list[Block]:
        """The change as context, folded stretches and passages, in order."""
        return blocks(self.diff, self.triage, context)

    def side_rows(self, context: int = CONTEXT) -> list[tuple[str, str, str]]:
        """Rows of a line-by-line side-by-side view (kept for callers that
        want plain rows): ``same``, ``change`` or ``fold`` (count)."""
        return side_by_side(self.diff.lines, context)

    def to_json(self) -> dict[str, Any]:
        """The JSON form of the change, for machines."""
        passages = self.triage.get("passages", [])
        return {
            "change": self.id,
            "vendor": self.vendor_id,
            "source": self.source_id,
            "url": self.url,
            "severity": self.severity,
            "state": self.state,
            "technical": self.technical,
            "review": self.review.to_json() if self.review else None,
            "created_at": self.created_at.isoformat(),
            "from": self.from_date.isoformat(),
            "to": self.to_date.isoformat(),
            "from_snapshot": self.from_snapshot,
            "to_snapshot": self.to_snapshot,
            "terms": self.triage.get("terms", []),
            "claims_at_risk": self.claims_at_risk,
            "evidence_missing": self.evidence_missing,
            "passages": [
                {
                    "heading": p.heading,
                    "path": p.path,
                    "line_before": p.line_before,
                    "line_after": p.line_after,
                    "removed": p.removed,
                    "added": p.added,
                    "words": p.words,
                    **_passage_triage(passages, index),
                }
                for index, p in enumerate(self.diff.passages)
            ],
        }


def _passage_triage(passages: list[Any], index: int) -> dict[str, Any]:
    if index < len(passages) and isinstance(passages[index], dict):
        found = passages[index]
        return {"severity": found.get("severity", ""), "terms": found.get("terms", [])}
    return {"severity": "", "terms": []}


def blocks(diff: Diff, triage: dict[str, Any], context: int = CONTEXT) -> list[Block]:
    """Split a diff's lines into shown context, folds and passages."""
    triaged = triage.get("passages", [])
    result: list[Block] = []
    index = number = 0
    lines = diff.lines
    while index < len(lines):
        if lines[index][0] == EQUAL:
            start = index
            while index < len(lines) and lines[index][0] == EQUAL:
                index += 1
            same = [text for _, text in lines[start:index]]
            result += _context(same, start > 0, index < len(lines), context)
            continue
        while index < len(lines) and lines[index][0] != EQUAL:
            index += 1
        if number < len(diff.passages):
            result.append(
                Block(
                    "passage",
                    passage=diff.passages[number],
                    index=number,
                    **_passage_triage(triaged, number),
                )
            )
        number += 1
    return result


def _context(same: list[str], before: bool, after: bool, context: int) -> list[Block]:
    """Unchanged lines: a few shown next to each change, the rest folded."""
    head = same[:context] if before else []
    tail = same[-context:] if after and context else []
    middle = same[len(head) : len(same) - len(tail)]
    if len(middle) <= 2:
        return [Block("context", same)]
    shown = [Block("context", head)] if head else []
    shown.append(Block("fold", middle))
    return shown + ([Block("context", tail)] if tail else [])


def side_by_side(
    lines: list[tuple[int, str]], context: int = CONTEXT
) -> list[tuple[str, str, str]]:
    """Pair deleted and inserted lines and fold unchanged stretches."""
    rows: list[tuple[str, str, str]] = []
    index = 0
    while index < len(lines):
        if lines[index][0] == EQUAL:
            start = index
            while index < len(lines) and lines[index][0] == EQUAL:
                index += 1
            same = [text for _, text in lines[start:index]]
            for block in _context(same, start > 0, index < len(lines), context):
                if block.kind == "fold":
                    rows.append(("fold", str(len(block.lines)), ""))
                else:
                    rows += [("same", t, t) for t in block.lines]
            continue
        removed: list[str] = []
        added: list[str] = []
        while index < len(lines) and lines[index][0] != EQUAL:
            (removed if lines[index][0] < 0 else added).append(lines[index][1])
            index += 1
        for number in range(max(len(removed), len(added))):
            left = removed[number] if number < len(removed) else ""
            right = added[number] if number < len(added) else ""
            rows.append(("change", left, right))
    return rows
