"""Diff time on long policies: policywatch's two-pass diff against
diff-match-patch's plain character diff of the same pair, as a ratio.

Two policies of about 300 KB are built from the real corpus texts
(normalized), and the second gets 20 edits scattered through it: words
replaced, sentences inserted, sentences deleted. Both diffs run on the same
pair in the same process; each timing is the best of a few runs.

    python bench/diff.py [--size 300000] [--edits 20] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

from diff_match_patch import diff_match_patch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from policywatch.diff import make_diff  # noqa: E402
from policywatch.normalize import normalize  # noqa: E402
from policywatch.triage import triage  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "corpus"
INSERTS = (
    "We may use your content to train our models unless you opt out.",
    "Data from users in the EEA and the UK is kept for 30 days.",
    "We share aggregated statistics with our affiliates.",
)


def policy(size: int) -> str:
    """About ``size`` characters of real policy text, section after section."""
    texts = [
        normalize(path.read_text(encoding="utf-8", errors="replace"))
        for path in sorted(CORPUS.glob("*/*/*.html"))
    ]
    texts = sorted({t for t in texts if len(t) > 1000})
    out: list[str] = []
    while sum(map(len, out)) < size:
        out.append(texts[len(out) % len(texts)])
    return "".join(out)[:size]


def edited(text: str, edits: int, seed: int = 6) -> str:
    """``text`` with ``edits`` edits spread evenly: a word replaced, a
    sentence inserted or a sentence deleted, in turn."""
    rng = random.Random(seed)
    cuts = [len(text) * (n + 1) // (edits + 1) for n in range(edits)]
    pieces, start = [], 0
    for number, cut in enumerate(cuts):
        cut = text.find(". ", cut) + 2
        pieces.append(text[start:cut])
        kind = number % 3
        if kind == 0:
            end = text.find(" ", cut)
            pieces.append(rng.choice(("Notably", "However", "Moreover")))
            start = end
        elif kind == 1:
            pieces.append(INSERTS[number % len(INSERTS)] + " ")
            start = cut
        else:
            start = text.find(". ", cut) + 2
    pieces.append(text[start:])
    return "".join(pieces)


def best(runs: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return min(times)


def plain(old: str, new: str, timeout: float) -> Callable[[], object]:
    def run() -> object:
        engine = diff_match_patch()
        engine.Diff_Timeout = timeout
        return engine.diff_main(old, new, False)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=300_000)
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    old = policy(args.size)
    new = edited(old, args.edits)
    diff = make_diff(old, new)
    ours = best(args.runs, lambda: make_diff(old, new))
    weighed = best(args.runs, lambda: triage(make_diff(old, new), old, new))
    exact = best(args.runs, plain(old, new, 0.0))
    capped = best(args.runs, plain(old, new, 1.0))

    print(f"texts: {len(old):,} and {len(new):,} characters, {args.edits} edits")
    print(f"passages found: {len(diff.passages)}")
    print(f"policywatch make_diff:                  {ours * 1000:9.1f} ms")
    print(f"policywatch make_diff + triage:         {weighed * 1000:9.1f} ms")
    print(f"diff_main, characters, no time limit:   {exact * 1000:9.1f} ms")
    print(f"diff_main, characters, 1 s limit:       {capped * 1000:9.1f} ms")
    print(f"ratio diff_main (no limit) / make_diff: {exact / ours:9.1f}x")
    print(f"ratio diff_main (1 s limit) / make_diff:{capped / ours:9.1f}x")


if __name__ == "__main__":
    main()
