"""``policywatch history`` and ``show``: the versions of a source over time."""

from __future__ import annotations

import datetime as dt
import json

import click
from rich.table import Table

from policywatch.cli.app import App, handle_errors, main, pass_app


def parse_when(value: str) -> dt.datetime:
    """A date or date-time from the command line, taken as UTC."""
    try:
        when = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a date (try 2026-01-31)") from exc
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    if len(value) <= 10:  # a bare date means the end of that day
        when += dt.timedelta(days=1, microseconds=-1)
    return when


@main.command()
@click.argument("key", metavar="VENDOR/SOURCE")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@handle_errors
@pass_app
def history(app: App, key: str, as_json: bool) -> None:
    """List the recorded versions of a source, oldest first."""
    versions = app.store.versions(key)
    if as_json:
        rows = [
            {
                "version": v.seq,
                "recorded_at": v.recorded_at.isoformat(),
                "size": v.size,
                "sha256": v.sha256,
                "normalizer": v.normalizer,
                "technical": v.technical,
            }
            for v in versions
        ]
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(box=None, pad_edge=False)
    for column in ("version", "recorded (UTC)", "size", "sha256", "kind"):
        table.add_column(column)
    for v in versions:
        table.add_row(
            str(v.seq),
            v.recorded_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{v.size:,}",
            v.sha256[:12],
            "technical" if v.technical else "",
        )
    app.out.print(table)


@main.command()
@click.argument("key", metavar="VENDOR/SOURCE")
@click.option(
    "--at", "at", help="Show the text as it stood at this date or time (UTC)."
)
@handle_errors
@pass_app
def show(app: App, key: str, at: str | None) -> None:
    """Print the text of a source: the latest version, or as it stood --at a date."""
    if at:
        version = app.store.version_at(key, parse_when(at))
    else:
        versions = app.store.versions(key)
        if not versions:
            raise click.ClickException(f"{key} has no recorded version yet")
        version = versions[-1]
    click.echo(version.text, nl=False)
