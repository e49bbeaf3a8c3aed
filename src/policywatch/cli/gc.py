"""``policywatch gc``: drop old fetch attempts and raw pages no version came from."""

from __future__ import annotations

import datetime as dt
import json

import click

from policywatch.catalog import parse_duration
from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.store.retention import Policy, collect


def _duration(value: str) -> dt.timedelta:
    try:
        return dt.timedelta(seconds=parse_duration(value))
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@main.command()
@click.option(
    "--keep-attempts",
    default="90d",
    show_default=True,
    help="Keep fetch attempts this long (the newest of each source is always kept).",
)
@click.option(
    "--keep-snapshots",
    default="30d",
    show_default=True,
    help="Keep raw pages that no version came from this long.",
)
@click.option("--dry-run", is_flag=True, help="Say what would go; drop nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@handle_errors
@pass_app
def gc(
    app: App, keep_attempts: str, keep_snapshots: str, dry_run: bool, as_json: bool
) -> None:
    """Drop what the retention policy lets go; never a version, its text, or
    the raw page a version came from."""
    policy = Policy(
        keep_attempts=_duration(keep_attempts),
        keep_snapshots=_duration(keep_snapshots),
    )
    collected = collect(app.store, policy, dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(vars(collected), indent=2))
        return
    verb = "would drop" if dry_run else "dropped"
    click.echo(
        f"{verb} {collected.attempts} fetch attempts, {collected.snapshots} "
        f"snapshots ({collected.snapshot_bytes:,} bytes stored), "
        f"{collected.texts} texts"
    )
