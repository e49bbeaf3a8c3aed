"""The review loop from the command line: real pages served on 127.0.0.1,
checked into a real SQLite store, reviewed, exported, checked again."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pytest

from policywatch import export
from tests.conftest import Workspace
from tests.server import PageServer
from tests.test_review import (
    DEEPSEEK,
    DEEPSEEK_PAGE,
    MISTRAL,
    MISTRAL_AFTER,
    MISTRAL_BEFORE,
    catalog_text,
    deepseek_dated,
)


def outcomes(output: str) -> dict[str, str]:
    return {
        f"{r['vendor']}/{r['source']}": r["outcome"]
        for r in json.loads(output)["results"]
    }


def run(workspace: Workspace, *args: str, status: int = 0) -> str:
    """Run a command; fail unless it exits with ``status``; its stdout."""
    result = workspace.run(*args)
    assert result.returncode == status, (args, result.stdout, result.stderr)
    return result.stdout


@pytest.mark.slow
def test_detect_review_export_and_silence_the_noise(
    server: PageServer, workspace: Workspace
) -> None:
    """Mistral's policy changes (a claim's evidence with it) and DeepSeek's
    "Last Update" line moves. The
    review list shows both, most severe first. Mistral's change is reviewed
    as holding: the export shows today's last verified date and no open
    change for it. DeepSeek's is marked noise with an ignore pattern: the
    pattern lands in sources.toml (comments kept), and when the date moves
    again the next check records no change and the review list is empty."""
    server.serve("/deepseek/privacy", DEEPSEEK_PAGE)
    server.serve("/mistral/privacy", MISTRAL_BEFORE)
    catalog = workspace.write_catalog(catalog_text(server))
    assert set(outcomes(run(workspace, "check", "--json")).values()) == {"new"}

    server.serve("/deepseek/privacy", deepseek_dated(7))
    server.serve("/mistral/privacy", MISTRAL_AFTER)
    second = outcomes(run(workspace, "check", "--json", status=1))
    assert second == {DEEPSEEK: "changed", MISTRAL: "changed"}

    listed = json.loads(run(workspace, "review", "--json"))
    assert [(c["vendor"] + "/" + c["source"], c["severity"]) for c in listed] == [
        (MISTRAL, "verdict-at-risk"),
        (DEEPSEEK, "minor"),
    ]
    assert {c["state"] for c in listed} == {"open"}
    assert listed[0]["claims_at_risk"] == ["portability"]
    mistral, deepseek = (str(c["change"]) for c in listed)
    shown = run(workspace, "review", "show", deepseek)
    assert "Last Update: July [-4-]{+7+}, 2025" in shown

    run(workspace, "review", "decide", mistral, "--holds", "--by", "ana",
        "--note", "new dataset section; training answer unchanged")  # fmt: skip
    data = json.loads(run(workspace, "export"))
    jsonschema.validate(data, export.schema())
    verified = next(v for v in data["vendors"] if v["id"] == "mistral-le-chat")
    assert verified["last_verified"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert verified["last_verified_at"] is not None
    assert verified["open_changes"] == []

    pattern = r"Last Update: \w+ \d+, \d{4}"
    decided = run(workspace, "review", "decide", deepseek, "--noise", "--by", "ana",
                  "--note", "date bump", "--ignore", pattern)  # fmt: skip
    assert "ignore pattern added" in decided
    text = catalog.read_text()
    assert f"ignore = ['{pattern}']" in text
    assert '# The privacy policy; its "Last Update" line moves' in text

    server.serve("/deepseek/privacy", deepseek_dated(9))
    third = outcomes(run(workspace, "check", "--json"))
    assert third == {DEEPSEEK: "unchanged", MISTRAL: "unchanged"}
    assert json.loads(run(workspace, "review", "--json")) == []
