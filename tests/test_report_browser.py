"""The HTML report opened in headless Chromium: it renders, and nothing a
hostile page carried (script tags, event handlers, javascript: links) runs."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from policywatch.report import change_views, write_reports
from policywatch.store import Store
from tests.conftest import Workspace, corpus_page
from tests.test_report import (
    HOSTILE_NEW,
    HOSTILE_OLD,
    OPENAI,
    assert_inert,
    catalog_at,
    record_pages,
)

CHROMIUM = shutil.which("chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None and os.environ.get("CI") != "true",
        reason="Debian's chromium is not installed",
    ),
]


def chromium(page: Path, profile: Path, *extra: str) -> str:
    """Open ``page`` in a fresh headless Chromium and return its stdout."""
    assert CHROMIUM is not None, "chromium is required when CI=true"
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.fixture
def reports(tmp_path: Path) -> tuple[Path, dict[str, int]]:
    """Reports written for a real OpenAI change and a hostile page's change."""
    catalog = catalog_at(tmp_path)
    (tmp_path / "state").mkdir()
    store = Store(Workspace(tmp_path).db_url)
    start = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    openai = record_pages(
        store,
        catalog,
        "openai-chatgpt/model-training",
        [
            corpus_page(f"{OPENAI}/{d}")
            for d in ("2026-01-30T11-30-06Z", "2026-05-18T10-30-06Z")
        ],
        start,
    )
    hostile = record_pages(
        store,
        catalog,
        "hostile/privacy",
        [HOSTILE_OLD.encode(), HOSTILE_NEW.encode()],
        start,
    )
    write_reports(store, catalog, tmp_path / "reports")
    view = next(v for v in change_views(store, catalog) if v.id == hostile[0])
    assert view.to_snapshot is not None
    return tmp_path / "reports", {
        "openai": openai[0],
        "hostile": hostile[0],
        "raw": view.to_snapshot,
    }


def test_hostile_page_runs_its_script_when_opened_directly(tmp_path: Path) -> None:
    """Control: the hostile page, opened as a page, does run its script, so
    the checks below would see it if a report let it run."""
    page = tmp_path / "hostile.html"
    page.write_text(HOSTILE_NEW, encoding="utf-8")
    dom = chromium(page, tmp_path / "profile", "--dump-dom")
    assert "<title>PWNED</title>" in dom
    assert 'data-pwned="yes"' in dom


def test_nothing_from_the_page_runs_in_the_report(
    reports: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    """The report of the hostile change, rendered by Chromium, keeps its own
    title and body: the page's scripts and handlers show as text and never
    run, even with the CSP taken out (autoescaping alone holds), and the
    stored raw page opens as plain text."""
    folder, ids = reports
    page = folder / f"change-{ids['hostile']}.html"
    dom = chromium(page, tmp_path / "profile1", "--dump-dom")
    assert f"<title>Change {ids['hostile']}: hostile/privacy" in dom
    assert "PWNED</title>" not in dom and 'data-pwned="yes"' not in dom
    assert "&lt;script&gt;document.title='PWNED'" in dom
    assert_inert(dom)

    without_csp = folder / "no-csp.html"
    html = page.read_text(encoding="utf-8")
    without_csp.write_text(
        html.replace('http-equiv="Content-Security-Policy"', 'name="x-removed"'),
        encoding="utf-8",
    )
    dom = chromium(without_csp, tmp_path / "profile2", "--dump-dom")
    assert "PWNED</title>" not in dom and 'data-pwned="yes"' not in dom

    raw = folder / "raw" / f"snapshot-{ids['raw']}.txt"
    dom = chromium(raw, tmp_path / "profile3", "--dump-dom")
    assert 'data-pwned="yes"' not in dom and "PWNED</title>" not in dom
    assert "&lt;script&gt;" in dom


def test_report_screenshot(
    reports: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    """Chromium renders the real change's report to a full-size screenshot."""
    folder, ids = reports
    shot = Path(os.environ.get("POLICYWATCH_SCREENSHOT", tmp_path / "report.png"))
    chromium(
        folder / f"change-{ids['openai']}.html",
        tmp_path / "profile",
        f"--screenshot={shot}",
        "--window-size=1400,1600",
        "--hide-scrollbars",
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1400, 1600)
    assert len(data) > 50_000  # a rendered page, not a blank one
