"""Diffs two versions of a text into passages a reviewer can read.

Passes keep long documents fast: a line-level diff (a line of a normalized
text is a paragraph, a heading or a list item) finds the changed passages, a
sentence-level diff narrows each down to the changed sentences, and a
word-level diff runs inside those only. Semantic cleanup makes the result read
as whole paragraphs, sentences and words rather than scattered characters.
Each passage carries the headings it sits under. Pure: no I/O.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from diff_match_patch import diff_match_patch

EQUAL, DELETE, INSERT = 0, -1, 1
HEADING = re.compile(r"^(#{1,6}) +(.*)$")
# A word, one punctuation mark, or a run of white space: the units of the
# word-level pass, so a diff never splits a word.
WORD = re.compile(r"\w+|[^\w\s]|\s+")
LETTERS = re.compile(r"\w+")
SPACES = re.compile(r"(\s+)")
# A sentence with the white space after it (a blank line ends one too), or
# white space alone: the units of the pass that narrows a long passage down
# before the word-level pass.
SENTENCE = re.compile(r"(?:[^.!?;\n]|\n(?!\s*\n))+[.!?;]*\s*|[.!?;]+\s*|\s+")
# Above this product of word counts, a stretch sharing less than this share
# of its words with its replacement is shown as rewritten (see _worth_words).
WORD_PAIR_LIMIT = 40_000
REWRITE_SIMILARITY = 0.6
# Texts of more lines than this that share less than this share of their
# non-blank lines are diffed as one replaced block (see line_ops).
REWRITE_MIN_LINES = 200
REWRITE_LINES = 0.25
LINE_TIMEOUT = 1.0
WORD_TIMEOUT = 1.0
SURROGATES = range(0xD800, 0xE000)
MAX_TOKENS = 0x110000 - len(SURROGATES)

Ops = list[tuple[int, str]]


@dataclass
class Passage:
    """One changed stretch of the text, with where it sits.

    ``heading`` is the nearest heading above the passage in the new text and
    ``path`` every heading it sits under, outermost first; ``path_before`` is
    the same in the old text. ``line_before`` and ``line_after`` are the
    0-based numbers of the passage's first line in the old and new text, and
    ``lines_removed`` and ``lines_added`` how many lines it spans in each.
    """

    heading: str
    removed: str
    added: str
    words: Ops
    line_before: int
    line_after: int
    path: list[str] = field(default_factory=list)
    path_before: list[str] = field(default_factory=list)
    lines_removed: int = 0
    lines_added: int = 0

    @property
    def removed_words(self) -> Ops:
        """The old side of the passage: equal and deleted words."""
        return [(op, text) for op, text in self.words if op != INSERT]

    @property
    def added_words(self) -> Ops:
        """The new side of the passage: equal and inserted words."""
        return [(op, text) for op, text in self.words if op != DELETE]

    @property
    def headings(self) -> list[str]:
        """Every heading the passage touches: above it in either text, and
        inside it."""
        inside = [
            line
            for line in (*split_lines(self.removed), *split_lines(self.added))
            if HEADING.match(line)
        ]
        return [*self.path_before, *self.path, *inside]


@dataclass
class Diff:
    """The difference between two texts.

    ``lines`` is the whole document as ``(op, line)`` pairs for side-by-side
    and folded views; ``passages`` the changed stretches with word-level ops;
    ``added_chars`` and ``removed_chars`` count the inserted and deleted
    characters of the word-level diff.
    """

    lines: Ops = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    added_chars: int = 0
    removed_chars: int = 0

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict; :meth:`from_json` reads it back."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Diff:
        """Rebuild a diff stored with :meth:`to_json` (older diffs without
        heading paths included)."""
        return cls(
            lines=_ops(data.get("lines", [])),
            passages=[_passage(p) for p in data.get("passages", [])],
            added_chars=int(data.get("added_chars", 0)),
            removed_chars=int(data.get("removed_chars", 0)),
        )


def _ops(pairs: list[Any]) -> Ops:
    return [(int(op), str(text)) for op, text in pairs]


def _passage(data: dict[str, Any]) -> Passage:
    return Passage(
        heading=str(data.get("heading", "")),
        removed=str(data.get("removed", "")),
        added=str(data.get("added", "")),
        words=_ops(data.get("words", [])),
        line_before=int(data.get("line_before", 0)),
        line_after=int(data.get("line_after", 0)),
        path=[str(h) for h in data.get("path", [])],
        path_before=[str(h) for h in data.get("path_before", [])],
        lines_removed=int(data.get("lines_removed", _count(data.get("removed", "")))),
        lines_added=int(data.get("lines_added", _count(data.get("added", "")))),
    )


def _count(text: str) -> int:
    return len(text.split("\n")) if text else 0


class _TokenEngine(diff_match_patch):  # type: ignore[misc]
    """diff-match-patch for texts encoded one character per token.

    The lossless part of semantic cleanup scores characters as letters,
    spaces or line breaks; on encoded tokens that would be meaningless, so it
    is skipped here and run on the decoded text instead.
    """

    def diff_cleanupSemanticLossless(self, diffs: Ops) -> None:
        return None


def _engine(timeout: float, kind: type[diff_match_patch] = diff_match_patch) -> Any:
    engine = kind()
    engine.Diff_Timeout = timeout
    return engine


def line_ops(old: str, new: str) -> Ops:
    """Whole-line diff of two texts, one ``(op, line)`` per line.

    Semantic cleanup at line level merges edits separated by a line or two
    that happen to be equal (often a blank line), so one reworded section is
    one passage, not many. Two texts that share almost no line (the whole
    page re-wrapped or rewritten) are one replaced block: the line diff would
    spend its time limit finding blank lines in common, and the sentence pass
    aligns such texts better.
    """
    if _rewritten(old, new):
        ops = [(op, text) for op, text in ((DELETE, old), (INSERT, new)) if text]
    else:
        engine = _engine(LINE_TIMEOUT)
        chars_old, chars_new, lines = engine.diff_linesToChars(old, new)
        ops = engine.diff_main(chars_old, chars_new, False)
        engine.diff_cleanupSemantic(ops)
        engine.diff_charsToLines(ops, lines)
    result: Ops = []
    for op, text in ops:
        result.extend((op, line) for line in split_lines(text))
    return result


def _rewritten(old: str, new: str) -> bool:
    """Whether fewer than REWRITE_LINES of the non-blank lines are shared."""
    lines_old = Counter(line for line in old.split("\n") if line.strip())
    lines_new = Counter(line for line in new.split("\n") if line.strip())
    total = sum(lines_old.values()) + sum(lines_new.values())
    if total < REWRITE_MIN_LINES:
        return False
    common = sum((lines_old & lines_new).values())
    return 2 * common < REWRITE_LINES * total


def split_lines(text: str) -> list[str]:
    """The lines of ``text``, split on line feeds only (unlike
    :meth:`str.splitlines`), without the empty one after a final line feed."""
    lines = text.split("\n")
    return lines[:-1] if lines and lines[-1] == "" else lines


def _code_point(number: int) -> str:
    return chr(number + len(SURROGATES) if number >= SURROGATES.start else number)


def _encode(pieces: list[str], vocabulary: dict[str, str], tokens: list[str]) -> str:
    """One character per piece; ``vocabulary`` and ``tokens`` grow as new
    pieces are met, so two texts encoded in turn share their codes."""
    out = []
    for token in pieces:
        code = vocabulary.get(token)
        if code is None:
            code = vocabulary[token] = _code_point(len(tokens))
            tokens.append(token)
        out.append(code)
    return "".join(out)


def word_ops(old: str, new: str) -> Ops:
    """Word-level diff of two passages, cleaned up to read as whole words
    and sentences.

    A sentence-level pass first narrows a long paragraph down to the changed
    sentences; only those are diffed word by word.
    """
    result: Ops = []
    for op, text_old, text_new in _sentence_pairs(old, new):
        if op == EQUAL:
            result.append((EQUAL, text_old))
        elif not text_old or not text_new:
            result += [(DELETE, text_old), (INSERT, text_new)]
        elif _fold_space(text_old) == _fold_space(text_new):
            result += _spacing_ops(text_old, text_new)
        elif _worth_words(text_old, text_new):
            result.extend(_token_ops(text_old, text_new, WORD))
        else:
            result += [(DELETE, text_old), (INSERT, text_new)]
    decoded = _merge(result)
    diff_match_patch().diff_cleanupSemanticLossless(decoded)
    return _merge(decoded)


def _worth_words(old: str, new: str) -> bool:
    """Whether a word-level diff of a rewritten stretch would help a reader.

    A long stretch that shares few words with its replacement was rewritten:
    a word diff of it is slow (the diff is quadratic in the worst case) and
    reads as confetti, so it is shown as replaced instead.
    """
    words_old, words_new = LETTERS.findall(old), LETTERS.findall(new)
    if len(words_old) * len(words_new) <= WORD_PAIR_LIMIT:
        return True
    common = sum((Counter(words_old) & Counter(words_new)).values())
    return 2 * common >= REWRITE_SIMILARITY * (len(words_old) + len(words_new))


def _sentence_pairs(old: str, new: str) -> list[tuple[int, str, str]]:
    """The sentences of both texts aligned: ``(EQUAL, text, text)`` for equal
    stretches, ``(DELETE, old, new)`` for the rest.

    Sentences are compared with their white space folded, so a paragraph
    re-wrapped onto other lines still aligns sentence by sentence, and only
    the sentences whose spacing changed go on to the word-level pass.
    """
    sentences_old, sentences_new = SENTENCE.findall(old), SENTENCE.findall(new)
    vocabulary: dict[str, str] = {}
    tokens: list[str] = []
    encoded_old = _encode([_fold_space(t) for t in sentences_old], vocabulary, tokens)
    encoded_new = _encode([_fold_space(t) for t in sentences_new], vocabulary, tokens)
    if len(tokens) > MAX_TOKENS:
        return [(DELETE, old, new)]

    engine = _engine(WORD_TIMEOUT, _TokenEngine)
    ops = engine.diff_main(encoded_old, encoded_new, False)
    engine.diff_cleanupSemantic(ops)

    pairs: list[tuple[int, str, str]] = []
    at_old = at_new = 0
    for op, codes in ops:
        count = len(codes)
        if op == EQUAL:
            for one, other in zip(
                sentences_old[at_old : at_old + count],
                sentences_new[at_new : at_new + count],
                strict=True,
            ):
                pairs.append((EQUAL if one == other else DELETE, one, other))
        old_part = (
            "".join(sentences_old[at_old : at_old + count]) if op != INSERT else ""
        )
        new_part = (
            "".join(sentences_new[at_new : at_new + count]) if op != DELETE else ""
        )
        if op != EQUAL:
            pairs.append((DELETE, old_part, new_part))
        at_old += count if op != INSERT else 0
        at_new += count if op != DELETE else 0
    return _join(pairs)


def _fold_space(text: str) -> str:
    return " ".join(text.split())


def _spacing_ops(old: str, new: str) -> Ops:
    """The diff of two texts that differ in white space only, in one walk:
    their words are the same, so only the spaces around them can differ."""
    parts_old, parts_new = _spaced(old), _spaced(new)
    ops: Ops = []
    for one, other in zip(parts_old, parts_new, strict=True):
        if one == other:
            ops.append((EQUAL, one))
        else:
            ops += [(DELETE, one), (INSERT, other)]
    return ops


def _spaced(text: str) -> list[str]:
    """Leading space, then words and the spaces between them, then trailing
    space: the same number of parts for any two texts with the same words."""
    core = text.strip()
    lead = text[: len(text) - len(text.lstrip())]
    trail = text[len(lead) + len(core) :]
    return [lead, *SPACES.split(core), trail]


def _join(pairs: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Join neighbouring pairs of the same kind."""
    joined: list[tuple[int, str, str]] = []
    for op, old, new in pairs:
        if joined and joined[-1][0] == op:
            _, old_before, new_before = joined[-1]
            joined[-1] = (op, old_before + old, new_before + new)
        else:
            joined.append((op, old, new))
    return joined


def _token_ops(old: str, new: str, unit: re.Pattern[str]) -> Ops:
    """Diff of two texts cut into ``unit`` tokens, cleaned up semantically."""
    vocabulary: dict[str, str] = {}
    tokens: list[str] = []
    encoded_old = _encode(unit.findall(old), vocabulary, tokens)
    encoded_new = _encode(unit.findall(new), vocabulary, tokens)
    if len(tokens) > MAX_TOKENS:
        # More distinct tokens than code points: show the text as replaced.
        return [(op, text) for op, text in ((DELETE, old), (INSERT, new)) if text]

    engine = _engine(WORD_TIMEOUT, _TokenEngine)
    ops = engine.diff_main(encoded_old, encoded_new, False)
    engine.diff_cleanupSemantic(ops)

    decode = {code: token for token, code in vocabulary.items()}
    return [(op, "".join(decode[c] for c in text)) for op, text in ops]


def _merge(ops: Ops) -> Ops:
    """Join neighbours with the same op and drop empty ones."""
    runs: list[tuple[int, list[str]]] = []
    for op, text in ops:
        if not text:
            continue
        if runs and runs[-1][0] == op:
            runs[-1][1].append(text)
        else:
            runs.append((op, [text]))
    return [(op, "".join(parts)) for op, parts in runs]


class _Outline:
    """The headings above the current line, outermost first."""

    def __init__(self) -> None:
        self.path: list[tuple[int, str]] = []

    def see(self, line: str) -> None:
        match = HEADING.match(line)
        if match:
            level = len(match[1])
            self.path = [(lv, h) for lv, h in self.path if lv < level]
            self.path.append((level, line))

    @property
    def headings(self) -> list[str]:
        return [heading for _, heading in self.path]


def make_diff(old: str, new: str) -> Diff:
    """The diff of two versions of a text."""
    lines = line_ops(old, new)
    diff = Diff(lines=lines)
    outline_old, outline_new = _Outline(), _Outline()
    number_before = number_after = index = 0
    while index < len(lines):
        op, line = lines[index]
        if op == EQUAL:
            outline_old.see(line)
            outline_new.see(line)
            number_before += 1
            number_after += 1
            index += 1
            continue

        end = index
        while end < len(lines) and lines[end][0] != EQUAL:
            end += 1
        removed = [text for op, text in lines[index:end] if op == DELETE]
        added = [text for op, text in lines[index:end] if op == INSERT]
        passage = _make_passage(
            removed, added, number_before, number_after, outline_old, outline_new
        )
        diff.passages.append(passage)
        diff.removed_chars += sum(len(t) for op, t in passage.words if op == DELETE)
        diff.added_chars += sum(len(t) for op, t in passage.words if op == INSERT)

        for text in removed:
            outline_old.see(text)
        for text in added:
            outline_new.see(text)
        number_before += len(removed)
        number_after += len(added)
        index = end
    return diff


def _make_passage(
    removed: list[str],
    added: list[str],
    line_before: int,
    line_after: int,
    outline_old: _Outline,
    outline_new: _Outline,
) -> Passage:
    removed_text, added_text = "\n".join(removed), "\n".join(added)
    path = outline_new.headings
    return Passage(
        heading=path[-1] if path else "",
        removed=removed_text,
        added=added_text,
        words=word_ops(removed_text, added_text),
        line_before=line_before,
        line_after=line_after,
        path=path,
        path_before=outline_old.headings,
        lines_removed=len(removed),
        lines_added=len(added),
    )
