"""``policywatch sources``: look at and validate the catalog."""

from __future__ import annotations

import sys

import click
from rich.table import Table

from policywatch.catalog import load
from policywatch.cli.app import EXIT_USAGE, App, handle_errors, main, pass_app
from policywatch.errors import CatalogError


@main.group()
def sources() -> None:
    """Look at and validate the catalog (sources.toml)."""


@sources.command()
@pass_app
def validate(app: App) -> None:
    """Check the catalog and report every mistake, one line each.

    Exit status 0 when the catalog is valid, 2 when it has mistakes.
    """
    try:
        catalog = load(app.paths.sources)
    except CatalogError as exc:
        if not exc.problems:
            click.echo(f"error: {exc}", err=True)
        for problem in exc.problems:
            click.echo(f"{app.paths.sources}: {problem}", err=True)
        sys.exit(EXIT_USAGE)
    count = sum(1 for _ in catalog.sources())
    click.echo(
        f"{app.paths.sources}: {len(catalog.vendors)} vendors, {count} sources, valid"
    )


@sources.command("list")
@handle_errors
@pass_app
def list_sources(app: App) -> None:
    """List every source of the catalog."""
    table = Table(box=None, pad_edge=False)
    for column in ("source", "kind", "verdict", "url"):
        table.add_column(column)
    for vendor in app.catalog.vendors:
        state = (
            "unreviewed" if vendor.verdict.unreviewed else f"{vendor.verdict.reviewed}"
        )
        for source in vendor.sources:
            table.add_row(source.key, source.kind, state, source.url)
    app.out.print(table)
