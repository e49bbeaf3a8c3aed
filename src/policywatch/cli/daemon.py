"""``policywatch daemon``: check each source on its own schedule until stopped."""

from __future__ import annotations

import click

from policywatch.catalog import parse_duration
from policywatch.cli.app import App, handle_errors, main, pass_app
from policywatch.daemon import Daemon, Options


def _duration(value: str, name: str) -> float:
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=name) from exc


def _address(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise click.BadParameter(
            f"{value!r} is not HOST:PORT (try 127.0.0.1:9300)", param_hint="--listen"
        )
    return host.strip("[]"), int(port)


@main.command()
@click.option(
    "--listen",
    metavar="HOST:PORT",
    help="Serve /healthz and /metrics here, e.g. 127.0.0.1:9300 (off by default).",
)
@click.option(
    "--poll",
    default="5s",
    show_default=True,
    help="How often to look at sources.toml for changes.",
)
@click.option(
    "--grace",
    default="30s",
    show_default=True,
    help="On SIGTERM, how long checks in flight may run before being abandoned.",
)
@click.option(
    "--stale-after",
    default="30m",
    show_default=True,
    help="/healthz answers 503 when a due check has waited this long.",
)
@handle_errors
@pass_app
def daemon(
    app: App, listen: str | None, poll: str, grace: str, stale_after: str
) -> None:
    """Check every source on its own schedule until SIGTERM or SIGINT.

    Schedules come from sources.toml (every = "6h" or cron = "0 6 * * *" on a
    source, a vendor or [defaults]). SIGHUP or an edit of sources.toml reloads
    the catalog; a catalog with mistakes is logged and the one in use kept.
    Notifications go to the apprise URLs in [settings] notify and
    POLICYWATCH_NOTIFY. Exits 0 once stopped.
    """
    options = Options(
        snapshots=app.paths.snapshots,
        reports=app.paths.reports,
        listen=_address(listen),
        poll=_duration(poll, "--poll"),
        grace=_duration(grace, "--grace"),
        stale_after=_duration(stale_after, "--stale-after"),
    )
    Daemon(app.catalog, app.store, options).run()
