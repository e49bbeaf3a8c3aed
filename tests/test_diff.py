"""The diff: changed passages found line by line, words inside them, read as
whole words, with the headings they sit under; fast paths hold on long texts."""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policywatch.diff import DELETE, EQUAL, INSERT, Diff, make_diff, word_ops
from policywatch.normalize import normalize
from tests.conftest import corpus_page

POLICY = """# Privacy policy

## What we collect

We collect the messages you send.

## Training

We do not use your chats to train our models.

We keep chats for 30 days.

## Contact

Write to us.
"""


def old_side(diff: Diff) -> str:
    return "".join(f"{line}\n" for op, line in diff.lines if op != INSERT)


def new_side(diff: Diff) -> str:
    return "".join(f"{line}\n" for op, line in diff.lines if op != DELETE)


def test_changed_words_inside_a_paragraph() -> None:
    """Only the words that changed are marked, whole, inside their paragraph."""
    new = POLICY.replace("We do not use", "We use")
    diff = make_diff(POLICY, new)
    assert len(diff.passages) == 1
    passage = diff.passages[0]
    assert [w for w in passage.words if w[0] != EQUAL] == [(DELETE, "do not ")]
    assert passage.removed == "We do not use your chats to train our models."
    assert passage.added == "We use your chats to train our models."
    assert (diff.removed_chars, diff.added_chars) == (7, 0)


def test_passage_knows_its_headings() -> None:
    """A passage carries the nearest heading and the path of headings above it."""
    diff = make_diff(POLICY, POLICY.replace("30 days", "90 days"))
    (passage,) = diff.passages
    assert passage.heading == "## Training"
    assert passage.path == ["# Privacy policy", "## Training"]
    assert passage.path_before == passage.path
    assert (passage.line_before, passage.line_after) == (10, 10)
    assert (passage.lines_removed, passage.lines_added) == (1, 1)


def test_semantic_cleanup_reads_as_words_not_letters() -> None:
    """A reworded sentence diffs as whole words, never as shared letters."""
    ops = word_ops("We retain your data.", "We delete your data.")
    assert ops == [
        (EQUAL, "We "),
        (DELETE, "retain"),
        (INSERT, "delete"),
        (EQUAL, " your data."),
    ]


def test_rewritten_long_passage_is_shown_replaced() -> None:
    """A long paragraph that shares few words with its replacement is shown
    as replaced, not as confetti of shared words."""
    old = " ".join(f"alpha{n} the" for n in range(400))
    new = " ".join(f"beta{n} the" for n in range(400))
    assert word_ops(old, new) == [(DELETE, old), (INSERT, new)]


@pytest.mark.slow
def test_more_distinct_words_than_the_private_use_area() -> None:
    """A passage with more distinct words than the Unicode private use areas
    hold (about 137,000) still diffs word by word."""
    words = [f"w{n}" for n in range(150_000)]
    old = " ".join(words)
    new = " ".join([*words[:70_000], "changed", *words[70_001:]])
    ops = word_ops(old, new)
    assert [op for op in ops if op[0] != EQUAL] == [
        (DELETE, "w70000"),
        (INSERT, "changed"),
    ]


def test_json_round_trip_and_older_diffs() -> None:
    """A diff survives to_json/from_json; a stored diff without heading paths
    or line counts still loads."""
    diff = make_diff(POLICY, POLICY.replace("Write to us.", "Write to us by post."))
    assert Diff.from_json(diff.to_json()) == diff
    old_format = {
        "lines": [[0, "a"]],
        "passages": [
            {
                "heading": "",
                "removed": "a\nb",
                "added": "",
                "words": [[-1, "a\nb"]],
                "line_before": 0,
                "line_after": 0,
            }
        ],
    }
    loaded = Diff.from_json(old_format)
    assert loaded.passages[0].lines_removed == 2 and loaded.passages[0].path == []


def test_lines_split_on_line_feeds_only() -> None:
    """Line numbers count line feeds only: a Unicode line separator inside a
    paragraph does not shift them."""
    old = "one\u2028still one\ntwo\n"
    diff = make_diff(old, old.replace("two", "2"))
    assert diff.passages[0].line_before == 1
    assert old_side(diff) == old


lines = st.lists(
    st.sampled_from(
        ["# A", "## B", "alpha beta", "gamma.", "", "delta, epsilon", "zeta"]
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None)
@given(lines, lines)
def test_diff_rebuilds_both_texts(old_lines: list[str], new_lines: list[str]) -> None:
    """The line ops rebuild both texts, and each passage's words rebuild its
    removed and added text."""
    old = "".join(f"{line}\n" for line in old_lines)
    new = "".join(f"{line}\n" for line in new_lines)
    diff = make_diff(old, new)
    assert old_side(diff) == old and new_side(diff) == new
    for passage in diff.passages:
        assert "".join(t for op, t in passage.words if op != INSERT) == passage.removed
        assert "".join(t for op, t in passage.words if op != DELETE) == passage.added


def test_real_pair_passages_sit_under_their_sections() -> None:
    """On a real revision (Anthropic's consumer terms, August 2025), the
    changed passages sit under the document's headings, and the new training
    wording is an inserted passage."""
    base = "anthropic-claude/consumer-terms-of-service"
    old = normalize(corpus_page(f"{base}/2025-08-28T12-32-00Z").decode())
    new = normalize(corpus_page(f"{base}/2025-08-29T00-32-01Z").decode())
    diff = make_diff(old, new)
    assert old_side(diff) == old and new_side(diff) == new
    assert diff.passages[0].line_after == 0  # a note added above the title
    assert all(p.path for p in diff.passages[1:])
    inserted = " ".join(t for p in diff.passages for op, t in p.words if op == INSERT)
    assert "train" in inserted


def test_rewrapped_page_is_one_passage_of_spacing_changes() -> None:
    """A long page re-wrapped onto other lines shares almost no line: it is
    diffed as one block whose only changes are white space, and both texts
    rebuild from the diff."""
    paragraphs = [
        " ".join(f"word{n}x{k} and" for k in range(30)) + "." for n in range(120)
    ]
    old = "\n\n".join(paragraphs) + "\n"
    new = "\n\n".join(textwrap.fill(p, 60) for p in paragraphs) + "\n"
    diff = make_diff(old, new)
    assert len(diff.passages) == 1
    changed = {text for p in diff.passages for op, text in p.words if op != EQUAL}
    assert changed <= {" ", "\n"}
    assert old_side(diff) == old and new_side(diff) == new
