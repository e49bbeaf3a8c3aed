"""Weighs a change against the stored verdict: how severe, which claims at risk.

Severities, lowest first:

- ``cosmetic``: only case, punctuation or spacing differs;
- ``minor``: the wording changed, but no watched term is in a changed passage;
- ``substantive``: a changed passage mentions a watched term;
- ``verdict-at-risk``: a claim's evidence disappeared or changed, or a changed
  passage sits in the section a claim rests on.

Watched terms match whole words, ignoring case, and a plain word also matches
its plural (``model`` finds "models", not "modeled"). A term ending in ``*``
matches any word it starts (``anonymi*``: "anonymized", "anonymisation"); an
all-capital term matches in capitals only (``UK``, never "uk" or "Ukraine");
words of a phrase may be joined by spaces or hyphens (``opt out``: "opt-out").

Evidence is matched word by word, ignoring case, punctuation and Markdown
marks, so a quote survives a new list bullet or a curly apostrophe.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from policywatch.catalog import Claim
from policywatch.diff import DELETE, EQUAL, INSERT, Diff, Passage

SEVERITIES = ("cosmetic", "minor", "substantive", "verdict-at-risk")
WATCHED_TERMS = (
    "train",
    "trains",
    "trained",
    "training",
    "retrain*",
    "fine-tun*",
    "model",
    "machine learning",
    "improve",
    "improves",
    "improved",
    "improving",
    "improvement",
    "opt out",
    "opted out",
    "opting out",
    "opt in",
    "opted in",
    "retain",
    "retains",
    "retained",
    "retention",
    "delete",
    "deletes",
    "deleted",
    "deletion",
    "share",
    "shares",
    "shared",
    "sharing",
    "sell",
    "sells",
    "sold",
    "selling",
    "sale",
    "third part*",
    "EEA",
    "European Economic Area",
    "UK",
    "U.K.",
    "United Kingdom",
    "consent",
    "consented",
    "human review*",
    "reviewer",
    "anonymi*",
    "de-identif*",
    "deidentif*",
    "pseudonymi*",
    "aggregate",
    "aggregated",
    "affiliate",
    "advertis*",
    "legitimate interest",
    "zero data retention",
    "DPA",
    "data processing",
)
FOLD = re.compile(r"[\W_]+")
# What may join the words of a watched phrase: spaces and any hyphen or dash.
DASHES = r"[\s\-\u2010-\u2015]"
WORDS = re.compile(r"\w+")
# How much of a replacement passage a reason quotes.
QUOTE_LIMIT = 300


@dataclass(frozen=True)
class ClaimAtRisk:
    """A claim that the change may have made wrong, and why.

    ``reason`` is ``evidence-removed``, ``evidence-changed``,
    ``section-changed`` or ``evidence-missing``; ``quote`` the evidence at
    stake, ``now`` what its passage reads after the change, ``section`` the
    heading of the changed section.
    """

    claim: str
    text: str
    why: str
    reason: str = ""
    quote: str = ""
    now: str = ""
    section: str = ""


@dataclass(frozen=True)
class PassageTriage:
    """The severity of one changed passage and the watched terms in it."""

    passage: int
    severity: str
    terms: list[str] = field(default_factory=list)


@dataclass
class Triage:
    """The severity of a change, the watched terms it touched, the claims at
    risk, and per passage the same.

    ``evidence_missing`` lists claims whose evidence is in neither text: the
    catalog's quote was already stale, so the change itself does not put the
    claim at risk, but a reviewer should know.
    """

    severity: str
    terms: list[str] = field(default_factory=list)
    claims_at_risk: list[ClaimAtRisk] = field(default_factory=list)
    passages: list[PassageTriage] = field(default_factory=list)
    evidence_missing: list[ClaimAtRisk] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def fold(text: str) -> str:
    """Text with case, punctuation and spacing removed, for comparisons."""
    return FOLD.sub("", text).casefold()


@lru_cache(maxsize=1024)
def term_pattern(term: str) -> re.Pattern[str]:
    """The regex that finds one watched term (see the module docstring)."""
    prefix = term.endswith("*")
    words = re.split(DASHES + "+", term.rstrip("*").strip())
    body = f"{DASHES}*".join(re.escape(word) for word in words if word)
    if not prefix and words[-1].isalpha() and not words[-1].isupper():
        body += "(?:s|es)?"
    end = r"\w*" if prefix else r"(?!\w)"
    letters = [c for c in term if c.isalpha()]
    acronym = len(letters) >= 2 and all(c.isupper() for c in letters)
    return re.compile(r"(?<!\w)" + body + end, 0 if acronym else re.IGNORECASE)


def find_terms(text: str, terms: Iterable[str]) -> list[str]:
    """The watched terms that occur in ``text``, as written in the list."""
    return [
        term for term in terms if WORDS.search(term) and term_pattern(term).search(text)
    ]


def watched_terms(extra_terms: Iterable[str] = ()) -> tuple[str, ...]:
    """The default watched terms with ``extra_terms`` added, without repeats."""
    # A term without a letter or digit ("*", "-") would match everywhere.
    extra = (t.strip() for t in extra_terms if WORDS.search(t))
    return tuple(dict.fromkeys((*WATCHED_TERMS, *extra)))


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
    terms = watched_terms(extra_terms)
    passages = [_weigh(index, p, terms) for index, p in enumerate(diff.passages)]
    changed = [diff.passages[p.passage] for p in passages if p.severity != "cosmetic"]
    if not changed:
        # Every passage differs in case, punctuation or spacing only.
        return Triage(severity="cosmetic", passages=passages)

    claims = tuple(claims)
    at_risk, missing = _evidence(diff, old, new, claims)
    at_risk += _sections(changed, claims, {risk.claim for risk in at_risk})

    found = sorted({t for p in passages for t in p.terms}, key=str.casefold)
    if at_risk:
        severity = "verdict-at-risk"
    elif found:
        severity = "substantive"
    else:
        severity = "minor"
    return Triage(severity, found, at_risk, passages, missing)


def _weigh(index: int, passage: Passage, terms: Sequence[str]) -> PassageTriage:
    if fold(passage.removed) == fold(passage.added):
        return PassageTriage(index, "cosmetic")
    found = find_terms(f"{passage.removed}\n{passage.added}", terms)
    return PassageTriage(index, "substantive" if found else "minor", found)


def _words(text: str) -> list[str]:
    return [word.casefold() for word in WORDS.findall(text)]


def _quote_pattern(quote: str) -> re.Pattern[str] | None:
    """A regex finding ``quote`` word by word, whatever lies between words."""
    words = [re.escape(word) for word in WORDS.findall(quote)]
    if not words:
        return None
    return re.compile(r"(?<!\w)" + r"\W+".join(words) + r"(?!\w)", re.IGNORECASE)


def _lines(text: str, found: re.Match[str]) -> range:
    """The 0-based numbers of the lines a match spans."""
    first = text.count("\n", 0, found.start())
    return range(first, first + text.count("\n", found.start(), found.end()) + 1)


def _evidence(
    diff: Diff, old: str, new: str, claims: Sequence[Claim]
) -> tuple[list[ClaimAtRisk], list[ClaimAtRisk]]:
    """Claims whose evidence the change removed or changed, and claims whose
    evidence is in neither text."""
    at_risk, missing = [], []
    for claim in claims:
        for quote in claim.evidence:
            pattern = _quote_pattern(quote)
            if pattern is None or pattern.search(new):
                continue
            found = pattern.search(old)
            if found is None:
                why = f"evidence not found in either version: {quote!r}"
                missing.append(
                    ClaimAtRisk(claim.id, claim.text, why, "evidence-missing", quote)
                )
                continue
            at_risk.append(_lost(claim, quote, _lines(old, found), diff.passages))
            break
    return at_risk, missing


def _lost(
    claim: Claim, quote: str, lines: range, passages: Sequence[Passage]
) -> ClaimAtRisk:
    touching = [
        p
        for p in passages
        if p.lines_removed
        and p.line_before < lines.stop
        and lines.start < p.line_before + p.lines_removed
    ]
    now = next((n for p in touching if (n := _replacement(p, quote)) is not None), None)
    if now is None:
        now = " ".join(p.added for p in touching if p.added.strip()).strip()
    if not _words(now):
        why = f"evidence removed: {quote!r}"
        return ClaimAtRisk(claim.id, claim.text, why, "evidence-removed", quote)
    if len(now) > QUOTE_LIMIT:
        now = now[:QUOTE_LIMIT].rstrip() + "…"
    why = f"evidence changed: {quote!r} now reads {now!r}"
    return ClaimAtRisk(claim.id, claim.text, why, "evidence-changed", quote, now)


def _replacement(passage: Passage, quote: str) -> str | None:
    """What stands in the new text where ``quote`` stood in the passage: the
    replacing words, or "" when they were only deleted; None when the quote
    is not inside this passage alone."""
    pattern = _quote_pattern(quote)
    found = pattern.search(passage.removed) if pattern else None
    if found is None:
        return None
    start, end = _new_offset(passage, found.start()), _new_offset(passage, found.end())
    return passage.added[start:end].strip()


def _new_offset(passage: Passage, old_offset: int) -> int:
    """The offset in the passage's new side matching one in its old side."""
    old = new = 0
    for op, text in passage.words:
        if op != INSERT and old + len(text) > old_offset:
            return new + (old_offset - old if op == EQUAL else 0)
        if op != INSERT:
            old += len(text)
        if op != DELETE:
            new += len(text)
    return new


def _heading_words(heading: str) -> str:
    return " " + " ".join(_words(heading.lstrip("#"))) + " "


def _sections(
    changed: Sequence[Passage], claims: Sequence[Claim], already: set[str]
) -> list[ClaimAtRisk]:
    """Claims resting on a section in which a passage changed."""
    at_risk = []
    for claim in claims:
        section = " ".join(_words(claim.section))
        if claim.id in already or not section:
            continue
        heading = next(
            (
                h
                for p in changed
                for h in p.headings
                if f" {section} " in _heading_words(h)
            ),
            None,
        )
        if heading is not None:
            title = heading.lstrip("# ")
            why = f"a passage changed in section {title!r}"
            at_risk.append(
                ClaimAtRisk(claim.id, claim.text, why, "section-changed", section=title)
            )
    return at_risk
