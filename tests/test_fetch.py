"""The fetcher against a real local server: headers, conditional requests,
retries and Retry-After, redirects, caps, content types, charsets, blocks
and robots.txt."""

from __future__ import annotations

import asyncio
import dataclasses
import tracemalloc
import zlib
from http.server import BaseHTTPRequestHandler

import pytest

from policywatch.catalog import Settings, Source
from policywatch.errors import BlockedError, FetchError
from policywatch.fetch import Fetcher, Page, decode
from tests.server import PageServer, Route, answers, in_turn, streams

FAST = Settings(
    host_delay=0.0,
    connect_timeout=5.0,
    read_timeout=5.0,
    deadline=20.0,
    retries=2,
    retry_backoff=0.01,
    retry_after_cap=5.0,
    max_body=1_000_000,
)
POLICY = "<html><body><h1>Privacy</h1><p>" + "We keep your data safe. " * 20 + "</p>"
FRENCH = (
    "<html><body><h1>Politique de confidentialité</h1><p>Nous traitons vos "
    "données personnelles avec soin. Vous pouvez à tout moment exercer vos "
    "droits d’accès, de rectification et d’effacement. Les données sont "
    "conservées pendant la durée nécessaire à la finalité du traitement, "
    "puis supprimées ou anonymisées.</p></body></html>"
)


def source(url: str, **kwargs: object) -> Source:
    return Source("vendor", "page", url, "privacy-policy", **kwargs)  # type: ignore[arg-type]


def fetch(url: str, settings: Settings = FAST, **kwargs: object) -> Page:
    """Fetch one URL with a fresh fetcher."""

    async def run() -> Page:
        async with Fetcher(settings) as fetcher:
            return await fetcher.fetch(source(url), **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def failure(url: str, settings: Settings = FAST, **kwargs: object) -> FetchError:
    """The error fetching ``url`` raises."""
    with pytest.raises(FetchError) as caught:
        fetch(url, settings, **kwargs)
    return caught.value


def test_user_agent_and_encodings_are_announced(server: PageServer) -> None:
    """Every request names policywatch with a contact URL (configurable) and
    asks only for encodings the fetcher can decode with a bounded output."""
    url = server.serve("/p", POLICY)
    settings = dataclasses.replace(FAST, user_agent="policywatch/9 (+https://x.test)")

    fetch(url, settings)

    headers = server.headers_seen["/p"][0]
    assert headers["User-Agent"] == "policywatch/9 (+https://x.test)"
    assert headers["Accept-Encoding"] == "gzip, deflate"
    assert (
        "policywatch" in Settings().user_agent and "https://" in Settings().user_agent
    )


def test_validators_are_sent_and_304_is_not_modified(server: PageServer) -> None:
    """ETag and Last-Modified go out as If-None-Match / If-Modified-Since;
    a 304 gives a not-modified page with no body."""

    def conditional(request: BaseHTTPRequestHandler) -> None:
        if request.headers.get("If-None-Match") == '"v1"':
            answers(b"", 304, {"ETag": '"v1"'})(request)
        else:
            answers(POLICY, 200, {"ETag": '"v1"', "Content-Type": "text/html"})(request)

    url = server.url("/p")
    server.routes["/p"] = Route(handler=conditional)

    first = fetch(url)
    second = fetch(url, etag=first.etag, last_modified="Wed, 01 Oct 2025 10:00:00 GMT")

    assert (first.not_modified, first.etag) == (False, '"v1"')
    assert (second.not_modified, second.body, second.status) == (True, b"", 304)
    sent = server.headers_seen["/p"][1]
    assert sent["If-Modified-Since"] == "Wed, 01 Oct 2025 10:00:00 GMT"


def test_500_is_retried_then_fails_with_attempts(server: PageServer) -> None:
    """5xx is transient: tried retries + 1 times; the error counts them."""
    url = server.serve("/p", "down", status=502)

    error = failure(url)

    assert (error.reason, error.status, error.attempts) == ("http-502", 502, 3)
    assert error.transient and server.hits["/p"] == 3


def test_404_is_not_retried(server: PageServer) -> None:
    """A 4xx other than 429 is permanent: one request."""
    url = server.serve("/p", "gone", status=404)

    error = failure(url)

    assert (error.reason, error.attempts, error.transient) == ("http-404", 1, False)
    assert server.hits["/p"] == 1


def test_429_then_success_gives_the_page_and_its_attempts(server: PageServer) -> None:
    """A 429 followed by the page: the page, with attempts = 2."""
    url = server.url("/p")
    server.routes["/p"] = Route(handler=in_turn(answers("", 429), answers(POLICY)))

    page = fetch(url)

    assert (page.status, page.attempts) == (200, 2)


def test_retry_after_beyond_the_cap_is_not_waited(server: PageServer) -> None:
    """A Retry-After longer than retry_after_cap ends the fetch at once,
    saying how long the server asked to wait."""
    url = server.serve("/p", "", status=503, headers={"Retry-After": "3600"})

    error = failure(url)

    assert (error.reason, error.attempts) == ("http-503", 1)
    assert "asked to wait 3600s" in str(error)


def test_retry_after_as_a_date_is_honoured(server: PageServer) -> None:
    """Retry-After given as an HTTP date in the past is a wait of zero."""
    busy = answers("", 503, {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    server.routes["/p"] = Route(handler=in_turn(busy, answers(POLICY)))

    page = fetch(server.url("/p"))

    assert page.attempts == 2


def test_no_retry_past_the_deadline(server: PageServer) -> None:
    """A wait that would end after the deadline is not started."""
    url = server.serve("/p", "", status=503, headers={"Retry-After": "3"})
    settings = dataclasses.replace(FAST, deadline=2.0)

    error = failure(url, settings)

    assert (error.reason, error.attempts) == ("http-503", 1)


def test_announced_huge_body_is_refused_before_reading(server: PageServer) -> None:
    """A Content-Length over the cap is refused from the headers alone."""
    server.routes["/p"] = Route(handler=streams(200_000_000, announce=True))

    tracemalloc.start()
    try:
        error = failure(server.url("/p"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

    assert error.reason == "too-large"
    assert "200000000 bytes" in str(error)
    assert peak < 2 * FAST.max_body


def test_source_max_body_overrides_the_setting(server: PageServer) -> None:
    """A source's max_body is its cap, above or below the run's."""
    url = server.serve("/p", POLICY * 10)
    small = dataclasses.replace(FAST, max_body=1000)

    async def run() -> tuple[Page, FetchError]:
        async with Fetcher(small) as fetcher:
            page = await fetcher.fetch(source(url, max_body=100_000))
            try:
                await fetcher.fetch(source(url, max_body=500))
            except FetchError as exc:
                return page, exc
        raise AssertionError("the 500 byte cap was not enforced")

    page, error = asyncio.run(run())

    assert len(page.body) == len(POLICY * 10)
    assert error.reason == "too-large"


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_with_or_without_zlib_wrapper(server: PageServer, wbits: int) -> None:
    """Deflate bodies decode whether or not the server kept the zlib wrapper."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, wbits)
    body = compressor.compress(POLICY.encode()) + compressor.flush()
    headers = {"Content-Type": "text/html", "Content-Encoding": "deflate"}
    url = server.serve("/p", body, headers=headers)

    assert fetch(url).text == POLICY


def test_corrupt_gzip_is_a_clear_failure(server: PageServer) -> None:
    """A body that claims gzip but is not: bad-encoding, not garbage text."""
    headers = {"Content-Type": "text/html", "Content-Encoding": "gzip"}
    url = server.serve("/p", b"this is not gzip at all", headers=headers)

    assert failure(url).reason == "bad-encoding"


def test_redirect_chain_is_followed(server: PageServer) -> None:
    """Relative and absolute redirects are followed to the page."""
    server.serve("/a", "", status=302, headers={"Location": "/b"})
    server.serve("/b", "", status=307, headers={"Location": server.url("/c")})
    server.serve("/c", POLICY)

    page = fetch(server.url("/a"))

    assert (page.final_url, page.url) == (server.url("/c"), server.url("/a"))
    assert page.moved_to is None


def test_moved_to_is_where_permanent_redirects_lead(server: PageServer) -> None:
    """After 301 then 302, the catalog should name the 301's target."""
    server.serve("/a", "", status=301, headers={"Location": "/b"})
    server.serve("/b", "", status=302, headers={"Location": "/c"})
    server.serve("/c", POLICY)

    assert fetch(server.url("/a")).moved_to == server.url("/b")


def test_temporary_then_permanent_is_not_a_move(server: PageServer) -> None:
    """A 302 first means the catalog's URL is still the right one."""
    server.serve("/a", "", status=302, headers={"Location": "/b"})
    server.serve("/b", "", status=308, headers={"Location": "/c"})
    server.serve("/c", POLICY)

    assert fetch(server.url("/a")).moved_to is None


def test_too_many_redirects(server: PageServer) -> None:
    """More hops than max_redirects is an error, even without a loop."""
    for index in range(5):
        server.serve(f"/{index}", "", status=302, headers={"Location": f"/{index + 1}"})
    settings = dataclasses.replace(FAST, max_redirects=3)

    assert failure(server.url("/0"), settings).reason == "too-many-redirects"


def test_redirect_without_location(server: PageServer) -> None:
    """A redirect status with no Location is a clear failure."""
    url = server.serve("/p", "", status=301)

    assert failure(url).reason == "bad-redirect"


@pytest.mark.parametrize(
    ("media", "accepted"),
    [
        ("text/plain; charset=utf-8", True),
        ("application/xhtml+xml", True),
        ("image/png", False),
        ("application/json", False),
    ],
)
def test_content_types(server: PageServer, media: str, accepted: bool) -> None:
    """HTML and plain text are read; other types fail as unsupported."""
    url = server.serve("/p", POLICY, headers={"Content-Type": media})

    if accepted:
        assert fetch(url).text == POLICY
    else:
        error = failure(url)
        assert error.reason == "unsupported-content-type"
        assert media in str(error)


def test_undeclared_pdf_is_sniffed(server: PageServer) -> None:
    """A PDF sent without a Content-Type is still an unsupported type."""
    url = server.serve("/p", b"%PDF-1.4\n...", headers={})

    assert failure(url).reason == "unsupported-content-type"


@pytest.mark.parametrize(
    ("body", "header"),
    [
        (FRENCH.encode("cp1252"), "text/html; charset=utf-8"),
        (FRENCH.encode("utf-8"), "text/html; charset=iso-8859-1"),
        (FRENCH.encode("cp1252"), "text/html"),
        (FRENCH.encode("utf-8"), "text/html; charset=no-such-charset"),
        (b"\xef\xbb\xbf" + FRENCH.encode("utf-8"), "text/html; charset=cp1252"),
    ],
    ids=["cp1252-as-utf8", "utf8-as-latin1", "undeclared", "unknown", "bom"],
)
def test_wrong_charset_still_gives_the_text(
    server: PageServer, body: bytes, header: str
) -> None:
    """A wrong, unknown or missing charset does not garble the text."""
    url = server.serve("/p", body, headers={"Content-Type": header})

    assert fetch(url).text == FRENCH


def test_meta_charset_is_read_when_the_header_has_none() -> None:
    """Without a header charset, the page's own <meta charset> is used."""
    page = '<meta charset="koi8-r"><p>Политика конфиденциальности</p>'

    text, encoding = decode(page.encode("koi8-r"), None)

    assert (text, encoding) == (page, "koi8-r")


def test_401_is_a_login_wall(server: PageServer) -> None:
    """401 is a block (a login wall), not retried."""
    url = server.serve("/p", "Unauthorized", status=401)

    error = failure(url)

    assert isinstance(error, BlockedError)
    assert (error.reason, error.attempts) == ("login-wall", 1)


def test_503_challenge_is_blocked_not_retried(server: PageServer) -> None:
    """A 503 whose body is a bot challenge is a block, not an outage."""
    body = "<html><title>Just a moment...</title><div class=cf-turnstile></div></html>"
    url = server.serve("/p", body, status=503)

    error = failure(url)

    assert isinstance(error, BlockedError)
    assert (error.reason, server.hits["/p"]) == ("challenge", 1)


def test_challenge_header_is_a_block(server: PageServer) -> None:
    """cf-mitigated: challenge marks a block even with a bland body."""
    url = server.serve("/p", "", status=403, headers={"cf-mitigated": "challenge"})

    assert failure(url).reason == "challenge"


def test_connections_are_reused(server: PageServer) -> None:
    """Twenty fetches to one host open no more connections than per_host."""
    urls = [server.serve(f"/p{index}", POLICY) for index in range(20)]

    async def run() -> None:
        async with Fetcher(FAST) as fetcher:
            await asyncio.gather(*(fetcher.fetch(source(url)) for url in urls))

    asyncio.run(run())

    assert server.connections <= FAST.per_host


def test_robots_txt_is_respected_when_asked(server: PageServer) -> None:
    """With robots on, a disallowed path fails as robots; robots.txt is read
    once per host; an allowed path is fetched. With robots off (the default)
    the same path is fetched."""
    server.serve(
        "/robots.txt",
        "User-agent: policywatch\nDisallow: /private\n",
        headers={"Content-Type": "text/plain"},
    )
    private, public = server.serve("/private", POLICY), server.serve("/public", POLICY)
    polite = dataclasses.replace(FAST, robots=True)

    async def run() -> tuple[FetchError, Page]:
        async with Fetcher(polite) as fetcher:
            page = await fetcher.fetch(source(public))
            try:
                await fetcher.fetch(source(private))
            except FetchError as exc:
                return exc, page
        raise AssertionError("robots.txt was not respected")

    error, page = asyncio.run(run())

    assert (error.reason, page.status) == ("robots", 200)
    assert server.hits["/robots.txt"] == 1
    assert fetch(private).status == 200


def test_missing_robots_txt_allows_everything(server: PageServer) -> None:
    """A 404 for robots.txt means no rules."""
    url = server.serve("/p", POLICY)

    assert fetch(url, dataclasses.replace(FAST, robots=True)).status == 200


def test_broken_robots_txt_is_a_transient_failure(server: PageServer) -> None:
    """A 5xx for robots.txt means we cannot know: a transient failure."""
    server.serve("/robots.txt", "", status=500)
    url = server.serve("/p", POLICY)

    error = failure(url, dataclasses.replace(FAST, robots=True, retries=0))

    assert (error.reason, error.transient) == ("robots-unreachable", True)
    assert "/p" not in server.hits
