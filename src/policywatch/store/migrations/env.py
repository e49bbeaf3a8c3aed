"""Runs the store's migrations on the connection :mod:`policywatch.store.migrate`
hands over; never reads an ini file or configures logging."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from policywatch.store.models import Base

# Any constant works: it names the lock that keeps two processes on one
# PostgreSQL database from migrating at the same time.
MIGRATION_LOCK = 0x706F6C6963790001


def run() -> None:
    """Upgrade in one transaction, holding the migration lock on PostgreSQL.

    On SQLite the transaction starts with BEGIN IMMEDIATE (see engine.py), which
    serializes migrating processes the same way.
    """
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        transactional_ddl=True,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        context.run_migrations()


run()
