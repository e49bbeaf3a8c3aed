"""The normalizer on real captures: for each pair of consecutive captures of one
document, the texts are equal exactly when the policy's wording did not change,
and a change's diff holds the changed words and little else.

Ground truth is tests/data/normalize/corpus.toml, decided by reading the pages
and Open Terms Archive's extracted texts (ODC-BY 1.0, "Open Terms Archive").
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from policywatch import gate
from policywatch.diff import DELETE, INSERT, make_diff
from policywatch.errors import GateError
from policywatch.normalize import RELEASE, canonical, normalize, text_hash

HERE = Path(__file__).parent
CORPUS = HERE / "data" / "corpus"
TRUTH = tomllib.loads((HERE / "data" / "normalize" / "corpus.toml").read_text())
DOCUMENTS = {doc["path"]: doc["captures"] for doc in TRUTH["document"]}
# A passage may change a few words the reference texts lack (a link target
# kept in the text); past this many, it holds chrome.
SLACK_WORDS = 6


@dataclass
class Capture:
    """One capture of a document with its ground truth."""

    path: str
    date: str
    truth: dict[str, Any]

    @property
    def raw(self) -> str:
        return (CORPUS / self.path / f"{self.date}.html").read_text(encoding="utf-8")

    @property
    def reference(self) -> Path:
        return CORPUS / self.path / f"{self.date}.md"


def captures(path: str) -> list[Capture]:
    return [Capture(path, c["date"], c) for c in DOCUMENTS[path]]


def reference_words(markdown: str) -> list[str]:
    """The words of an Open Terms Archive text: Markdown marks, tables of
    contents and repeated long lines (a page's mobile and desktop copies)
    left out."""
    text = canonical(unicodedata.normalize("NFKC", markdown))
    text = re.sub(
        r"^Table of contents$|^\W*\[[^]]*\]\(#[^)]*\)\W*$", " ", text, flags=re.M
    )
    text = re.sub(r"\]\([^)]*\)|<br\s*/?>|^[-=\s]+$", " ", text, flags=re.M)
    text = re.sub(r"^\s*(?:\d+\.|[*+-])\s", " ", text, flags=re.M)
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        if len(line) > 30 and line in seen:
            continue
        seen.add(line)
        lines.append(line)
    return re.findall(r"\w+", "\n".join(lines))


def changed_words(diff_ops: list[tuple[int, str]]) -> list[str]:
    return [
        word
        for op, text in diff_ops
        if op in (DELETE, INSERT)
        for word in re.findall(r"\w+", text)
    ]


def reference_changes(before: Capture, after: Capture) -> set[str]:
    """Words Open Terms Archive's texts add or remove between two captures."""
    import difflib

    old = reference_words(before.reference.read_text(encoding="utf-8"))
    new = reference_words(after.reference.read_text(encoding="utf-8"))
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    words: set[str] = set()
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != "equal":
            words.update(old[i1:i2] + new[j1:j2])
    return words


@pytest.mark.parametrize("path", sorted(DOCUMENTS))
def test_equal_exactly_when_the_wording_did_not_change(path: str) -> None:
    """Each capture is refused by the gate when it is not the policy; else its
    text equals the last accepted one exactly when only markup changed, and a
    real change's diff holds the changed words and no passage of noise."""
    latest: Capture | None = None
    latest_text = ""
    for capture in captures(path):
        text = normalize(capture.raw)
        if "reject" in capture.truth:
            with pytest.raises(GateError) as refused:
                gate.check_page(capture.raw, text, latest_text=latest_text or None)
            assert refused.value.reason == capture.truth["reject"], capture.date
            continue

        gate.check_page(capture.raw, text, latest_text=latest_text or None)
        if "same" in capture.truth:
            assert text == latest_text, f"{capture.date}: {capture.truth['same']}"
            assert text_hash(text) == text_hash(latest_text)
        elif "changed" in capture.truth:
            assert latest is not None
            assert text != latest_text, f"{capture.date}: {capture.truth['changed']}"
            _assert_diff_holds_the_change(latest, capture, latest_text, text)
        latest, latest_text = capture, text


def _assert_diff_holds_the_change(
    before: Capture, after: Capture, old: str, new: str
) -> None:
    diff = make_diff(old, new)
    changed = " ".join(f"{p.removed} {p.added}" for p in diff.passages)
    for phrase in after.truth["words"]:
        assert " ".join(phrase.split()) in " ".join(changed.split()), phrase

    if not (before.reference.exists() and after.reference.exists()):
        return
    truth = reference_changes(before, after)
    vocabulary = set(reference_words(before.reference.read_text(encoding="utf-8")))
    vocabulary.update(reference_words(after.reference.read_text(encoding="utf-8")))
    for target in re.findall(r"\]\(([^)]*)\)", old + new):
        vocabulary.update(re.findall(r"\w+", target))
    for passage in diff.passages:
        words = changed_words(passage.words)
        assert not words or truth.intersection(words), (
            f"{after.date}: a passage of noise: {passage.removed!r} -> "
            f"{passage.added!r}"
        )
        # Words in neither reference text came from the page's chrome.
        foreign = [w for w in words if w not in vocabulary]
        assert len(foreign) <= SLACK_WORDS, f"{after.date}: {foreign}"


@pytest.mark.parametrize("path", sorted(DOCUMENTS))
def test_texts_keep_the_policy_and_leave_out_the_chrome(path: str) -> None:
    """Every accepted capture's text holds the reference text's words in the
    same order for nearly all of it, and no more than a little besides."""
    for capture in captures(path):
        if "reject" in capture.truth or not capture.reference.exists():
            continue
        ours = re.findall(r"\w+", normalize(capture.raw))
        theirs = reference_words(capture.reference.read_text(encoding="utf-8"))
        kept, extra = _overlap(theirs, ours)
        assert kept >= 0.97 * len(theirs), f"{capture.date}: lost policy words"
        assert extra <= 0.03 * len(ours) + 30, f"{capture.date}: kept chrome"


def _overlap(reference: list[str], ours: list[str]) -> tuple[int, int]:
    """(reference words found in order in ours, words of ours not matched)."""
    import difflib

    matcher = difflib.SequenceMatcher(None, reference, ours, autojunk=False)
    kept = sum(block.size for block in matcher.get_matching_blocks())
    return kept, len(ours) - kept


def test_known_chrome_is_gone_and_glued_words_are_apart() -> None:
    """Chrome seen on real pages (a language picker, a legal hub's menu, a
    site footer) is not in the text; a date in its own block is not glued to
    its label."""
    openai = normalize(
        (
            CORPUS / "openai-chatgpt/model-training-data-use/2026-06-29T10-30-08Z.html"
        ).read_text(encoding="utf-8")
    )
    assert "Select language" not in openai
    assert "Updated: 13 March 2026" in openai

    privacy = normalize(
        (
            CORPUS
            / "openai-chatgpt/privacy-policy-rest-of-world/2023-11-10T06-30-28Z.html"
        ).read_text(encoding="utf-8")
    )
    assert "UpdatedJune" not in privacy
    assert "Updated\n\nJune 23, 2023" in privacy

    perplexity = normalize(
        (CORPUS / "perplexity/privacy-policy/2025-09-22T12-37-50Z.html").read_text(
            encoding="utf-8"
        )
    )
    assert "Legal overview" not in perplexity
    assert "Partner & Promotion Terms" not in perplexity
    assert "Podcast" not in perplexity
    assert perplexity.startswith("# Perplexity's Privacy Policy\n")


@pytest.mark.slow
def test_output_changes_come_with_a_release_bump() -> None:
    """Every capture's text hash is the one recorded for this RELEASE, so the
    normalizer's output cannot change without its release number changing
    (and ``policywatch renormalize`` then telling the texts apart)."""
    recorded = tomllib.loads(
        (HERE / "data" / "normalize" / "release.toml").read_text(encoding="utf-8")
    )
    assert recorded["release"] == RELEASE, (
        "RELEASE changed: run bench/corpus_figure.py --write-hashes"
    )
    changed = [
        name
        for name, digest in recorded["hashes"].items()
        if text_hash(normalize((CORPUS / f"{name}.html").read_text(encoding="utf-8")))
        != digest
    ]
    assert not changed, (
        "the normalizer's output changed: bump RELEASE in normalize.py and run "
        f"bench/corpus_figure.py --write-hashes ({changed[:3]})"
    )


@pytest.mark.parametrize(
    "expected",
    sorted((HERE / "data" / "normalize" / "expected").glob("*.md")),
    ids=lambda path: path.stem,
)
def test_real_pages_give_their_expected_text(expected: Path) -> None:
    """Real pages give exactly the reviewed text kept beside the tests: the
    policy's headings, paragraphs, items and kept link targets, no chrome."""
    name = expected.stem.replace("__", "/")
    page = (CORPUS / f"{name}.html").read_text(encoding="utf-8")
    assert normalize(page) == expected.read_text(encoding="utf-8")
