"""Fetches pages that need scripts to run, through one headless Chromium.

Sources with ``render = "browser"`` come here instead of :mod:`policywatch.fetch`.
The browser is Debian's chromium (``Settings.browser_path``) driven by
Playwright, an optional extra (``pip install 'policywatch[browser]'``); no
browser build is ever downloaded. One browser is started on the first such
source of a run and reused, with at most ``Settings.browser_pages`` pages open
at once. It is closed when the run ends, and also as soon as one of its pages
crashes: the pages still open in it finish, and the next source starts a
fresh browser. The rendered DOM becomes a :class:`~policywatch.fetch.Page`
like any fetched HTML, so normalize, gate, compare and record are unchanged.

Known limits: conditional requests (ETag) do not apply; the per-host delay of
plain fetches is not shared with the browser; text inside shadow roots is not
part of the serialized DOM.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from policywatch.catalog import Settings, Source
from policywatch.errors import FetchError
from policywatch.fetch import Page

if TYPE_CHECKING:
    from playwright.async_api import Browser, Playwright

log = logging.getLogger(__name__)

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-breakpad",
    "--disable-extensions",
    "--no-first-run",
    "--no-default-browser-check",
    "--mute-audio",
)
# Requests for these never change a page's text; skipping them saves time.
SKIPPED_RESOURCES = frozenset({"image", "media", "font"})
INSTALL_PLAYWRIGHT = (
    'render = "browser" needs Playwright, which is not installed: '
    "pip install 'policywatch[browser]'"
)
HAS_TEXT = """selector => {
    const found = document.querySelector(selector);
    return found !== null && found.textContent.trim().length > 0;
}"""


@dataclass
class _Instance:
    """One started browser and how many pages are open in it."""

    browser: Browser
    open_pages: int = 0
    retired: bool = False


class Renderer:
    """Renders pages in one shared headless Chromium for the length of a run.

    Use as ``async with Renderer(settings) as renderer: await
    renderer.fetch(source)``. Nothing is started until the first fetch.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._pages = asyncio.Semaphore(settings.browser_pages)
        self._lock = asyncio.Lock()
        self._playwright: Playwright | None = None
        self._current: _Instance | None = None
        self._instances: list[_Instance] = []
        self.launches = 0

    async def __aenter__(self) -> Renderer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Close every browser started by this renderer and stop Playwright."""
        async with self._lock:
            for instance in list(self._instances):
                await self._shut(instance)
            self._current = None
            if self._playwright is not None:
                await self._playwright.stop()
                self._playwright = None

    async def fetch(self, source: Source) -> Page:
        """Render ``source.url`` and return its DOM, or raise :class:`FetchError`."""
        started = time.monotonic()
        async with self._pages:
            instance = await self._acquire()
            try:
                page = await asyncio.wait_for(
                    self._render(instance, source), self.settings.deadline
                )
            except TimeoutError as exc:
                raise FetchError(
                    f"the browser gave no complete page within "
                    f"{self.settings.deadline:.0f}s",
                    reason="deadline",
                    transient=True,
                ) from exc
            finally:
                await self._release(instance)
        page.elapsed = time.monotonic() - started
        return page

    async def _acquire(self) -> _Instance:
        async with self._lock:
            if self._current is None or self._current.retired:
                self._current = await self._launch()
                self._instances.append(self._current)
            self._current.open_pages += 1
            return self._current

    async def _release(self, instance: _Instance) -> None:
        async with self._lock:
            instance.open_pages -= 1
            if instance.retired and instance.open_pages == 0:
                await self._shut(instance)

    async def _shut(self, instance: _Instance) -> None:
        if instance in self._instances:
            self._instances.remove(instance)
        instance.retired = True
        try:
            await instance.browser.close()
        except Exception as exc:  # a crashed browser may fail to close cleanly
            log.warning("closing the browser failed: %s", exc)

    async def _launch(self) -> _Instance:
        path = self.settings.browser_path
        if not os.access(path, os.X_OK):
            raise FetchError(
                f'render = "browser" needs Chromium at {path}, which is missing: '
                "apt-get install chromium, or set browser_path in [settings]",
                reason="browser-missing",
            )
        playwright = await self._driver()
        try:
            browser = await playwright.chromium.launch(
                executable_path=path,
                args=list(CHROMIUM_ARGS),
                timeout=self.settings.deadline * 1000,
            )
        except Exception as exc:  # Playwright raises its own Error types
            raise FetchError(
                f"Chromium at {path} did not start: {_first_line(exc)}",
                reason="browser-failed",
                transient=True,
            ) from exc
        self.launches += 1
        log.info("started the browser %s", browser.version)
        return _Instance(browser)

    async def _driver(self) -> Playwright:
        if self._playwright is None:
            try:
                from playwright.async_api import async_playwright
            except ImportError as exc:
                raise FetchError(INSTALL_PLAYWRIGHT, reason="browser-missing") from exc
            self._playwright = await async_playwright().start()
        return self._playwright

    async def _render(self, instance: _Instance, source: Source) -> Page:
        from playwright.async_api import Error as PlaywrightError

        crashed = asyncio.Event()
        context = await instance.browser.new_context(
            user_agent=self.settings.user_agent,
            service_workers="block",
            accept_downloads=False,
        )
        try:
            page = await context.new_page()
            page.on("crash", lambda _: crashed.set())
            await page.route("**/*", _skip_resources)
            return await self._load(page, source)
        except PlaywrightError as exc:
            if crashed.is_set() or not instance.browser.is_connected():
                instance.retired = True
                raise FetchError(
                    f"the browser page crashed while rendering {source.url}",
                    reason="browser-crash",
                    transient=True,
                ) from exc
            raise _translate(exc, source) from exc
        finally:
            if not instance.retired:
                await _quietly_close(context)

    async def _load(self, page: Any, source: Source) -> Page:
        wait_ms = self.settings.read_timeout * 1000
        response = await page.goto(
            source.url, wait_until="domcontentloaded", timeout=wait_ms
        )
        status = response.status if response is not None else 200
        if status >= 400:
            raise FetchError(
                f"HTTP {status} from {source.url}",
                reason=f"http-{status}",
                transient=status == 429 or status >= 500,
                status=status,
            )

        await self._settle(page, source, wait_ms)

        html: str = await page.content()
        body = html.encode("utf-8")
        limit = source.max_body or self.settings.max_body
        if len(body) > limit:
            raise FetchError(
                f"rendered page larger than the {limit} byte cap", reason="too-large"
            )
        headers = dict(response.headers) if response is not None else {}
        return Page(
            url=source.url,
            final_url=page.url,
            status=status,
            content_type="text/html",
            body=body,
            text=html,
            headers=headers,
        )

    async def _settle(self, page: Any, source: Source, wait_ms: float) -> None:
        """Wait until the content selector holds text, or the network is idle."""
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        if source.extraction.select:
            selector = source.extraction.select[0]
            try:
                await page.wait_for_function(HAS_TEXT, arg=selector, timeout=wait_ms)
            except PlaywrightTimeout as exc:
                raise FetchError(
                    f"the content selector {selector!r} held no text after "
                    f"{wait_ms / 1000:.0f}s of rendering",
                    reason="selector-timeout",
                    transient=True,
                ) from exc
            return
        try:
            await page.wait_for_load_state("networkidle", timeout=wait_ms)
        except PlaywrightTimeout:
            # Some pages never go quiet (polling, analytics); take what is there.
            log.warning(
                "%s: network not idle after rendering; using the DOM as is", source.key
            )


async def _skip_resources(route: Any) -> None:
    if route.request.resource_type in SKIPPED_RESOURCES:
        await route.abort()
    else:
        await route.continue_()


async def _quietly_close(context: Any) -> None:
    try:
        await context.close()
    except Exception as exc:  # the browser may already be gone
        log.debug("closing a browser context failed: %s", exc)


def _translate(exc: Exception, source: Source) -> FetchError:
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    message = _first_line(exc)
    if isinstance(exc, PlaywrightTimeout):
        return FetchError(f"timed out: {message}", reason="timeout", transient=True)
    if "Download is starting" in message:
        return FetchError(
            f'{source.url} is a download, not a page: use render = "http"',
            reason="unsupported-content-type",
        )
    if "net::ERR_" in message:
        return FetchError(
            f"connection failed: {message}", reason="connection", transient=True
        )
    return FetchError(f"the browser failed: {message}", reason="browser-failed")


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
