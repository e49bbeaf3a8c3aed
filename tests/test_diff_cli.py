"""`policywatch diff`: the coloured diff of two recorded versions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner

from policywatch.cli import main
from policywatch.store import Store
from tests.conftest import Workspace
from tests.test_report import HOSTILE_NEW, HOSTILE_OLD, catalog_at, record_pages

THIRD = HOSTILE_OLD.replace("30 days", "90 days\x1b]0;retitled\x07 \x1b[2J")


def recorded(tmp_path: Path) -> Workspace:
    """A workspace whose hostile/privacy source has three versions, a day apart."""
    workspace = Workspace(tmp_path)
    catalog = catalog_at(tmp_path)
    (tmp_path / "state").mkdir()
    store = Store(workspace.db_url)
    pages = [HOSTILE_OLD.encode(), HOSTILE_NEW.encode(), THIRD.encode()]
    record_pages(
        store, catalog, "hostile/privacy", pages, dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    )
    store.close()
    return workspace


def run(workspace: Workspace, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["diff", *args], env=workspace.env)
    return result.exit_code, result.output


def test_diff_shows_last_two_versions_in_colour(tmp_path: Path) -> None:
    """By default the last two versions are diffed; with --color, deleted and
    inserted words carry ANSI colours; terminal escapes from the page are
    neutralised."""
    workspace = recorded(tmp_path)
    status, output = run(workspace, "hostile/privacy", "--color")
    assert status == 0, output
    assert "version 2" in output and "version 3" in output
    assert "\x1b[" in output  # coloured
    assert "\x1b]0;" not in output and "\x1b[2J" not in output
    assert "@@ line 3 · " in output and "Privacy policy" in output

    status, plain = run(workspace, "hostile/privacy", "--no-color")
    assert "\x1b" not in plain
    assert "We keep chats for [-30-]{+90+} days" in plain
    assert "@@ line 3 · Privacy policy" in plain


def test_diff_between_dates(tmp_path: Path) -> None:
    """--from and --to pick the versions current at those dates."""
    workspace = recorded(tmp_path)
    status, output = run(
        workspace,
        "hostile/privacy",
        "--from",
        "2026-06-01",
        "--to",
        "2026-06-02",
        "--no-color",
    )
    assert status == 0, output
    assert "version 1" in output and "version 2" in output
    assert "We [-never-]{+may+} use your chats" in output


def test_diff_needs_two_versions(tmp_path: Path) -> None:
    """A source with one version gives a one-line error, status 2."""
    workspace = Workspace(tmp_path)
    catalog = catalog_at(tmp_path)
    (tmp_path / "state").mkdir()
    store = Store(workspace.db_url)
    record_pages(
        store,
        catalog,
        "hostile/privacy",
        [HOSTILE_OLD.encode()],
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    status, output = run(workspace, "hostile/privacy")
    assert status == 2
    assert output.strip() == "error: hostile/privacy has 1 version(s): nothing to diff"
