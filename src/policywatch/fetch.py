"""Fetches pages over HTTP with one shared async client.

Gives a :class:`Page` or raises :class:`FetchError` saying why and whether a
later try may help. Knows nothing of the store: validators (ETag,
Last-Modified) come in as arguments and go out on the page.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urlsplit

import httpx

from policywatch.catalog import Settings, Source
from policywatch.errors import FetchError

log = logging.getLogger(__name__)

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain", "application/pdf")


@dataclass
class Page:
    """A page as fetched: the raw body and what the server said about it."""

    url: str
    final_url: str
    status: int
    content_type: str
    body: bytes
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    moved_to: str | None = None
    not_modified: bool = False
    elapsed: float = 0.0


class _HostGate:
    """Keeps to a per-host limit of open requests and a minimum delay
    between the starts of two requests to one host."""

    def __init__(self, limit: int, delay: float) -> None:
        self.limit = limit
        self.delay = delay
        self._slots: dict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(self.limit)
        )
        self._next_start: dict[str, float] = defaultdict(float)
        self._locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def enter(self, host: str) -> None:
        await self._slots[host].acquire()
        async with self._locks[host]:
            wait = self._next_start[host] - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._next_start[host] = time.monotonic() + self.delay

    def leave(self, host: str) -> None:
        self._slots[host].release()


class Fetcher:
    """One shared HTTP client for a run, with global and per-host limits.

    Use as ``async with Fetcher(settings) as fetcher: await fetcher.fetch(source)``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts = _HostGate(settings.per_host, settings.host_delay)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        settings = self.settings
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,*/*;q=0.5",
            },
            timeout=httpx.Timeout(
                settings.read_timeout, connect=settings.connect_timeout
            ),
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
            ),
            follow_redirects=False,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def fetch(
        self,
        source: Source,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> Page:
        """Fetch ``source.url``, raising :class:`FetchError` on failure."""
        host = urlsplit(source.url).netloc
        started = time.monotonic()
        async with self._global:
            await self._hosts.enter(host)
            try:
                page = await asyncio.wait_for(
                    self._get(source, etag, last_modified), self.settings.deadline
                )
            except TimeoutError as exc:
                raise FetchError(
                    f"no complete answer within {self.settings.deadline:.0f}s",
                    reason="deadline",
                    transient=True,
                ) from exc
            finally:
                self._hosts.leave(host)
        page.elapsed = time.monotonic() - started
        return page

    async def _get(
        self, source: Source, etag: str | None, last_modified: str | None
    ) -> Page:
        assert self._client is not None, "use Fetcher as an async context manager"
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        limit = source.max_body or self.settings.max_body
        try:
            async with self._client.stream(
                "GET", source.url, headers=headers
            ) as response:
                if response.status_code == 304:
                    return self._page(source, response, b"", not_modified=True)
                if response.status_code >= 400:
                    raise FetchError(
                        f"HTTP {response.status_code} from {source.url}",
                        reason=f"http-{response.status_code}",
                        transient=response.status_code == 429
                        or response.status_code >= 500,
                        status=response.status_code,
                    )
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body.extend(chunk)
                    if len(body) > limit:
                        raise FetchError(
                            f"body larger than the {limit} byte cap",
                            reason="too-large",
                        )
                return self._page(source, response, bytes(body))
        except httpx.TimeoutException as exc:
            raise FetchError(
                f"timed out: {type(exc).__name__}", reason="timeout", transient=True
            ) from exc
        except httpx.TransportError as exc:
            raise FetchError(
                f"connection failed: {exc}", reason="connection", transient=True
            ) from exc

    def _page(
        self,
        source: Source,
        response: httpx.Response,
        body: bytes,
        *,
        not_modified: bool = False,
    ) -> Page:
        content_type = response.headers.get("content-type", "")
        media = content_type.split(";")[0].strip().lower()
        if not not_modified and media and media not in TEXT_TYPES:
            raise FetchError(
                f"unsupported content type {media!r}", reason="unsupported-content-type"
            )
        encoding = response.charset_encoding or "utf-8"
        try:
            text = body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            text = body.decode("utf-8", errors="replace")
        if media == "application/pdf":  # binary: check reads it with policywatch.pdf
            text = ""
        return Page(
            url=source.url,
            final_url=str(response.url),
            status=response.status_code,
            content_type=media or "text/html",
            body=body,
            text=text,
            headers=dict(response.headers),
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            not_modified=not_modified,
        )
