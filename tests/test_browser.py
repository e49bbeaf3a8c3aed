"""Sources with render = "browser": a page whose policy exists only after its
scripts run is checked, recorded and diffed through a real headless Chromium;
the browser is started once per run, closed after the run and after a page
crashes, and leaves no Chromium process behind."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from policywatch.catalog import Extraction, Settings, Source
from policywatch.diff import Diff
from policywatch.errors import FetchError
from policywatch.normalize import normalize
from policywatch.render import Renderer
from policywatch.store import Store
from tests.conftest import Workspace, corpus_page
from tests.server import PageServer, Route

CHROMIUM = "/usr/bin/chromium"
HAVE_BROWSER = os.access(CHROMIUM, os.X_OK) and bool(
    importlib.util.find_spec("playwright")
)
needs_browser = pytest.mark.skipif(
    not HAVE_BROWSER and os.environ.get("CI") != "true",
    reason="needs Debian's chromium and the playwright package",
)
DEEPSEEK = "deepseek/privacy-policy"
OLD, NEW = "2025-07-04T12-31-34Z", "2025-07-18T00-31-43Z"
SELECT = "article.policy"
PR_SET_CHILD_SUBREAPER = 36

# The page as its server sends it: no text, one script that fetches the policy
# and builds it into the DOM a little later.
SHELL = """<!DOCTYPE html><html><head><title>Privacy Policy</title></head>
<body><div id="root"></div><noscript>You need to enable JavaScript.</noscript>
<script src="/static/app.js"></script></body></html>"""
APP_JS = """
fetch(location.pathname + ".json")
  .then(response => response.json())
  .then(data => setTimeout(() => {
    const article = document.createElement("article");
    article.className = "policy";
    article.innerHTML = data.html;
    document.getElementById("root").appendChild(article);
  }, data.delay));
"""
# A page whose renderer the server kills once the page has loaded.
CRASHING = """<!DOCTYPE html><html><body><div id="root"></div><script>
const held = new Uint8Array(192 * 1024 * 1024).fill(7);
fetch("/crash-me");
</script></body></html>"""


# -- Chromium processes -------------------------------------------------------


def _processes() -> dict[int, tuple[int, str, str]]:
    """Every process: pid -> (parent pid, state, command line)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        command = cmdline.replace(b"\0", b" ").decode(errors="replace")
        found[int(entry)] = (int(fields[1]), fields[0], command)
    return found


def chromium_pids(root: int | None = None) -> set[int]:
    """Living Chromium processes descended from ``root`` (this process).

    With this process a child subreaper (see :func:`reaper`), a Chromium
    process orphaned by its parent is re-parented here, so it still counts.
    """
    root = os.getpid() if root is None else root
    processes = _processes()
    found = set()
    for pid, (_, state, command) in processes.items():
        if "chrom" not in command.split(" ")[0]:
            continue
        ancestor = pid
        while ancestor > 1 and ancestor != root:
            ancestor = processes.get(ancestor, (1, "", ""))[0]
        if ancestor != root:
            continue
        if state == "Z":
            _reap(pid)
        else:
            found.add(pid)
    return found


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):  # not our child after all
        os.waitpid(pid, os.WNOHANG)


def wait_until_gone(pids: set[int], timeout: float = 10.0) -> set[int]:
    """Wait for ``pids`` to exit; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while (alive := pids & chromium_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def leftovers(timeout: float = 10.0) -> set[int]:
    """Chromium processes of this test still alive after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while (alive := chromium_pids()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


def kill_biggest_renderer() -> None:
    """SIGKILL the renderer holding the most memory: the crashing page's."""
    processes = _processes()
    renderers = [
        pid
        for pid in chromium_pids()
        if "--type=renderer" in processes[pid][2]
        and "--top-chrome-webui" not in processes[pid][2]
    ]
    os.kill(max(renderers, key=_resident), signal.SIGKILL)


def _resident(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except OSError:
        return 0


@pytest.fixture
def reaper() -> Iterator[None]:
    """Make this process the child subreaper of everything it starts, and
    prove no Chromium of this test was running before it."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    assert chromium_pids() == set()
    yield
    libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)


# -- pages ----------------------------------------------------------------------


def policy_html(capture: str) -> str:
    """The body of a real capture, without anything that would load from the
    internet (scripts, images, styles, frames)."""
    soup = BeautifulSoup(corpus_page(f"{DEEPSEEK}/{capture}"), "lxml")
    for tag in soup.find_all(["script", "img", "link", "style", "iframe", "source"]):
        tag.decompose()
    for tag in soup.find_all(style=True):
        del tag["style"]
    assert soup.body is not None
    return soup.body.decode_contents()


def rendered_text(capture: str) -> str:
    """What normalizing the page gives once its script has built the policy."""
    page = (
        f'<html><body><div id="root"><article class="policy">'
        f"{policy_html(capture)}</article></div></body></html>"
    )
    return normalize(page, extraction=Extraction(select=(SELECT,)))


def serve_policy(server: PageServer, path: str, capture: str, delay: int) -> str:
    """Serve a script-built page at ``path`` whose policy is ``capture``."""
    server.serve("/static/app.js", APP_JS, headers={"Content-Type": "text/javascript"})
    data = json.dumps({"html": policy_html(capture), "delay": delay})
    server.serve(f"{path}.json", data, headers={"Content-Type": "application/json"})
    return server.serve(path, SHELL)


def serve_crash(server: PageServer) -> str:
    def crash(handler: BaseHTTPRequestHandler) -> None:
        kill_biggest_renderer()
        handler.send_response(204)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/crash-me"] = Route(handler=crash)
    return server.serve("/crashing", CRASHING)


def catalog(server: PageServer, *, pages: int = 4, extra: str = "") -> str:
    return f"""
[settings]
host_delay = "0s"
read_timeout = "20s"
browser_pages = {pages}

[[vendors]]
id = "deepseek"
name = "DeepSeek"

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/deepseek/privacy")}"
kind = "privacy-policy"
render = "browser"
select = ["{SELECT}"]
{extra}"""


def results(output: str) -> dict[str, dict[str, object]]:
    return {f"{r['vendor']}/{r['source']}": r for r in json.loads(output)["results"]}


def recorded_texts(workspace: Workspace, key: str) -> list[str]:
    """The texts of every version recorded for ``key``, oldest first."""
    store = Store(workspace.db_url, create=False)
    try:
        return [version.text for version in store.versions(key)]
    finally:
        store.close()


def browser_starts(stderr: str) -> int:
    return sum(
        json.loads(line)["message"].startswith("started the browser")
        for line in stderr.splitlines()
        if line.startswith("{")
    )


# -- tests ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_script_built_page_is_recorded_and_diffed(
    server: PageServer, workspace: Workspace
) -> None:
    """A page whose policy exists only after its script runs (and only 0.4 s
    after the page loaded) is recorded with the same text as the page built
    by hand; a second source, read without a selector, waits for the network
    to go idle. One browser serves both sources. When the script later
    builds a newer capture, one change is recorded whose diff holds the
    added table; a third check is unchanged. After every run no Chromium
    process is left."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=400)
    serve_policy(server, "/deepseek/terms", OLD, delay=0)
    terms = f"""
[[vendors.sources]]
id = "terms"
url = "{server.url("/deepseek/terms")}"
kind = "terms"
render = "browser"
"""
    workspace.write_catalog(catalog(server, extra=terms))
    check = ("--log-level", "INFO", "--log-json", "check", "--json")

    first = workspace.run(*check)
    assert first.returncode == 0, first.stderr
    assert {k: r["outcome"] for k, r in results(first.stdout).items()} == {
        "deepseek/privacy-policy": "new",
        "deepseek/terms": "new",
    }
    assert browser_starts(first.stderr) == 1
    assert recorded_texts(workspace, DEEPSEEK) == [rendered_text(OLD)]
    [terms_text] = recorded_texts(workspace, "deepseek/terms")
    assert "Welcome to DeepSeek!" in terms_text
    assert leftovers() == set()

    serve_policy(server, "/deepseek/privacy", NEW, delay=400)
    second = workspace.run(*check)
    assert second.returncode == 1, second.stderr
    change = results(second.stdout)[DEEPSEEK]
    assert change["outcome"] == "changed"
    assert results(second.stdout)["deepseek/terms"]["outcome"] == "unchanged"
    store = Store(workspace.db_url, create=False)
    try:
        assert isinstance(change["change"], int)
        diff = Diff.from_json(store.change(change["change"]).diff)
    finally:
        store.close()
    added = " ".join(p.added for p in diff.passages)
    assert "| Purpose of processing | Personal Data categories | Legal bases |" in added
    assert all(p.removed == "" for p in diff.passages)
    assert recorded_texts(workspace, DEEPSEEK) == [
        rendered_text(OLD),
        rendered_text(NEW),
    ]
    assert leftovers() == set()

    third = workspace.run(*check)
    assert third.returncode == 0, third.stderr
    assert {r["outcome"] for r in results(third.stdout).values()} == {"unchanged"}
    assert leftovers() == set()


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_crashed_page_fails_alone_and_leaves_no_chromium(
    server: PageServer, workspace: Workspace
) -> None:
    """When the renderer of one page dies, that source fails with reason
    browser-crash and nothing is recorded for it; the next source is rendered
    by a fresh browser and recorded; no Chromium process is left after the
    run."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=0)
    crashing = f"""
[[vendors]]
id = "crashy"
name = "Crashy"

[[vendors.sources]]
id = "policy"
url = "{serve_crash(server)}"
kind = "privacy-policy"
render = "browser"
select = ["#root p"]
"""
    # One page at a time, the crashing one first.
    document = catalog(server, pages=1)
    head, _, tail = document.partition("[[vendors]]")
    workspace.write_catalog(head + crashing + "\n[[vendors]]" + tail)

    run = workspace.run("--log-level", "INFO", "--log-json", "check", "--json")

    assert run.returncode == 3, run.stderr
    outcomes = results(run.stdout)
    assert outcomes["crashy/policy"]["outcome"] == "failed"
    assert outcomes["crashy/policy"]["reason"] == "browser-crash"
    assert "crashed" in str(outcomes["crashy/policy"]["error"])
    assert outcomes[DEEPSEEK]["outcome"] == "new"
    assert browser_starts(run.stderr) == 2
    assert recorded_texts(workspace, "crashy/policy") == []
    assert leftovers() == set()


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_crash_closes_the_browser_once_its_other_pages_finish(
    server: PageServer,
) -> None:
    """A crash retires the browser: a page still open in it finishes its
    render, then that browser's processes exit at once, before the run ends;
    the next source starts a new browser; closing the renderer leaves no
    Chromium process."""
    serve_policy(server, "/slow", OLD, delay=0)
    released = threading.Event()
    content = server.routes["/slow.json"].body

    def held_json(handler: BaseHTTPRequestHandler) -> None:
        released.wait(timeout=30)
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(content)))
        handler.end_headers()
        handler.wfile.write(content)

    server.routes["/slow.json"] = Route(handler=held_json)
    settings = Settings(read_timeout=20.0, browser_pages=2)
    slow = Source(
        "deepseek",
        "slow",
        server.url("/slow"),
        "privacy-policy",
        extraction=Extraction(select=(SELECT,)),
    )
    crashing = Source(
        "crashy",
        "policy",
        serve_crash(server),
        "privacy-policy",
        extraction=Extraction(select=("#root p",)),
    )

    async def scenario() -> None:
        async with Renderer(settings) as renderer:
            good = asyncio.create_task(renderer.fetch(slow))
            while server.hits.get("/slow.json", 0) == 0:
                await asyncio.sleep(0.05)
            first_browser = chromium_pids()
            with pytest.raises(FetchError) as crash:
                await renderer.fetch(crashing)
            assert crash.value.reason == "browser-crash"
            assert chromium_pids() & first_browser, "closed before its page finished"

            released.set()
            page = await good
            assert normalize(page.text, extraction=slow.extraction) == (
                rendered_text(OLD)
            )
            assert await asyncio.to_thread(wait_until_gone, first_browser) == set()

            again = await renderer.fetch(slow)
            assert again.text == page.text
            assert renderer.launches == 2
        assert await asyncio.to_thread(leftovers) == set()

    asyncio.run(scenario())


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_open_pages_stay_within_browser_pages(server: PageServer) -> None:
    """With browser_pages = 2, five sources rendered at once have two pages
    loading at a time and never three, and one browser serves them all."""
    loading = {"now": 0, "most": 0}
    more = threading.Condition(server.lock)

    def slow_json(handler: BaseHTTPRequestHandler) -> None:
        # Hold each page loading until a third one loads too, or 2 s pass:
        # without the limit, three pages would be loading at once.
        with more:
            loading["now"] += 1
            loading["most"] = max(loading["most"], loading["now"])
            more.notify_all()
            more.wait_for(lambda: loading["now"] > 2, timeout=2.0)
        body = json.dumps({"html": "<p>" + "Policy text. " * 40 + "</p>", "delay": 0})
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body.encode())
        with more:
            loading["now"] -= 1

    server.serve("/static/app.js", APP_JS, headers={"Content-Type": "text/javascript"})
    sources = []
    for number in range(5):
        server.routes[f"/p{number}.json"] = Route(handler=slow_json)
        url = server.serve(f"/p{number}", SHELL)
        sources.append(
            Source("v", f"p{number}", url, "other", extraction=Extraction((SELECT,)))
        )

    async def scenario() -> int:
        async with Renderer(Settings(browser_pages=2)) as renderer:
            pages = await asyncio.gather(*(renderer.fetch(s) for s in sources))
            assert all("Policy text." in page.text for page in pages)
            return renderer.launches

    assert asyncio.run(scenario()) == 1
    assert loading["most"] == 2
    assert leftovers() == set()


def test_script_shell_fetched_plainly_says_it_needs_a_browser(
    server: PageServer, workspace: Workspace
) -> None:
    """A plain fetch of a page that is an empty script shell fails the check
    with reason script-shell and a message saying the source probably needs
    render = "browser", in JSON and in the text output; no version is
    recorded."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=0)
    plain = catalog(server).replace('render = "browser"\n', "")
    workspace.write_catalog(plain.replace(f'select = ["{SELECT}"]\n', ""))

    as_json = workspace.run("check", "--json")
    as_text = workspace.run("check")

    assert as_json.returncode == 3, as_json.stderr
    result = results(as_json.stdout)[DEEPSEEK]
    assert result["outcome"] == "failed"
    assert result["reason"] == "script-shell"
    assert 'it probably needs render = "browser"' in str(result["error"])
    assert 'probably needs render = "browser"' in " ".join(as_text.stdout.split())
    assert recorded_texts(workspace, DEEPSEEK) == []


def test_without_playwright_the_failure_says_what_to_install(
    server: PageServer, workspace: Workspace
) -> None:
    """With Playwright not importable, a browser source fails with a message
    naming the extra to install, and the run goes on."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=0)
    workspace.write_catalog(catalog(server))
    hide = "import sys; sys.modules['playwright'] = None; import policywatch.__main__"

    run = subprocess.run(
        [sys.executable, "-c", hide, "check", "--json"],
        env=workspace.env,
        cwd=workspace.root,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 3, run.stderr
    result = results(run.stdout)[DEEPSEEK]
    assert result["reason"] == "browser-missing"
    assert "pip install 'policywatch[browser]'" in str(result["error"])


def test_without_chromium_the_failure_says_what_to_install(
    server: PageServer, workspace: Workspace
) -> None:
    """With no Chromium at browser_path, a browser source fails with a
    message naming the path and how to install Chromium."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=0)
    document = catalog(server).replace(
        "[settings]\n", '[settings]\nbrowser_path = "/nowhere/chromium"\n'
    )
    workspace.write_catalog(document)

    run = workspace.run("check", "--json")

    assert run.returncode == 3, run.stderr
    result = results(run.stdout)[DEEPSEEK]
    assert result["reason"] == "browser-missing"
    assert "/nowhere/chromium" in str(result["error"])
    assert "apt-get install chromium" in str(result["error"])


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_killed_check_leaves_no_chromium(
    server: PageServer, workspace: Workspace
) -> None:
    """A check process killed (SIGKILL) while its browser is rendering a page
    takes its Chromium down with it, and records nothing for that source."""
    serve_policy(server, "/deepseek/privacy", OLD, delay=0)
    released = threading.Event()

    def held_json(handler: BaseHTTPRequestHandler) -> None:
        released.wait(timeout=60)
        handler.send_error(503)

    server.routes["/deepseek/privacy.json"] = Route(handler=held_json)
    workspace.write_catalog(catalog(server))
    check = subprocess.Popen(
        [sys.executable, "-m", "policywatch", "check", "--json"],
        env=workspace.env,
        cwd=workspace.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not server.hits.get("/deepseek/privacy.json"):
            assert time.monotonic() < deadline, "the page never asked for its policy"
            time.sleep(0.05)
        assert chromium_pids(), "no Chromium was rendering the page"

        check.kill()
        check.wait()

        assert leftovers() == set()
    finally:
        released.set()
        check.kill()
        check.wait()
    assert recorded_texts(workspace, DEEPSEEK) == []


@pytest.mark.slow
@pytest.mark.usefixtures("reaper")
@pytest.mark.browser
@needs_browser
def test_render_failures_carry_their_reason(server: PageServer) -> None:
    """A content selector that never gets text fails with selector-timeout
    after read_timeout; an HTTP error status fails like a plain fetch; the
    browser survives both and is closed after."""
    serve_policy(server, "/never", OLD, delay=0)
    settings = Settings(read_timeout=2.0)
    never = Source(
        "v", "never", server.url("/never"), "other", extraction=Extraction(("#none",))
    )
    missing = Source("v", "missing", server.url("/missing"), "other")

    async def scenario() -> list[FetchError]:
        failures = []
        async with Renderer(settings) as renderer:
            for source in (never, missing):
                with pytest.raises(FetchError) as caught:
                    await renderer.fetch(source)
                failures.append(caught.value)
            assert renderer.launches == 1
        return failures

    timeout, not_found = asyncio.run(scenario())

    assert timeout.reason == "selector-timeout"
    assert "'#none' held no text after 2s" in str(timeout)
    assert (not_found.reason, not_found.status) == ("http-404", 404)
    assert leftovers() == set()
