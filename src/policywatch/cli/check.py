"""``policywatch check``: fetch every source once and record what changed."""

from __future__ import annotations

import json
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from policywatch.check import Checker, SourceResult, exit_status
from policywatch.cli.app import App, fail, handle_errors, main, pass_app
from policywatch.notify import Notifier

OUTCOME_STYLE = {
    "new": "cyan",
    "unchanged": "dim",
    "changed": "bold yellow",
    "failed": "red",
}


@main.command()
@click.option(
    "--vendor", "vendors", multiple=True, help="Check only this vendor (repeatable)."
)
@click.option(
    "--source",
    "sources",
    multiple=True,
    help="Check only this source, as VENDOR/SOURCE or SOURCE (repeatable).",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object with the results."
)
@click.option(
    "--notify",
    is_flag=True,
    help="Send notifications of changes and long failures (see docs/daemon.md).",
)
@handle_errors
@pass_app
def check(
    app: App,
    vendors: tuple[str, ...],
    sources: tuple[str, ...],
    as_json: bool,
    notify: bool,
) -> None:
    """Fetch each source once, record new versions and changes.

    \b
    Exit status:
      0  every source was checked and nothing changed
      1  at least one change was recorded
      2  usage or catalog error
      3  some source could not be checked, and nothing changed
    """
    catalog = app.catalog
    picked = catalog.select(vendors, sources)
    notifier = (
        Notifier(catalog, app.store, reports=app.paths.reports) if notify else None
    )
    if notifier is not None and not notifier.enabled:
        fail("--notify needs a target: [settings] notify or POLICYWATCH_NOTIFY", 2)
    checker = Checker(catalog, app.store, snapshots=app.paths.snapshots)
    show_progress = not as_json and app.err.is_terminal and len(picked) > 1
    with Progress(
        TextColumn("checking"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=app.err,
        transient=True,
        disable=not show_progress,
    ) as progress:
        task = progress.add_task("", total=len(picked))
        checker.listeners.append(
            lambda result: progress.update(task, advance=1, description=result.key)
        )
        results = checker.run(picked)
    if notifier is not None:
        notifier.send(m for result in results for m in notifier.messages(result))
    if as_json:
        click.echo(json.dumps({"results": [r.to_json() for r in results]}, indent=2))
    else:
        _print_results(app, results)
    sys.exit(exit_status(results))


def _print_results(app: App, results: list[SourceResult]) -> None:
    width = max((len(r.key) for r in results), default=0)
    for result in results:
        style = OUTCOME_STYLE.get(result.outcome, "")
        detail = ""
        if result.outcome == "changed":
            detail = f"change {result.change}, {result.severity}"
            if result.claims_at_risk:
                detail += f", claims at risk: {', '.join(result.claims_at_risk)}"
        elif result.outcome == "failed":
            detail = f"{result.reason}: {result.error}"
        if result.moved_to:
            detail += f" (moved permanently to {result.moved_to}: update the catalog)"
        app.out.print(
            f"{result.key:<{width}}  [{style}]{result.outcome:<9}[/]  {detail}".rstrip()
        )
    counts = {
        o: sum(r.outcome == o for r in results)
        for o in ("new", "unchanged", "changed", "failed")
    }
    summary = ", ".join(f"{n} {o}" for o, n in counts.items() if n)
    noun = "source" if len(results) == 1 else "sources"
    app.out.print(f"{len(results)} {noun} checked: {summary or 'none'}")
