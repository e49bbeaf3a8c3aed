"""Notifications: which results call for a message, what it says, that it
reaches a real webhook, and that target secrets stay out of the logs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from policywatch.catalog import Catalog, Settings, parse
from policywatch.check import SourceResult
from policywatch.notify import Notifier, mask, target_urls
from policywatch.store import Attempt, Store
from tests.conftest import Workspace, corpus_page
from tests.server import PageServer
from tests.test_daemon import Receiver

KEY = "deepseek/privacy-policy"
START = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


def catalog(notify: str = "", url: str = "https://deepseek.example/privacy") -> Catalog:
    return parse(
        {
            "settings": {
                "notify_severity": "substantive",
                "notify_failing_after": "1h",
                "host_delay": "0s",
                **({"notify": [notify]} if notify else {}),
            },
            "vendors": [
                {
                    "id": "deepseek",
                    "name": "DeepSeek",
                    "sources": [{"id": "privacy-policy", "url": url, "kind": "terms"}],
                    "claims": [
                        {
                            "id": "trains",
                            "text": "It trains.",
                            "sources": ["privacy-policy"],
                        }
                    ],
                }
            ],
        }
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store holding the one source of :func:`catalog`."""
    opened = Store(f"sqlite:///{tmp_path / 'state.db'}")
    opened.sync_sources([("deepseek", "privacy-policy", "https://x.example/", "terms")])
    yield opened
    opened.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A local webhook receiver for apprise's json:// target."""
    hook = Receiver()
    yield hook
    hook.close()


def changed(severity: str) -> SourceResult:
    return SourceResult(
        "deepseek",
        "privacy-policy",
        "changed",
        change=7,
        severity=severity,
        claims_at_risk=("trains",),
    )


def test_targets_come_from_the_catalog_and_the_environment() -> None:
    """Both lists are used, without duplicates; the environment may hold
    several URLs separated by spaces or commas."""
    settings = Settings(notify=("json://a.example/x",))
    env = {"POLICYWATCH_NOTIFY": "json://a.example/x, mailto://u:pw@b.example"}
    assert target_urls(settings, env) == [
        "json://a.example/x",
        "mailto://u:pw@b.example",
    ]


def test_a_masked_target_shows_only_its_scheme() -> None:
    """Tokens and passwords in a target URL never reach a log line."""
    assert mask("tgram://123456:ABCDEF/987") == "tgram://***"
    assert mask("json://user:s3cret@hooks.example/path?token=x") == "json://***"
    assert mask("garbage") == "***"


def test_only_changes_at_or_above_the_severity_are_notified(store: Store) -> None:
    """With notify_severity = "substantive", a minor change is quiet, and a
    substantive or verdict-at-risk one gives one message naming the vendor,
    the source, its severity, the claims at risk and the report."""
    notifier = Notifier(catalog(), store, reports=Path("/srv/reports"), env={})
    assert notifier.messages(changed("minor")) == []
    assert notifier.messages(changed("cosmetic")) == []
    [message] = notifier.messages(changed("verdict-at-risk"))
    assert message.title == f"policywatch: {KEY} changed (verdict-at-risk)"
    assert "Vendor: DeepSeek" in message.body
    assert f"Source: {KEY} https://deepseek.example/privacy" in message.body
    assert "Claims at risk: trains" in message.body
    assert "Report: /srv/reports/change-7.html" in message.body
    assert len(notifier.messages(changed("substantive"))) == 1


def test_the_report_link_uses_report_url_when_set(store: Store) -> None:
    """With [settings] report_url, messages link to the published report."""
    base = catalog()
    settings = Settings(
        **{**base.settings.__dict__, "report_url": "https://r.example/"}
    )
    notifier = Notifier(
        Catalog(base.vendors, settings), store, reports=Path("reports"), env={}
    )
    assert notifier.report_link(7) == "https://r.example/change-7.html"


def fail_at(store: Store, minutes: int) -> SourceResult:
    when = START + dt.timedelta(minutes=minutes)
    store.record(KEY, Attempt("failed", started_at=when, reason="timeout"))
    return SourceResult(
        "deepseek", "privacy-policy", "failed", error="timed out", reason="timeout"
    )


def test_a_failure_episode_is_notified_once_when_it_outlasts_the_limit(
    store: Store,
) -> None:
    """Checks failing for 0, 30, 59 minutes are quiet; the one at 61 minutes
    crosses notify_failing_after (1h) and gives one message; later failures of
    the same episode are quiet; after a success, a new episode that lasts
    long enough gives a new message."""
    notifier = Notifier(catalog(), store, reports=Path("reports"), env={})
    sent = [len(notifier.messages(fail_at(store, m))) for m in (0, 30, 59, 61, 90, 200)]
    assert sent == [0, 0, 0, 1, 0, 0]

    store.record(KEY, Attempt("fetched", started_at=START + dt.timedelta(hours=4)))
    sent = [len(notifier.messages(fail_at(store, m))) for m in (300, 340, 361, 420)]
    assert sent == [0, 0, 1, 0]


def test_the_failing_message_names_the_episode_and_the_claims(store: Store) -> None:
    """The message says since when the source fails, the last error, and the
    claims that rest on the source."""
    notifier = Notifier(catalog(), store, reports=Path("reports"), env={})
    fail_at(store, 0)
    [message] = notifier.messages(fail_at(store, 75))
    assert message.title == f"policywatch: {KEY} has been failing since 2026-03-02"
    assert "Failing since: 2026-03-02 12:00 UTC" in message.body
    assert "Last error: timeout: timed out" in message.body
    assert "Claims resting on it: trains" in message.body


def test_messages_reach_a_webhook_and_secrets_stay_out_of_logs(
    store: Store, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """A message sent to a json:// target arrives at the local receiver; a
    dead target is logged as failed; neither log line holds the password."""
    good = f"json://bot:s3cret@127.0.0.1:{receiver.port}/hook"
    dead = "json://bot:s3cret@127.0.0.1:9/hook"
    caplog.set_level(logging.DEBUG)
    notifier = Notifier(catalog(good), store, reports=Path("reports"), env={})
    notifier.targets += Notifier(
        catalog(dead), store, reports=Path("r"), env={}
    ).targets
    [message] = notifier.messages(changed("substantive"))

    notifier.post([message])
    notifier.close()

    assert [p["title"] for p in receiver.posts] == [message.title]
    assert receiver.posts[0]["message"] == message.body
    assert "notified target 1 (json://***)" in caplog.text
    assert "could not notify target 1 (json://***)" in caplog.text
    assert "s3cret" not in caplog.text


def test_a_reloaded_catalog_brings_its_own_targets(store: Store) -> None:
    """After a reload that edits [settings] notify, messages go to the new
    targets only."""
    notifier = Notifier(catalog("json://a.example/x"), store, reports=Path("r"), env={})
    notifier.use(catalog("json://b.example/y"))
    assert [u.split("?")[0] for _, t in notifier.targets for u in t.urls()] == [
        "json://b.example/y"
    ]


def test_an_invalid_target_is_reported_without_its_url(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A target apprise cannot read is skipped with an error naming its
    number and scheme, not its text."""
    notifier = Notifier(
        catalog(), store, reports=Path("r"), env={"POLICYWATCH_NOTIFY": "nope://tok3n"}
    )
    assert not notifier.enabled
    assert "target 1 (nope://***) is not a valid apprise URL" in caplog.text
    assert "tok3n" not in caplog.text


@pytest.mark.slow
def test_check_notify_sends_one_message_per_change(
    server: PageServer, workspace: Workspace, receiver: Receiver
) -> None:
    """``policywatch check --notify``: the first check (new) sends nothing; a
    swap to a later real capture sends one message; ``--notify`` without any
    target is a usage error."""
    server.serve("/p", corpus_page(f"{KEY}/2025-07-04T12-31-34Z"))
    workspace.write_catalog(
        f'[settings]\nhost_delay = "0s"\nnotify_severity = "cosmetic"\n'
        f'notify = ["json://127.0.0.1:{receiver.port}/hook"]\n'
        '[[vendors]]\nid = "deepseek"\nname = "DeepSeek"\n'
        f'[[vendors.sources]]\nid = "privacy-policy"\nurl = "{server.url("/p")}"\n'
        'kind = "privacy-policy"\n'
    )
    assert workspace.run("check", "--notify").returncode == 0
    server.serve("/p", corpus_page(f"{KEY}/2025-07-18T00-31-43Z"))
    second = workspace.run("check", "--notify")

    assert second.returncode == 1, second.stderr
    assert len(receiver.posts) == 1
    assert receiver.posts[0]["title"].startswith(f"policywatch: {KEY} changed")

    workspace.write_catalog(
        workspace.root.joinpath("sources.toml")
        .read_text()
        .replace("notify = ", "# notify = ")
    )
    third = workspace.run("check", "--notify")
    assert third.returncode == 2
    assert "--notify needs a target" in third.stderr
