"""The command line as a whole: every command is listed and runs, and a
command imports only what it needs."""

from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from policywatch.cli import main
from policywatch.cli.app import COMMANDS
from tests.conftest import Workspace


def test_help_lists_every_command(workspace: Workspace) -> None:
    result = workspace.run("--help")
    assert result.returncode == 0
    listed = [
        line.split()[0]
        for line in result.stdout.split("Commands:")[1].splitlines()
        if line.strip()
    ]
    assert listed == sorted(COMMANDS)


def test_each_command_answers_its_help() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(main, [name, "--help"], prog_name="policywatch")
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: policywatch {name}" in result.output


def test_unknown_command_is_a_usage_error(workspace: Workspace) -> None:
    result = workspace.run("chekc")
    assert result.returncode == 2
    assert "No such command 'chekc'" in result.stderr


def test_check_does_not_import_the_other_commands() -> None:
    """A check imports neither the daemon's scheduler, the reports' templates
    nor apprise when nothing is to be notified."""
    code = (
        "import sys\n"
        "from policywatch.cli import main\n"
        "main(['check', '--help'], standalone_mode=False)\n"
        "print(sorted(m for m in ('apscheduler', 'jinja2', 'apprise',"
        " 'prometheus_client', 'policywatch.daemon') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]"
