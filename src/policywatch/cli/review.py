"""``policywatch review``: list open changes, read one, record a decision."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.text import Text

from policywatch import review as reviews
from policywatch.cli.app import EXIT_USAGE, App, fail, handle_errors, main, pass_app
from policywatch.diff import DELETE, EQUAL, INSERT
from policywatch.errors import ReviewError

SEVERITY_STYLE = {
    "verdict-at-risk": "bold red",
    "substantive": "yellow",
    "minor": "",
    "cosmetic": "dim",
}
STATE_STYLE = {"open": "bold", "verdict-update-needed": "magenta"}


@main.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list.")
@click.option("--all", "every_state", is_flag=True, help="List changes in every state.")
@click.pass_context
@handle_errors
def review(ctx: click.Context, as_json: bool, every_state: bool) -> None:
    """List the changes awaiting review, the most severe first.

    Open changes await a decision; "verdict-update-needed" ones await an edit
    of the vendor's verdict in the catalog. Decide with `review decide`.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = ctx.find_object(App)
    assert app is not None
    reviews.sync_states(app.store, app.catalog)
    states = None if every_state else reviews.OPEN_STATES
    found = reviews.summaries(app.store, states=states)
    if as_json:
        click.echo(json.dumps([c.to_json() for c in found], indent=2))
        return
    if not found:
        app.out.print("no changes await review")
        return
    _print_list(app, found)


def _print_list(app: App, found: list[reviews.ChangeSummary]) -> None:
    # Plain columns rather than a table: a table squeezes or cuts the source
    # names when the output is not a wide terminal.
    width = max(len(c.key) for c in found)
    app.out.print(
        f"{'change':>6}  {'severity':<15}  {'state':<21}  {'source':<{width}}  "
        "recorded (UTC)    claims at risk",
        style="bold",
        markup=False,
    )
    for change in found:
        line = Text(f"{change.id:>6}  ")
        line.append(f"{change.severity:<15}", SEVERITY_STYLE.get(change.severity, ""))
        line.append("  ")
        line.append(f"{change.state:<21}", STATE_STYLE.get(change.state, "dim"))
        line.append(f"  {change.key:<{width}}  {change.recorded_at:%Y-%m-%d %H:%M}")
        line.append(f"  {', '.join(change.claims_at_risk)}".rstrip())
        app.out.print(line, overflow="ignore", crop=False, soft_wrap=True)
    if any(c.state == "verdict-update-needed" for c in found):
        app.out.print(
            "verdict-update-needed: edit the vendor's verdict or claims in the "
            "catalog; the change closes by itself when the edit is seen",
            style="dim",
        )


@review.command("show")
@click.argument("change_id", metavar="ID", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@handle_errors
@pass_app
def show_change(app: App, change_id: int, as_json: bool) -> None:
    """Print a change: its passages, the verdict and the claims at risk."""
    found = reviews.detail(app.store, app.catalog, change_id)
    if as_json:
        click.echo(json.dumps(_detail_json(found), indent=2, ensure_ascii=False))
        return
    _print_detail(app, found)


@review.command("decide")
@click.argument("change_id", metavar="ID", type=int)
@click.option("--holds", "holds", is_flag=True, help="The verdict still holds.")
@click.option(
    "--verdict-changed",
    "changed",
    is_flag=True,
    help="The verdict changed: the catalog needs an edit.",
)
@click.option("--noise", "noise", is_flag=True, help="Not a real change.")
@click.option("--by", "author", default="", help="Who decides (required).")
@click.option("--note", default="", help="Why, in a sentence.")
@click.option(
    "--ignore",
    "ignore",
    multiple=True,
    metavar="PATTERN",
    help="With --noise: a regex of the noise, added to the source's ignore "
    "patterns in sources.toml (repeatable).",
)
@handle_errors
@pass_app
def decide(
    app: App,
    change_id: int,
    holds: bool,
    changed: bool,
    noise: bool,
    author: str,
    note: str,
    ignore: tuple[str, ...],
) -> None:
    """Record a decision on a change. Decisions are kept, never edited: a new
    one supersedes the last."""
    flags = {"holds": holds, "verdict-changed": changed, "noise": noise}
    picked = [name for name, flag in flags.items() if flag]
    if len(picked) != 1:
        fail("choose exactly one of --holds, --verdict-changed or --noise", EXIT_USAGE)
    try:
        decision = reviews.decide(
            app.store,
            app.catalog,
            change_id,
            picked[0],
            author=author,
            note=note,
            ignore=ignore,
        )
    except ReviewError as exc:
        fail(str(exc), EXIT_USAGE)
    _print_decision(app, decision)


def _print_decision(app: App, decision: reviews.Decision) -> None:
    app.out.print(
        f"change {decision.change}: {decision.decision} "
        f"(by {decision.author}); state {decision.state}",
        markup=False,
    )
    if decision.decision == "holds":
        app.out.print(f"verdict verified {decision.decided_at:%Y-%m-%d %H:%M} UTC")
    if decision.decision == "verdict-changed":
        app.out.print(
            f"edit the verdict or claims of {decision.vendor} in {app.paths.sources}; "
            "the change stays open until the edit is seen",
            markup=False,
        )
    for pattern in decision.ignore_added:
        app.out.print(
            f"ignore pattern added to {app.paths.sources}: {pattern}", markup=False
        )
    if decision.technical_change is not None:
        app.out.print(
            f"latest text re-derived without the noise (technical change "
            f"{decision.technical_change})"
        )
    if decision.still_differs:
        app.err.print(
            "warning: with these patterns the change's texts still differ; "
            "the rest of it may be recorded again"
        )


def _detail_json(found: reviews.ChangeDetail) -> dict[str, Any]:
    verdict = found.vendor.verdict if found.vendor else None
    return {
        **found.summary.to_json(),
        "from": found.from_at.isoformat(),
        "terms": found.terms,
        "claims_at_risk": found.claims_at_risk,
        "verdict": None
        if verdict is None
        else {
            "reviewed": verdict.reviewed.isoformat() if verdict.reviewed else None,
            "answer": verdict.answer,
            "trains_by_default": verdict.trains_by_default,
            "opt_out": verdict.opt_out,
        },
        "passages": [
            {"heading": p.heading, "removed": p.removed, "added": p.added}
            for p in found.diff.passages
        ],
        "reviews": [
            {
                "decision": r.decision,
                "author": r.author,
                "note": r.note,
                "decided_at": r.decided_at.isoformat(),
                "ignore_patterns": r.ignore_patterns or [],
            }
            for r in found.reviews
        ],
    }


def _print_detail(app: App, found: reviews.ChangeDetail) -> None:
    change = found.summary
    header = Text(f"change {change.id}  ", "bold")
    header.append(change.key)
    header.append("  ")
    header.append(change.severity, SEVERITY_STYLE.get(change.severity, ""))
    header.append("  ")
    header.append(change.state, STATE_STYLE.get(change.state, "dim"))
    app.out.print(header)
    app.out.print(Text(change.url, "dim"))
    app.out.print(
        f"recorded {change.recorded_at:%Y-%m-%d %H:%M} UTC "
        f"(previous version {found.from_at:%Y-%m-%d %H:%M})"
    )
    if change.state == "verdict-update-needed":
        app.out.print(
            Text("awaiting an edit of the vendor's verdict or claims", "magenta")
        )
    _print_verdict(app, found)
    _print_claims(app, found)
    _print_passages(app, found)
    _print_reviews(app, found)


def _print_verdict(app: App, found: reviews.ChangeDetail) -> None:
    app.out.print()
    vendor = found.vendor
    if vendor is None:
        app.out.print(Text("vendor no longer in the catalog", "dim"))
        return
    verdict = vendor.verdict
    if verdict.unreviewed:
        app.out.print(Text(f"{vendor.name}: verdict not reviewed yet", "dim"))
        return
    title = Text(f"{vendor.name} verdict", "bold")
    title.append(f" (reviewed {verdict.reviewed})", "dim")
    app.out.print(title)
    app.out.print(Text(verdict.answer))
    badges = {
        "trains by default": verdict.trains_by_default,
        "opt-out": verdict.opt_out,
        "zero retention": verdict.zero_retention,
        "DPA": verdict.dpa,
    }
    app.out.print(
        Text(
            ", ".join(
                f"{name}: {'yes' if value else 'no'}"
                for name, value in badges.items()
                if value is not None
            ),
            "dim",
        )
    )


def _print_claims(app: App, found: reviews.ChangeDetail) -> None:
    app.out.print()
    if not found.claims_at_risk:
        app.out.print(Text("no claims at risk", "dim"))
        return
    app.out.print(Text("claims at risk", "bold red"))
    for claim in found.claims_at_risk:
        line = Text(f"- {claim['claim']}: ", "bold")
        line.append(claim.get("text", ""))
        app.out.print(line)
        app.out.print(Text(f"  {claim.get('why', '')}", "dim"))


def _print_passages(app: App, found: reviews.ChangeDetail) -> None:
    passages = found.diff.passages
    app.out.print()
    plural = "" if len(passages) == 1 else "s"
    app.out.print(Text(f"{len(passages)} changed passage{plural}", "bold"))
    if found.terms:
        app.out.print(Text(f"watched terms: {', '.join(found.terms)}", "yellow"))
    # Without colour (a pipe, a file, NO_COLOR), changed words are marked
    # [-removed-] and {+added+}.
    plain = app.out.color_system is None
    for passage in passages:
        app.out.print()
        if passage.heading:
            app.out.print(Text(passage.heading, "cyan"))
        line = Text()
        for op, words in passage.words:
            if op == EQUAL:
                line.append(words)
            elif op == DELETE:
                line.append(f"[-{words}-]" if plain else words, "red strike")
            elif op == INSERT:
                line.append(f"{{+{words}+}}" if plain else words, "green underline")
        app.out.print(line)


def _print_reviews(app: App, found: reviews.ChangeDetail) -> None:
    if not found.reviews:
        return
    app.out.print()
    app.out.print(Text("decisions", "bold"))
    for review in found.reviews:
        line = Text(f"{review.decided_at:%Y-%m-%d %H:%M} {review.decision} by ")
        line.append(review.author)
        if review.note:
            line.append(f": {review.note}")
        for pattern in review.ignore_patterns or []:
            line.append(f" [ignore {pattern}]", "dim")
        app.out.print(line)
