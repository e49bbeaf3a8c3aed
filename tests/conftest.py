"""Shared fixtures: a real local page server, a workspace with its own
catalog, store and folders, and the real corpus pages."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.server import PageServer

pytest_plugins = ["tests.databases"]

CORPUS = Path(__file__).parent / "data" / "corpus"


def corpus_page(name: str) -> bytes:
    """A real page from the corpus, by ``service/document/date`` (no suffix)."""
    return (CORPUS / f"{name}.html").read_bytes()


@dataclass
class Workspace:
    """A folder holding one installation: catalog, database, snapshots, reports."""

    root: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "POLICYWATCH_SOURCES": str(self.root / "sources.toml"),
            "POLICYWATCH_DB": f"sqlite:///{self.root / 'state' / 'policywatch.db'}",
            "POLICYWATCH_SNAPSHOTS": str(self.root / "snapshots"),
            "POLICYWATCH_REPORTS": str(self.root / "reports"),
        }

    @property
    def db_url(self) -> str:
        return self.env["POLICYWATCH_DB"]

    def write_catalog(self, text: str) -> Path:
        path = self.root / "sources.toml"
        path.write_text(text, encoding="utf-8")
        return path

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``python -m policywatch ARGS`` in this workspace."""
        return subprocess.run(
            [sys.executable, "-m", "policywatch", *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


@pytest.fixture
def server() -> Iterator[PageServer]:
    """A page server on 127.0.0.1, stopped after the test."""
    page_server = PageServer().start()
    yield page_server
    page_server.stop()


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    """An empty installation in a temporary folder."""
    return Workspace(tmp_path)
