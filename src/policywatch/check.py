"""Runs the flow for each source: fetch, gate, normalize, compare, record, diff,
triage; and writes the snapshots/ file of each new version.

Fetches run concurrently on the event loop; the CPU and database work of each
fetched page runs in one worker thread, so pages are processed while others
are still being fetched, and writes to the store never contend with each other.
One source failing never stops the run. The daemon and a one-shot check both
call :func:`run_check`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from policywatch import gate, pdf
from policywatch.catalog import Catalog, Source
from policywatch.diff import make_diff
from policywatch.errors import FetchError, GateError, PolicywatchError
from policywatch.fetch import Fetcher, Page
from policywatch.normalize import RELEASE, fingerprint, normalize, text_hash
from policywatch.render import Renderer
from policywatch.renormalize import renormalize
from policywatch.snapshots import write_snapshot
from policywatch.store import (
    Attempt,
    LatestRef,
    NewVersion,
    Recorded,
    Store,
    StoredVersion,
)
from policywatch.store.models import SourceRow, utcnow
from policywatch.triage import triage

log = logging.getLogger(__name__)

OUTCOMES = ("new", "unchanged", "changed", "failed")
MAX_CONFLICTS = 5
# Where a run's time goes, summed over sources and logged at DEBUG: fetch and
# normalize are the seconds pages spent in them (many at once, waits included);
# store and diff are the busy seconds of the one worker thread.
STAGES = ("fetch", "normalize", "store", "diff")
# Runs of at least this many sources normalize pages in a pool of processes,
# one per CPU: normalizing holds the GIL, and starting the pool costs about a
# second, which only pays off when many pages are in flight.
POOL_MIN_SOURCES = 64


@dataclass
class SourceResult:
    """How the check of one source went."""

    vendor: str
    source: str
    outcome: str
    change: int | None = None
    severity: str | None = None
    error: str | None = None
    reason: str | None = None
    moved_to: str | None = None
    claims_at_risk: tuple[str, ...] = ()
    duration: float = 0.0
    fetch_seconds: float = 0.0

    @property
    def key(self) -> str:
        return f"{self.vendor}/{self.source}"

    def to_json(self) -> dict[str, Any]:
        """The entry of ``check --json`` for this source."""
        data: dict[str, Any] = {
            "vendor": self.vendor,
            "source": self.source,
            "outcome": self.outcome,
        }
        if self.change is not None:
            data["change"] = self.change
            data["severity"] = self.severity
            data["claims_at_risk"] = list(self.claims_at_risk)
        if self.error is not None:
            data["error"] = self.error
            data["reason"] = self.reason
        if self.moved_to:
            data["moved_to"] = self.moved_to
        return data


def exit_status(results: Sequence[SourceResult]) -> int:
    """0: all checked, nothing changed; 1: a change was recorded; 3: some
    source could not be checked and nothing changed."""
    if any(r.outcome == "changed" for r in results):
        return 1
    if any(r.outcome == "failed" for r in results):
        return 3
    return 0


Listener = Callable[[SourceResult], None]
# A page's text, or why it has none: None for a 304 or the very raw page the
# latest version came from; a GateError when the page cannot be read as text.
Text = str | GateError | None


class Checker:
    """Checks sources of one catalog against one store."""

    def __init__(
        self,
        catalog: Catalog,
        store: Store,
        *,
        snapshots: Path | None = None,
        listeners: Sequence[Listener] = (),
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.snapshots = snapshots
        self.listeners = list(listeners)
        self.timings = dict.fromkeys(STAGES, 0.0)
        self._normalizers: ProcessPoolExecutor | None = None

    def run(self, sources: Sequence[Source]) -> list[SourceResult]:
        """Check ``sources`` and return one result each, in the same order."""
        return asyncio.run(self.run_async(sources))

    async def run_async(self, sources: Sequence[Source]) -> list[SourceResult]:
        """Check ``sources`` on the running event loop."""
        self.timings = dict.fromkeys(STAGES, 0.0)
        self.store.sync_sources([(s.vendor_id, s.id, s.url, s.kind) for s in sources])
        known = self._known_all(sources)
        results: list[SourceResult | None] = [None] * len(sources)
        async with self.session(len(sources)) as check_one:
            # A fixed set of callers takes the sources in turn: pages in flight
            # are enough to keep fetches and normalizing busy and few enough
            # that memory stays flat, and no task waits per source unchecked.
            turns = iter(enumerate(sources))

            async def caller() -> None:
                for number, source in turns:
                    results[number] = await check_one(source, known.get(source.key))

            callers = min(len(sources), self.catalog.settings.concurrency + 8)
            await asyncio.gather(*(caller() for _ in range(callers)))
        log.debug(
            "stage seconds: %s",
            ", ".join(f"{k} {v:.3f}" for k, v in self.timings.items()),
            extra={"timings": self.timings},
        )
        checked = [r for r in results if r is not None]
        assert len(checked) == len(sources)  # a caller that failed raised above
        return checked

    @asynccontextmanager
    async def session(self, expected: int = 0) -> AsyncIterator[CheckOne]:
        """One fetch client, one browser, one record worker and (for runs of
        ``expected`` >= POOL_MIN_SOURCES sources) a normalizing pool, shared by
        every check made through the function it yields. The daemon keeps one
        open for its whole life.

        Sources must already be in the store (:meth:`Store.sync_sources`).
        """
        with contextlib.ExitStack() as stack:
            worker = stack.enter_context(
                ThreadPoolExecutor(max_workers=1, thread_name_prefix="record")
            )
            self._normalizers = _normalizer_pool(
                expected, self.catalog.settings.workers
            )
            if self._normalizers is not None:
                stack.enter_context(self._normalizers)
            unchanged = _UnchangedBatch(self.store, worker, self.timings)
            async with (
                Fetcher(self.catalog.settings) as fetcher,
                Renderer(self.catalog.settings) as renderer,
            ):

                async def one(
                    source: Source, known: _Known | None = None
                ) -> SourceResult:
                    if known is None:
                        loop = asyncio.get_running_loop()
                        known = await loop.run_in_executor(
                            worker, self._known_one, source
                        )
                    return await self._check_one(
                        source, known, fetcher, renderer, worker, unchanged
                    )

                try:
                    yield one
                finally:
                    await unchanged.close()

    async def _check_one(
        self,
        source: Source,
        known: _Known,
        fetcher: Fetcher,
        renderer: Renderer,
        worker: ThreadPoolExecutor,
        unchanged: _UnchangedBatch,
    ) -> SourceResult:
        loop = asyncio.get_running_loop()
        started, clock = utcnow(), time.monotonic()
        page: Page | FetchError
        try:
            if source.render == "browser":
                page = await renderer.fetch(source)
            else:
                page = await fetcher.fetch(
                    source, etag=known.etag, last_modified=known.last_modified
                )
        except FetchError as exc:
            page = exc
        fetched = time.monotonic() - clock
        self.timings["fetch"] += fetched

        text: Text = None
        if _needs_text(page, known, source):
            assert isinstance(page, Page)
            text = await self._normalize(source, page, worker)

        if isinstance(page, Page) and text is None:
            # A 304, or the very raw page that gave the latest version: the
            # text cannot have changed. Such checks are recorded together.
            result = await self._record_unchanged(
                source, _attempt(page, started, clock), clock, unchanged
            )
        else:
            result = await loop.run_in_executor(
                worker, self._process, source, page, text, started, clock
            )
        result.fetch_seconds = fetched
        for listener in self.listeners:
            listener(result)
        return result

    async def _normalize(
        self, source: Source, page: Page, worker: ThreadPoolExecutor
    ) -> str | GateError:
        """The page's text, from the process pool when there is one, or the
        GateError that says why the page has none."""
        loop = asyncio.get_running_loop()
        if page.content_type == pdf.MEDIA_TYPE:
            try:
                return await loop.run_in_executor(worker, _pdf_text, source, page)
            except GateError as exc:
                return exc
        # The pool's processes import only the normalize module, not this one.
        task = functools.partial(
            normalize,
            page.text,
            content_type=page.content_type,
            extraction=source.extraction,
        )
        clock = time.monotonic()
        try:
            if self._normalizers is not None:
                try:
                    return await loop.run_in_executor(self._normalizers, task)
                except BrokenProcessPool:
                    # Every page in flight learns it at once; say it once.
                    if self._normalizers is not None:
                        log.warning("the normalizing processes died; normalizing here")
                    self._normalizers = None
            return await loop.run_in_executor(worker, task)
        finally:
            self.timings["normalize"] += time.monotonic() - clock

    def _known_all(self, sources: Sequence[Source]) -> dict[str, _Known]:
        """What the store knows of each source before it is fetched, read in
        two queries: validators, and the raw page the latest version came from.
        Validators are sent only for a source that has a version."""
        clock = time.monotonic()
        raws = self.store.latest_raw_sha256s(RELEASE)
        rows = {row.key: row for row in self.store.source_states()}
        known = {
            source.key: _known(rows.get(source.key), raws.get(source.key))
            for source in sources
        }
        self.timings["store"] += time.monotonic() - clock
        return known

    def _known_one(self, source: Source) -> _Known:
        """What the store knows of one source (the daemon's way)."""
        raws = self.store.latest_raw_sha256s(RELEASE, keys=[source.key])
        row = self.store.source_state(source.key)
        return _known(row, raws.get(source.key))

    async def _record_unchanged(
        self,
        source: Source,
        attempt: Attempt,
        clock: float,
        unchanged: _UnchangedBatch,
    ) -> SourceResult:
        try:
            recorded = await unchanged.record(source.key, attempt)
            result = self._result(source, recorded, attempt, None)
        except PolicywatchError as exc:
            result = _not_recorded(source, exc)
        return _finished(result, clock)

    def _process(
        self,
        source: Source,
        page: Page | FetchError,
        text: Text,
        started: dt.datetime,
        clock: float,
    ) -> SourceResult:
        busy = time.monotonic()
        diffing = self.timings["diff"]
        try:
            result = self._record(source, page, text, started, clock)
        except PolicywatchError as exc:
            result = _not_recorded(source, exc)
        _finished(result, clock)
        spent = time.monotonic() - busy - (self.timings["diff"] - diffing)
        self.timings["store"] += spent
        return result

    def _record(
        self,
        source: Source,
        page: Page | FetchError,
        text: Text,
        started: dt.datetime,
        clock: float,
    ) -> SourceResult:
        key = source.key
        if isinstance(page, FetchError):
            self.store.record(key, _failed(page, started, clock))
            return SourceResult(
                source.vendor_id,
                source.id,
                "failed",
                error=str(page),
                reason=page.reason,
            )
        attempt = _attempt(page, started, clock)
        # A page without text (a 304, the latest raw page) is recorded by
        # the batch instead (_record_unchanged).
        assert text is not None and not page.not_modified
        digest = text_hash(text) if isinstance(text, str) else ""
        latest = self._latest(key, digest)
        try:
            if isinstance(text, GateError):
                raise text
            gate.check_page(
                page.text,
                text,
                latest_text=latest.text if isinstance(latest, StoredVersion) else None,
                rendered=source.render == "browser",
                select=source.extraction.select,
            )
        except GateError as exc:
            attempt.outcome, attempt.reason, attempt.message = (
                "failed",
                exc.reason,
                str(exc),
            )
            self.store.record(key, attempt)
            return SourceResult(
                source.vendor_id, source.id, "failed", error=str(exc), reason=exc.reason
            )

        if latest and latest.normalizer != RELEASE and latest.sha256 != digest:
            # Made by another normalizer release: re-derive it first, so the
            # upgrade is recorded as a technical change, not as this page's.
            renormalize(self.store, [source], snapshots=self.snapshots)
            latest = self._latest(key, digest)
        for _ in range(MAX_CONFLICTS):
            version = self._version(source, text, digest, latest)
            recorded = self.store.record(key, attempt, version)
            if not recorded.conflict:
                break
            latest = self._latest(key, digest)
        else:
            raise PolicywatchError(f"{key}: versions kept being recorded concurrently")
        if self.snapshots is not None:
            # Also when unchanged: a run killed between the commit and the
            # file write left the file behind the store; this catches it up.
            write_snapshot(self.snapshots, key, text)
        return self._result(source, recorded, attempt, version)

    def _latest(self, key: str, digest: str) -> StoredVersion | LatestRef | None:
        """The latest version of ``key``, with its text only when that text
        differs from the one hashed to ``digest`` (the gate and the diff need
        it then; an equal text needs neither, and reading it is costly)."""
        ref = self.store.latest_ref(key)
        if ref is None or ref.sha256 == digest:
            return ref
        return self.store.latest(key)

    def _version(
        self,
        source: Source,
        text: str,
        digest: str,
        latest: StoredVersion | LatestRef | None,
    ) -> NewVersion:
        version = NewVersion(
            text=text,
            sha256=digest,
            normalizer=RELEASE,
            based_on=latest.id if latest else None,
            extraction=extraction_fingerprint(source),
        )
        if isinstance(latest, StoredVersion) and latest.sha256 != digest:
            clock = time.monotonic()
            vendor = self.catalog.vendor(source.vendor_id)
            diff = make_diff(latest.text, text)
            weighed = triage(
                diff,
                latest.text,
                text,
                claims=vendor.claims_on(source.id) if vendor else (),
                extra_terms=self.catalog.settings.watched_terms,
            )
            version.diff = diff.to_json()
            version.severity = weighed.severity
            version.triage = weighed.to_json()
            self.timings["diff"] += time.monotonic() - clock
        return version

    @staticmethod
    def _result(
        source: Source, recorded: Recorded, attempt: Attempt, version: NewVersion | None
    ) -> SourceResult:
        result = SourceResult(
            source.vendor_id,
            source.id,
            recorded.outcome,
            change=recorded.change_id,
            moved_to=attempt.moved_to,
        )
        if recorded.change_id is not None and version is not None:
            result.severity = version.severity
            claims = (version.triage or {}).get("claims_at_risk", [])
            result.claims_at_risk = tuple(c["claim"] for c in claims)
        return result


class _UnchangedBatch:
    """Records checks that found no new text several to a transaction.

    A check waits until its own record is committed, as with
    :meth:`Store.record`. While the worker writes one batch the next one
    gathers, so batches grow with the load and a lone check is written at
    once: no timer, no added wait. Most of a warm run's store time was one
    transaction per 304; a batch costs a few statements for the lot.
    """

    def __init__(
        self, store: Store, worker: ThreadPoolExecutor, timings: dict[str, float]
    ) -> None:
        self.store = store
        self.worker = worker
        self.timings = timings
        self._pending: list[tuple[str, Attempt, asyncio.Future[Recorded]]] = []
        self._writing: asyncio.Future[list[Recorded | PolicywatchError]] | None = None
        self._scheduled = False

    async def record(self, key: str, attempt: Attempt) -> Recorded:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Recorded] = loop.create_future()
        self._pending.append((key, attempt, done))
        if self._writing is None and not self._scheduled:
            # call_soon: checks that finish in this turn of the loop join.
            self._scheduled = True
            loop.call_soon(self._write)
        return await done

    def _write(self) -> None:
        self._scheduled = False
        batch = [p for p in self._pending if not p[2].done()]
        self._pending = []
        if not batch:
            return
        loop = asyncio.get_running_loop()
        checks = [(key, attempt) for key, attempt, _ in batch]
        self._writing = loop.run_in_executor(self.worker, self._commit, checks)
        self._writing.add_done_callback(functools.partial(self._written, batch))

    def _commit(
        self, checks: list[tuple[str, Attempt]]
    ) -> list[Recorded | PolicywatchError]:
        clock = time.monotonic()
        try:
            return self.store.record_unchanged(checks)
        finally:
            self.timings["store"] += time.monotonic() - clock

    def _written(
        self,
        batch: list[tuple[str, Attempt, asyncio.Future[Recorded]]],
        writing: asyncio.Future[list[Recorded | PolicywatchError]],
    ) -> None:
        self._writing = None
        for n, (_, _, done) in enumerate(batch):
            if done.done():
                continue  # its check was cancelled meanwhile
            if writing.cancelled():
                done.cancel()
            elif (exc := writing.exception()) is not None:
                done.set_exception(exc)
            elif isinstance(outcome := writing.result()[n], PolicywatchError):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)
        if self._pending:
            self._write()

    async def close(self) -> None:
        """Write what is still waiting, before the worker goes away."""
        while self._writing is not None or self._pending:
            if self._writing is None:
                self._write()
            if self._writing is not None:
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await self._writing
            await asyncio.sleep(0)  # lets the done callback run


@dataclass(frozen=True)
class _Known:
    """What the store holds for a source before it is fetched: validators,
    and the raw page and extraction settings that gave the latest version."""

    etag: str | None = None
    last_modified: str | None = None
    raw_sha256: str | None = None
    extraction: str | None = None


def _known(row: SourceRow | None, raw: tuple[str, str | None] | None) -> _Known:
    # Validators only for a source with a version: without one, a 304 would
    # leave it with nothing to compare against.
    if row is None or raw is None:
        return _Known()
    return _Known(row.etag, row.last_modified, raw[0], raw[1])


class CheckOne(Protocol):
    """Checks one source; ``known`` is what the store held for it, read
    beforehand for a whole run (the daemon leaves it out)."""

    def __call__(
        self, source: Source, known: _Known | None = None
    ) -> Awaitable[SourceResult]: ...


def extraction_fingerprint(source: Source) -> str:
    """The fingerprint of how this source's pages become text."""
    return fingerprint(source.extraction, source.render)


def _needs_text(page: Page | FetchError, known: _Known, source: Source) -> bool:
    """Whether a fetched page must be normalized: not for a failure, a 304,
    or the very raw page the latest version came from, read the same way."""
    if isinstance(page, FetchError) or page.not_modified:
        return False
    if known.raw_sha256 is None or known.extraction != extraction_fingerprint(source):
        return True
    return hashlib.sha256(page.body).hexdigest() != known.raw_sha256


def _pdf_text(source: Source, page: Page) -> str:
    """The canonical text of a PDF page (raises GateError when unreadable)."""
    return normalize(
        pdf.extract_text(page.body),
        content_type="text/plain",
        extraction=source.extraction,
    )


def _normalizer_pool(sources: int, workers: int | None) -> ProcessPoolExecutor | None:
    """Processes that normalize pages, for a large run: ``workers`` of them,
    or one fewer than the CPUs (none on one CPU). On 2 CPUs, one process
    rather than two was as fast on the benchmark's cold run and 45 MB
    smaller: the fetching and recording process keeps a CPU busy itself."""
    if workers is None:
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
        workers = cpus - 1
    if sources < POOL_MIN_SOURCES or workers < 1:
        return None
    # forkserver: the pool's processes start clean, not as copies of a
    # process that holds database connections and running threads.
    context = multiprocessing.get_context("forkserver")
    return ProcessPoolExecutor(max_workers=workers, mp_context=context)


def _attempt(page: Page, started: dt.datetime, clock: float) -> Attempt:
    return Attempt(
        outcome="not-modified" if page.not_modified else "fetched",
        started_at=started,
        duration=time.monotonic() - clock,
        status_code=page.status,
        final_url=page.final_url,
        headers={k: v for k, v in page.headers.items() if k.lower() != "set-cookie"},
        etag=page.etag,
        last_modified=page.last_modified,
        moved_to=page.moved_to,
        raw=None if page.not_modified else page.body,
        content_type=page.content_type,
    )


def _failed(error: FetchError, started: dt.datetime, clock: float) -> Attempt:
    return Attempt(
        outcome="failed",
        started_at=started,
        duration=time.monotonic() - clock,
        status_code=error.status,
        reason=error.reason,
        message=str(error),
    )


def _not_recorded(source: Source, error: PolicywatchError) -> SourceResult:
    """The result of a check the store could not record."""
    log.error("%s: could not record the check: %s", source.key, error)
    return SourceResult(
        source.vendor_id, source.id, "failed", error=str(error), reason="store"
    )


def _finished(result: SourceResult, clock: float) -> SourceResult:
    """``result`` with its duration since ``clock``, logged."""
    result.duration = time.monotonic() - clock
    _log_result(result)
    return result


def _log_result(result: SourceResult) -> None:
    extra = {
        "vendor": result.vendor,
        "source": result.source,
        "outcome": result.outcome,
    }
    if result.outcome == "failed":
        # INFO like every other outcome: the run's output shows failures to
        # people, the daemon's JSON log carries them with reason and source.
        extra["reason"] = result.reason or ""
        log.info("%s failed: %s", result.key, result.error, extra=extra)
    elif result.outcome == "changed":
        log.info("%s changed (%s)", result.key, result.severity, extra=extra)
    else:
        log.info("%s %s", result.key, result.outcome, extra=extra)
