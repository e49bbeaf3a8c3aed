"""Weighs a change against the stored verdict: how severe, which claims at risk.

Severities, lowest first:

- ``cosmetic``: only case, punctuation or spacing differs;
- ``minor``: the wording changed, but no watched term is in a changed passage;
- ``substantive``: a changed passage mentions a watched term;
- ``verdict-at-risk``: a claim's evidence disappeared or changed, or a changed
  passage sits in the section a claim rests on.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from policywatch.catalog import Claim
from policywatch.diff import Diff

SEVERITIES = ("cosmetic", "minor", "substantive", "verdict-at-risk")
WATCHED_TERMS = (
    "train",
    "training",
    "model",
    "improve",
    "improvement",
    "opt out",
    "opt-out",
    "opt in",
    "opt-in",
    "retain",
    "retention",
    "delete",
    "deletion",
    "share",
    "sharing",
    "sell",
    "selling",
    "third part",
    "EEA",
    "European Economic Area",
    "UK",
    "United Kingdom",
    "consent",
    "human review",
    "reviewer",
    "anonymi",
    "de-identif",
    "aggregate",
    "affiliate",
    "advertis",
    "legitimate interest",
    "zero data retention",
    "DPA",
    "data processing",
)
FOLD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class ClaimAtRisk:
    """A claim that the change may have made wrong, and why."""

    claim: str
    text: str
    why: str


@dataclass
class Triage:
    """The severity of a change, the watched terms it touched and the claims
    at risk."""

    severity: str
    terms: list[str] = field(default_factory=list)
    claims_at_risk: list[ClaimAtRisk] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def fold(text: str) -> str:
    """Text with case, punctuation and spacing removed, for comparisons."""
    return FOLD.sub("", text).casefold()


def term_pattern(terms: Iterable[str]) -> re.Pattern[str]:
    """One regex that finds any of ``terms`` at a word start, ignoring case."""
    alternatives = sorted({re.escape(t.strip()) for t in terms if t.strip()}, key=len)
    return re.compile(r"\b(?:" + "|".join(reversed(alternatives)) + ")", re.I)


def _squash(text: str) -> str:
    return " ".join(text.split()).casefold()


def triage(
    diff: Diff,
    old: str,
    new: str,
    *,
    claims: Iterable[Claim] = (),
    extra_terms: Iterable[str] = (),
) -> Triage:
    """Weigh the change from ``old`` to ``new`` against the claims resting on
    the source."""
    if fold(old) == fold(new):
        return Triage(severity="cosmetic")
    pattern = term_pattern((*WATCHED_TERMS, *extra_terms))
    terms: set[str] = set()
    for passage in diff.passages:
        changed = " ".join(text for op, text in passage.words if op != 0)
        context = f"{passage.removed}\n{passage.added}" if changed.strip() else ""
        for match in pattern.finditer(changed or context):
            terms.add(match.group(0).lower())
    at_risk = _claims_at_risk(diff, old, new, claims)
    if at_risk:
        severity = "verdict-at-risk"
    elif terms:
        severity = "substantive"
    else:
        severity = "minor"
    return Triage(severity=severity, terms=sorted(terms), claims_at_risk=at_risk)


def _claims_at_risk(
    diff: Diff, old: str, new: str, claims: Iterable[Claim]
) -> list[ClaimAtRisk]:
    old_squashed, new_squashed = _squash(old), _squash(new)
    changed_headings = {_squash(p.heading.lstrip("# ")) for p in diff.passages}
    at_risk = []
    for claim in claims:
        for quote in claim.evidence:
            quote_squashed = _squash(quote)
            if quote_squashed in old_squashed and quote_squashed not in new_squashed:
                at_risk.append(
                    ClaimAtRisk(
                        claim.id, claim.text, f"evidence removed or changed: {quote!r}"
                    )
                )
                break
            if (
                quote_squashed not in new_squashed
                and quote_squashed not in old_squashed
            ):
                at_risk.append(
                    ClaimAtRisk(
                        claim.id,
                        claim.text,
                        f"evidence not found in the source: {quote!r}",
                    )
                )
                break
        else:
            section = _squash(claim.section)
            if section and any(section in heading for heading in changed_headings):
                at_risk.append(
                    ClaimAtRisk(
                        claim.id,
                        claim.text,
                        f"changed passage in section {claim.section!r}",
                    )
                )
    return at_risk
