"""Replacing a file in one step: the helper behind snapshots, reports, exports
and catalog edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from policywatch.files import replace_file


def leftovers(folder: Path) -> list[str]:
    """Temporary files the helper left beside its targets."""
    return sorted(path.name for path in folder.iterdir() if path.name.startswith("."))


def test_a_new_file_is_readable_by_all(tmp_path: Path) -> None:
    """A new file, in a folder that did not exist, holds the text with LF line
    ends and mode 0644, so a web server or git can read it."""
    target = tmp_path / "report" / "index.html"

    replace_file(target, "one\ntwo\n")

    assert target.read_bytes() == b"one\ntwo\n"
    assert target.stat().st_mode & 0o777 == 0o644
    assert leftovers(target.parent) == []


def test_an_existing_file_keeps_its_permissions(tmp_path: Path) -> None:
    """Replacing a file keeps the mode its owner gave it."""
    target = tmp_path / "sources.toml"
    target.write_text("old\n")
    target.chmod(0o600)

    replace_file(target, "new\n", durable=False)

    assert target.read_text() == "new\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_newline_empty_keeps_the_text_line_ends(tmp_path: Path) -> None:
    """With ``newline=""`` CRLF line ends in the text are written as they are."""
    target = tmp_path / "sources.toml"

    replace_file(target, "a\r\nb\r\n", newline="")

    assert target.read_bytes() == b"a\r\nb\r\n"


def test_a_failing_check_leaves_the_target_and_no_temporary(tmp_path: Path) -> None:
    """When the check raises, the target still holds its old text and the
    temporary file is gone."""
    target = tmp_path / "sources.toml"
    target.write_text("kept\n")

    def refuse() -> None:
        raise RuntimeError("someone else edited it")

    with pytest.raises(RuntimeError, match="someone else"):
        replace_file(target, "lost\n", check=refuse)

    assert target.read_text() == "kept\n"
    assert leftovers(tmp_path) == []
