"""Notifications: one message per new change at or above a severity, and one per
failure episode that outlasts a set time, sent to apprise targets.

Notifications read what was recorded; they never fetch. Target URLs hold
secrets (tokens, passwords), so they never appear in a log line: a target is
named by its number and scheme only.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from policywatch.catalog import SEVERITIES, Catalog, Settings
from policywatch.check import SourceResult
from policywatch.store import Store

if TYPE_CHECKING:
    import apprise

log = logging.getLogger(__name__)

ENV_TARGETS = "POLICYWATCH_NOTIFY"
SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


@dataclass(frozen=True)
class Message:
    """One notification: what happened (``event``), to which source."""

    event: str  # "change" or "failing"
    key: str
    title: str
    body: str


def target_urls(settings: Settings, env: Mapping[str, str] | None = None) -> list[str]:
    """The apprise URLs from sources.toml's ``notify`` and POLICYWATCH_NOTIFY
    (several separated by spaces or commas)."""
    env = os.environ if env is None else env
    from_env = [u for u in re.split(r"[\s,]+", env.get(ENV_TARGETS, "")) if u]
    return list(dict.fromkeys([*settings.notify, *from_env]))


def mask(url: str) -> str:
    """A target URL without anything secret: its scheme only."""
    scheme, sep, _ = url.partition("://")
    return f"{scheme}://***" if sep else "***"


class Notifier:
    """Decides which check results deserve a message and sends them."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        reports: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        # apprise's own log lines may quote a target URL; every outcome is
        # logged here instead, with the target masked.
        logging.getLogger("apprise").setLevel(logging.CRITICAL)
        self.catalog = catalog
        self.store = store
        self.reports = reports
        self.env = env
        self.targets = self._targets(target_urls(catalog.settings, env))
        self._queue: queue.Queue[Message | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    @staticmethod
    def _targets(urls: Sequence[str]) -> list[tuple[str, apprise.Apprise]]:
        if not urls:
            return []
        import apprise  # imported only when there is somewhere to send

        targets = []
        for number, url in enumerate(urls, 1):
            name = f"target {number} ({mask(url)})"
            target = apprise.Apprise()
            if not target.add(url):
                log.error("notification %s is not a valid apprise URL; skipped", name)
                continue
            targets.append((name, target))
        return targets

    def use(self, catalog: Catalog) -> None:
        """Switch to a reloaded catalog, and to its targets if they changed."""
        if catalog.settings.notify != self.catalog.settings.notify:
            self.targets = self._targets(target_urls(catalog.settings, self.env))
        self.catalog = catalog

    @property
    def enabled(self) -> bool:
        """True when there is somewhere to send messages."""
        return bool(self.targets)

    # -- deciding ----------------------------------------------------------

    def messages(self, result: SourceResult) -> list[Message]:
        """The messages one check result calls for (reads the store).

        Call it right after the check, before the next check of the same
        source: a failure episode is reported by the check that crosses the
        ``notify_failing_after`` mark, which makes it once per episode, even
        across restarts and one-shot runs.
        """
        if result.outcome == "changed" and self._severe(result.severity):
            return [self._change_message(result)]
        if result.outcome == "failed" and (since := self._crossed(result.key)):
            return [self._failing_message(result, since)]
        return []

    def _severe(self, severity: str | None) -> bool:
        threshold = SEVERITY_RANK[self.catalog.settings.notify_severity]
        return SEVERITY_RANK.get(severity or "", -1) >= threshold

    def _crossed(self, key: str) -> dt.datetime | None:
        since = self.store.source_state(key).failing_since
        if since is None:
            return None
        mark = since + dt.timedelta(seconds=self.catalog.settings.notify_failing_after)
        attempts = self.store.attempts(key, limit=2)
        current = attempts[0].started_at
        previous = attempts[1].started_at if len(attempts) > 1 else None
        if current >= mark and (previous is None or previous < mark):
            return since
        return None

    # -- writing -----------------------------------------------------------

    def report_link(self, change: int) -> str:
        """Where the report of a change is: under ``report_url`` when set,
        else the file ``policywatch report`` writes."""
        name = f"change-{change}.html"
        base = self.catalog.settings.report_url
        return f"{base.rstrip('/')}/{name}" if base else str(self.reports / name)

    def _header(self, result: SourceResult) -> list[str]:
        vendor = self.catalog.vendor(result.vendor)
        source = self.catalog.find(result.key)
        lines = [f"Vendor: {vendor.name if vendor else result.vendor}"]
        lines.append(f"Source: {result.key} {source.url if source else ''}".rstrip())
        return lines

    def _change_message(self, result: SourceResult) -> Message:
        claims = ", ".join(result.claims_at_risk) or "none"
        body = [
            *self._header(result),
            f"Severity: {result.severity}",
            f"Claims at risk: {claims}",
            f"Report: {self.report_link(result.change or 0)}",
        ]
        title = f"policywatch: {result.key} changed ({result.severity})"
        return Message("change", result.key, title, "\n".join(body))

    def _failing_message(self, result: SourceResult, since: dt.datetime) -> Message:
        vendor = self.catalog.vendor(result.vendor)
        claims = vendor.claims_on(result.source) if vendor else ()
        body = [
            *self._header(result),
            f"Failing since: {since:%Y-%m-%d %H:%M} UTC",
            f"Last error: {result.reason}: {result.error}",
            f"Claims resting on it: {', '.join(c.id for c in claims) or 'none'}",
        ]
        title = f"policywatch: {result.key} has been failing since {since:%Y-%m-%d}"
        return Message("failing", result.key, title, "\n".join(body))

    # -- sending -----------------------------------------------------------

    def send(self, messages: Iterable[Message]) -> int:
        """Send each message to every target now; return how many sends worked."""
        sent = 0
        for message in messages:
            for name, target in self.targets:
                if target.notify(body=message.body, title=message.title):
                    sent += 1
                    log.info("notified %s of %s", name, message.title)
                else:
                    log.error("could not notify %s of %s", name, message.title)
        return sent

    def post(self, messages: Iterable[Message]) -> None:
        """Queue messages for the sending thread (started on first use)."""
        if not self.targets:
            return
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._sender, name="notify", daemon=True
            )
            self._thread.start()
        for message in messages:
            self._queue.put(message)

    def _sender(self) -> None:
        while (message := self._queue.get()) is not None:
            try:
                self.send([message])
            except Exception:  # a broken plugin must not stop later messages
                log.exception("could not notify of %s", message.title)

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued (waiting at most ``timeout`` seconds), then stop."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.error("notifications still unsent after %.0f s; dropped", timeout)
        self._thread = None
