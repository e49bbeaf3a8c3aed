"""The command line: a thin shell over the library.

Each command group lives in its own module here, imported when its command
is run (``COMMANDS`` in :mod:`policywatch.cli.app`); importing one registers
its commands on :data:`main`. Nothing in the library imports this package.
"""

from __future__ import annotations

from policywatch.cli.app import main

__all__ = ["main"]
