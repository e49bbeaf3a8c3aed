"""The whole loop from the command line: real pages served on 127.0.0.1,
checked, swapped for a later real version, checked again, reported."""

from __future__ import annotations

import json
import threading

from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

OPENAI = "openai-chatgpt/model-training-data-use"
DEEPSEEK = "deepseek/privacy-policy"


def catalog(server: PageServer) -> str:
    return f"""
[settings]
host_delay = "0s"

[[vendors]]
id = "openai-chatgpt"
name = "OpenAI ChatGPT"

[[vendors.claims]]
id = "individuals-train"
text = "Content from services for individuals may be used to train models."
sources = ["model-training"]
evidence = ["we may use your content to train our models"]

[[vendors.sources]]
id = "model-training"
url = "{server.url("/openai/training")}"
kind = "model-training"

[[vendors]]
id = "deepseek"
name = "DeepSeek"

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/deepseek/privacy")}"
kind = "privacy-policy"
"""


def results(output: str) -> dict[str, dict[str, object]]:
    return {f"{r['vendor']}/{r['source']}": r for r in json.loads(output)["results"]}


def test_new_then_one_change_then_unchanged(
    server: PageServer, workspace: Workspace
) -> None:
    """First check: all new. After one page is swapped for a later real
    capture: exactly one change, whose report holds the words that capture
    added. Third check: all unchanged."""
    server.serve("/openai/training", corpus_page(f"{OPENAI}/2025-11-11T15-20-03Z"))
    server.serve("/deepseek/privacy", corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    workspace.write_catalog(catalog(server))

    first = workspace.run("check", "--json")
    assert first.returncode == 0, first.stderr
    assert {k: r["outcome"] for k, r in results(first.stdout).items()} == {
        "openai-chatgpt/model-training": "new",
        "deepseek/privacy-policy": "new",
    }
    snapshot = workspace.root / "snapshots" / "deepseek" / "privacy-policy.md"
    assert "July 4, 2025" in snapshot.read_text()

    server.serve("/deepseek/privacy", corpus_page(f"{DEEPSEEK}/2025-07-18T00-31-43Z"))
    second = workspace.run("check", "--json")
    assert second.returncode == 1, second.stderr
    outcomes = results(second.stdout)
    assert [k for k, r in outcomes.items() if r["outcome"] == "changed"] == [
        "deepseek/privacy-policy"
    ]
    assert outcomes["openai-chatgpt/model-training"]["outcome"] == "unchanged"
    change = outcomes["deepseek/privacy-policy"]
    assert isinstance(change["change"], int)
    assert change["severity"] in ("minor", "substantive", "verdict-at-risk")

    report = workspace.run("report")
    assert report.returncode == 0, report.stderr
    html = (workspace.root / "reports" / f"change-{change['change']}.html").read_text()
    markdown = (workspace.root / "reports" / "changes.md").read_text()
    # The July 18 capture added a table of purposes and legal bases for the EEA.
    added = "deliver a fast and convenient logging-in experience"
    assert added in html
    assert added in markdown

    third = workspace.run("check", "--json")
    assert third.returncode == 0, third.stderr
    assert {r["outcome"] for r in results(third.stdout).values()} == {"unchanged"}


def test_two_checks_at_once_record_each_version_once(
    server: PageServer, workspace: Workspace
) -> None:
    """Two check processes on one database: every version is recorded once."""
    server.serve("/openai/training", corpus_page(f"{OPENAI}/2025-11-11T15-20-03Z"))
    server.serve("/deepseek/privacy", corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    workspace.write_catalog(catalog(server))
    outputs: list[str] = []

    def run() -> None:
        outputs.append(workspace.run("check", "--json").stdout)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    history = workspace.run("history", "deepseek/privacy-policy", "--json")
    assert history.returncode == 0, history.stderr
    assert len(json.loads(history.stdout)) == 1
    outcomes = [r["outcome"] for out in outputs for r in json.loads(out)["results"]]
    assert sorted(outcomes) == ["new", "new", "unchanged", "unchanged"]
