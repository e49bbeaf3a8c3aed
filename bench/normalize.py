"""Normalization throughput on the corpus pages, against a bare lxml parse.

Both run on the same bytes in the same process, rounds interleaved, and the
best round of each counts, so a busy machine slows both alike:

    .venv/bin/python bench/normalize.py [--rounds 5]

Prints pages and megabytes per second for a bare ``lxml.html`` parse, the
light tree the normalizer builds from lxml's parse events (the floor under
the normalizer), a BeautifulSoup parse with the lxml tree builder (what the
normalizer parses with when a source has ``select`` or ``remove`` selectors),
and :func:`policywatch.normalize.normalize`; and the ratio of the
normalizer's time to the bare parse's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import lxml.html
from bs4 import BeautifulSoup

from policywatch.normalize import light_tree, normalize

CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "corpus"


def bare_parse(page: bytes) -> None:
    if page.strip():
        lxml.html.document_fromstring(page)


def light_parse(page: bytes) -> None:
    light_tree(page.decode("utf-8"))


def soup_parse(page: bytes) -> None:
    BeautifulSoup(page.decode("utf-8"), "lxml", multi_valued_attributes=None)


def normalized(page: bytes) -> None:
    normalize(page.decode("utf-8"))


def timed(step: Callable[[bytes], None], pages: list[bytes]) -> float:
    started = time.perf_counter()
    for page in pages:
        step(page)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    pages = [path.read_bytes() for path in sorted(CORPUS.glob("*/*/*.html"))]
    size = sum(len(page) for page in pages) / 1e6
    steps = {
        "lxml parse": bare_parse,
        "light tree": light_parse,
        "bs4+lxml parse": soup_parse,
    }
    steps["normalize"] = normalized
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(args.rounds):
        for name, step in steps.items():
            best[name] = min(best[name], timed(step, pages))

    print(f"{len(pages)} corpus pages, {size:.1f} MB, best of {args.rounds} rounds")
    for name, seconds in best.items():
        print(
            f"{name:>15}: {seconds:6.2f} s  {len(pages) / seconds:7.1f} pages/s"
            f"  {size / seconds:6.1f} MB/s"
        )
    ratio = best["normalize"] / best["lxml parse"]
    light = best["light tree"] / best["lxml parse"]
    soup = best["bs4+lxml parse"] / best["lxml parse"]
    print(
        f"normalize / bare lxml parse: {ratio:.1f}x"
        f" (light tree alone: {light:.1f}x, bs4 parse alone: {soup:.1f}x)"
    )


if __name__ == "__main__":
    main()
