"""The command line: a thin shell over the library.

Each command group lives in its own module here; importing them registers
their commands on :data:`main`. Nothing in the library imports this package.
"""

from __future__ import annotations

from policywatch.cli import check as _check  # noqa: F401
from policywatch.cli import daemon as _daemon  # noqa: F401
from policywatch.cli import db as _db  # noqa: F401
from policywatch.cli import demo as _demo  # noqa: F401
from policywatch.cli import diff as _diff  # noqa: F401
from policywatch.cli import export as _export  # noqa: F401
from policywatch.cli import gc as _gc  # noqa: F401
from policywatch.cli import history as _history  # noqa: F401
from policywatch.cli import renormalize as _renormalize  # noqa: F401
from policywatch.cli import report as _report  # noqa: F401
from policywatch.cli import review as _review  # noqa: F401
from policywatch.cli import snapshots as _snapshots  # noqa: F401
from policywatch.cli import sources as _sources  # noqa: F401
from policywatch.cli.app import main

__all__ = ["main"]
