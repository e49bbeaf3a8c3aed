"""``policywatch history`` and ``show``: the versions of a source over time."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import click
from rich.table import Table

from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.errors import NotFoundError
from policywatch.store import StoredVersion
from policywatch.store.models import ChangeRow


def parse_when(value: str) -> dt.datetime:
    """A date or date-time from the command line, taken as UTC.

    A bare date means the end of that day: ``--at 2026-01-31`` shows the text
    as it stood when that day was over.
    """
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not a date (try 2026-01-31 or 2026-01-31T12:00)"
        ) from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if len(value) <= 10:
        when += dt.timedelta(days=1, microseconds=-1)
    return when


def _row(version: StoredVersion, change: ChangeRow | None) -> dict[str, Any]:
    return {
        "version": version.seq,
        "recorded_at": version.recorded_at.isoformat(),
        "size": version.size,
        "sha256": version.sha256,
        "normalizer": version.normalizer,
        "technical": version.technical,
        "change": change.id if change else None,
        "severity": change.severity if change else None,
        "state": change.state if change else None,
    }


@main.command()
@click.argument("key", metavar="VENDOR/SOURCE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
@pass_app
def history(app: App, key: str, as_json: bool) -> None:
    """List the recorded versions of a source, oldest first: when each was
    recorded, its size in bytes (UTF-8), and the change that led to it."""
    versions = app.store.versions(key)
    changes = app.store.changes_of(key)
    rows = [_row(v, changes.get(v.id)) for v in versions]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"{key} has no recorded version yet")
        return
    table = Table(box=None, pad_edge=False)
    for column in ("version", "recorded (UTC)", "size", "sha256", "change"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for version, row in zip(versions, rows, strict=True):
        change = f"{row['change']} {row['severity']}, {row['state']}"
        table.add_row(
            str(version.seq),
            version.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{version.size:,}",
            version.sha256[:12],
            change if row["change"] else "first",
        )
    app.out.print(table)


@main.command()
@click.argument("key", metavar="VENDOR/SOURCE")
@click.option(
    "--at", "at", help="Show the text as it stood at this date or time (UTC)."
)
@click.option(
    "--version", "seq", type=int, help="Show this version (a number from `history`)."
)
@handle_errors
@pass_app
def show(app: App, key: str, at: str | None, seq: int | None) -> None:
    """Print the text of a source: the latest version, the one current --at a
    date, or a given --version."""
    if at and seq is not None:
        raise click.UsageError("give --at or --version, not both")
    if at:
        version = app.store.version_at(key, parse_when(at))
    else:
        versions = app.store.versions(key)
        picked = [v for v in versions if seq is None or v.seq == seq]
        if not picked:
            wanted = "recorded version yet" if seq is None else f"version {seq}"
            raise NotFoundError(f"{key} has no {wanted}")
        version = picked[-1]
    click.echo(version.text, nl=False)
