"""Migrations: a database made by the first schema, or before migrations
existed, upgrades cleanly to the newest revision with its history intact;
the models and the migrations describe the same schema; on SQLite and
PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Connection, text

from policywatch.cli import main
from policywatch.errors import StoreError
from policywatch.store import Store, integrity, migrate
from policywatch.store.engine import make_engine
from policywatch.store.models import Base
from tests.store_helpers import DAY, T0, record_text

# A history written with the first schema's SQL: one source, two versions,
# the change between them, and the attempts that recorded them.
FIRST_SCHEMA_ROWS = [
    "INSERT INTO sources (id, vendor_id, source_id, url, kind) "
    "VALUES (1, 'acme', 'terms', 'http://127.0.0.1/t', 'terms')",
    "INSERT INTO snapshots (id, sha256, body, size, content_type, created_at) "
    "VALUES (1, :raw_hash, :raw, 10, 'text/html', '2025-06-01 00:00:00')",
    "INSERT INTO texts (id, sha256, body, size) VALUES (1, :one_hash, :one, 3)",
    "INSERT INTO texts (id, sha256, body, size) VALUES (2, :two_hash, :two, 3)",
    "INSERT INTO versions (id, source_id, seq, text_id, snapshot_id, normalizer, "
    "technical, recorded_at) VALUES (1, 1, 1, 1, 1, 1, false, '2025-06-01 00:00:00')",
    "INSERT INTO versions (id, source_id, seq, text_id, snapshot_id, normalizer, "
    "technical, recorded_at) VALUES (2, 1, 2, 2, NULL, 1, false, '2025-07-01')",
    "INSERT INTO changes (id, source_id, from_version_id, to_version_id, severity, "
    "technical, diff, triage, state, created_at) VALUES "
    "(1, 1, 1, 2, 'minor', false, '{}', '{}', 'open', '2025-07-01 00:00:00')",
    "INSERT INTO fetch_attempts (id, source_id, started_at, duration, outcome, "
    "snapshot_id, version_id) VALUES (1, 1, '2025-06-01', 0.5, 'new', 1, 1)",
]


def first_schema_database(url: str, *, stamped: bool = True) -> None:
    """Make the first revision's tables at ``url`` and fill them; without
    ``stamped``, drop Alembic's table, as a database made before migrations."""
    from policywatch.store import compress, sha256

    engine = make_engine(url)
    migrate.upgrade(engine, migrate.FIRST_REVISION)
    values = {
        "raw": compress(b"<p>one</p>"),
        "raw_hash": sha256(b"<p>one</p>"),
        "one": compress(b"one"),
        "one_hash": sha256(b"one"),
        "two": compress(b"two"),
        "two_hash": sha256(b"two"),
    }
    with engine.begin() as connection:
        for statement in FIRST_SCHEMA_ROWS:
            connection.execute(text(statement), values)
        if connection.dialect.name == "postgresql":
            _advance_sequences(connection)
        if not stamped:
            connection.execute(text("DROP TABLE alembic_version"))
    engine.dispose()


def _advance_sequences(connection: Connection) -> None:
    """Move PostgreSQL's id sequences past the ids given explicitly above."""
    for table in ("sources", "snapshots", "texts", "versions", "changes"):
        connection.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        )
    connection.execute(
        text("SELECT setval(pg_get_serial_sequence('fetch_attempts', 'id'), 1)")
    )


@pytest.mark.parametrize("stamped", [True, False], ids=["first-schema", "unstamped"])
def test_an_old_database_upgrades_with_its_history(db_url: str, stamped: bool) -> None:
    """Opening a database at the first revision (or with no revision at all)
    brings it to the newest; its versions and change are as they were, the
    integrity check passes, and a new check continues the line."""
    first_schema_database(db_url, stamped=stamped)
    assert migrate.current(make_engine(db_url)) == migrate.FIRST_REVISION

    store = Store(db_url)

    assert migrate.current(store.engine) == migrate.head()
    assert [v.text for v in store.versions("acme/terms")] == ["one", "two"]
    assert [c.id for c in store.changes()] == [1]
    assert integrity.check(store, deep=True) == []
    record_text(store, "acme/terms", "three", T0 + DAY)
    assert [v.seq for v in store.versions("acme/terms")] == [1, 2, 3]
    store.close()


def test_db_upgrade_command_says_what_it_did(db_url: str) -> None:
    """`policywatch db upgrade` names the revisions it went from and to, and
    says so when there was nothing to do."""
    first_schema_database(db_url)
    runner = CliRunner()

    first = runner.invoke(main, ["db", "upgrade"], env={"POLICYWATCH_DB": db_url})
    again = runner.invoke(main, ["db", "upgrade"], env={"POLICYWATCH_DB": db_url})

    assert first.exit_code == 0, first.output
    assert f"upgraded from 0001 to {migrate.head()}" in first.output
    assert f"already at revision {migrate.head()}" in again.output


def test_models_and_migrations_agree(store: Store) -> None:
    """The schema the migrations build is the one the models describe: a
    column added to a model without a migration fails here."""
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_head_constant_matches_the_scripts() -> None:
    """migrate.HEAD, used to skip Alembic when a database is current, is the
    newest migration script."""
    assert migrate.script_head() == migrate.HEAD


def test_a_database_newer_than_the_package_is_refused(db_url: str) -> None:
    """A database at a revision this package does not know is not touched,
    and the error says why."""
    Store(db_url).close()
    engine = make_engine(db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0999'"))

    with pytest.raises(StoreError, match="newer than this policywatch"):
        Store(db_url)


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once(db_url: str) -> None:
    """Three processes opening the same empty database at once all succeed,
    and the schema is made once."""
    code = "import sys; from policywatch.store import Store; Store(sys.argv[1])"
    processes = [
        subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE)
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in processes]

    assert [p.returncode for p in processes] == [0, 0, 0], errors
    assert migrate.current(make_engine(db_url)) == migrate.head()
