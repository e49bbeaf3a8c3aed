"""``policywatch report``: write the recorded changes as HTML, Atom, Markdown
and JSON."""

from __future__ import annotations

import click

from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.report import change_views, render_markdown, write_reports


@main.command()
@click.option(
    "--markdown",
    "markdown_only",
    is_flag=True,
    help="Print the Markdown report to stdout instead of writing files.",
)
@handle_errors
@pass_app
def report(app: App, markdown_only: bool) -> None:
    """Write reports of the recorded changes to POLICYWATCH_REPORTS.

    index.html (changes to review first), one change-N.html per change with
    the stored verdict beside the diff, raw/snapshot-N.txt (the raw pages, as
    text), changes.atom, changes.md and changes.json.
    """
    if markdown_only:
        click.echo(render_markdown(change_views(app.store, app.catalog)), nl=False)
        return
    written = write_reports(app.store, app.catalog, app.paths.reports)
    click.echo(
        f"{len(written)} files written to {app.paths.reports}/ (open index.html)"
    )
