"""Edits sources.toml in place, keeping its comments and layout.

The catalog is a file people write by hand, so an edit made by policywatch
(an ignore pattern learnt from a noise review) changes only the lines it must.
Every edit is checked before the file is replaced: the new document must load
as a valid catalog and differ from the old one only by the edit; the file is
then replaced in one step, keeping its permissions.
"""

from __future__ import annotations

import logging
import re
import tomllib
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table

from policywatch import catalog
from policywatch.errors import CatalogError
from policywatch.files import replace_file

log = logging.getLogger(__name__)


def check_pattern(pattern: str) -> None:
    """Raise :class:`CatalogError` unless ``pattern`` is a usable regex."""
    if not pattern.strip():
        raise CatalogError("ignore pattern is empty")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise CatalogError(
            f"ignore pattern {pattern!r} is not a valid regex: {exc}"
        ) from exc
    if compiled.search("") is not None:
        raise CatalogError(
            f"ignore pattern {pattern!r} matches the empty text; "
            "it would remove nothing (or everything) from a page"
        )


def add_ignore(path: Path, key: str, patterns: list[str]) -> list[str]:
    """Add ignore ``patterns`` to the source ``vendor/source`` in ``path``.

    Returns the patterns actually added (those already there are skipped, so
    running the same edit twice changes nothing). Raises :class:`CatalogError`
    for a bad pattern, an unknown source, or an edit that would leave the
    catalog invalid; the file is then left as it was.
    """
    for pattern in patterns:
        check_pattern(pattern)
    path = path.resolve()
    before = _read(path)
    document = _parse(path, before)

    source = _find_source(document, key)
    added = _append_ignore(source, patterns)
    if not added:
        return []

    after = tomlkit.dumps(document)
    _check_edit(path, before, after, key, added)
    _replace(path, before, after)
    log.info("added ignore patterns to %s in %s: %s", key, path, added)
    return added


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: no such file (set POLICYWATCH_SOURCES?)") from exc
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc


def _parse(path: Path, text: str) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise CatalogError(f"{path}: not valid TOML: {exc}") from exc


def _find_source(document: tomlkit.TOMLDocument, key: str) -> Table | InlineTable:
    vendor_id, _, source_id = key.partition("/")
    vendors = document.get("vendors")
    vendor = next(
        (v for v in _tables(vendors) if v.get("id") == vendor_id),
        None,
    )
    if vendor is None:
        raise CatalogError(f"no vendor {vendor_id!r} in the catalog")
    source = next(
        (s for s in _tables(vendor.get("sources")) if s.get("id") == source_id),
        None,
    )
    if source is None:
        raise CatalogError(f"no source {key!r} in the catalog")
    return source


def _tables(value: object) -> list[Table | InlineTable]:
    if isinstance(value, AoT):
        return list(value.body)
    if isinstance(value, Array):
        return [item for item in value if isinstance(item, InlineTable | Table)]
    return []


def _append_ignore(source: Table | InlineTable, patterns: list[str]) -> list[str]:
    current = source.get("ignore")
    existing = [current] if isinstance(current, str) else list(current or [])
    added = [p for p in dict.fromkeys(patterns) if p not in existing]
    if not added:
        return []

    if isinstance(current, Array):
        for pattern in added:
            current.append(_toml_string(pattern))
        return added
    array = tomlkit.array()
    for pattern in [*existing, *added]:
        array.append(_toml_string(pattern))
    if current is not None or isinstance(source, InlineTable):
        source["ignore"] = array
    else:
        _insert_after_last_key(source, array)
    return added


def _toml_string(pattern: str) -> Any:
    # A literal string keeps a regex readable: no doubled backslashes.
    literal = "'" not in pattern and "\n" not in pattern and "\r" not in pattern
    return tomlkit.string(pattern, literal=literal)


def _insert_after_last_key(source: Table, array: Array) -> None:
    # Table.append would put the key after the comments and blank lines that
    # trail the table, which belong to what follows it in the file. tomlkit
    # has no public call to insert at a position, hence the private one.
    body = source.value.body
    position = max(
        (index for index, (name, _) in enumerate(body) if name is not None),
        default=-1,
    )
    if position + 1 >= len(body):
        source.append("ignore", array)
    else:
        source.value._insert_at(position + 1, "ignore", array)


def _check_edit(
    path: Path, before: str, after: str, key: str, added: list[str]
) -> None:
    """The edited text must load as a valid catalog and differ from the
    original only by the added patterns."""
    try:
        old = tomllib.loads(before)
        new = tomllib.loads(after)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{path}: the edit would not be valid TOML: {exc}") from exc
    catalog.parse(new, path)

    vendor_id, _, source_id = key.partition("/")
    for vendor in old.get("vendors", []):
        if vendor.get("id") != vendor_id:
            continue
        for source in vendor.get("sources", []):
            if source.get("id") == source_id:
                current = source.get("ignore", [])
                current = [current] if isinstance(current, str) else current
                source["ignore"] = [*current, *added]
    if old != new:
        raise CatalogError(
            f"{path}: editing {key} would change more than its ignore patterns; "
            "the file was left as it was"
        )


def _replace(path: Path, before: str, after: str) -> None:
    """Write ``after`` over ``path`` in one step, unless the file changed
    since it was read (someone else is editing it)."""

    def unchanged() -> None:
        if _read(path) != before:
            raise CatalogError(
                f"{path} changed while it was being edited; run the command again"
            )

    replace_file(path, after, newline="", check=unchanged)
