"""The one exception tree of policywatch.

Every error a caller may see derives from :class:`PolicywatchError`. Library
exceptions (httpx, SQLAlchemy, tomllib, bs4) are translated into these at the
module that calls the library, chained with ``from``.

    PolicywatchError
    ├── CatalogError     sources.toml is missing, unreadable or invalid
    ├── FetchError       a page could not be fetched (``transient``: retry may help)
    │   └── BlockedError the server answered with a challenge or login wall
    ├── GateError        a fetched page is not the policy (empty, shell, collapsed)
    ├── StoreError       the database could not be read or written
    └── NotFoundError    a vendor, source, version or change does not exist
"""

from __future__ import annotations


class PolicywatchError(Exception):
    """Base class of every error policywatch raises on purpose."""


class CatalogError(PolicywatchError):
    """The catalog (sources.toml) is missing, unreadable or invalid."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class FetchError(PolicywatchError):
    """A page could not be fetched.

    ``reason`` is a short machine-readable word (``read-timeout``, ``http-503``,
    ``too-large``...); ``transient`` says whether trying again later may help;
    ``attempts`` is how many requests were made before giving up.
    """

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        transient: bool = False,
        status: int | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.transient = transient
        self.status = status
        self.attempts = attempts


class BlockedError(FetchError):
    """The server answered with something other than the policy: a bot
    challenge, a captcha or a login wall."""


class GateError(PolicywatchError):
    """A fetched page failed the gate: it is not the policy text."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(PolicywatchError):
    """The store could not be opened, read or written."""


class NotFoundError(PolicywatchError):
    """Something the user named (vendor, source, version, change) does not exist."""
