"""Where policywatch keeps things: paths and the database URL, from the environment.

| variable              | default                                 |
|-----------------------|-----------------------------------------|
| POLICYWATCH_SOURCES   | ./sources.toml                          |
| POLICYWATCH_DB        | sqlite:///<POLICYWATCH_STATE>/policywatch.db |
| POLICYWATCH_STATE     | ./state                                 |
| POLICYWATCH_SNAPSHOTS | ./snapshots                             |
| POLICYWATCH_REPORTS   | ./reports                               |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Paths:
    """The catalog, the database and the output folders of one installation."""

    sources: Path
    state: Path
    db_url: str
    snapshots: Path
    reports: Path

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Paths:
        """Read the POLICYWATCH_* variables, falling back to the defaults."""
        env = os.environ if env is None else env
        state = Path(env.get("POLICYWATCH_STATE", "state"))
        db_url = env.get("POLICYWATCH_DB") or f"sqlite:///{state / 'policywatch.db'}"
        return cls(
            sources=Path(env.get("POLICYWATCH_SOURCES", "sources.toml")),
            state=state,
            db_url=db_url,
            snapshots=Path(env.get("POLICYWATCH_SNAPSHOTS", "snapshots")),
            reports=Path(env.get("POLICYWATCH_REPORTS", "reports")),
        )
