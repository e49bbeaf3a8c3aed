"""A catalog of many sources served on 127.0.0.1 from real corpus pages, some
of which move to a later capture from one round to the next; used by the
concurrency and crash tests of the store."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from policywatch.catalog import load
from policywatch.normalize import normalize
from tests.conftest import CORPUS
from tests.server import PageServer

# Captures of one document, oldest first; small enough to keep rounds quick.
DOCUMENTS = [
    "deepseek/privacy-policy",
    "xai-grok/privacy-policy",
    "openai-chatgpt/privacy-policy-rest-of-world",
]


def captures(document: str) -> list[bytes]:
    """The real captures of ``document`` (10 to 130 KB), oldest first."""
    paths = sorted((CORPUS / document).glob("*.html"))
    return [p.read_bytes() for p in paths if 10_000 < p.stat().st_size < 130_000]


@dataclass
class Scenario:
    """``count`` sources over the documents above; in round ``r`` source ``i``
    serves capture ``min(r // every, last)`` if ``i`` is odd (it moves to a
    later capture every ``every`` rounds) and its first capture otherwise."""

    server: PageServer
    root: Path
    db_url: str
    count: int = 12
    every: int = 1

    def __post_init__(self) -> None:
        self.pages = {d: captures(d) for d in DOCUMENTS}
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "sources.toml").write_text(self._catalog(), encoding="utf-8")
        self.catalog = load(self.root / "sources.toml")
        self.texts: dict[bytes, str] = {}

    def key(self, i: int) -> str:
        return f"vendor{i:02d}/page"

    def page(self, i: int, round_: int) -> bytes:
        served = self.pages[DOCUMENTS[i % len(DOCUMENTS)]]
        step = round_ // self.every if i % 2 else 0
        return served[min(step, len(served) - 1)]

    def serve(self, round_: int) -> None:
        for i in range(self.count):
            self.server.serve(f"/{i}", self.page(i, round_))

    def text(self, page: bytes) -> str:
        """The text a check records for ``page``."""
        if page not in self.texts:
            source = next(iter(self.catalog.sources()))
            self.texts[page] = normalize(
                page.decode("utf-8"),
                content_type="text/html",
                extraction=source.extraction,
            )
        return self.texts[page]

    def expected_line(self, i: int, rounds: int) -> list[str]:
        """The distinct texts source ``i`` served over ``rounds``, in order."""
        line: list[str] = []
        for round_ in range(rounds):
            text = self.text(self.page(i, round_))
            if not line or line[-1] != text:
                line.append(text)
        return line

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "POLICYWATCH_SOURCES": str(self.root / "sources.toml"),
            "POLICYWATCH_DB": self.db_url,
            "POLICYWATCH_SNAPSHOTS": str(self.root / "snapshots"),
            "POLICYWATCH_REPORTS": str(self.root / "reports"),
        }

    def start_check(self) -> subprocess.Popen[bytes]:
        """``policywatch check`` in its own process."""
        return subprocess.Popen(
            [sys.executable, "-m", "policywatch", "check", "--json"],
            env=self.env,
            cwd=self.root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def _catalog(self) -> str:
        entries = ['[settings]\nhost_delay = "0s"\nper_host = 4\n']
        for i in range(self.count):
            vendor, _, source = self.key(i).partition("/")
            entries.append(
                f'[[vendors]]\nid = "{vendor}"\nname = "Vendor {i}"\n\n'
                f'[[vendors.sources]]\nid = "{source}"\n'
                f'url = "{self.server.url(f"/{i}")}"\nkind = "privacy-policy"\n'
            )
        return "\n".join(entries)
