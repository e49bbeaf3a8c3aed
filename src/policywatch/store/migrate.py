"""Brings a database's schema to the current revision with Alembic.

The migrations live in :mod:`policywatch.store.migrations`; a store applies
them when it opens, and ``policywatch db upgrade`` applies them on demand. A
database made before migrations existed (tables but no ``alembic_version``) is
taken to be at the first revision and upgraded from there.

Alembic is imported only when a migration has to run: opening a database that
is already at :data:`HEAD` costs one query.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
FIRST_REVISION = "0001"
# The newest revision in migrations/versions/ (a test keeps the two in step).
HEAD = "0004"


class MigrationError(Exception):
    """Alembic could not bring the schema to the wanted revision."""


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration pointing at the packaged migrations."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the package knows."""
    return HEAD


def script_head() -> str | None:
    """The newest revision found among the migration scripts themselves."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config()).get_current_head()


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        try:
            revision = connection.execute(
                text("SELECT version_num FROM alembic_version")
            ).scalar()
        except SQLAlchemyError:
            connection.rollback()
            revision = None
        if revision is None and inspect(connection).has_table("sources"):
            return FIRST_REVISION
        return None if revision is None else str(revision)


def upgrade(engine: Engine, target: str = "head") -> None:
    """Apply every migration the database lacks, in one transaction."""
    from alembic import command
    from alembic.util import CommandError

    with engine.connect() as connection:
        cfg = config(connection)
        try:
            if _made_before_migrations(connection):
                log.info("marking a database made before migrations as 0001")
                command.stamp(cfg, FIRST_REVISION)
                connection.commit()
            command.upgrade(cfg, target)
        except CommandError as exc:
            raise MigrationError(
                f"{exc} (is the database newer than this policywatch?)"
            ) from exc
        connection.commit()
    log.info("database schema upgraded to %s", target)


def _made_before_migrations(connection: Connection) -> bool:
    tables = inspect(connection).get_table_names()
    connection.rollback()
    return "sources" in tables and "alembic_version" not in tables
