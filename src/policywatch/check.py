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
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policywatch import gate, pdf
from policywatch.catalog import Catalog, Source
from policywatch.diff import make_diff
from policywatch.errors import FetchError, GateError, PolicywatchError
from policywatch.fetch import Fetcher, Page
from policywatch.normalize import RELEASE, normalize, text_hash
from policywatch.render import Renderer
from policywatch.renormalize import renormalize
from policywatch.snapshots import write_snapshot
from policywatch.store import Attempt, NewVersion, Recorded, Store, StoredVersion
from policywatch.store.models import utcnow
from policywatch.triage import triage

log = logging.getLogger(__name__)

OUTCOMES = ("new", "unchanged", "changed", "failed")
MAX_CONFLICTS = 5


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
CheckOne = Callable[[Source], Awaitable[SourceResult]]


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

    def run(self, sources: Sequence[Source]) -> list[SourceResult]:
        """Check ``sources`` and return one result each, in the same order."""
        return asyncio.run(self.run_async(sources))

    async def run_async(self, sources: Sequence[Source]) -> list[SourceResult]:
        """Check ``sources`` on the running event loop."""
        self.store.sync_sources([(s.vendor_id, s.id, s.url, s.kind) for s in sources])
        async with self.session() as check_one:
            return list(await asyncio.gather(*(check_one(s) for s in sources)))

    @asynccontextmanager
    async def session(self) -> AsyncIterator[CheckOne]:
        """One fetch client and one record worker, shared by every check made
        through the function it yields (the daemon keeps one open for its life).

        Sources must already be in the store (:meth:`Store.sync_sources`).
        """
        loop = asyncio.get_running_loop()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="record") as worker:
            async with (
                Fetcher(self.catalog.settings) as fetcher,
                Renderer(self.catalog.settings) as renderer,
            ):

                async def one(source: Source) -> SourceResult:
                    state = await loop.run_in_executor(worker, self._validators, source)
                    started, clock = utcnow(), time.monotonic()
                    page: Page | FetchError
                    try:
                        if source.render == "browser":
                            page = await renderer.fetch(source)
                        else:
                            page = await fetcher.fetch(source, **state)
                    except FetchError as exc:
                        page = exc
                    fetched = time.monotonic() - clock
                    result = await loop.run_in_executor(
                        worker, self._process, source, page, started, clock
                    )
                    result.fetch_seconds = fetched
                    for listener in self.listeners:
                        listener(result)
                    return result

                yield one

    def _validators(self, source: Source) -> dict[str, str | None]:
        row = self.store.source_state(source.key)
        if self.store.latest(source.key) is None:
            return {"etag": None, "last_modified": None}
        return {"etag": row.etag, "last_modified": row.last_modified}

    def _process(
        self,
        source: Source,
        page: Page | FetchError,
        started: dt.datetime,
        clock: float,
    ) -> SourceResult:
        try:
            result = self._record(source, page, started, clock)
        except PolicywatchError as exc:
            log.error("%s: could not record the check: %s", source.key, exc)
            result = SourceResult(
                source.vendor_id, source.id, "failed", error=str(exc), reason="store"
            )
        result.duration = time.monotonic() - clock
        _log_result(result)
        return result

    def _record(
        self,
        source: Source,
        page: Page | FetchError,
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
        if page.not_modified:
            recorded = self.store.record(key, attempt)
            return self._result(source, recorded, attempt, None)

        latest = self.store.latest(key)
        try:
            text = _normalized(source, page)
            gate.check_page(
                page.text,
                text,
                latest_text=latest.text if latest else None,
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

        digest = text_hash(text)
        if latest and latest.normalizer != RELEASE and latest.sha256 != digest:
            # Made by another normalizer release: re-derive it first, so the
            # upgrade is recorded as a technical change, not as this page's.
            renormalize(self.store, [source], snapshots=self.snapshots)
            latest = self.store.latest(key)
        for _ in range(MAX_CONFLICTS):
            version = self._version(source, text, digest, latest)
            recorded = self.store.record(key, attempt, version)
            if not recorded.conflict:
                break
            latest = self.store.latest(key)
        else:
            raise PolicywatchError(f"{key}: versions kept being recorded concurrently")
        if self.snapshots is not None:
            # Also when unchanged: a run killed between the commit and the
            # file write left the file behind the store; this catches it up.
            write_snapshot(self.snapshots, key, text)
        return self._result(source, recorded, attempt, version)

    def _version(
        self, source: Source, text: str, digest: str, latest: StoredVersion | None
    ) -> NewVersion:
        version = NewVersion(
            text=text,
            sha256=digest,
            normalizer=RELEASE,
            based_on=latest.id if latest else None,
        )
        if latest is not None and latest.sha256 != digest:
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


def _normalized(source: Source, page: Page) -> str:
    """The canonical text of a fetched page; a PDF is read by :mod:`pdf` first."""
    if page.content_type == pdf.MEDIA_TYPE:
        return normalize(
            pdf.extract_text(page.body),
            content_type="text/plain",
            extraction=source.extraction,
        )
    return normalize(
        page.text, content_type=page.content_type, extraction=source.extraction
    )


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


def _log_result(result: SourceResult) -> None:
    extra = {
        "vendor": result.vendor,
        "source": result.source,
        "outcome": result.outcome,
    }
    if result.outcome == "failed":
        log.warning("%s failed: %s", result.key, result.error, extra=extra)
    elif result.outcome == "changed":
        log.info("%s changed (%s)", result.key, result.severity, extra=extra)
    else:
        log.info("%s %s", result.key, result.outcome, extra=extra)
