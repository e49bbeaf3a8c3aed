"""The daemon: checks every source on its own schedule until it is stopped.

It runs the same check code as ``policywatch check`` and only decides when.
Each source is one APScheduler job (``every`` or ``cron``, with jitter); all
checks share one fetch client, so the per-host limits hold across sources, and
one record worker, so each source's record stays one transaction. When a
source will next be due is kept in the store, so a restart resumes the
schedule instead of checking everything at once or skipping what fell due.

SIGTERM and SIGINT stop it: no new check starts, checks in flight get a grace
period to finish and are then abandoned (a fetch is dropped; a record already
under way completes, so nothing is half written). SIGHUP, or a change to
sources.toml, reloads the catalog; a catalog with mistakes is logged and the
one in use kept.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from policywatch.catalog import Catalog, Schedule, Source, load
from policywatch.check import Checker, CheckOne, SourceResult
from policywatch.errors import CatalogError, PolicywatchError
from policywatch.health import Health, HealthServer, Metrics
from policywatch.notify import Notifier
from policywatch.report import write_reports
from policywatch.store import Store
from policywatch.store.models import utcnow

log = logging.getLogger(__name__)

JITTER_SHARE = 0.1
JITTER_CAP = 300.0


@dataclass(frozen=True)
class Options:
    """How the daemon runs (from the command line)."""

    snapshots: Path | None = None
    reports: Path = Path("reports")
    listen: tuple[str, int] | None = None
    poll: float = 5.0
    grace: float = 30.0
    stale_after: float = 1800.0


def period(schedule: Schedule) -> float:
    """Seconds between two checks on ``schedule`` (for cron, the next gap)."""
    if schedule.every is not None:
        return schedule.every
    trigger = CronTrigger.from_crontab(schedule.cron or "0 0 * * *", timezone=dt.UTC)
    first = trigger.get_next_fire_time(None, utcnow())
    second = trigger.get_next_fire_time(first, first + dt.timedelta(seconds=1))
    return (second - first).total_seconds() if first and second else 86400.0


def jitter(schedule: Schedule) -> float:
    """How far a check may drift after its time: a tenth of the period, at most
    five minutes, so sources on one host rarely fire together."""
    return min(period(schedule) * JITTER_SHARE, JITTER_CAP)


def trigger(schedule: Schedule) -> BaseTrigger:
    """The APScheduler trigger of a schedule, jitter included."""
    spread = jitter(schedule)
    if schedule.cron is not None:
        return CronTrigger(
            **_cron_fields(schedule.cron), timezone=dt.UTC, jitter=spread
        )
    return IntervalTrigger(seconds=schedule.every or 86400.0, jitter=spread)


def _cron_fields(expression: str) -> dict[str, str]:
    minute, hour, day, month, day_of_week = expression.split()
    return {
        "minute": minute,
        "hour": hour,
        "day": day,
        "month": month,
        "day_of_week": day_of_week,
    }


def first_due(
    schedule: Schedule,
    next_due: dt.datetime | None,
    last_checked: dt.datetime | None,
    now: dt.datetime,
) -> dt.datetime:
    """When a source is first due after the daemon starts.

    The stored next due time wins (unless it lies further ahead than one
    period: the schedule was shortened since); else one period after the last
    check (made by a one-shot check, say); else now. A time already past
    becomes now plus a random share of the jitter: missed runs are coalesced
    into one, and sources that fell due together are spread out.
    """
    due = next_due
    latest = now + dt.timedelta(seconds=period(schedule) + jitter(schedule))
    if due is not None and due > latest:
        due = None  # the schedule was shortened while the daemon was stopped
    if due is None and last_checked is not None:
        if schedule.cron is not None:
            cron = CronTrigger.from_crontab(schedule.cron, timezone=dt.UTC)
            due = cron.get_next_fire_time(None, last_checked)
        else:
            due = last_checked + dt.timedelta(seconds=schedule.every or 86400.0)
    if due is None or due <= now:
        due = now + dt.timedelta(seconds=random.uniform(0, jitter(schedule)))
    return due


class Daemon:
    """Schedules the checks of one catalog against one store."""

    def __init__(self, catalog: Catalog, store: Store, options: Options) -> None:
        self.catalog = catalog
        self.store = store
        self.options = options
        self.checker = Checker(catalog, store, snapshots=options.snapshots)
        self.notifier = Notifier(catalog, store, reports=options.reports)
        self.metrics = Metrics()
        self.health = Health(overdue=self._overdue)
        self.scheduler: AsyncIOScheduler | None = None
        self.in_flight: dict[str, asyncio.Task[None]] = {}
        self._started: dict[str, dt.datetime] = {}
        self._next_due: dict[str, dt.datetime | None] = {}
        self._check_one: CheckOne | None = None
        self._stop = asyncio.Event()
        self._reports_lock = threading.Lock()
        self._changes_lock = threading.Lock()
        self._changes = self._reported = 0
        self._catalog_stamp = self._stamp()

    # -- running -----------------------------------------------------------

    def run(self) -> None:
        """Run until SIGTERM or SIGINT; return once everything is closed."""
        asyncio.run(self._main())

    def stop(self) -> None:
        """Ask the daemon to stop (what SIGTERM and SIGINT do)."""
        if not self._stop.is_set():
            log.info("stopping: no new checks; %d in flight", len(self.in_flight))
        self.health.stopping = True
        self._stop.set()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload, "SIGHUP")
        server = self._serve()
        try:
            await asyncio.to_thread(self._sync, self.catalog)
            async with self.checker.session() as check_one:
                self._check_one = check_one
                await self._schedule_until_stopped()
        finally:
            if server is not None:
                server.stop()
            self.notifier.close()
        log.info("stopped")

    def _serve(self) -> HealthServer | None:
        if self.options.listen is None:
            return None
        host, port = self.options.listen
        try:
            server = HealthServer(host, port, self.health, self.metrics)
        except OSError as exc:
            raise PolicywatchError(
                f"cannot listen on {host}:{port}: {exc.strerror}"
            ) from exc
        server.start()
        return server

    async def _schedule_until_stopped(self) -> None:
        self.scheduler = AsyncIOScheduler(timezone=dt.UTC)
        due = await asyncio.to_thread(self._stored_due)
        for source in self.catalog.sources():
            self._add_job(source, due.get(source.key, (None, None)))
        self.scheduler.start()
        self.metrics.sources.set(len(self.scheduler.get_jobs()))
        log.info("daemon started with %d sources", len(self.scheduler.get_jobs()))
        helpers = [
            asyncio.create_task(self._watch_catalog()),
            asyncio.create_task(self._keep_next_due()),
        ]
        await self._stop.wait()

        for helper in helpers:
            helper.cancel()
        self.scheduler.shutdown(wait=False)
        await self._drain()
        await self._flush_next_due()

    async def _drain(self) -> None:
        tasks = list(self.in_flight.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.options.grace)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "abandoned %d checks still running after %.0f s; nothing of them "
                "was recorded",
                len(pending),
                self.options.grace,
            )
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- jobs --------------------------------------------------------------

    def _stored_due(self) -> dict[str, tuple[dt.datetime | None, dt.datetime | None]]:
        return {
            row.key: (row.next_due_at, row.last_checked_at)
            for row in self.store.source_states()
        }

    def _add_job(
        self, source: Source, stored: tuple[dt.datetime | None, dt.datetime | None]
    ) -> None:
        assert self.scheduler is not None
        when = first_due(source.schedule, *stored, utcnow())
        self.scheduler.add_job(
            self._due,
            trigger(source.schedule),
            args=[source.key],
            id=source.key,
            name=source.key,
            next_run_time=when,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=None,
            replace_existing=True,
        )

    async def _due(self, key: str) -> None:
        """Start the check of a source that fell due, unless one is running."""
        source = self.catalog.find(key)
        if source is None or self._stop.is_set() or self._check_one is None:
            return
        if key in self.in_flight:
            log.info("%s is still being checked; this run is skipped", key)
            return
        task = asyncio.create_task(self._check(source, self._check_one))
        self.in_flight[key] = task
        task.add_done_callback(lambda _: self.in_flight.pop(key, None))

    async def _check(self, source: Source, check_one: CheckOne) -> None:
        self._started[source.key] = utcnow()
        try:
            result = await check_one(source)
        except PolicywatchError as exc:
            # The check could not even start (the store is locked or gone):
            # the source stays due and is tried again at its next time.
            log.error("%s: could not check: %s", source.key, exc)
            return
        finally:
            self._started.pop(source.key, None)
        self.health.observe(result)
        self.metrics.observe(result)
        self.metrics.failing.set(len(self.health.failing))
        job = self.scheduler.get_job(source.key) if self.scheduler else None
        self._next_due[source.key] = job.next_run_time if job is not None else None
        if result.outcome in ("changed", "failed"):
            await asyncio.to_thread(self._after, result)

    def _after(self, result: SourceResult) -> None:
        """Write the reports of a change and notify (in a thread: it reads and
        writes the store)."""
        try:
            if result.outcome == "changed":
                self._write_reports()
            self.notifier.post(self.notifier.messages(result))
        except (PolicywatchError, OSError) as exc:
            log.error("%s: after the check: %s", result.key, exc)

    async def _keep_next_due(self) -> None:
        """Write the next due times of the sources checked since the last
        write, in one transaction a second rather than one per check."""
        while True:
            await asyncio.sleep(1.0)
            await self._flush_next_due()

    async def _flush_next_due(self) -> None:
        due, self._next_due = self._next_due, {}
        try:
            await asyncio.to_thread(self.store.set_next_due, list(due.items()))
        except PolicywatchError as exc:
            # Not fatal: those sources are checked again early after a restart.
            log.error("could not store the next due times: %s", exc)

    def _write_reports(self) -> None:
        """Rewrite the reports so they hold every change recorded so far.

        Changes recorded in a burst share one rewrite: a caller whose change
        was already recorded when another caller's rewrite began skips its own.
        """
        with self._changes_lock:
            self._changes += 1
            mine = self._changes
        with self._reports_lock:
            if self._reported >= mine:
                return
            covered = self._changes
            write_reports(self.store, self.catalog, self.options.reports)
            self._reported = covered

    def _overdue(self) -> list[str]:
        """Sources due more than ``stale_after`` ago and not started since, or
        whose check has run longer than that: the daemon is stuck."""
        scheduler = self.scheduler
        if scheduler is None or not scheduler.running:
            return []
        limit = utcnow() - dt.timedelta(seconds=self.options.stale_after)
        waiting = [
            job.id
            for job in scheduler.get_jobs()
            if job.next_run_time is not None and job.next_run_time < limit
        ]
        running = [key for key, when in dict(self._started).items() if when < limit]
        return sorted({*waiting, *running})

    # -- reloading ---------------------------------------------------------

    def _stamp(self) -> tuple[int, int] | None:
        path = self.catalog.path
        try:
            stat = path.stat() if path else None
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size) if stat else None

    async def _watch_catalog(self) -> None:
        while True:
            await asyncio.sleep(self.options.poll)
            if self._stamp() != self._catalog_stamp:
                self.reload("a change to the file")

    def reload(self, why: str) -> bool:
        """Load the catalog again; keep the one in use if the new one is bad."""
        self._catalog_stamp = self._stamp()
        path = self.catalog.path
        if path is None or self.scheduler is None or self._stop.is_set():
            return False
        try:
            catalog = load(path)
            self._sync(catalog)
        except PolicywatchError as exc:
            self._rejected(exc)
            return False
        self._apply(catalog)
        self.metrics.reloads.labels("ok").inc()
        log.info("catalog reloaded after %s: %d sources", why, len(self._keys()))
        return True

    def _rejected(self, exc: PolicywatchError) -> None:
        self.metrics.reloads.labels("rejected").inc()
        log.error("catalog not reloaded, the one in use is kept: %s", exc)
        for problem in exc.problems if isinstance(exc, CatalogError) else []:
            log.error("catalog problem: %s", problem)

    def _sync(self, catalog: Catalog) -> None:
        self.store.sync_sources(
            [(s.vendor_id, s.id, s.url, s.kind) for s in catalog.sources()]
        )

    def _keys(self) -> set[str]:
        return {source.key for source in self.catalog.sources()}

    def _apply(self, catalog: Catalog) -> None:
        assert self.scheduler is not None
        old = {source.key: source for source in self.catalog.sources()}
        new = {source.key: source for source in catalog.sources()}
        if _fetch_settings(catalog) != _fetch_settings(self.catalog):
            # The fetch client is shared by every check and lives as long as
            # the daemon; renewing it would mean draining every check first.
            log.warning("fetch settings changed: they apply after a restart")
        self.notifier.use(catalog)
        self.catalog = self.checker.catalog = catalog
        for key in old.keys() - new.keys():
            self.scheduler.remove_job(key)
        self.health.forget(old.keys() - new.keys())
        due = self._stored_due()
        for key, source in new.items():
            if key not in old or old[key].schedule != source.schedule:
                stored = due.get(key, (None, None))
                self._add_job(source, stored if key not in old else (None, stored[1]))
        self.metrics.sources.set(len(new))


def _fetch_settings(catalog: Catalog) -> dict[str, object]:
    skip = ("notify", "notify_severity", "notify_failing_after", "report_url")
    settings = catalog.settings.__dict__
    return {k: v for k, v in settings.items() if k not in skip and k != "watched_terms"}
