"""check's outcomes, filters and exit statuses, from the command line."""

from __future__ import annotations

import json

from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

PAGE = "xai-grok/privacy-policy/2024-04-30T00-31-33Z"


def catalog(server: PageServer) -> str:
    return f"""
[settings]
host_delay = "0s"
retries = 0

[[vendors]]
id = "xai-grok"
name = "xAI Grok"

[[vendors.sources]]
id = "privacy-policy"
url = "{server.url("/privacy")}"
kind = "privacy-policy"

[[vendors.sources]]
id = "gone"
url = "{server.url("/gone")}"
kind = "terms"
"""


def test_a_failed_source_gives_exit_3_and_the_others_are_checked(
    server: PageServer, workspace: Workspace
) -> None:
    """One source answering 404 fails with its reason; the other is still
    checked; with no change recorded the exit status is 3."""
    server.serve("/privacy", corpus_page(PAGE))
    workspace.write_catalog(catalog(server))

    result = workspace.run("check", "--json")

    assert result.returncode == 3, result.stderr
    by_source = {r["source"]: r for r in json.loads(result.stdout)["results"]}
    assert by_source["privacy-policy"]["outcome"] == "new"
    assert by_source["gone"]["outcome"] == "failed"
    assert "404" in by_source["gone"]["error"]


def test_source_filter_checks_only_that_source(
    server: PageServer, workspace: Workspace
) -> None:
    """--source VENDOR/SOURCE checks one source and exits 0 when it is fine."""
    server.serve("/privacy", corpus_page(PAGE))
    workspace.write_catalog(catalog(server))

    result = workspace.run("check", "--source", "xai-grok/privacy-policy")

    assert result.returncode == 0, result.stderr
    assert "xai-grok/privacy-policy" in result.stdout
    assert "gone" not in result.stdout
    assert server.hits.get("/gone") is None
    assert "1 source checked: 1 new" in result.stdout


def test_help_documents_the_exit_statuses(workspace: Workspace) -> None:
    """check --help lists the four exit statuses."""
    result = workspace.run("check", "--help")
    assert result.returncode == 0
    for line in (
        "0  every source",
        "1  at least one change",
        "2  usage",
        "3  some source",
    ):
        assert line in result.stdout
