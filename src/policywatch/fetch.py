"""Fetches pages over HTTP with one shared async client.

Gives a :class:`Page` or raises :class:`FetchError` (or :class:`BlockedError`)
saying why, whether a later try may help and how many requests were made.
Knows nothing of the store: validators (ETag, Last-Modified) come in as
arguments and go out on the page.

Politeness and bounds, all from :class:`~policywatch.catalog.Settings`: a
global limit and a per-host limit on requests in flight, a minimum delay
between two requests to one host, connect and read timeouts, a deadline per
fetch (tries, waits and redirects together), retries with backoff and jitter,
a cap on the body as sent and as decompressed, redirects followed by hand and
only to http and https, and optionally robots.txt.
"""

from __future__ import annotations

import asyncio
import codecs
import email.utils
import logging
import random
import re
import time
import zlib
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import urljoin, urlsplit
from urllib.robotparser import RobotFileParser

import charset_normalizer
import httpx

from policywatch import gate
from policywatch.catalog import Settings, Source
from policywatch.errors import BlockedError, FetchError

log = logging.getLogger(__name__)

TEXT_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
# Media types a fetch accepts. Types outside TEXT_TYPES are fetched as bytes
# with an empty ``Page.text``; their reader turns them into text later.
SUPPORTED_TYPES: set[str] = {*TEXT_TYPES, "application/pdf"}
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
PERMANENT_STATUSES = frozenset({301, 308})
# How much of an error page is read to look for challenge markers.
ERROR_BODY_CAP = 64 * 1024
ROBOTS_CAP = 512 * 1024
ROBOTS_TTL = 24 * 3600.0
KEEPALIVE = 30.0
# Labels browsers read as windows-1252; a body in them that is valid UTF-8
# is UTF-8 with a wrong label.
SINGLE_BYTE = frozenset({"ascii", "latin-1", "iso8859-1", "cp1252"})
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass
class Page:
    """A page as fetched: the raw body and what the server said about it.

    ``moved_to`` is set when the URL redirected permanently (301 or 308):
    the catalog's URL should be updated. ``attempts`` counts the requests
    made, retries included; ``encoding`` is the charset the text was read in.
    """

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
    attempts: int = 1
    encoding: str | None = None


class _Retryable(FetchError):
    """A transient HTTP status, with the server's Retry-After if it sent one."""

    def __init__(
        self, message: str, *, reason: str, status: int, retry_after: float | None
    ) -> None:
        super().__init__(message, reason=reason, transient=True, status=status)
        self.retry_after = retry_after


@dataclass
class _Redirect:
    status: int
    location: str


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

    @asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        """Hold one of the host's slots, entered no sooner than the delay."""
        await self._slots[host].acquire()
        try:
            async with self._locks[host]:
                wait = self._next_start[host] - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                self._next_start[host] = time.monotonic() + self.delay
            yield
        finally:
            self._slots[host].release()

    def hold_off(self, host: str, seconds: float) -> None:
        """Start no request to ``host`` for ``seconds`` (it asked us to wait)."""
        later = time.monotonic() + seconds
        self._next_start[host] = max(self._next_start[host], later)


class _Deadline:
    """The time one fetch may take, counted from its first request."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.ends: float | None = None

    def start(self) -> None:
        if self.ends is None:
            self.ends = time.monotonic() + self.seconds

    def left(self) -> float:
        return self.seconds if self.ends is None else self.ends - time.monotonic()

    @asynccontextmanager
    async def bound(self) -> AsyncIterator[None]:
        """Run the block within what is left, or raise ``deadline``."""
        self.start()
        try:
            async with asyncio.timeout(max(self.left(), 0)):
                yield
        except TimeoutError as exc:
            raise FetchError(
                f"no complete answer within the {self.seconds:g}s deadline",
                reason="deadline",
                transient=True,
            ) from exc


class Fetcher:
    """One shared HTTP client for a run, with global and per-host limits.

    Use as ``async with Fetcher(settings) as fetcher: await fetcher.fetch(source)``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._global = asyncio.Semaphore(settings.concurrency)
        self._hosts = _HostGate(settings.per_host, settings.host_delay)
        self._robots: dict[str, tuple[float, RobotFileParser | None]] = {}
        self._robots_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Fetcher:
        settings = self.settings
        self._client = httpx.AsyncClient(
            headers={
                "User-Agent": settings.user_agent,
                "Accept": "text/html,application/xhtml+xml,text/plain;q=0.9,*/*;q=0.5",
                # Only what _Inflater can decode with a bounded output.
                "Accept-Encoding": "gzip, deflate",
            },
            timeout=httpx.Timeout(
                settings.read_timeout, connect=settings.connect_timeout
            ),
            # As many sockets as requests in flight, kept open between the
            # sources of one host for the length of a run.
            limits=httpx.Limits(
                max_connections=settings.concurrency,
                max_keepalive_connections=settings.concurrency,
                keepalive_expiry=KEEPALIVE,
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
        """Fetch ``source.url``, retrying transient failures.

        Raises :class:`FetchError` (:class:`BlockedError` for a challenge or
        login wall) once retries, the deadline or the server's Retry-After
        leave no further try.
        """
        started = time.monotonic()
        deadline = _Deadline(self.settings.deadline)
        tries = 0
        while True:
            tries += 1
            try:
                # The global slot first: a source waiting for its turn holds
                # nothing more than this frame.
                async with self._global:
                    page = await self._try(source, etag, last_modified, deadline)
            except FetchError as exc:
                wait = self._wait_before_retry(source, exc, tries, deadline)
                if wait is None:
                    raise _final(exc, tries) from exc
                await asyncio.sleep(wait)
                continue
            page.attempts = tries
            page.elapsed = time.monotonic() - started
            return page

    def _wait_before_retry(
        self, source: Source, error: FetchError, tries: int, deadline: _Deadline
    ) -> float | None:
        """Seconds to wait before the next try, or None to give up."""
        if not error.transient or tries > self.settings.retries:
            return None
        if error.reason == "deadline":
            return None
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > self.settings.retry_after_cap:
                return None
            self._hosts.hold_off(urlsplit(source.url).netloc, retry_after)
            wait = retry_after
        else:
            wait = _backoff(self.settings.retry_backoff, tries, self.settings)
        if wait >= deadline.left():
            return None
        # INFO: a retry is routine; the final failure is what people see.
        log.info(
            "%s: %s; trying again in %.1fs (try %d of %d)",
            source.key,
            error,
            wait,
            tries + 1,
            self.settings.retries + 1,
            extra={"vendor": source.vendor_id, "source": source.id},
        )
        return wait

    async def _try(
        self,
        source: Source,
        etag: str | None,
        last_modified: str | None,
        deadline: _Deadline,
    ) -> Page:
        """One try, within a global slot: the request and its redirects."""
        url, moved_to, permanent = source.url, None, True
        seen = {url}
        for _ in range(self.settings.max_redirects + 1):
            host = urlsplit(url).netloc
            async with self._hosts.slot(host), deadline.bound():
                if self.settings.robots:
                    await self._check_robots(url)
                outcome = await self._request(source, url, etag, last_modified)
            if isinstance(outcome, Page):
                outcome.url, outcome.moved_to = source.url, moved_to
                return outcome
            url = _next_url(url, outcome, seen)
            permanent = permanent and outcome.status in PERMANENT_STATUSES
            moved_to = url if permanent else moved_to
        raise FetchError(
            f"more than {self.settings.max_redirects} redirects from {source.url}",
            reason="too-many-redirects",
        )

    async def _request(
        self, source: Source, url: str, etag: str | None, last_modified: str | None
    ) -> Page | _Redirect:
        """One GET of ``url``: a page, a redirect to follow, or an error."""
        assert self._client is not None, "use Fetcher as an async context manager"
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        limit = source.max_body or self.settings.max_body
        body_started = False
        try:
            async with self._client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in REDIRECT_STATUSES:
                    return _Redirect(status, response.headers.get("location", ""))
                if status == 304 and headers:
                    return _page(url, response, b"", not_modified=True)
                if status >= 300:
                    await _refuse(url, response)
                media = _check_type(url, response, limit)
                body_started = True
                body = await _read_body(response, limit)
                return _page(url, response, body, media=media)
        except httpx.TimeoutException as exc:
            raise _transport_error(url, exc, body_started) from exc
        except httpx.TransportError as exc:
            raise _transport_error(url, exc, body_started) from exc
        except httpx.InvalidURL as exc:
            raise FetchError(f"invalid URL {url!r}: {exc}", reason="bad-url") from exc

    async def _check_robots(self, url: str) -> None:
        """Raise ``robots`` when the host's robots.txt disallows ``url``."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        async with self._robots_locks[origin]:
            cached = self._robots.get(origin)
            if cached is None or time.monotonic() - cached[0] > ROBOTS_TTL:
                cached = (time.monotonic(), await self._read_robots(origin))
                self._robots[origin] = cached
        rules = cached[1]
        agent = self.settings.user_agent.split("/")[0].split()[0]
        if rules is not None and not rules.can_fetch(agent, url):
            raise FetchError(
                f"robots.txt of {origin} disallows {url} for {agent!r} "
                "(settings.robots is on)",
                reason="robots",
            )

    async def _read_robots(self, origin: str) -> RobotFileParser | None:
        """The parsed robots.txt of ``origin``; None when it has none."""
        assert self._client is not None
        url = f"{origin}/robots.txt"
        try:
            async with self._client.stream(
                "GET", url, follow_redirects=True
            ) as response:
                if 400 <= response.status_code < 500:
                    return None
                if response.status_code >= 300:
                    raise FetchError(
                        f"robots.txt of {origin} answered HTTP {response.status_code}",
                        reason="robots-unreachable",
                        transient=True,
                        status=response.status_code,
                    )
                body = await _read_body(response, ROBOTS_CAP, truncate=True)
        except httpx.HTTPError as exc:
            raise FetchError(
                f"robots.txt of {origin} could not be read: {exc!r}",
                reason="robots-unreachable",
                transient=True,
            ) from exc
        rules = RobotFileParser(url)
        rules.parse(body.decode("utf-8", errors="replace").splitlines())
        return rules


def _backoff(base: float, tries: int, settings: Settings) -> float:
    """Exponential backoff with jitter: between half and all of base * 2^n."""
    ceiling = min(base * 2.0 ** (tries - 1), settings.retry_after_cap)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _final(error: FetchError, tries: int) -> FetchError:
    """The error to raise after ``tries`` requests, saying how many."""
    message = str(error)
    retry_after = getattr(error, "retry_after", None)
    if retry_after is not None:
        message += f" (asked to wait {retry_after:g}s)"
    if tries > 1:
        message += f" (after {tries} tries)"
    kind = BlockedError if isinstance(error, BlockedError) else FetchError
    return kind(
        message,
        reason=error.reason,
        transient=error.transient,
        status=error.status,
        attempts=tries,
    )


def _next_url(url: str, redirect: _Redirect, seen: set[str]) -> str:
    """Where a redirect leads, refusing loops and schemes other than http(s)."""
    if not redirect.location:
        raise FetchError(
            f"HTTP {redirect.status} from {url} without a Location",
            reason="bad-redirect",
            status=redirect.status,
        )
    target = urljoin(url, redirect.location.strip())
    scheme = urlsplit(target).scheme.lower()
    if scheme not in ("http", "https"):
        raise FetchError(
            f"{url} redirects to {target!r}; only http and https are followed",
            reason="redirect-scheme",
            status=redirect.status,
        )
    if target in seen:
        raise FetchError(
            f"redirect loop: {url} leads back to {target}",
            reason="redirect-loop",
            status=redirect.status,
        )
    seen.add(target)
    return target


async def _refuse(url: str, response: httpx.Response) -> None:
    """Raise the error an HTTP error status amounts to."""
    status = response.status_code
    body = await _read_body(response, ERROR_BODY_CAP, truncate=True)
    marker = gate.challenge_marker(body.decode("utf-8", errors="replace"))
    if response.headers.get("cf-mitigated", "").lower() == "challenge":
        marker = "cf-mitigated header"
    if marker:
        raise BlockedError(
            f"HTTP {status} from {url} is a bot challenge ({marker}); "
            "the site blocks automated fetches",
            reason="challenge",
            status=status,
        )
    if status in (401, 407):
        raise BlockedError(
            f"HTTP {status} from {url}: the page asks for credentials",
            reason="login-wall",
            status=status,
        )
    if status == 429 or status >= 500:
        raise _Retryable(
            f"HTTP {status} from {url}",
            reason=f"http-{status}",
            status=status,
            retry_after=_retry_after(response.headers.get("retry-after")),
        )
    raise FetchError(
        f"HTTP {status} from {url}", reason=f"http-{status}", status=status
    )


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def _check_type(url: str, response: httpx.Response, limit: int) -> str:
    """The media type, refusing unsupported types and announced huge bodies
    before a byte of the body is read."""
    media: str = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media and media not in SUPPORTED_TYPES:
        raise FetchError(
            f"unsupported content type {media!r} at {url}",
            reason="unsupported-content-type",
            status=response.status_code,
        )
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise FetchError(
            f"body of {int(length)} bytes is larger than the {limit} byte cap",
            reason="too-large",
            status=response.status_code,
        )
    return media


class _Inflater:
    """Decodes a gzip or deflate body chunk by chunk, never holding more
    than the cap of decoded bytes."""

    def __init__(self, encoding: str) -> None:
        self.raw_deflate = encoding == "deflate"
        wbits = zlib.MAX_WBITS if self.raw_deflate else zlib.MAX_WBITS | 32
        self._decoder = zlib.decompressobj(wbits)
        self._started = False

    def feed(self, chunk: bytes, body: bytearray, limit: int) -> None:
        """Append what ``chunk`` decodes to, stopping past ``limit``."""
        data = chunk
        while data and not self._decoder.eof:
            try:
                out = self._decoder.decompress(data, limit - len(body) + 1)
            except zlib.error:
                if not self.raw_deflate or self._started:
                    raise
                # Some servers send deflate without its zlib wrapper.
                self._decoder, self.raw_deflate = zlib.decompressobj(-15), False
                continue
            self._started = True
            body.extend(out)
            if len(body) > limit:
                return
            data = self._decoder.unconsumed_tail


async def _read_body(
    response: httpx.Response, limit: int, *, truncate: bool = False
) -> bytes:
    """The decoded body, refusing (or with ``truncate``, cutting) it past
    ``limit`` bytes as sent or as decoded."""
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "", "gzip", "x-gzip", "deflate"):
        raise FetchError(
            f"unsupported content encoding {encoding!r}", reason="unsupported-encoding"
        )
    inflater = _Inflater(encoding) if encoding not in ("identity", "") else None
    body, sent = bytearray(), 0
    async for chunk in response.aiter_raw():
        sent += len(chunk)
        try:
            if inflater is None:
                body.extend(chunk[: limit + 1 - len(body)])
            else:
                inflater.feed(chunk, body, limit)
        except zlib.error as exc:
            raise FetchError(
                f"the body is not valid {encoding}: {exc}", reason="bad-encoding"
            ) from exc
        if len(body) > limit or sent > limit:
            if truncate:
                return bytes(body[:limit])
            what = "as sent" if sent > limit else "decompressed"
            raise FetchError(
                f"body larger than the {limit} byte cap ({what})",
                reason="too-large",
                status=response.status_code,
            )
    return bytes(body)


def _transport_error(url: str, exc: httpx.HTTPError, in_body: bool) -> FetchError:
    """Our error for a timeout or a broken connection, as precise as httpx is."""
    name = type(exc).__name__
    detail = str(exc) or name
    if isinstance(exc, httpx.ConnectTimeout):
        return FetchError(
            f"no connection to {url}: {detail}",
            reason="connect-timeout",
            transient=True,
        )
    if isinstance(exc, httpx.TimeoutException):
        return FetchError(
            f"{url} sent nothing within the read timeout ({name})",
            reason="read-timeout",
            transient=True,
        )
    if isinstance(exc, httpx.ConnectError):
        return FetchError(
            f"could not connect to {url}: {detail}", reason="connect", transient=True
        )
    if isinstance(exc, httpx.UnsupportedProtocol):
        return FetchError(f"cannot fetch {url}: {detail}", reason="bad-url")
    if _was_reset(exc):
        return FetchError(
            f"{url} reset the connection{' mid-body' if in_body else ''}",
            reason="connection-reset",
            transient=True,
        )
    if in_body:
        return FetchError(
            f"the body from {url} was cut short: {detail}",
            reason="truncated",
            transient=True,
        )
    return FetchError(
        f"the connection to {url} broke before an answer: {detail}",
        reason="connection-lost",
        transient=True,
    )


def _was_reset(exc: BaseException) -> bool:
    """Whether a connection reset (TCP RST) lies under ``exc``."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _page(
    url: str,
    response: httpx.Response,
    body: bytes,
    *,
    media: str = "",
    not_modified: bool = False,
) -> Page:
    if not not_modified and not media:
        media = _sniff(url, body, response.status_code)
    text, encoding = "", None
    if media in TEXT_TYPES:
        text, encoding = decode(body, response.charset_encoding, media)
    return Page(
        url=url,
        final_url=str(response.url),
        status=response.status_code,
        content_type=media or "text/html",
        body=body,
        text=text,
        headers=dict(response.headers),
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        not_modified=not_modified,
        encoding=encoding,
    )


def _sniff(url: str, body: bytes, status: int) -> str:
    """The media type of a body sent without a Content-Type."""
    head = body[:512].lstrip()
    if head.startswith(b"%PDF-"):
        media = "application/pdf"
    elif b"\x00" in head:
        media = "application/octet-stream"
    elif head[:1] == b"<":
        media = "text/html"
    else:
        media = "text/plain"
    if media not in SUPPORTED_TYPES:
        raise FetchError(
            f"unsupported content type {media!r} (sniffed, none declared) at {url}",
            reason="unsupported-content-type",
            status=status,
        )
    return media


def decode(
    body: bytes, declared: str | None, media: str = "text/html"
) -> tuple[str, str]:
    """The text of ``body`` and the charset it was read in.

    A byte-order mark wins; then the declared charset (for HTML also a
    ``<meta charset>``), unless the body does not decode in it or is valid
    UTF-8 under a single-byte label; then detection.
    """
    for bom, name in BOMS:
        if body.startswith(bom):
            return body.decode(name, errors="replace"), name
    charset = declared
    if charset is None and media != "text/plain":
        match = META_CHARSET.search(body[:4096])
        charset = match[1].decode("ascii", errors="replace") if match else None
    codec = _codec(charset)
    if codec is not None:
        if codec in SINGLE_BYTE and not body.isascii():
            codec = "utf-8" if _is_utf8(body) else "cp1252"
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            log.info("body does not decode as its declared %s; detecting", charset)
    return _detect(body)


def _codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        name = codecs.lookup(charset.strip().strip("\"'")).name
    except LookupError:
        log.info("unknown charset %r; detecting", charset)
        return None
    return "cp1252" if name in SINGLE_BYTE else name


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _detect(body: bytes) -> tuple[str, str]:
    """Decode a body whose charset is unknown or wrong."""
    if _is_utf8(body):
        return body.decode("utf-8"), "utf-8"
    best = charset_normalizer.from_bytes(body).best()
    if best is not None:
        return str(best), best.encoding
    return body.decode("utf-8", errors="replace"), "utf-8"
