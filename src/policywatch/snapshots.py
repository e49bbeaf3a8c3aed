"""The snapshots/ folder: the latest text of each source, one file each, for git.

Files are written atomically (a temporary file, then a rename), so a reader or
a crash never sees half a file. The folder can always be rebuilt from the store.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def path_for(folder: Path, key: str) -> Path:
    """``snapshots/<vendor>/<source>.md`` for ``vendor/source``."""
    vendor_id, _, source_id = key.partition("/")
    return folder / vendor_id / f"{source_id}.md"


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one step."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="\n") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_snapshot(folder: Path, key: str, text: str) -> Path:
    """Write the latest text of ``vendor/source`` and return its path."""
    path = path_for(folder, key)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return path
    write_atomic(path, text)
    return path
