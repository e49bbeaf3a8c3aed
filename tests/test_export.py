"""The export for the tracker site: its content, and that it keeps to its
published JSON Schema whatever state the sources and changes are in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from policywatch import export, review
from policywatch.store import Attempt
from tests.server import PageServer

# The fixtures are shared with test_review: importing them makes them this
# module's, and tests naming them as arguments "redefine" them for ruff.
# ruff: noqa: F811
from tests.test_review import (  # noqa: F401
    DEEPSEEK,
    MISTRAL,
    Installation,
    checked_twice,
    installation,
    module_server,
    run_cli,
)

SRC = Path(__file__).parent.parent / "src" / "policywatch"
SCHEMA_FILE = SRC / "schema" / "export.schema.json"


def validate(data: dict[str, Any]) -> None:
    """Fail unless ``data`` keeps to the published schema, formats included."""
    jsonschema.validate(
        data,
        export.schema(),
        cls=jsonschema.Draft202012Validator,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
    )


def vendor(data: dict[str, Any], vendor_id: str) -> dict[str, Any]:
    return next(v for v in data["vendors"] if v["id"] == vendor_id)


def test_the_published_schema_is_a_valid_schema() -> None:
    """The schema file is valid JSON Schema (2020-12) and is what
    export.schema() returns."""
    published = json.loads(SCHEMA_FILE.read_text())

    jsonschema.Draft202012Validator.check_schema(published)
    assert export.schema() == published


def test_the_export_shows_verdict_sources_and_open_changes(
    installation: Installation,
) -> None:
    """Per vendor: the verdict with its badges, the claims, each source's last
    check and last change, and the open changes; it validates."""
    data = export.build(installation.store, installation.catalog)

    validate(data)
    deepseek = vendor(data, "deepseek")
    assert deepseek["verdict"]["badges"]["trains_by_default"] is True
    assert deepseek["verdict"]["badges"]["opt_out"] is False
    assert deepseek["verdict"]["reviewed"] == "2025-07-01"
    assert [c["id"] for c in deepseek["claims"]] == ["trains-on-inputs"]
    (source,) = deepseek["sources"]
    assert source["status"] == "ok"
    assert source["last_check"]["outcome"] == "changed"
    change = installation.change_of(DEEPSEEK)
    assert source["last_change"]["change"] == change
    assert source["last_change"]["state"] == "open"
    assert [c["change"] for c in deepseek["open_changes"]] == [change]
    assert deepseek["last_verified"] == "2025-07-01"
    assert deepseek["last_verified_at"] is None


def test_a_holds_decision_moves_the_last_verified_date(
    installation: Installation,
) -> None:
    """After "holds", the vendor has no open change, its last verified time is
    the decision's, and its last verified date is that day."""
    store, catalog = installation.store, installation.catalog
    decided = review.decide(
        store, catalog, installation.change_of(MISTRAL), "holds", author="ana"
    )

    data = export.build(store, catalog)

    validate(data)
    mistral = vendor(data, "mistral-le-chat")
    assert mistral["open_changes"] == []
    assert mistral["sources"][0]["last_change"]["state"] == "holds"
    assert dt.datetime.fromisoformat(mistral["last_verified_at"]) == decided.decided_at
    assert mistral["last_verified"] == decided.decided_at.date().isoformat()


def test_a_verdict_update_needed_stays_open_in_the_export(
    installation: Installation,
) -> None:
    """A change whose verdict changed stays among the open changes, with its
    state, until the catalog is edited."""
    store, catalog = installation.store, installation.catalog
    change = installation.change_of(DEEPSEEK)
    review.decide(store, catalog, change, "verdict-changed", author="ana")

    data = export.build(store, catalog)

    validate(data)
    opened = vendor(data, "deepseek")["open_changes"]
    assert [(c["change"], c["state"]) for c in opened] == [
        (change, "verdict-update-needed")
    ]


def test_failing_and_moved_sources(
    installation: Installation, module_server: PageServer
) -> None:
    """A source whose checks fail is "failing" since its first failed check,
    keeping its last change; one whose last check saw a permanent redirect is
    "moved" with its new address. The export still validates."""
    path = installation.workspace.root / "sources.toml"
    path.write_text(path.read_text().replace("/deepseek/privacy", "/deepseek/gone"))
    outcomes = installation.check()
    assert outcomes == {DEEPSEEK: "failed", MISTRAL: "unchanged"}
    new_home = "https://legal.example.org/privacy"
    # The check records what the fetch saw; a redirect is recorded the same way.
    installation.store.record(MISTRAL, Attempt(outcome="fetched", moved_to=new_home))

    data = export.build(installation.store, installation.catalog)

    validate(data)
    (failing,) = vendor(data, "deepseek")["sources"]
    assert failing["status"] == "failing"
    assert failing["failing_since"] == failing["last_check"]["at"]
    assert failing["last_check"]["outcome"] == "failed"
    assert failing["last_check"]["status_code"] == 404
    assert failing["last_change"]["change"] == installation.change_of(DEEPSEEK)
    (moved,) = vendor(data, "mistral-le-chat")["sources"]
    assert moved["status"] == "moved"
    assert moved["moved_to"] == new_home


def test_a_source_never_checked_is_unchecked(installation: Installation) -> None:
    """A source added to the catalog but not checked yet has no last check."""
    path = installation.workspace.root / "sources.toml"
    path.write_text(
        path.read_text()
        + """
[[vendors.sources]]
id = "terms"
url = "https://example.org/terms"
kind = "terms"
"""
    )

    data = export.build(installation.store, installation.catalog)

    validate(data)
    terms = vendor(data, "mistral-le-chat")["sources"][1]
    assert terms["status"] == "unchecked"
    assert terms["last_check"] is None and terms["last_change"] is None


def test_export_writes_a_file_readable_by_all(installation: Installation) -> None:
    """``export -o FILE`` writes the JSON (mode 0644 for a new file) and prints
    nothing on stdout; ``export --schema`` prints the schema."""
    target = installation.workspace.root / "site" / "policywatch.json"

    status, out, err = run_cli(installation.workspace, "export", "-o", str(target))

    assert status == 0, err
    assert out == ""
    validate(json.loads(target.read_text()))
    assert target.stat().st_mode & 0o777 == 0o644
    status, out, _ = run_cli(installation.workspace, "export", "--schema")
    assert status == 0
    assert json.loads(out) == export.schema()


@pytest.mark.parametrize("bad", [{"format": 2}, {"vendors": [{"id": "X"}]}])
def test_the_schema_rejects_what_the_site_could_not_read(bad: dict[str, Any]) -> None:
    """The schema is strict enough to catch a wrong format number or a vendor
    missing its fields."""
    data = {"format": 1, "generated_at": "2026-01-01T00:00:00Z", "vendors": []}

    with pytest.raises(jsonschema.ValidationError):
        validate({**data, **bad})
