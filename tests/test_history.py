"""`policywatch history` lists a source's versions with dates, sizes and the
change behind each; `show` prints a text as it stood then; `snapshots
rebuild` rewrites the folder from the store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from policywatch.cli import main
from policywatch.store import Store
from tests.store_helpers import DAY, T0, record_text

KEY = "acme/terms"


@pytest.fixture
def recorded(store: Store) -> Store:
    """acme/terms with "one" on Jan 1, "two" on Jan 11 and "three" on Jan 21
    2026; acme/empty with no version."""
    store.sync_sources(
        [
            ("acme", "terms", "http://127.0.0.1/t", "terms"),
            ("acme", "empty", "http://127.0.0.1/e", "terms"),
        ]
    )
    for day, body in ((0, "one\n"), (10, "two\n"), (20, "three\n")):
        record_text(store, KEY, body, T0 + day * DAY)
    return store


def run(db_url: str, *args: str, folder: Path | None = None) -> Result:
    env = {"POLICYWATCH_DB": db_url, "POLICYWATCH_SNAPSHOTS": str(folder or "")}
    return CliRunner().invoke(main, list(args), env=env)


def test_history_lists_versions_oldest_first(recorded: Store, db_url: str) -> None:
    """--json gives one entry per version: number, time, size in bytes and
    the change that led to it (none for the first)."""
    result = run(db_url, "history", KEY, "--json")

    rows = json.loads(result.output)
    assert [(r["version"], r["size"]) for r in rows] == [(1, 4), (2, 4), (3, 6)]
    assert rows[0]["recorded_at"].startswith("2026-01-01T00:00:00")
    assert rows[0]["change"] is None
    assert rows[2]["change"] is not None and rows[2]["state"] == "open"


def test_history_table(recorded: Store, db_url: str) -> None:
    """The table shows each version's date and which change it came with."""
    result = run(db_url, "history", KEY)

    lines = result.output.splitlines()
    assert result.exit_code == 0
    assert "2026-01-11 00:00:00" in lines[2] and "open" in lines[2]
    assert "first" in lines[1]


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-01-01", "one\n"),
        ("2026-01-10", "one\n"),
        ("2026-01-11", "two\n"),
        ("2026-01-10T23:59", "one\n"),
        ("2026-01-11T00:00:00+00:00", "two\n"),
        ("2027-01-01", "three\n"),
    ],
)
def test_show_at_a_date(recorded: Store, db_url: str, at: str, expected: str) -> None:
    """--at DATE means the end of that day (UTC); a time means that moment."""
    result = run(db_url, "show", KEY, "--at", at)

    assert result.exit_code == 0, result.output
    assert result.output == expected


def test_show_latest_and_by_number(recorded: Store, db_url: str) -> None:
    """Without options show prints the latest text; --version N that one."""
    assert run(db_url, "show", KEY).output == "three\n"
    assert run(db_url, "show", KEY, "--version", "2").output == "two\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", KEY, "--at", "2025-12-31"], "acme/terms had no version yet"),
        (["show", KEY, "--at", "last week"], "'last week' is not a date"),
        (["show", KEY, "--version", "9"], "acme/terms has no version 9"),
        (["show", "acme/empty"], "acme/empty has no recorded version yet"),
        (["history", "nobody/nothing"], "no source 'nobody/nothing'"),
        (["show", KEY, "--at", "2026-01-01", "--version", "1"], "not both"),
    ],
)
def test_mistakes_are_one_line_errors(
    recorded: Store, db_url: str, args: list[str], message: str
) -> None:
    """Asking for what is not there is a usage error (exit 2) saying what."""
    result = run(db_url, *args)

    assert result.exit_code == 2
    assert message in result.output


def test_snapshots_rebuild(recorded: Store, db_url: str, tmp_path: Path) -> None:
    """rebuild writes each source's latest text, leaves current files alone,
    removes temporary files of killed writes and, with --prune, files of
    sources the store has no version of."""
    folder = tmp_path / "snapshots"
    stray = folder / "acme" / ".terms.md.x1y2"
    gone = folder / "old" / "page.md"
    for path in (stray, gone):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("partial")

    first = run(db_url, "snapshots", "rebuild", folder=folder)
    second = run(db_url, "snapshots", "rebuild", "--prune", folder=folder)

    assert (folder / "acme" / "terms.md").read_text() == "three\n"
    assert "1 written, 0 already current, 1 removed" in first.output
    assert "0 written, 1 already current, 1 removed" in second.output
    assert not stray.exists() and not gone.exists()
