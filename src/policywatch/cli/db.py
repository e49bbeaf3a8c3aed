"""``policywatch db``: upgrade the database's schema and check its integrity."""

from __future__ import annotations

import sys

import click

from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.store import Store, integrity, migrate
from policywatch.store.models import ChangeRow, SourceRow, VersionRow

EXIT_PROBLEMS = 1


@main.group()
def db() -> None:
    """Look after the database (POLICYWATCH_DB): schema and integrity."""


@db.command()
@handle_errors
@pass_app
def upgrade(app: App) -> None:
    """Bring the database's schema to the current revision.

    A check or any other command does this by itself when it opens the
    database; run it on purpose before starting several processes at once
    against a new or older database.
    """
    store = Store(app.paths.db_url, create=False)
    before = migrate.current(store.engine)
    store.upgrade()
    after = migrate.current(store.engine)
    if before == after:
        click.echo(f"{store.safe_url}: schema already at revision {after}")
    else:
        click.echo(f"{store.safe_url}: schema upgraded from {before} to {after}")


@db.command("check")
@click.option(
    "--deep",
    is_flag=True,
    help="Also decompress every text and raw page and verify its SHA-256.",
)
@handle_errors
@pass_app
def check_db(app: App, deep: bool) -> None:
    """Check the database file and the invariants of the recorded history.

    \b
    Exit status:
      0  the store is sound
      1  problems were found (one per line on stdout)
    """
    store = Store(app.paths.db_url, create=False)
    problems = integrity.check(store, deep=deep)
    for problem in problems:
        click.echo(problem)
    if problems:
        click.echo(f"{store.safe_url}: {len(problems)} problems", err=True)
        sys.exit(EXIT_PROBLEMS)
    counts = ", ".join(
        f"{name}: {store.count(model)}"
        for model, name in (
            (SourceRow, "sources"),
            (VersionRow, "versions"),
            (ChangeRow, "changes"),
        )
    )
    click.echo(f"{store.safe_url}: sound ({counts})")
