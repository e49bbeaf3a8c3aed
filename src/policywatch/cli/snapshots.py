"""``policywatch snapshots``: the folder of latest texts, rebuilt from the store."""

from __future__ import annotations

import click

from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.snapshots import rebuild


@main.group()
def snapshots() -> None:
    """Look after the snapshots/ folder (POLICYWATCH_SNAPSHOTS)."""


@snapshots.command("rebuild")
@click.option(
    "--prune",
    is_flag=True,
    help="Also remove the files of sources the store has no version of.",
)
@handle_errors
@pass_app
def rebuild_snapshots(app: App, prune: bool) -> None:
    """Write the latest text of every source from the store, atomically.

    Files that already hold their text are left alone, and temporary files
    left by a killed run are removed.
    """
    folder = app.paths.snapshots
    rebuilt = rebuild(app.store, folder, prune=prune)
    click.echo(
        f"{folder}/: {len(rebuilt.written)} written, {len(rebuilt.current)} "
        f"already current, {len(rebuilt.removed)} removed"
    )
