"""``policywatch export``: the JSON the tracker site reads, and its schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from policywatch import export as exporter
from policywatch.cli.app import App, handle_errors, main, pass_app


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the export to this file (replaced in one step) instead of stdout.",
)
@click.option(
    "--schema", "schema_only", is_flag=True, help="Print the export's JSON Schema."
)
@handle_errors
@pass_app
def export(app: App, output: Path | None, schema_only: bool) -> None:
    """Print the tracker site's JSON: per vendor, the verdict, tiers, claims,
    each source's last check, last change and status, the open changes and
    the last verified date."""
    if schema_only:
        text = json.dumps(exporter.schema(), indent=2) + "\n"
    else:
        text = exporter.dumps(exporter.build(app.store, app.catalog))
    if output is None:
        click.echo(text, nl=False)
        return
    exporter.write(output, text)
    click.echo(f"export written to {output}", err=True)
