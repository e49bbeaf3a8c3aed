"""Reports of recorded changes: HTML, index, Atom, Markdown and JSON, with the
stored verdict, review state and raw pages, and nothing from a page live."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from sqlalchemy import update

from policywatch.catalog import Catalog, load
from policywatch.diff import make_diff
from policywatch.normalize import RELEASE, normalize, text_hash
from policywatch.report import change_views, render_markdown, write_reports
from policywatch.report.markdown import escape, fence
from policywatch.store import Attempt, NewVersion, Store
from policywatch.store.models import ChangeRow, ReviewRow
from policywatch.triage import triage
from tests.conftest import Workspace, corpus_page

OPENAI = "openai-chatgpt/model-training-data-use"
# The elements our templates write; anything else came from a page.
SAFE_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "main",
    "aside",
    "div",
    "section",
    "h1",
    "h2",
    "h3",
    "p",
    "span",
    "strong",
    "code",
    "a",
    "ul",
    "li",
    "details",
    "summary",
    "input",
    "label",
    "table",
    "colgroup",
    "col",
    "tr",
    "th",
    "td",
    "del",
    "ins",
    "br",
    "q",
    "tbody",
}
CATALOG = """
[[vendors]]
id = "openai-chatgpt"
name = "OpenAI ChatGPT"

[vendors.verdict]
reviewed = 2026-01-15
trains_by_default = true
opt_out = true
answer = "Yes by default for consumer plans; business plans are excluded."

[[vendors.verdict.tiers]]
name = "Free / Plus"
verdict = "Trains unless you opt out"

[[vendors.claims]]
id = "no-ad-profiles"
text = "Content is not used to build advertising profiles."
sources = ["model-training"]
evidence = ["use your content to market our services or create advertising profiles"]

[[vendors.sources]]
id = "model-training"
url = "https://help.example.com/model-training"
kind = "model-training"

[[vendors]]
id = "hostile"
name = "Hostile Example"

[[vendors.claims]]
id = "no-training"
text = "Chats are never used for training."
sources = ["privacy"]
evidence = ["We never use your chats to train models."]

[[vendors.sources]]
id = "privacy"
url = "https://hostile.example.com/privacy"
kind = "privacy-policy"
"""
# Script the report must never run: it would retitle the page and mark the body.
ATTACK = "document.title='PWNED';document.body.setAttribute('data-pwned','yes')"
HOSTILE_OLD = """<html><head><title>Privacy</title></head><body><main>
<h1>Privacy policy</h1>
<h2>Training</h2>
<p>We never use your chats to train models.</p>
<p>We keep chats for 30 days.</p>
</main></body></html>"""
HOSTILE_NEW = f"""<html><head><title>Privacy</title>
<script>{ATTACK}</script></head>
<body onload="{ATTACK}"><main>
<h1>Privacy policy</h1>
<h2>Training &lt;script&gt;{ATTACK}&lt;/script&gt;</h2>
<p>We may use your chats to train models &lt;img src=x onerror="{ATTACK}"&gt;
&lt;svg onload="{ATTACK}"&gt; &lt;a href="javascript:{ATTACK}"&gt;opt out here&lt;/a&gt;
<a href="javascript:{ATTACK}">opt out settings</a> @octocat ![x](https://evil.example/x.png)
<img src="https://evil.example/pixel.png" onerror="{ATTACK}"></p>
<p>We keep chats for 30 days.</p>
<script>{ATTACK}</script>
</main></body></html>"""


class Elements(HTMLParser):
    """Every element and attribute a browser would build from a document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def assert_inert(html: str) -> None:
    """The document's real elements are our template's only: no script or
    loading element, no event handler, no link but http(s) and report files."""
    parser = Elements()
    parser.feed(html)
    for tag, attrs in parser.tags:
        assert tag in SAFE_TAGS, tag
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        assert "src" not in attrs and "style" not in attrs, (tag, attrs)
        if "href" in attrs:
            assert re.match(
                r"(https?://|raw/|change-|index\.html|changes\.)", attrs["href"]
            ), attrs


def catalog_at(folder: Path, text: str = CATALOG) -> Catalog:
    """A real catalog, loaded from a sources.toml in ``folder``."""
    path = folder / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return load(path)


def record_pages(
    store: Store, catalog: Catalog, key: str, pages: list[bytes], start: dt.datetime
) -> list[int]:
    """Record each page as a check of ``key`` the way check.py does: its raw
    snapshot, its normalized version and, from the second on, the change with
    its diff and triage. Returns the change ids."""
    source = catalog.find(key)
    assert source is not None
    vendor = catalog.vendor(source.vendor_id)
    assert vendor is not None
    store.sync_sources([(source.vendor_id, source.id, source.url, source.kind)])
    changes = []
    for number, page in enumerate(pages):
        text = normalize(page.decode("utf-8"))
        latest = store.latest(key)
        version = NewVersion(
            text, text_hash(text), RELEASE, latest.id if latest else None
        )
        if latest is not None:
            diff = make_diff(latest.text, text)
            weighed = triage(
                diff, latest.text, text, claims=vendor.claims_on(source.id)
            )
            version.diff, version.severity = diff.to_json(), weighed.severity
            version.triage = weighed.to_json()
        attempt = Attempt(
            outcome="fetched",
            started_at=start + dt.timedelta(days=number),
            raw=page,
            content_type="text/html",
        )
        recorded = store.record(key, attempt, version)
        if recorded.change_id is not None:
            changes.append(recorded.change_id)
    return changes


def review(store: Store, change: int, state: str, note: str = "") -> None:
    """Set a change's state and append a decision, as the review step does."""
    with store.session() as session:
        session.execute(
            update(ChangeRow).where(ChangeRow.id == change).values(state=state)
        )
        session.add(
            ReviewRow(
                change_id=change,
                decision=state,
                author="rita",
                note=note,
                decided_at=dt.datetime(2026, 7, 1, 9, 30, tzinfo=dt.UTC),
            )
        )


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Store, Catalog, dict[str, int]]:
    """A store holding two real OpenAI captures and the hostile page pair."""
    catalog = catalog_at(tmp_path)
    (tmp_path / "state").mkdir()
    store = Store(Workspace(tmp_path).db_url)
    pages = [
        corpus_page(f"{OPENAI}/{d}")
        for d in ("2026-01-30T11-30-06Z", "2026-05-18T10-30-06Z")
    ]
    (openai,) = record_pages(
        store,
        catalog,
        "openai-chatgpt/model-training",
        pages,
        dt.datetime(2026, 5, 1, tzinfo=dt.UTC),
    )
    (hostile,) = record_pages(
        store,
        catalog,
        "hostile/privacy",
        [HOSTILE_OLD.encode(), HOSTILE_NEW.encode()],
        dt.datetime(2026, 6, 1, tzinfo=dt.UTC),
    )
    return store, catalog, {"openai": openai, "hostile": hostile}


def test_real_change_report_shows_verdict_diff_and_claim_at_risk(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """The page of a real change holds the stored verdict (answer, tier,
    claims), names the claim whose evidence went away, shows the removed words
    and both views, and links the source and the stored raw pages."""
    store, catalog, ids = recorded
    write_reports(store, catalog, tmp_path / "reports")

    html = (tmp_path / "reports" / f"change-{ids['openai']}.html").read_text()
    assert "Yes by default for consumer plans" in html
    assert "Free / Plus" in html
    assert (
        "⚠ at risk:</strong> Content is not used to build advertising profiles." in html
    )
    assert "evidence removed" in html
    assert "<del> We don&#39;t use your content to market our services" in html
    assert 'id="view-inline"' in html and 'id="view-side"' in html
    assert 'href="https://help.example.com/model-training"' in html
    raw_links = re.findall(r'href="(raw/snapshot-\d+\.txt)"', html)
    assert len(raw_links) == 2
    for link in raw_links:
        assert (tmp_path / "reports" / link).read_bytes().startswith(b"<!DOCTYPE html>")


def test_raw_page_is_written_byte_for_byte_as_text(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """The raw page a report links to is the stored snapshot, in a .txt file."""
    store, catalog, ids = recorded
    write_reports(store, catalog, tmp_path / "reports")
    view = next(v for v in change_views(store, catalog) if v.id == ids["hostile"])
    assert view.to_snapshot is not None
    raw = tmp_path / "reports" / "raw" / f"snapshot-{view.to_snapshot}.txt"
    assert raw.read_bytes() == HOSTILE_NEW.encode()


def test_hostile_page_is_inert_in_every_format(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """Tags, event handlers, javascript: links, remote images and mentions
    written on a page come out as text in the HTML, Markdown, Atom and JSON
    reports; the HTML pages carry a CSP that forbids scripts and loads."""
    store, catalog, ids = recorded
    folder = tmp_path / "reports"
    write_reports(store, catalog, folder)

    for page in [folder / "index.html", *folder.glob("change-*.html")]:
        html = page.read_text()
        assert "default-src 'none'" in html.split("<title>")[0], page
        assert_inert(html)
    hostile = (folder / f"change-{ids['hostile']}.html").read_text()
    assert "&lt;script&gt;document.title=&#39;PWNED&#39;" in hostile

    markdown = (folder / "changes.md").read_text()
    outside_fences = re.sub(r"(`{3,})diff\n.*?\n\1", "", markdown, flags=re.S)
    assert "<" not in outside_fences and "![" not in outside_fences
    assert "@octocat" not in outside_fences

    feed = ET.parse(folder / "changes.atom").getroot()
    summaries = feed.findall(".//{http://www.w3.org/2005/Atom}summary")
    assert summaries and all(s.get("type") == "text" for s in summaries)
    assert any("<script>" in (s.text or "") for s in summaries)

    data = json.loads((folder / "changes.json").read_text())
    assert {c["change"] for c in data} == set(ids.values())


def test_index_lists_open_changes_first_and_review_state(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """A reviewed change sorts after an open one and shows its latest decision
    (author, time, note); a verdict-update-needed change gets a banner."""
    store, catalog, ids = recorded
    review(store, ids["openai"], "holds", "ads wording only")
    views = change_views(store, catalog)
    assert [v.id for v in views] == [ids["hostile"], ids["openai"]]

    write_reports(store, catalog, tmp_path / "reports")
    index = (tmp_path / "reports" / "index.html").read_text()
    assert index.index(f"#{ids['hostile']}<") < index.index(f"#{ids['openai']}<")
    assert "by rita, 2026-07-01 09:30 UTC" in index and "ads wording only" in index
    assert 'class="banner"' not in index

    review(store, ids["openai"], "verdict-update-needed")
    write_reports(store, catalog, tmp_path / "reports")
    index = (tmp_path / "reports" / "index.html").read_text()
    page = (tmp_path / "reports" / f"change-{ids['openai']}.html").read_text()
    assert "1 change needs a verdict update" in index
    assert 'class="banner"' in page


def test_technical_changes_are_not_open_changes(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """A change in state "technical" is left out of the changes to review,
    the Markdown, the feed and the JSON, and listed apart in the index."""
    store, catalog, ids = recorded
    with store.session() as session:
        session.execute(
            update(ChangeRow)
            .where(ChangeRow.id == ids["openai"])
            .values(state="technical", technical=True)
        )
    assert [v.id for v in change_views(store, catalog)] == [ids["hostile"]]
    folder = tmp_path / "reports"
    write_reports(store, catalog, folder)
    index = (folder / "index.html").read_text()
    assert "1 change to review" in index
    assert "1 technical change" in index
    assert f"#{ids['openai']} " not in (folder / "changes.md").read_text()
    assert [c["change"] for c in json.loads((folder / "changes.json").read_text())] == [
        ids["hostile"]
    ]


def test_markdown_escapes_and_fences() -> None:
    """Markdown escaping leaves no tag, link, image or mention; a fence is
    longer than any backtick run inside it."""
    text = escape("<b>x</b> [a](javascript:x) ![i](http://e/i.png) @someone\nnext")
    assert "<" not in text and "](" not in text and "@someone" not in text
    assert "\n" not in text
    block = fence(["+ ```` and ``` inside"])
    assert block.startswith("`````diff\n") and block.endswith("\n`````")


def test_markdown_shows_changes_to_review_in_full(
    recorded: tuple[Store, Catalog, dict[str, int]],
) -> None:
    """The Markdown for a CI issue names the claim at risk and quotes the
    diff of an open change; a reviewed one gets one line."""
    store, catalog, ids = recorded
    review(store, ids["hostile"], "holds")
    markdown = render_markdown(change_views(store, catalog))
    assert markdown.startswith("# policywatch: 1 change to review\n")
    assert (
        "**Claim at risk:** Content is not used to build advertising profiles."
        in markdown
    )
    assert re.search(r"^- .*We don't use your content to market", markdown, re.M)
    assert re.search(r"^\+ .*", markdown, re.M)
    assert f"- #{ids['hostile']} hostile/privacy: verdict-at-risk, holds" in markdown


def test_report_command_prints_markdown_and_writes_files(
    recorded: tuple[Store, Catalog, dict[str, int]], tmp_path: Path
) -> None:
    """`policywatch report --markdown` prints the Markdown; `policywatch
    report` writes the HTML, feed, Markdown and JSON files."""
    store, catalog, _ = recorded
    workspace = Workspace(tmp_path)
    result = workspace.run("report", "--markdown")
    assert result.returncode == 0, result.stderr
    assert result.stdout == render_markdown(change_views(store, catalog))

    result = workspace.run("report")
    assert result.returncode == 0, result.stderr
    for name in ("index.html", "changes.atom", "changes.md", "changes.json"):
        assert (tmp_path / "reports" / name).is_file()


def test_markdown_stays_under_the_issue_body_limit(
    recorded: tuple[Store, Catalog, dict[str, int]],
) -> None:
    """However many changes are open, the Markdown stays under GitHub's
    65,536-character body limit, saying what it left out."""
    store, catalog, _ = recorded
    views = change_views(store, catalog)
    many = [replace(view, id=n) for n in range(1, 3000) for view in views[:1]]
    markdown = render_markdown(many)
    assert len(markdown) < 65_536
    assert "left out" in markdown and "… and 2799 more" in markdown
    assert markdown.startswith("# policywatch: 2999 changes to review")
