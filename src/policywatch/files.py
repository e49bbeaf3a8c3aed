"""Writing a file in one step, for every file policywatch writes outside the
store: snapshots, reports, exports and catalog edits.

The text goes to a temporary file beside the target, which is then renamed
over it, so a reader or a crash sees the old file or the new one, never half
of either. The target keeps its permissions; a new file is readable by all
(0644), as git and a site's web server need.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

NEW_FILE_MODE = 0o644


def replace_file(
    path: Path,
    text: str,
    *,
    durable: bool = True,
    newline: str = "\n",
    check: Callable[[], None] | None = None,
) -> None:
    """Replace ``path`` with ``text`` in one step.

    ``durable`` flushes the text to disk before the rename, so even a power
    loss leaves the old file or the new one; without it a killed process
    still does, but a power loss may leave an empty file. ``newline`` is how
    line ends are written ("" keeps them as they are in ``text``). ``check``
    runs after the text is written and before the rename; if it raises, the
    target is left as it was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = NEW_FILE_MODE
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as file:
            file.write(text)
            if durable:
                file.flush()
                os.fsync(file.fileno())
        os.chmod(temporary, mode)
        if check is not None:
            check()
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
