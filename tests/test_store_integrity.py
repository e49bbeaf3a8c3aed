"""`db check` finds each broken invariant of the history, and passes a sound
store; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from policywatch.cli import main
from policywatch.store import Store, integrity
from tests.store_helpers import DAY, T0, record_text

KEY = "acme/terms"


@pytest.fixture
def history(store: Store) -> Store:
    """A store where acme/terms has versions 1, 2 and 3 (texts a, b, c)."""
    store.sync_sources([("acme", "terms", "http://127.0.0.1/t", "terms")])
    for day, body in enumerate("abc"):
        record_text(store, KEY, body, T0 + day * DAY)
    return store


def sabotage(store: Store, *statements: str) -> None:
    """Run SQL with foreign keys not enforced, as a bug or a hand edit might."""
    if store.engine.dialect.name == "sqlite":
        with sqlite3.connect(str(store.engine.url.database)) as connection:
            for statement in statements:
                connection.execute(statement)
        return
    with store.engine.connect() as connection:
        connection.execute(text("SET session_replication_role = replica"))
        for statement in statements:
            connection.execute(text(statement))
        connection.commit()


def test_a_sound_store_passes(history: Store) -> None:
    """Three versions and two changes recorded by checks: no problem, even
    with every body decompressed and hashed."""
    assert integrity.check(history, deep=True) == []


BREAKS: dict[str, tuple[list[str], str]] = {
    "gap": (["UPDATE versions SET seq = 4 WHERE seq = 3"], "not numbered 1..3"),
    "same text twice": (
        ["UPDATE versions SET text_id = 1 WHERE seq = 2"],
        "versions 1 and 2 hold the same text",
    ),
    "change off the line": (
        ["UPDATE changes SET from_version_id = 3 WHERE to_version_id = 2"],
        "which are not consecutive",
    ),
    "version without change": (
        ["DELETE FROM changes WHERE to_version_id = 3"],
        "version 3 has no change leading to it",
    ),
    "missing text": (
        ["DELETE FROM texts WHERE id = 2"],
        "the text of version 2 is missing",
    ),
    "missing snapshot": (
        [
            "UPDATE fetch_attempts SET snapshot_id = NULL",
            "DELETE FROM snapshots WHERE id = 1",
        ],
        "the snapshot version 1 came from is missing",
    ),
}


@pytest.mark.parametrize("name", list(BREAKS))
def test_each_broken_invariant_is_found(history: Store, name: str) -> None:
    """Each way the history can be broken is reported, naming the source."""
    statements, expected = BREAKS[name]
    sabotage(history, *statements)

    problems = integrity.check(history)

    assert any(expected in p and KEY in p for p in problems), problems


def test_deep_check_finds_a_corrupt_body(history: Store) -> None:
    """A stored text whose bytes were damaged passes the quick check but not
    the deep one."""
    sabotage(
        history,
        "UPDATE texts SET body = snapshots.body FROM snapshots "
        "WHERE texts.id = 2 AND snapshots.id = 1",
    )

    assert integrity.check(history) == []
    assert integrity.check(history, deep=True) == [
        "texts 2: the body does not match its hash"
    ]


def test_an_old_schema_is_reported(
    history: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database behind the package's newest revision is a problem to fix
    with `db upgrade`."""
    monkeypatch.setattr("policywatch.store.migrate.HEAD", "0099")
    assert any("db upgrade" in p for p in integrity.check(history))


def test_db_check_command(history: Store, db_url: str) -> None:
    """`policywatch db check` exits 0 on a sound store and 1 with one line
    per problem on a broken one."""
    runner = CliRunner()
    env = {"POLICYWATCH_DB": db_url}

    sound = runner.invoke(main, ["db", "check", "--deep"], env=env)
    sabotage(history, "DELETE FROM changes WHERE to_version_id = 3")
    broken = runner.invoke(main, ["db", "check"], env=env)

    assert sound.exit_code == 0 and "sound (sources: 1, versions: 3" in sound.output
    assert broken.exit_code == 1
    assert "acme/terms: version 3 has no change leading to it" in broken.output
