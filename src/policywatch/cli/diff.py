"""``policywatch diff``: the coloured diff of two versions of a source."""

from __future__ import annotations

import re

import click
from rich.console import Console
from rich.text import Text

from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.cli.history import parse_when
from policywatch.diff import DELETE, EQUAL, INSERT, Diff, make_diff
from policywatch.errors import NotFoundError
from policywatch.store import StoredVersion

# Control characters from a page could drive the terminal: shown as spaces.
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
STYLES = {DELETE: "red strike", INSERT: "green underline"}


def _pick(
    app: App, key: str, since: str | None, until: str | None
) -> tuple[StoredVersion, StoredVersion]:
    versions = app.store.versions(key)
    if len(versions) < 2 and not (since and until):
        raise NotFoundError(f"{key} has {len(versions)} version(s): nothing to diff")
    new = app.store.version_at(key, parse_when(until)) if until else versions[-1]
    if since:
        old = app.store.version_at(key, parse_when(since))
    else:
        earlier = [v for v in versions if v.seq < new.seq]
        if not earlier:
            raise NotFoundError(f"{key} has no version before version {new.seq}")
        old = earlier[-1]
    return old, new


def print_diff(console: Console, diff: Diff) -> None:
    """Print each changed passage under its headings, words coloured."""
    if not diff.passages:
        console.print("The two versions have the same text.")
    for passage in diff.passages:
        where = " › ".join(h.lstrip("# ") for h in passage.path) or "top of the page"
        header = Text(f"@@ line {passage.line_after + 1} · ", style="cyan")
        header.append(CONTROL.sub(" ", where), style="bold cyan")
        console.print(header)
        body = Text()
        for op, text in passage.words:
            text = CONTROL.sub(" ", text)
            if console.color_system is None and op != EQUAL:
                # Without colours, mark words the way git's word diff does.
                text = f"[-{text}-]" if op == DELETE else f"{{+{text}+}}"
            body.append(text, style=STYLES.get(op, ""))
        console.print(body)
        console.print()


@main.command()
@click.argument("key", metavar="VENDOR/SOURCE")
@click.option("--from", "since", help="The old side: the version current at this date.")
@click.option("--to", "until", help="The new side: the version current at this date.")
@click.option(
    "--color/--no-color", default=None, help="Force colours on or off (default: auto)."
)
@handle_errors
@pass_app
def diff(
    app: App, key: str, since: str | None, until: str | None, color: bool | None
) -> None:
    """Show what changed in a source: the last two versions by default.

    Deleted words are red and struck through, inserted words green and
    underlined (without colours: [-deleted-] and {+inserted+}), each changed
    passage under the headings it sits in.
    """
    old, new = _pick(app, key, since, until)
    console = Console(
        highlight=False,
        force_terminal=color,
        no_color=color is False,
        emoji=False,
        markup=False,
    )
    title = Text(f"{key}: version {old.seq} ", style="bold")
    title.append(f"({old.recorded_at:%Y-%m-%d %H:%M})", style="dim")
    title.append(f" → version {new.seq} ", style="bold")
    title.append(f"({new.recorded_at:%Y-%m-%d %H:%M} UTC)", style="dim")
    console.print(title)
    console.print()
    print_diff(console, make_diff(old.text, new.text))
