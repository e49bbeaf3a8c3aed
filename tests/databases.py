"""Databases for the storage tests: each test gets a fresh SQLite file, or a
fresh schema of its own on the PostgreSQL server at 127.0.0.1:5432.

Loaded as a pytest plugin by conftest.py. The PostgreSQL runs are skipped when
the server cannot be reached, unless POLICYWATCH_TEST_POSTGRES is set (CI sets
it): then an unreachable server fails them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from policywatch.store import Store

POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_admin() -> str:
    """The PostgreSQL URL tests make their schemas in."""
    return os.environ.get("POLICYWATCH_TEST_POSTGRES") or POSTGRES


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(False)


def _unreachable(url: str) -> str | None:
    try:
        with psycopg.connect(_libpq(url), connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def require_postgres() -> str:
    """The admin URL, or skip (fail, under POLICYWATCH_TEST_POSTGRES) if the
    server is down."""
    url = postgres_admin()
    problem = _unreachable(url)
    if problem is not None:
        message = f"PostgreSQL at {make_url(url).host} unreachable: {problem}"
        if os.environ.get("POLICYWATCH_TEST_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections all work in a new, empty schema, dropped after."""
    admin = require_postgres()
    schema = f"pw_test_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_libpq(admin), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(admin).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with psycopg.connect(_libpq(admin), autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL for an empty store: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state' / 'policywatch.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """An open store on :func:`db_url`, with the schema at the newest revision."""
    opened = Store(db_url)
    yield opened
    opened.close()
