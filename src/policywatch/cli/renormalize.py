"""``policywatch renormalize``: re-derive texts after a normalizer upgrade."""

from __future__ import annotations

import json
import sys

import click

from policywatch.cli.app import EXIT_ERROR, App, handle_errors, main, pass_app
from policywatch.normalize import RELEASE
from policywatch.renormalize import Renormalized, renormalize

OUTCOME_STYLE = {
    "renormalized": "yellow",
    "unchanged": "dim",
    "no-version": "dim",
    "no-snapshot": "red",
    "failed": "red",
}


@main.command(name="renormalize")
@click.option(
    "--vendor", "vendors", multiple=True, help="Only this vendor (repeatable)."
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Only this source, as VENDOR/SOURCE or SOURCE (repeatable).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the results."
)
@handle_errors
@pass_app
def renormalize_command(
    app: App, vendors: tuple[str, ...], sources: tuple[str, ...], as_json: bool
) -> None:
    """Re-derive each source's latest text from its stored raw page.

    Uses the current normalizer. Where the text differs, a technical version
    and change are recorded: kept apart from real changes, never flagged for
    review, not in the report's open changes. Nothing is fetched.

    \b
    Exit status:
      0  done (whether or not any text changed)
      2  usage or catalog error
      4  a source could not be re-derived
    """
    picked = app.catalog.select(vendors, sources)
    app.store.sync_sources([(s.vendor_id, s.id, s.url, s.kind) for s in picked])
    results = renormalize(app.store, picked, snapshots=app.paths.snapshots)
    if as_json:
        payload = {"release": RELEASE, "results": [r.to_json() for r in results]}
        click.echo(json.dumps(payload, indent=2))
    else:
        _print_results(app, results)
    if any(r.outcome in ("failed", "no-snapshot") for r in results):
        sys.exit(EXIT_ERROR)


def _print_results(app: App, results: list[Renormalized]) -> None:
    width = max((len(r.key) for r in results), default=0)
    for result in results:
        style = OUTCOME_STYLE.get(result.outcome, "")
        detail = ""
        if result.outcome == "renormalized":
            detail = f"release {result.release} -> {RELEASE}, change {result.change}"
        elif result.error:
            detail = result.error
        outcome = f"[{style}]{result.outcome:<12}[/]"
        app.out.print(f"{result.key:<{width}}  {outcome}  {detail}".rstrip())
    count = sum(r.outcome == "renormalized" for r in results)
    changes = "1 technical change" if count == 1 else f"{count} technical changes"
    app.out.print(f"{len(results)} sources, release {RELEASE}: {changes} recorded")
