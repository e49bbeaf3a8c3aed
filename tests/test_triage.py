"""Triage: severity per change and passage, watched terms matched as whole
words, and the claims a change puts at risk, with why."""

from __future__ import annotations

import pytest

from policywatch.catalog import Claim
from policywatch.diff import make_diff
from policywatch.normalize import normalize
from policywatch.triage import Triage, find_terms, term_pattern, triage
from tests.conftest import corpus_page

POLICY = """# Privacy policy

## What we collect

We collect the messages you send.

## How we use your data

We do not use your chats to train our models.

We keep chats for 30 days.

## Contact

Write to us at the address below.
"""
NO_TRAINING = Claim(
    id="no-training",
    text="Chats are not used for training.",
    sources=("privacy",),
    evidence=("We do not use your chats to train our models",),
)
RETENTION = Claim(
    id="retention",
    text="Chats are kept for a short time.",
    sources=("privacy",),
    section="How we use your data",
)


def weigh(old: str, new: str, *claims: Claim, extra: tuple[str, ...] = ()) -> Triage:
    return triage(make_diff(old, new), old, new, claims=claims, extra_terms=extra)


@pytest.mark.parametrize(
    ("term", "text", "found"),
    [
        ("UK", "users in the UK.", True),
        ("UK", "users in Ukraine", False),
        ("UK", "a UKG payroll", False),
        ("UK", "the uk office", False),
        ("U.K.", "the U.K. and the EEA", True),
        ("EEA", "EEA-based users", True),
        ("model", "our models", True),
        ("model", "our Model", True),
        ("model", "a plan modeled on", False),
        ("model", "data modelling", False),
        ("train", "trainee programme", False),
        ("training", "Training data", True),
        ("opt out", "you may opt-out", True),
        ("opt out", "Opt\u2011Out settings", True),
        ("opt out", "the optout link", True),
        ("opt out", "adopt outdated", False),
        ("third part*", "third-party services", True),
        ("third part*", "third parties", True),
        ("anonymi*", "anonymised data", True),
        ("anonymi*", "nonanonymous", False),
        ("sale", "wholesale prices", False),
        ("share", "we share it", True),
        ("share", "shareholders", False),
        ("human review*", "human reviewers may read", True),
    ],
)
def test_watched_terms_match_whole_words(term: str, text: str, found: bool) -> None:
    """A watched term matches as a whole word (with a plain plural), prefixes
    only with *, acronyms in capitals only, phrases across hyphens."""
    assert bool(term_pattern(term).search(text)) is found


def test_find_terms_reports_terms_as_listed() -> None:
    """find_terms names the listed terms found, in list order."""
    assert find_terms(
        "We sell data to third parties in the UK",
        ["UK", "sell", "train", "third part*"],
    ) == ["UK", "sell", "third part*"]


def test_terms_without_words_are_ignored() -> None:
    """A catalog term with no letter or digit ("*", "-") matches nothing
    instead of everything."""
    new = POLICY.replace("at the address below", "at the postal address below")
    assert weigh(POLICY, new, extra=("*", " - ")).severity == "minor"
    assert find_terms("anything", ["*"]) == []


def test_cosmetic_change() -> None:
    """Case, punctuation and spacing only: cosmetic, however many passages."""
    new = POLICY.replace("We keep chats", "we keep  chats").replace("send.", "send")
    result = weigh(POLICY, new, NO_TRAINING, RETENTION)
    assert result.severity == "cosmetic"
    assert result.claims_at_risk == []


def test_minor_change() -> None:
    """Reworded text without a watched term: minor."""
    new = POLICY.replace("at the address below", "at the postal address below")
    result = weigh(POLICY, new, NO_TRAINING, RETENTION)
    assert (result.severity, result.terms) == ("minor", [])
    assert [p.severity for p in result.passages] == ["minor"]


def test_substantive_change_names_terms() -> None:
    """A changed passage mentioning a watched term is substantive, and the
    term is named; a term added in the catalog's settings counts too."""
    new = POLICY.replace(
        "messages you send.", "messages you send and share them with partners."
    )
    result = weigh(POLICY, new)
    assert (result.severity, result.terms) == ("substantive", ["share"])

    new = POLICY.replace("at the address below", "at the DPO address below")
    assert weigh(POLICY, new).severity == "minor"
    assert weigh(POLICY, new, extra=("DPO",)).terms == ["DPO"]


def test_evidence_changed_puts_claim_at_risk() -> None:
    """When the quoted evidence is reworded, its claim is at risk, with the
    quote and what the passage reads now."""
    new = POLICY.replace("We do not use", "We may use")
    result = weigh(POLICY, new, NO_TRAINING)
    assert result.severity == "verdict-at-risk"
    (risk,) = result.claims_at_risk
    assert (risk.claim, risk.reason) == ("no-training", "evidence-changed")
    assert risk.now == "We may use your chats to train our models"
    assert "We do not use your chats" in risk.why


def test_evidence_removed_puts_claim_at_risk() -> None:
    """When the paragraph or the sentence holding the evidence is deleted, the
    claim is at risk because its evidence was removed."""
    new = POLICY.replace("We do not use your chats to train our models.\n\n", "")
    (risk,) = weigh(POLICY, new, NO_TRAINING).claims_at_risk
    assert risk.reason == "evidence-removed"

    joined = POLICY.replace("models.\n\nWe keep", "models. We keep")
    new = joined.replace("We do not use your chats to train our models. ", "")
    (risk,) = weigh(joined, new, NO_TRAINING).claims_at_risk
    assert risk.reason == "evidence-removed"


def test_evidence_survives_markup_and_moves() -> None:
    """Evidence that turns into a list item, changes punctuation or moves to
    another section is still found: the claim is not at risk."""
    moved = POLICY.replace(
        "We do not use your chats to train our models.\n\n", ""
    ).replace(
        "Write to us", "- We do not use your chats, to train our models!\n\nWrite to us"
    )
    result = weigh(POLICY, moved, NO_TRAINING)
    assert result.claims_at_risk == []
    assert result.severity == "substantive"


def test_change_in_claimed_section_puts_claim_at_risk() -> None:
    """A change under the heading a claim rests on puts the claim at risk;
    a change elsewhere does not."""
    inside = POLICY.replace("30 days", "3 years")
    (risk,) = weigh(POLICY, inside, RETENTION).claims_at_risk
    assert (risk.reason, risk.section) == ("section-changed", "How we use your data")

    outside = POLICY.replace("at the address below", "at the postal address below")
    assert weigh(POLICY, outside, RETENTION).claims_at_risk == []


def test_stale_evidence_is_reported_not_at_risk() -> None:
    """Evidence found in neither version is reported as missing; the change
    is not blamed for it."""
    stale = Claim(
        "stale", "Old claim.", ("privacy",), evidence=("words that never were",)
    )
    result = weigh(POLICY, POLICY.replace("30 days", "31 days"), stale)
    assert result.severity == "minor"
    assert [m.claim for m in result.evidence_missing] == ["stale"]


def corpus_pair(base: str, old: str, new: str) -> tuple[str, str]:
    return (
        normalize(corpus_page(f"{base}/{old}").decode()),
        normalize(corpus_page(f"{base}/{new}").decode()),
    )


@pytest.mark.parametrize(
    ("base", "old", "new", "severity"),
    [
        # Claude's terms gained the model-training choice (August 2025).
        (
            "anthropic-claude/consumer-terms-of-service",
            "2025-08-28T12-32-00Z",
            "2025-08-29T00-32-01Z",
            "substantive",
        ),
        # Only the "last updated" date moved.
        (
            "openai-chatgpt/model-training-data-use",
            "2026-05-18T10-30-06Z",
            "2026-06-29T10-30-08Z",
            "minor",
        ),
        # The same text rewrapped onto other lines.
        (
            "deepseek/privacy-policy",
            "2025-07-18T00-31-43Z",
            "2025-08-14T12-33-13Z",
            "cosmetic",
        ),
        # Contact addresses de-obfuscated, a heading level changed.
        (
            "xai-grok/privacy-policy",
            "2024-04-30T00-31-33Z",
            "2024-08-28T18-33-07Z",
            "minor",
        ),
        # A table of EEA legal bases added.
        (
            "deepseek/privacy-policy",
            "2025-07-04T12-31-34Z",
            "2025-07-18T00-31-43Z",
            "substantive",
        ),
    ],
)
def test_real_pairs_get_the_right_severity(
    base: str, old: str, new: str, severity: str
) -> None:
    """Real revisions from the corpus get the severity a reviewer would give."""
    assert weigh(*corpus_pair(base, old, new)).severity == severity


def test_real_pair_claim_whose_evidence_was_removed() -> None:
    """OpenAI's May 2026 revision dropped the sentence about advertising
    profiles: a claim quoting it is at risk and named; a claim whose quote
    stayed is not."""
    old, new = corpus_pair(
        "openai-chatgpt/model-training-data-use",
        "2026-01-30T11-30-06Z",
        "2026-05-18T10-30-06Z",
    )
    ads = Claim(
        "no-ad-profiles",
        "No advertising profiles.",
        ("model-training",),
        evidence=("to market our services or create advertising profiles of you",),
    )
    kept = Claim(
        "individuals-train",
        "Individuals' content trains models.",
        ("model-training",),
        evidence=("we may use your content to train our models",),
    )
    result = weigh(old, new, ads, kept)
    assert result.severity == "verdict-at-risk"
    assert [r.claim for r in result.claims_at_risk] == ["no-ad-profiles"]
    assert result.claims_at_risk[0].reason == "evidence-removed"
    assert "advertising profiles" in result.claims_at_risk[0].why
