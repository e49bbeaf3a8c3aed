"""``policywatch renormalize`` end to end on a real SQLite store: texts made by
an older normalizer release are re-derived from the stored raw pages and
recorded as technical changes, never as changes to review."""

from __future__ import annotations

import json

from policywatch.normalize import RELEASE, normalize, text_hash
from policywatch.store import Attempt, NewVersion, Store
from policywatch.store.models import SnapshotRow
from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

PRIVACY = "openai-chatgpt/privacy-policy-rest-of-world/2023-11-10T06-30-28Z"
KEY = "openai-chatgpt/privacy-policy"


def catalog(server: PageServer, extra: str = "") -> str:
    return f"""
[settings]
host_delay = "0s"

[[vendors]]
id = "openai-chatgpt"
name = "OpenAI ChatGPT"

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/openai/privacy")}"
kind = "privacy-policy"
{extra}
"""


def old_release_text(page: bytes) -> str:
    """The text an older release made of the page: it glued a label to the
    date beside it ("UpdatedJune 23, 2023")."""
    text = normalize(page.decode("utf-8"))
    assert "Updated\n\nJune 23, 2023" in text
    return text.replace("Updated\n\nJune 23, 2023", "UpdatedJune 23, 2023")


def record_old_version(workspace: Workspace, page: bytes, *, raw: bool = True) -> None:
    """Record the page's first version as release ``RELEASE - 1`` made it."""
    store = Store(workspace.db_url)
    store.sync_sources([("openai-chatgpt", "privacy-policy", "http://x", "privacy")])
    text = old_release_text(page)
    version = NewVersion(
        text=text,
        sha256=text_hash(text),
        normalizer=RELEASE - 1,
        based_on=None,
    )
    attempt = Attempt(
        outcome="fetched",
        raw=page if raw else None,
        content_type="text/html",
        headers={"content-type": "text/html; charset=utf-8"},
    )
    assert store.record(KEY, attempt, version).outcome == "new"
    store.close()


def renormalize(workspace: Workspace) -> tuple[int, dict[str, object]]:
    run = workspace.run("renormalize", "--json")
    assert run.stdout, run.stderr
    return run.returncode, json.loads(run.stdout)["results"][0]


def test_an_old_release_text_becomes_a_technical_change(
    server: PageServer, workspace: Workspace
) -> None:
    """The re-derived text is recorded as a technical version from the same
    stored snapshot, with a technical change that is not in the report; the
    source's fetch state is left alone; a second run and the next check find
    nothing new."""
    page = corpus_page(PRIVACY)
    server.serve("/openai/privacy", page)
    workspace.write_catalog(catalog(server))
    record_old_version(workspace, page)
    store = Store(workspace.db_url)
    checked_before = store.source_state(KEY).last_checked_at

    status, result = renormalize(workspace)
    assert status == 0
    assert result["outcome"] == "renormalized"
    assert result["release"] == RELEASE - 1

    first, second = store.versions(KEY)
    assert (first.technical, second.technical) == (False, True)
    assert second.normalizer == RELEASE
    assert second.snapshot_id == first.snapshot_id is not None
    assert second.text == normalize(page.decode("utf-8"))
    assert store.count(SnapshotRow) == 1
    assert store.changes() == []
    (change,) = store.changes(technical=True)
    assert (change.id, change.state, change.technical) == (
        result["change"],
        "technical",
        True,
    )
    assert any("June 23, 2023" in p["added"] for p in change.diff["passages"])
    assert store.source_state(KEY).last_checked_at == checked_before
    attempt = store.attempts(KEY, limit=1)[0]
    assert attempt.outcome == "renormalized"
    snapshot = workspace.root / "snapshots" / "openai-chatgpt" / "privacy-policy.md"
    assert snapshot.read_text(encoding="utf-8") == second.text

    report = workspace.run("report", "--markdown")
    assert report.returncode == 0, report.stderr
    assert "June 23" not in report.stdout

    again = {"source": KEY, "outcome": "unchanged", "release": RELEASE}
    assert renormalize(workspace) == (0, again)
    check = workspace.run("check", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["results"][0]["outcome"] == "unchanged"
    assert len(store.versions(KEY)) == 2


def test_a_text_that_fails_the_gate_is_not_recorded(
    server: PageServer, workspace: Workspace
) -> None:
    """When the current settings make an empty text of the stored page, the
    source is reported as failed and no version is recorded."""
    page = corpus_page(PRIVACY)
    workspace.write_catalog(catalog(server, 'select = [".no-such-element"]'))
    record_old_version(workspace, page)

    status, result = renormalize(workspace)
    assert status == 4
    assert result["outcome"] == "failed"
    assert "no text" in str(result["error"])
    assert len(Store(workspace.db_url).versions(KEY)) == 1


def test_a_version_without_a_stored_page_cannot_be_re_derived(
    server: PageServer, workspace: Workspace
) -> None:
    """A version whose raw page was not kept is reported, not guessed at."""
    workspace.write_catalog(catalog(server))
    record_old_version(workspace, corpus_page(PRIVACY), raw=False)

    status, result = renormalize(workspace)
    assert status == 4
    assert result["outcome"] == "no-snapshot"
    assert len(Store(workspace.db_url).versions(KEY)) == 1


def test_a_check_after_an_upgrade_raises_no_change_of_its_own(
    server: PageServer, workspace: Workspace
) -> None:
    """A check whose latest version an older release made re-derives it
    first: the unchanged page is "unchanged", the upgrade a technical change."""
    page = corpus_page(PRIVACY)
    server.serve("/openai/privacy", page)
    workspace.write_catalog(catalog(server))
    record_old_version(workspace, page)

    check = workspace.run("check", "--json")
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["results"][0]["outcome"] == "unchanged"
    store = Store(workspace.db_url)
    assert [v.technical for v in store.versions(KEY)] == [False, True]
    assert store.changes() == []
