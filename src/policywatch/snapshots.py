"""The snapshots/ folder: the latest text of each source, one file each, for git.

Files are written atomically (a temporary file, then a rename), so a reader or
a crash never sees half a file. The folder can always be rebuilt from the
store (:func:`rebuild`): the store is the record, the folder a view of it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from policywatch.files import replace_file
from policywatch.store import Store

log = logging.getLogger(__name__)


def path_for(folder: Path, key: str) -> Path:
    """``snapshots/<vendor>/<source>.md`` for ``vendor/source``."""
    vendor_id, _, source_id = key.partition("/")
    return folder / vendor_id / f"{source_id}.md"


def write_snapshot(folder: Path, key: str, text: str) -> Path:
    """Write the latest text of ``vendor/source`` and return its path."""
    path = path_for(folder, key)
    refresh(path, text)
    return path


def refresh(path: Path, text: str) -> bool:
    """Make ``path`` hold ``text``: True if it was written, False if it
    already held it."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return False
    except (FileNotFoundError, UnicodeDecodeError):
        pass
    # No fsync: these files are a view of the store, which holds every text
    # durably. A file a power loss emptied is rewritten by the next check
    # that normalizes its source, or at once by `policywatch snapshots
    # rebuild`, so waiting for the disk on every check buys nothing.
    replace_file(path, text, durable=False)
    return True


@dataclass
class Rebuilt:
    """What :func:`rebuild` did to the folder."""

    written: list[str] = field(default_factory=list)
    current: list[str] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def rebuild(store: Store, folder: Path, *, prune: bool = False) -> Rebuilt:
    """Make ``folder`` hold the latest text of every source in the store.

    Temporary files left by a write that was killed are removed; with
    ``prune``, so are the files of sources the store has no version of.
    """
    rebuilt = Rebuilt()
    expected = set()
    for version in store.latest_versions():
        path = path_for(folder, version.key)
        expected.add(path)
        written = refresh(path, version.text)
        (rebuilt.written if written else rebuilt.current).append(version.key)

    for path in sorted(folder.glob("*/.*.md.*")):
        path.unlink()
        rebuilt.removed.append(path)
    if prune:
        for path in sorted(folder.glob("*/*.md")):
            if path not in expected:
                path.unlink()
                rebuilt.removed.append(path)
    log.info(
        "snapshots rebuilt: %d written, %d current, %d removed",
        len(rebuilt.written),
        len(rebuilt.current),
        len(rebuilt.removed),
    )
    return rebuilt
