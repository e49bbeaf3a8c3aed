"""The ``policywatch`` command group and what every command shares."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from functools import cached_property, wraps
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console

from policywatch import __version__, logs
from policywatch.catalog import Catalog, load
from policywatch.config import Paths
from policywatch.errors import CatalogError, NotFoundError, PolicywatchError
from policywatch.store import Store

EXIT_USAGE = 2
EXIT_ERROR = 4

F = TypeVar("F", bound=Callable[..., Any])


class App:
    """What a command needs: the paths, and the catalog and store, opened lazily."""

    def __init__(self, paths: Paths) -> None:
        self.paths = paths
        self.out = Console(highlight=False, soft_wrap=True)
        self.err = Console(stderr=True, highlight=False, soft_wrap=True)

    @cached_property
    def catalog(self) -> Catalog:
        return load(self.paths.sources)

    @cached_property
    def store(self) -> Store:
        return Store(self.paths.db_url)


def fail(message: str, status: int = EXIT_ERROR) -> NoReturn:
    """Print a one-line error and exit with ``status``."""
    click.echo(f"error: {message}", err=True)
    sys.exit(status)


def handle_errors(command: F) -> F:
    """Turn policywatch errors into one-line messages and exit statuses."""

    @wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except CatalogError as exc:
            click.echo(f"error: {exc}", err=True)
            for problem in exc.problems:
                click.echo(f"  {problem}", err=True)
            sys.exit(EXIT_USAGE)
        except NotFoundError as exc:
            fail(str(exc), EXIT_USAGE)
        except PolicywatchError as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


pass_app = click.make_pass_decorator(App)

# Each command by name, and the module of this package that defines it. A
# module is imported when its command runs or help lists the commands, so a
# check does not pay for the daemon's, the reports' or the review's imports.
COMMANDS = {
    "check": "check",
    "daemon": "daemon",
    "db": "db",
    "demo": "demo",
    "diff": "diff",
    "export": "export",
    "gc": "gc",
    "history": "history",
    "renormalize": "renormalize",
    "report": "report",
    "review": "review",
    "show": "history",
    "snapshots": "snapshots",
    "sources": "sources",
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            # Importing the module registers its commands on this group.
            importlib.import_module(f"policywatch.cli.{COMMANDS[cmd_name]}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="policywatch")
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="How much to log to stderr.",
)
@click.option("--log-json", is_flag=True, help="Log JSON lines instead of text.")
@click.pass_context
def main(ctx: click.Context, log_level: str, log_json: bool) -> None:
    """Watch the policy pages that AI-training verdicts rest on.

    Settings come from the environment: POLICYWATCH_SOURCES (the catalog,
    default ./sources.toml), POLICYWATCH_DB (a SQLAlchemy URL, default an
    SQLite file in ./state), POLICYWATCH_SNAPSHOTS (default ./snapshots) and
    POLICYWATCH_REPORTS (default ./reports).
    """
    logs.setup(log_level, json_lines=log_json)
    ctx.obj = App(Paths.from_env())
