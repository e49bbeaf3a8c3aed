"""``policywatch demo``: the whole loop offline, on real pages served locally."""

from __future__ import annotations

from pathlib import Path

import click

from policywatch import demo as demo_run
from policywatch.cli.app import App, handle_errors, main, pass_app


@main.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("policywatch-demo"),
    show_default=True,
    help="Where the demo keeps its catalog, store, snapshots and reports.",
)
@handle_errors
@pass_app
def demo(app: App, folder: Path) -> None:
    """Show the whole loop offline on real policy pages.

    Serves real captures of two policy pages on 127.0.0.1, checks them, swaps
    in later real captures, checks again and writes the report. Needs no
    network and leaves your own catalog and store alone.
    """
    if (folder / "state").exists():
        raise click.UsageError(
            f"{folder} holds an earlier demo; remove it or pass --dir"
        )
    demo_run.run(folder, say=app.out.print)
