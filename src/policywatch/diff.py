"""Diffs two versions of a text into passages a reviewer can read.

A line-level pass with diff-match-patch finds the changed passages quickly on
long documents; inside each, a word-level pass with semantic cleanup shows
exactly which words changed. Each passage carries the heading it sits under.
Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from diff_match_patch import diff_match_patch

EQUAL, DELETE, INSERT = 0, -1, 1
HEADING = re.compile(r"^#{1,6} ")
WORD = re.compile(r"\w+|[^\w\s]+|\s+")


@dataclass
class Passage:
    """One changed stretch of the text, with where it sits."""

    heading: str
    removed: str
    added: str
    words: list[tuple[int, str]]
    line_before: int
    line_after: int


@dataclass
class Diff:
    """The difference between two texts.

    ``lines`` is the whole document as ``(op, line)`` pairs for side-by-side
    and folded views; ``passages`` the changed stretches with word-level ops.
    """

    lines: list[tuple[int, str]] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    added_chars: int = 0
    removed_chars: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` reads it back."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diff:
        """Rebuild a diff stored with :meth:`to_json`."""
        passages = [
            Passage(
                heading=p["heading"],
                removed=p["removed"],
                added=p["added"],
                words=[(int(op), str(text)) for op, text in p["words"]],
                line_before=p["line_before"],
                line_after=p["line_after"],
            )
            for p in data.get("passages", [])
        ]
        return cls(
            lines=[(int(op), str(text)) for op, text in data.get("lines", [])],
            passages=passages,
            added_chars=data.get("added_chars", 0),
            removed_chars=data.get("removed_chars", 0),
        )


def _engine() -> diff_match_patch:
    engine = diff_match_patch()
    engine.Diff_Timeout = 5.0
    return engine


def line_ops(old: str, new: str) -> list[tuple[int, str]]:
    """Whole-line diff of two texts, one ``(op, line)`` per line."""
    engine = _engine()
    chars_old, chars_new, lines = engine.diff_linesToChars(old, new)
    ops = engine.diff_main(chars_old, chars_new, False)
    engine.diff_charsToLines(ops, lines)
    result: list[tuple[int, str]] = []
    for op, text in ops:
        result.extend((op, line) for line in text.splitlines())
    return result


def word_ops(old: str, new: str) -> list[tuple[int, str]]:
    """Word-level diff of two passages, cleaned up to read as whole words."""
    engine = _engine()
    # Map each word to one character so the diff cannot split a word.
    vocabulary: dict[str, str] = {}
    words: list[str] = []

    def encode(text: str) -> str:
        out = []
        for token in WORD.findall(text):
            if token not in vocabulary:
                vocabulary[token] = (
                    chr(0xE000 + len(words))
                    if len(words) < 6400
                    else chr(0xF0000 + len(words))
                )
                words.append(token)
            out.append(vocabulary[token])
        return "".join(out)

    ops = engine.diff_main(encode(old), encode(new), False)
    engine.diff_cleanupSemantic(ops)
    decode = {char: word for word, char in vocabulary.items()}
    merged: list[tuple[int, str]] = []
    for op, text in ops:
        chunk = "".join(decode[c] for c in text)
        if merged and merged[-1][0] == op:
            merged[-1] = (op, merged[-1][1] + chunk)
        else:
            merged.append((op, chunk))
    return merged


def make_diff(old: str, new: str) -> Diff:
    """The diff of two versions of a text."""
    lines = line_ops(old, new)
    diff = Diff(lines=lines)
    heading = ""
    number_before = number_after = 0
    index = 0
    while index < len(lines):
        op, line = lines[index]
        if op == EQUAL:
            if HEADING.match(line):
                heading = line
            number_before += 1
            number_after += 1
            index += 1
            continue
        removed: list[str] = []
        added: list[str] = []
        start_before, start_after = number_before, number_after
        while index < len(lines) and lines[index][0] != EQUAL:
            op, line = lines[index]
            if op == DELETE:
                removed.append(line)
                number_before += 1
            else:
                added.append(line)
                number_after += 1
            index += 1
        removed_text, added_text = "\n".join(removed), "\n".join(added)
        diff.passages.append(
            Passage(
                heading=heading,
                removed=removed_text,
                added=added_text,
                words=word_ops(removed_text, added_text),
                line_before=start_before,
                line_after=start_after,
            )
        )
        diff.removed_chars += len(removed_text)
        diff.added_chars += len(added_text)
        heading = next((a for a in reversed(added) if HEADING.match(a)), heading)
    return diff
