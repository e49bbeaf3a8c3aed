"""Policy pages for the benchmark: real corpus pages, varied per source.

Each generated source serves one corpus page (20 KB to 500 KB of real markup)
with a sentence of its own inserted in the main text, so no two sources serve
the same page. A source's revision adds a second sentence; the 5% of sources
picked at each generation get a new revision, so their text really changes.
"""

from __future__ import annotations

import pickle
import random
import re
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"
MIN_BYTES = 20_000
MAX_BYTES = 500_000
MIN_TEXT = 2_000
CHANGED_PERCENT = 5
MARK = "Benchmark marker zqxj"


@dataclass(frozen=True)
class Template:
    """A corpus page cut at two places where a sentence lands in the main text."""

    name: str
    parts: tuple[bytes, bytes, bytes]

    @property
    def size(self) -> int:
        return sum(len(p) for p in self.parts)


def _paragraph_ends(page: str) -> list[int]:
    return [m.start() for m in re.finditer(r"</p>", page, re.I)]


def _lands_in_text(page: str, at: int) -> bool:
    from policywatch.normalize import normalize

    return MARK in normalize(page[:at] + f" {MARK}." + page[at:])


def _cut(page: str) -> tuple[int, int] | None:
    """Two paragraph ends in the main text, the first before the second."""
    ends = _paragraph_ends(page)
    if len(ends) < 4:
        return None
    picks = [ends[int(len(ends) * share)] for share in (0.3, 0.5, 0.7, 0.4, 0.6)]
    found = [at for at in dict.fromkeys(picks) if _lands_in_text(page, at)]
    if len(found) < 2:
        return None
    first, second = sorted(found[:2])
    return first, second


def build_templates(corpus: Path = CORPUS) -> list[Template]:
    """Every corpus page of a usable size with enough text, cut for inserts."""
    from policywatch.normalize import normalize

    templates = []
    for path in sorted(corpus.glob("*/*/*.html")):
        raw = path.read_bytes()
        if not MIN_BYTES <= len(raw) <= MAX_BYTES:
            continue
        page = raw.decode("utf-8", errors="replace")
        if len(normalize(page)) < MIN_TEXT:
            continue
        cut = _cut(page)
        if cut is None:
            continue
        first, second = cut
        parts = (page[:first], page[first:second], page[second:])
        name = str(path.relative_to(corpus))
        templates.append(Template(name, tuple(p.encode() for p in parts)))  # type: ignore[arg-type]
    return templates


def save_templates(templates: list[Template], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(templates))


def load_templates(path: Path) -> list[Template]:
    return pickle.loads(path.read_bytes())  # type: ignore[no-any-return]


def words_of(templates: list[Template]) -> list[str]:
    """Words of the corpus, for the sentences that make each page differ."""
    text = b" ".join(t.parts[1] for t in templates).decode(errors="replace")
    text = re.sub(r"<[^>]*>", " ", text)
    words = sorted({w for w in re.findall(r"[A-Za-z]{4,12}", text)})
    return words or ["policy"]


def template_of(number: int, count: int) -> int:
    """Which template source ``number`` serves."""
    return random.Random(number * 7919).randrange(count)


def changes_at(number: int, generation: int) -> bool:
    """Whether source ``number`` gets a new revision at ``generation``."""
    if generation == 0:
        return False
    return random.Random(f"{number}-{generation}").randrange(100) < CHANGED_PERCENT


def revision(number: int, generation: int) -> int:
    """How many times source ``number`` changed up to ``generation``."""
    return sum(changes_at(number, g) for g in range(1, generation + 1))


def sentence(words: list[str], seed: str, count: int = 14) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(words) for _ in range(count))


def page_body(
    templates: list[Template], words: list[str], number: int, generation: int
) -> tuple[bytes, str]:
    """The page of source ``number`` at ``generation``, and its ETag."""
    index = template_of(number, len(templates))
    first, second, third = templates[index].parts
    rev = revision(number, generation)
    own = f" Reference {number}: {sentence(words, f'own-{number}')}."
    parts = [first, own.encode(), second]
    if rev:
        parts.append(f" Revision {rev}: {sentence(words, f'{number}-{rev}')}.".encode())
    parts.append(third)
    return b"".join(parts), f'"p{index}-{number}-{rev}"'


def expected_changed(count: int, generation: int) -> int:
    """How many of ``count`` sources change at ``generation``."""
    return sum(changes_at(n, generation) for n in range(count))
