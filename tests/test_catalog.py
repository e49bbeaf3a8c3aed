"""The catalog: loading sources.toml and reporting every mistake at once."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from policywatch.catalog import load, parse, parse_duration, parse_size
from policywatch.errors import CatalogError
from tests.conftest import Workspace

REPO = Path(__file__).parent.parent

MINIMAL = """
[[vendors]]
id = "acme"
name = "Acme AI"

[[vendors.sources]]
id = "privacy"
url = "http://127.0.0.1:8000/privacy"
kind = "privacy-policy"
"""

BROKEN = """
[settings]
concurrency = 0
workers = -1
colour = "blue"

[[vendors]]
id = "acme"
name = "Acme AI"
tagline = "unknown key"

[[vendors.claims]]
id = "trains"
text = "Trains by default."
sources = ["privacy", "missing-page"]

[[vendors.sources]]
id = "privacy"
url = "ftp://example.com/privacy"
kind = "privacy-policy"
select = ["main >>> p"]

[[vendors.sources]]
id = "privacy"
url = "https://example.com/other"
kind = "scroll"
ignore = ["(unclosed"]
every = "often"

[[vendors]]
id = "acme"
name = "Acme again"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(CatalogError) as caught:
        parse(tomllib.loads(text))
    return caught.value.problems


def test_minimal_catalog_is_valid_and_unreviewed() -> None:
    """Only id, name, url and kind are needed; no verdict means unreviewed."""
    catalog = parse(tomllib.loads(MINIMAL))
    (source,) = catalog.sources()
    assert source.key == "acme/privacy"
    assert catalog.vendors[0].verdict.unreviewed
    assert source.schedule.every == 86400.0


def test_every_mistake_is_reported_naming_vendor_and_source() -> None:
    """Each mistake gives one line that names where it is."""
    problems = problems_of(BROKEN)
    expected = [
        "settings: concurrency must be at least 1",
        "settings: workers must be at least 0",
        "settings: unknown key 'colour'",
        "vendor acme: unknown key 'tagline'",
        "vendor acme, claim trains: cites source 'missing-page', which",
        "vendor acme, source privacy: url 'ftp://example.com/privacy' must use http",
        "vendor acme, source privacy: select selector 'main >>> p' is not valid CSS",
        "vendor acme, source privacy: kind 'scroll' is not one of",
        "vendor acme, source privacy: ignore pattern '(unclosed' is not a valid regex",
        "vendor acme, source privacy: every: not a duration: 'often'",
        "vendor acme, source privacy: duplicate id",
        "vendor acme: duplicate id",
    ]
    for start in expected:
        assert any(p.startswith(start) for p in problems), (start, problems)
    assert all("\n" not in p for p in problems)


def test_the_shipped_catalog_is_valid() -> None:
    """sources.toml at the repo root loads, with Character.AI reviewed and
    every other vendor unreviewed."""
    catalog = load(REPO / "sources.toml")
    character = catalog.vendor("character-ai")
    assert character is not None
    assert not character.verdict.unreviewed
    assert {s.id for s in character.sources} == {"model-training", "privacy-policy"}
    assert all(claim.sources for claim in character.claims)
    others = [v for v in catalog.vendors if v.id != "character-ai"]
    assert others and all(v.verdict.unreviewed for v in others)


def test_validate_command_exits_2_with_one_line_per_mistake(
    workspace: Workspace,
) -> None:
    """`sources validate` prints each mistake on its own line and exits 2."""
    workspace.write_catalog(BROKEN)
    result = workspace.run("sources", "validate")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == len(problems_of(BROKEN))
    assert any("source privacy" in line and "ftp://" in line for line in lines)


def test_validate_names_a_toml_syntax_error(workspace: Workspace) -> None:
    """A file that is not TOML gets a one-line error naming the file."""
    workspace.write_catalog("[[vendors]\nid = 1\n")
    result = workspace.run("sources", "validate")
    assert result.returncode == 2
    assert "sources.toml" in result.stderr and "TOML" in result.stderr


def test_check_with_a_missing_catalog_exits_2(workspace: Workspace) -> None:
    """check refuses to run without a catalog, exit status 2."""
    result = workspace.run("check")
    assert result.returncode == 2
    assert "no such file" in result.stderr


def test_unknown_vendor_filter_exits_2(workspace: Workspace) -> None:
    """--vendor naming no vendor is a usage error."""
    workspace.write_catalog(MINIMAL)
    result = workspace.run("check", "--vendor", "nobody")
    assert result.returncode == 2
    assert "nobody" in result.stderr


@pytest.mark.parametrize(
    ("text", "seconds"), [("5s", 5), ("6h", 21600), ("1.5d", 129600), (90, 90)]
)
def test_durations(text: object, seconds: float) -> None:
    """Durations read as seconds."""
    assert parse_duration(text) == seconds


def test_sizes() -> None:
    """Sizes read as bytes, decimal and binary units."""
    assert parse_size("5MB") == 5_000_000
    assert parse_size("512KiB") == 524_288
    with pytest.raises(ValueError):
        parse_size("lots")
