"""How well normalization separates real changes from noise on the corpus.

For each document in tests/data/corpus, consecutive captures go through the
same steps as a check (normalize, gate, compare with the last accepted text)
and are scored against the ground truth in tests/data/normalize/corpus.toml:

    .venv/bin/python bench/corpus_figure.py
    .venv/bin/python bench/corpus_figure.py --normalizer old_normalize.py
    .venv/bin/python bench/corpus_figure.py --write-hashes

``--normalizer`` scores another normalizer module (say an older release
taken from git); ``--write-hashes`` records the text hash of every capture
for the current release in tests/data/normalize/release.toml, which a test
compares so that no output change goes out without a RELEASE bump.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

from policywatch import gate
from policywatch.errors import GateError

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "data" / "corpus"
TRUTH = ROOT / "tests" / "data" / "normalize" / "corpus.toml"
HASHES = ROOT / "tests" / "data" / "normalize" / "release.toml"


def load_normalizer(path: str | None) -> ModuleType:
    """The normalizer module to score: policywatch's, or one from a file."""
    if path is None:
        from policywatch import normalize

        return normalize
    spec = importlib.util.spec_from_file_location("scored_normalizer", path)
    if spec is None or spec.loader is None:
        sys.exit(f"error: cannot load a normalizer from {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score(normalizer: ModuleType) -> dict[str, list[str]]:
    """Captures by what happened to them, as ``document/date`` names."""
    truth = tomllib.loads(TRUTH.read_text(encoding="utf-8"))
    found: dict[str, list[str]] = {
        name: []
        for name in (
            "real-detected",
            "real-missed",
            "noise-quiet",
            "noise-alarm",
            "bad-refused",
            "bad-accepted",
            "good-refused",
        )
    }
    for document in truth["document"]:
        latest = ""
        for capture in document["captures"]:
            name = f"{document['path']}/{capture['date']}"
            raw = (CORPUS / f"{name}.html").read_text(encoding="utf-8")
            text = normalizer.normalize(raw)
            try:
                gate.check_page(raw, text, latest_text=latest or None)
            except GateError:
                found["bad-refused" if "reject" in capture else "good-refused"].append(
                    name
                )
                continue
            if "reject" in capture:
                found["bad-accepted"].append(name)
            elif "changed" in capture:
                found["real-detected" if text != latest else "real-missed"].append(name)
            elif "same" in capture:
                found["noise-alarm" if text != latest else "noise-quiet"].append(name)
            latest = text
    return found


def write_hashes(normalizer: ModuleType) -> None:
    """Record every capture's text hash for the current release."""
    lines = [
        "# Text hash of every corpus capture as the normalizer's current release",
        "# makes it; written by bench/corpus_figure.py --write-hashes.",
        f"release = {normalizer.RELEASE}",
        "",
        "[hashes]",
    ]
    for page in sorted(CORPUS.glob("*/*/*.html")):
        name = page.relative_to(CORPUS).with_suffix("").as_posix()
        text = normalizer.normalize(page.read_text(encoding="utf-8"))
        lines.append(f'"{name}" = "{normalizer.text_hash(text)}"')
    HASHES.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {HASHES.relative_to(ROOT)} for release {normalizer.RELEASE}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--normalizer", help="score the normalizer in this file")
    parser.add_argument("--write-hashes", action="store_true")
    args = parser.parse_args()
    normalizer = load_normalizer(args.normalizer)
    if args.write_hashes:
        write_hashes(normalizer)
        return

    found = score(normalizer)
    real = len(found["real-detected"]) + len(found["real-missed"])
    noise = len(found["noise-quiet"]) + len(found["noise-alarm"])
    bad = len(found["bad-refused"]) + len(found["bad-accepted"])
    print(f"normalizer release {getattr(normalizer, 'RELEASE', '?')}")
    print(f"real changes detected:           {len(found['real-detected'])} of {real}")
    print(f"noise-only captures that alarmed: {len(found['noise-alarm'])} of {noise}")
    print(f"non-policy captures refused:      {len(found['bad-refused'])} of {bad}")
    print(f"policy captures refused:          {len(found['good-refused'])}")
    for name in ("real-missed", "noise-alarm", "bad-accepted", "good-refused"):
        for capture in found[name]:
            print(f"  {name}: {capture}")


if __name__ == "__main__":
    main()
