"""Edits of sources.toml by policywatch keep every comment and line of the file
but the one they add, and leave the file alone when they cannot be made."""

from __future__ import annotations

import difflib
import os
import shutil
from pathlib import Path

import pytest

from policywatch.catalog import load
from policywatch.catalog_edit import add_ignore
from policywatch.errors import CatalogError

REPO_CATALOG = Path(__file__).parent.parent / "sources.toml"
PATTERN = r"Last updated: \w+ \d{1,2}, \d{4}"


@pytest.fixture
def catalog_copy(tmp_path: Path) -> Path:
    """A copy of the repository's real sources.toml."""
    path = tmp_path / "sources.toml"
    shutil.copyfile(REPO_CATALOG, path)
    return path


def added_lines(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before``; fails if any line is removed."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    assert not [line for line in diff if line.startswith("- ")]
    return [line[2:] for line in diff if line.startswith("+ ")]


def comment_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


def test_the_real_catalog_round_trips_with_its_comments(catalog_copy: Path) -> None:
    """Adding an ignore pattern to a source whose table is followed by a
    comment block adds exactly one line, right after the source's last key
    (not below the comments that open the next section); every comment stays
    and the catalog loads with the pattern on that source only."""
    before = catalog_copy.read_text()
    original = load(catalog_copy)

    assert add_ignore(catalog_copy, "character-ai/privacy-policy", [PATTERN]) == [
        PATTERN
    ]

    after = catalog_copy.read_text()
    assert added_lines(before, after) == [f"ignore = ['{PATTERN}']"]
    lines = after.splitlines()
    at = lines.index(f"ignore = ['{PATTERN}']")
    assert lines[at - 1] == 'kind = "privacy-policy"'
    assert lines[at + 2].startswith("# --- Vendors watched")
    assert comment_lines(before) == comment_lines(after)

    edited = load(catalog_copy)
    source = edited.find("character-ai/privacy-policy")
    assert source is not None and source.extraction.ignore == (PATTERN,)
    others = [s for s in edited.sources() if s.key != "character-ai/privacy-policy"]
    assert others == [s for s in original.sources() if s.key != source.key]
    assert edited.vendors[0].verdict == original.vendors[0].verdict


def test_every_source_of_the_real_catalog_can_be_taught(catalog_copy: Path) -> None:
    """A pattern added to each source in turn lands in that source's table;
    the file only grows by one line per source."""
    keys = [s.key for s in load(catalog_copy).sources()]
    before = catalog_copy.read_text()

    for key in keys:
        add_ignore(catalog_copy, key, [PATTERN])

    assert len(added_lines(before, catalog_copy.read_text())) == len(keys)
    assert {s.extraction.ignore for s in load(catalog_copy).sources()} == {(PATTERN,)}


def test_a_second_pattern_joins_the_first(catalog_copy: Path) -> None:
    """A later pattern is appended to the source's existing list, and the same
    pattern twice is added once, leaving the file byte for byte as it was."""
    key = "openai-chatgpt/model-training"
    add_ignore(catalog_copy, key, [PATTERN])
    add_ignore(catalog_copy, key, ["build [0-9a-f]{7}"])
    once = catalog_copy.read_bytes()

    assert add_ignore(catalog_copy, key, ["build [0-9a-f]{7}"]) == []
    assert catalog_copy.read_bytes() == once
    source = load(catalog_copy).find(key)
    assert source is not None
    assert source.extraction.ignore == (PATTERN, "build [0-9a-f]{7}")


def test_a_pattern_with_quotes_and_backslashes_reads_back_the_same(
    catalog_copy: Path,
) -> None:
    """Patterns that cannot be literal TOML strings are escaped, and load back
    exactly as given."""
    pattern = r"It's \"v\d+\" now"
    add_ignore(catalog_copy, "deepseek/privacy-policy", [pattern])

    source = load(catalog_copy).find("deepseek/privacy-policy")
    assert source is not None and source.extraction.ignore == (pattern,)


def test_a_multiline_ignore_list_keeps_its_layout(tmp_path: Path) -> None:
    """A hand-written multi-line ignore list, with a comment in it, keeps its
    lines and comment when a pattern is appended."""
    path = tmp_path / "sources.toml"
    path.write_text(
        """[[vendors]]
id = "v"
name = "V"

[[vendors.sources]]
id = "s"
url = "https://example.org/p"
kind = "terms"
ignore = [
    "Session [0-9]+",  # a session id printed in the footer
]
"""
    )
    before = path.read_text()

    add_ignore(path, "v/s", ["Build [0-9]+"])

    after = path.read_text()
    assert all(line in after.splitlines() for line in before.splitlines())
    source = load(path).find("v/s")
    assert source is not None
    assert source.extraction.ignore == ("Session [0-9]+", "Build [0-9]+")


@pytest.mark.parametrize(
    ("key", "pattern", "message"),
    [
        ("deepseek/privacy-policy", "July (", "is not a valid regex"),
        ("deepseek/privacy-policy", "", "ignore pattern is empty"),
        ("deepseek/privacy-policy", "a?", "matches the empty text"),
        ("deepseek/terms", PATTERN, "no source 'deepseek/terms' in the catalog"),
        ("nobody/terms", PATTERN, "no vendor 'nobody' in the catalog"),
    ],
)
def test_a_refused_edit_leaves_the_file_untouched(
    catalog_copy: Path, key: str, pattern: str, message: str
) -> None:
    """A bad pattern or an unknown source raises CatalogError naming it, and
    the file keeps its bytes and its modification time."""
    before = catalog_copy.read_bytes()
    stamp = catalog_copy.stat().st_mtime_ns

    with pytest.raises(CatalogError, match=message):
        add_ignore(catalog_copy, key, [pattern])

    assert catalog_copy.read_bytes() == before
    assert catalog_copy.stat().st_mtime_ns == stamp


def test_an_edit_that_breaks_the_catalog_is_refused(tmp_path: Path) -> None:
    """When the file already has a mistake elsewhere, the edit is refused
    with the catalog's problems and the file is left as it was."""
    path = tmp_path / "sources.toml"
    path.write_text(
        """[[vendors]]
id = "v"
name = "V"

[[vendors.sources]]
id = "s"
url = "ftp://example.org/p"
kind = "terms"
"""
    )
    before = path.read_bytes()

    with pytest.raises(CatalogError) as raised:
        add_ignore(path, "v/s", [PATTERN])

    assert any("must use http or https" in p for p in raised.value.problems)
    assert path.read_bytes() == before


def test_the_file_keeps_its_permissions_and_no_temporary_file_remains(
    catalog_copy: Path,
) -> None:
    """The file is replaced in one step with its mode kept, and the folder
    holds no leftover temporary file."""
    os.chmod(catalog_copy, 0o640)

    add_ignore(catalog_copy, "deepseek/privacy-policy", [PATTERN])

    assert catalog_copy.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in catalog_copy.parent.iterdir()) == ["sources.toml"]
