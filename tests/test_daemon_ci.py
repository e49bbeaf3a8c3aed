"""The example GitHub Actions workflow (docs/examples/policywatch.yml): its
shell steps, run as written against real pages, a real store and a real git
repository, act on the exit status of ``policywatch check``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import Workspace, corpus_page
from tests.server import PageServer

pytestmark = pytest.mark.slow

WORKFLOW = Path(__file__).parents[1] / "docs" / "examples" / "policywatch.yml"
KEY = "deepseek/privacy-policy"


def step(name: str) -> str:
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["check"]["steps"]
    return next(s["run"] for s in steps if s.get("name") == name)


def run_step(workspace: Workspace, name: str) -> tuple[int, dict[str, str]]:
    """Run one step's script the way Actions does (bash -eo pipefail)."""
    output = workspace.root / "github_output"
    output.write_text("")
    env = {
        **workspace.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "POLICYWATCH_NOTIFY": "",
    }
    script = workspace.root / "step.sh"
    script.write_text(step(name))
    done = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=workspace.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    values = dict(
        line.split("=", 1) for line in output.read_text().splitlines() if "=" in line
    )
    return done.returncode, values


def git(workspace: Workspace, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=workspace.root, check=True, capture_output=True, text=True
    ).stdout


def catalog(server: PageServer) -> str:
    return (
        '[settings]\nhost_delay = "0s"\n[[vendors]]\nid = "deepseek"\n'
        f'name = "DeepSeek"\n[[vendors.sources]]\nid = "privacy-policy"\n'
        f'url = "{server.url("/p")}"\nkind = "privacy-policy"\n'
    )


def test_the_workflow_keeps_results_and_fails_on_a_bad_catalog(
    server: PageServer, workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The check step passes with status 0 on a first check and 1 after a
    change, and the commit step pushes snapshots/ and state/; a catalog
    error fails the check step with status 2."""
    remote = tmp_path_factory.mktemp("remote") / "repo.git"
    subprocess.run(["git", "init", "-q", "--bare", str(remote)], check=True)
    server.serve("/p", corpus_page(f"{KEY}/2025-07-04T12-31-34Z"))
    workspace.write_catalog(catalog(server))
    git(workspace, "init", "-q", "-b", "main")
    git(workspace, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", ".")
    git(
        workspace,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-qm",
        "catalog",
    )
    git(workspace, "remote", "add", "origin", str(remote))
    git(workspace, "push", "-q", "-u", "origin", "main")

    assert run_step(workspace, "Check every source") == (0, {"status": "0"})
    assert run_step(workspace, "Commit what was recorded")[0] == 0
    server.serve("/p", corpus_page(f"{KEY}/2025-07-18T00-31-43Z"))
    assert run_step(workspace, "Check every source") == (0, {"status": "1"})
    assert run_step(workspace, "Commit what was recorded")[0] == 0

    pushed = git(workspace, "log", "--format=%s", "origin/main")
    assert pushed.count("policywatch: check of") == 2
    files = git(workspace, "ls-tree", "-r", "--name-only", "origin/main")
    assert f"snapshots/{KEY}.md" in files and "state/policywatch.db" in files

    workspace.write_catalog(catalog(server).replace('privacy-policy"\n', 'legal"\n'))
    assert run_step(workspace, "Check every source") == (2, {"status": "2"})
