"""Markdown of recorded changes, for a CI issue or pull request body.

Text from a page is inert here: outside code blocks it is escaped (no HTML,
links, images or mentions), and diffs sit in fenced blocks whose fence is
longer than any run of backticks in them. The whole stays under the size a
GitHub issue body allows.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from policywatch.report.views import ChangeView

# GitHub refuses issue and pull request bodies over 65,536 characters.
LIMIT = 60_000
PASSAGE_LINES = 40
TABLE_ROWS = 200
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f]")
BACKTICKS = re.compile("`+")


def escape(value: object) -> str:
    """Text made inert in Markdown: one line, no HTML, links, images or
    @mentions."""
    text = CONTROL.sub(" ", " ".join(str(value).split()))
    for char, entity in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, entity)
    for char in "\\`*_[]()!|#~":
        text = text.replace(char, "\\" + char)
    # A word joiner after @ keeps GitHub from notifying whoever a page names.
    return text.replace("@", "@\u2060")


def fence(lines: Sequence[str], info: str = "diff") -> str:
    """A fenced code block holding ``lines`` that nothing inside can close."""
    body = [CONTROL.sub(" ", line) for line in lines]
    longest = max(
        (len(run) for line in body for run in BACKTICKS.findall(line)), default=0
    )
    marks = "`" * max(3, longest + 1)
    return "\n".join([marks + info, *body, marks])


def _passages(view: ChangeView) -> list[str]:
    parts = []
    for passage in view.diff.passages:
        where = " › ".join(h.lstrip("# ") for h in passage.path) or "top of the page"
        lines = [f"- {line}" for line in passage.removed.splitlines() if line.strip()]
        lines += [f"+ {line}" for line in passage.added.splitlines() if line.strip()]
        if len(lines) > PASSAGE_LINES:
            cut = len(lines) - PASSAGE_LINES
            lines = [*lines[:PASSAGE_LINES], f"  … {cut} more lines in the HTML report"]
        parts.append(f"In *{escape(where)}*:\n\n{fence(lines)}\n")
    return parts


def _head(view: ChangeView) -> list[str]:
    url = CONTROL.sub("", view.url.replace("`", ""))
    lines = [
        f"## #{view.id} {escape(view.key)}: {view.severity} ({view.state})",
        "",
        f"Recorded {view.created_at:%Y-%m-%d %H:%M} UTC "
        f"({view.from_date:%Y-%m-%d} → {view.to_date:%Y-%m-%d}); source `{url}`",
        "",
    ]
    if view.state == "verdict-update-needed":
        lines += ["**The verdict must be updated in the catalog.**", ""]
    if view.vendor:
        answer = view.vendor.verdict.answer or "unreviewed"
        lines += [f"Stored verdict: {escape(answer)}", ""]
    if view.review:
        review = view.review
        note = f": {escape(review.note)}" if review.note else ""
        lines += [
            f"Latest review: **{escape(review.decision)}** by "
            f"{escape(review.author)}, {review.decided_at:%Y-%m-%d %H:%M} UTC{note}",
            "",
        ]
    for risk in view.claims_at_risk:
        lines.append(
            f"- **Claim at risk:** {escape(risk['text'])}: {escape(risk['why'])}"
        )
    for risk in view.evidence_missing:
        lines.append(
            f"- Evidence not found: {escape(risk['text'])}: {escape(risk['why'])}"
        )
    if view.triage.get("terms"):
        lines += ["", "Watched terms: " + escape(", ".join(view.triage["terms"]))]
    return [*lines, ""]


def render(views: Sequence[ChangeView]) -> str:
    """The changes as Markdown: those needing attention in full, the others
    in one line each."""
    attention = [v for v in views if v.needs_attention]
    rest = [v for v in views if not v.needs_attention and not v.technical]
    updates = sum(v.state == "verdict-update-needed" for v in attention)
    out = [
        f"# policywatch: {len(attention)} change{'' if len(attention) == 1 else 's'}"
        f" to review" + (f" ({updates} need a verdict update)" if updates else ""),
        "",
    ]
    if attention:
        out += [
            "| change | source | severity | state | claims at risk |",
            "|---|---|---|---|---|",
        ]
        out += [
            f"| #{v.id} | {escape(v.key)} | {v.severity} | {v.state} "
            f"| {len(v.claims_at_risk)} |"
            for v in attention[:TABLE_ROWS]
        ]
        if len(attention) > TABLE_ROWS:
            out.append(f"\n… and {len(attention) - TABLE_ROWS} more (see the index)")
        out.append("")
    text = "\n".join(out)
    for view in attention:
        section = "\n".join([*_head(view), *_passages(view)])
        if len(text) + len(section) > LIMIT:
            section = (
                "\n".join(_head(view)) + "\n(diff left out: see the HTML report)\n"
            )
        if len(text) + len(section) > LIMIT:
            text += "\n(more changes left out to stay within the size limit)\n"
            break
        text += "\n" + section
    if rest:
        lines = [f"- #{v.id} {escape(v.key)}: {v.severity}, {v.state}" for v in rest]
        reviewed = "\n## Reviewed\n\n" + "\n".join(lines[:TABLE_ROWS]) + "\n"
        if len(text) + len(reviewed) <= LIMIT:
            text += reviewed
    return text
