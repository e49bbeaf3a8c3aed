"""Loads sources.toml, the catalog of vendors, verdicts, claims and sources.

Loading checks the whole file and reports every mistake at once, one line each,
naming the vendor and source at fault. The result is a tree of frozen
dataclasses that the rest of policywatch reads and never mutates.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import soupsieve

from policywatch.errors import CatalogError

KINDS = frozenset(
    {
        "model-training",
        "privacy-policy",
        "terms",
        "help-article",
        "data-processing",
        "usage-policy",
        "faq",
        "other",
    }
)
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DURATION_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
SIZE_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB)?\s*$", re.I)
DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}
SEVERITIES = ("cosmetic", "minor", "substantive", "verdict-at-risk")


@dataclass(frozen=True)
class Extraction:
    """How a source's page becomes text: CSS selectors and volatile patterns."""

    select: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()


@dataclass(frozen=True)
class Schedule:
    """When a source is checked: every N seconds, or a crontab line."""

    every: float | None = None
    cron: str | None = None


@dataclass(frozen=True)
class Source:
    """One cited page: what to fetch and how to read it."""

    vendor_id: str
    id: str
    url: str
    kind: str
    title: str = ""
    extraction: Extraction = field(default_factory=Extraction)
    schedule: Schedule = field(default_factory=Schedule)
    max_body: int | None = None
    render: str = "http"

    @property
    def key(self) -> str:
        """``vendor/source``, the name users type on the command line."""
        return f"{self.vendor_id}/{self.id}"


@dataclass(frozen=True)
class Tier:
    """The verdict for one plan tier (Free, Team, Enterprise, API...)."""

    name: str
    verdict: str
    detail: str = ""


@dataclass(frozen=True)
class Claim:
    """A statement of the verdict, the sources it rests on, and the quotes
    (evidence) that must stay in those sources for it to hold."""

    id: str
    text: str
    sources: tuple[str, ...]
    evidence: tuple[str, ...] = ()
    section: str = ""


@dataclass(frozen=True)
class Verdict:
    """The stored answer to "does it train on your data?" for one vendor."""

    reviewed: dt.date | None = None
    trains_by_default: bool | None = None
    zero_retention: bool | None = None
    dpa: bool | None = None
    opt_out: bool | None = None
    opt_out_for: str = ""
    answer: str = ""
    how_to_opt_out: str = ""
    retention: str = ""
    nuance: str = ""
    tiers: tuple[Tier, ...] = ()

    @property
    def unreviewed(self) -> bool:
        """True when nobody has reviewed this verdict yet."""
        return self.reviewed is None


@dataclass(frozen=True)
class Vendor:
    """An AI product's maker, its stored verdict, claims and cited sources."""

    id: str
    name: str
    category: str = ""
    site: str = ""
    verdict: Verdict = field(default_factory=Verdict)
    claims: tuple[Claim, ...] = ()
    sources: tuple[Source, ...] = ()

    def source(self, source_id: str) -> Source | None:
        """The source with this id, or None."""
        return next((s for s in self.sources if s.id == source_id), None)

    def claims_on(self, source_id: str) -> tuple[Claim, ...]:
        """The claims that rest on the given source."""
        return tuple(c for c in self.claims if source_id in c.sources)


@dataclass(frozen=True)
class Settings:
    """Run-wide settings from the catalog's ``[settings]`` table."""

    user_agent: str = "policywatch/0.1 (+https://github.com/policywatch/policywatch)"
    concurrency: int = 16
    per_host: int = 2
    host_delay: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    deadline: float = 120.0
    retries: int = 3
    retry_backoff: float = 1.0
    retry_after_cap: float = 120.0
    max_body: int = 5_000_000
    max_redirects: int = 10
    robots: bool = False
    watched_terms: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    notify_severity: str = "substantive"
    notify_failing_after: float = 86400.0
    browser_path: str = "/usr/bin/chromium"
    browser_pages: int = 4
    report_url: str = ""
    # Processes that normalize pages in large runs; None: one fewer than the
    # CPUs, since fetching and recording keep one CPU busy themselves.
    workers: int | None = None


@dataclass(frozen=True)
class Catalog:
    """The whole of sources.toml, checked."""

    vendors: tuple[Vendor, ...]
    settings: Settings = field(default_factory=Settings)
    defaults: Schedule = field(default_factory=lambda: Schedule(every=86400.0))
    path: Path | None = None

    def vendor(self, vendor_id: str) -> Vendor | None:
        """The vendor with this id, or None."""
        return next((v for v in self.vendors if v.id == vendor_id), None)

    def sources(self) -> Iterator[Source]:
        """Every source of every vendor, in catalog order."""
        for vendor in self.vendors:
            yield from vendor.sources

    def find(self, key: str) -> Source | None:
        """The source named ``vendor/source``, or None."""
        vendor_id, _, source_id = key.partition("/")
        vendor = self.vendor(vendor_id)
        return vendor.source(source_id) if vendor else None

    def select(
        self, vendors: tuple[str, ...] = (), sources: tuple[str, ...] = ()
    ) -> list[Source]:
        """The sources picked by ``--vendor`` and ``--source`` filters.

        A source filter is ``vendor/source`` or a bare source id. An empty
        filter picks everything. Unknown names raise :class:`CatalogError`.
        """
        for vendor_id in vendors:
            if self.vendor(vendor_id) is None:
                raise CatalogError(f"no vendor {vendor_id!r} in the catalog")
        picked = []
        for source in self.sources():
            if vendors and source.vendor_id not in vendors:
                continue
            if sources and source.key not in sources and source.id not in sources:
                continue
            picked.append(source)
        for name in sources:
            if not any(name in (s.key, s.id) for s in self.sources()):
                raise CatalogError(f"no source {name!r} in the catalog")
        return picked


def parse_duration(value: object, *, zero: bool = False) -> float:
    """Seconds from ``"6h"``, ``"90s"``, ``"1.5d"`` or a number of seconds.

    Zero is accepted only with ``zero=True`` (a delay may be nothing; a
    schedule or a timeout may not).
    """
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif match := DURATION_PATTERN.match(str(value)):
        seconds = float(match[1]) * DURATION_UNITS[match[2]]
    else:
        raise ValueError(f"not a duration: {value!r} (try '30s', '6h' or '1d')")
    if seconds < 0 or (seconds == 0 and not zero):
        raise ValueError(f"duration must be more than zero: {value!r}")
    return seconds


def parse_delay(value: object) -> float:
    """Like :func:`parse_duration`, but zero is allowed."""
    return parse_duration(value, zero=True)


def parse_size(value: object) -> int:
    """Bytes from ``"5MB"``, ``"512KiB"`` or a number of bytes."""
    if isinstance(value, bool):
        raise ValueError(f"not a size: {value!r}")
    if isinstance(value, int) and value > 0:
        return value
    match = SIZE_PATTERN.match(str(value))
    if not match or float(match[1]) <= 0:
        raise ValueError(f"not a size: {value!r} (try '5MB')")
    return int(float(match[1]) * SIZE_UNITS[(match[2] or "b").lower()])


def check_cron(expression: str) -> None:
    """Raise ValueError unless ``expression`` is a five-field crontab line."""
    from apscheduler.triggers.cron import CronTrigger

    if len(expression.split()) != 5:
        raise ValueError(f"cron needs five fields: {expression!r}")
    CronTrigger.from_crontab(expression, timezone=dt.UTC)


class _Reader:
    """Reads one table of the TOML document, noting every problem it meets."""

    def __init__(self, problems: list[str], where: str, table: object) -> None:
        self.problems = problems
        self.where = where
        self.table: Mapping[str, Any] = table if isinstance(table, Mapping) else {}
        if not isinstance(table, Mapping):
            self.problem(f"must be a table, not {type(table).__name__}")
        self.used: set[str] = set()

    def problem(self, message: str) -> None:
        # One line per problem, whatever the library's message looked like.
        self.problems.append(f"{self.where}: {' '.join(message.split())}")

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None) -> Any:
        self.used.add(key)
        if key not in self.table:
            return default
        value = self.table[key]
        if not isinstance(value, kind) or (
            kind is not bool and isinstance(value, bool)
        ):
            names = (
                kind.__name__
                if isinstance(kind, type)
                else "/".join(k.__name__ for k in kind)
            )
            self.problem(f"{key} must be {names}, not {type(value).__name__}")
            return default
        return value

    def text(self, key: str, default: str = "") -> str:
        return str(self.get(key, str, default))

    def required(self, key: str) -> str:
        value = self.get(key, str)
        if value is None or not value.strip():
            self.problem(f"{key} is required")
            return ""
        return str(value)

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.get(key, (list, str), [])
        items = [value] if isinstance(value, str) else value
        if not all(isinstance(item, str) for item in items):
            self.problem(f"{key} must be a list of strings")
            return ()
        return tuple(items)

    def convert(self, key: str, parse: Callable[[object], Any]) -> Any:
        self.used.add(key)
        if key not in self.table:
            return None
        try:
            return parse(self.table[key])
        except ValueError as exc:
            self.problem(f"{key}: {exc}")
            return None

    def tables(self, key: str) -> list[Any]:
        value = self.get(key, list, [])
        return list(value)

    def finish(self) -> None:
        for key in self.table:
            if key not in self.used:
                self.problem(f"unknown key {key!r}")


def _check_url(reader: _Reader, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        reader.problem(f"url {url!r} must use http or https")
    elif not parts.hostname:
        reader.problem(f"url {url!r} has no host")


def _check_selectors(reader: _Reader, key: str, selectors: tuple[str, ...]) -> None:
    for selector in selectors:
        try:
            soupsieve.compile(selector)
        except Exception as exc:  # soupsieve raises several exception types
            first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            reader.problem(
                f"{key} selector {selector!r} is not valid CSS: {first_line}"
            )


def _check_patterns(reader: _Reader, patterns: tuple[str, ...]) -> None:
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            reader.problem(f"ignore pattern {pattern!r} is not a valid regex: {exc}")


def _read_schedule(reader: _Reader) -> Schedule | None:
    every = reader.convert("every", parse_duration)
    cron = reader.get("cron", str)
    if cron is not None:
        try:
            check_cron(cron)
        except ValueError as exc:
            reader.problem(f"cron: {exc}")
            cron = None
    if every is not None and cron is not None:
        reader.problem("set either every or cron, not both")
    if every is None and cron is None:
        return None
    return Schedule(every=every, cron=cron)


def _read_source(
    problems: list[str], vendor_id: str, index: int, table: object, inherited: Schedule
) -> Source | None:
    where = f"vendor {vendor_id}, source #{index + 1}"
    if isinstance(table, Mapping) and isinstance(table.get("id"), str):
        where = f"vendor {vendor_id}, source {table['id']}"
    reader = _Reader(problems, where, table)
    source_id = reader.required("id")
    if source_id and not ID_PATTERN.match(source_id):
        reader.problem(f"id {source_id!r} must be lower-case letters, digits, . _ -")
    url = reader.required("url")
    if url:
        _check_url(reader, url)
    kind = reader.required("kind")
    if kind and kind not in KINDS:
        reader.problem(f"kind {kind!r} is not one of {', '.join(sorted(KINDS))}")
    extraction = Extraction(
        select=reader.strings("select"),
        remove=reader.strings("remove"),
        ignore=reader.strings("ignore"),
    )
    _check_selectors(reader, "select", extraction.select)
    _check_selectors(reader, "remove", extraction.remove)
    _check_patterns(reader, extraction.ignore)
    render = reader.text("render", "http")
    if render not in ("http", "browser"):
        reader.problem(f"render must be 'http' or 'browser', not {render!r}")
    source = Source(
        vendor_id=vendor_id,
        id=source_id,
        url=url,
        kind=kind,
        title=reader.text("title"),
        extraction=extraction,
        schedule=_read_schedule(reader) or inherited,
        max_body=reader.convert("max_body", parse_size),
        render=render,
    )
    reader.finish()
    return source


def _read_verdict(problems: list[str], vendor_id: str, table: object) -> Verdict:
    reader = _Reader(problems, f"vendor {vendor_id}, verdict", table)
    reviewed = reader.get("reviewed", dt.date)
    if isinstance(reviewed, dt.datetime):
        reviewed = reviewed.date()
    tiers = []
    for index, tier_table in enumerate(reader.tables("tiers")):
        tier = _Reader(problems, f"vendor {vendor_id}, tier #{index + 1}", tier_table)
        tiers.append(
            Tier(
                name=tier.required("name"),
                verdict=tier.required("verdict"),
                detail=tier.text("detail"),
            )
        )
        tier.finish()
    verdict = Verdict(
        reviewed=reviewed,
        trains_by_default=reader.get("trains_by_default", bool),
        zero_retention=reader.get("zero_retention", bool),
        dpa=reader.get("dpa", bool),
        opt_out=reader.get("opt_out", bool),
        opt_out_for=reader.text("opt_out_for"),
        answer=reader.text("answer"),
        how_to_opt_out=reader.text("how_to_opt_out"),
        retention=reader.text("retention"),
        nuance=reader.text("nuance"),
        tiers=tuple(tiers),
    )
    reader.finish()
    return verdict


def _read_claims(
    problems: list[str], vendor_id: str, tables: list[Any], source_ids: set[str]
) -> tuple[Claim, ...]:
    claims = []
    seen: set[str] = set()
    for index, table in enumerate(tables):
        reader = _Reader(problems, f"vendor {vendor_id}, claim #{index + 1}", table)
        claim = Claim(
            id=reader.required("id"),
            text=reader.required("text"),
            sources=reader.strings("sources"),
            evidence=reader.strings("evidence"),
            section=reader.text("section"),
        )
        if claim.id:
            reader.where = f"vendor {vendor_id}, claim {claim.id}"
            if claim.id in seen:
                reader.problem(f"duplicate claim id {claim.id!r}")
            seen.add(claim.id)
        if not claim.sources:
            reader.problem("sources must name at least one source")
        for source_id in claim.sources:
            if source_id not in source_ids:
                reader.problem(f"cites source {source_id!r}, which this vendor lacks")
        reader.finish()
        claims.append(claim)
    return tuple(claims)


def _read_vendor(
    problems: list[str], index: int, table: object, inherited: Schedule
) -> Vendor:
    where = f"vendor #{index + 1}"
    if isinstance(table, Mapping) and isinstance(table.get("id"), str):
        where = f"vendor {table['id']}"
    reader = _Reader(problems, where, table)
    vendor_id = reader.required("id")
    if vendor_id and not ID_PATTERN.match(vendor_id):
        reader.problem(f"id {vendor_id!r} must be lower-case letters, digits, . _ -")
    site = reader.text("site")
    if site:
        _check_url(reader, site)
    schedule = _read_schedule(reader) or inherited
    sources = []
    seen: set[str] = set()
    for number, source_table in enumerate(reader.tables("sources")):
        source = _read_source(problems, vendor_id, number, source_table, schedule)
        if source is None:
            continue
        if source.id and source.id in seen:
            problems.append(f"vendor {vendor_id}, source {source.id}: duplicate id")
        seen.add(source.id)
        sources.append(source)
    verdict_table = reader.get("verdict", Mapping, None)
    vendor = Vendor(
        id=vendor_id,
        name=reader.required("name"),
        category=reader.text("category"),
        site=site,
        verdict=_read_verdict(problems, vendor_id, verdict_table)
        if verdict_table is not None
        else Verdict(),
        claims=_read_claims(problems, vendor_id, reader.tables("claims"), seen),
        sources=tuple(sources),
    )
    reader.finish()
    return vendor


def _read_settings(problems: list[str], table: object) -> Settings:
    reader = _Reader(problems, "settings", table)
    base = Settings()
    values: dict[str, Any] = {}
    for key in ("user_agent", "notify_severity", "browser_path", "report_url"):
        if (value := reader.get(key, str)) is not None:
            values[key] = value
    for key in (
        "concurrency",
        "per_host",
        "retries",
        "max_redirects",
        "browser_pages",
        "workers",
    ):
        value = reader.get(key, int)
        if value is not None:
            least = 0 if key in ("retries", "workers") else 1
            if value < least:
                reader.problem(f"{key} must be at least {least}")
            else:
                values[key] = value
    for key in (
        "host_delay",
        "connect_timeout",
        "read_timeout",
        "deadline",
        "retry_backoff",
        "retry_after_cap",
        "notify_failing_after",
    ):
        parse = (
            parse_delay if key in ("host_delay", "retry_backoff") else parse_duration
        )
        if (seconds := reader.convert(key, parse)) is not None:
            values[key] = seconds
    if (size := reader.convert("max_body", parse_size)) is not None:
        values["max_body"] = size
    if (robots := reader.get("robots", bool)) is not None:
        values["robots"] = robots
    values["watched_terms"] = reader.strings("watched_terms")
    values["notify"] = reader.strings("notify")
    if values.get("notify_severity", base.notify_severity) not in SEVERITIES:
        reader.problem(f"notify_severity must be one of {', '.join(SEVERITIES)}")
    reader.finish()
    return Settings(**{**base.__dict__, **values})


def parse(document: Mapping[str, Any], path: Path | None = None) -> Catalog:
    """Build a :class:`Catalog` from a parsed TOML document.

    Raises :class:`CatalogError` listing every problem found.
    """
    problems: list[str] = []
    top = _Reader(problems, "catalog", document)
    settings = _read_settings(problems, top.get("settings", Mapping, {}))
    defaults_reader = _Reader(problems, "defaults", top.get("defaults", Mapping, {}))
    defaults = _read_schedule(defaults_reader) or Schedule(every=86400.0)
    defaults_reader.finish()
    vendors = []
    seen: set[str] = set()
    for index, table in enumerate(top.tables("vendors")):
        vendor = _read_vendor(problems, index, table, defaults)
        if vendor.id and vendor.id in seen:
            problems.append(f"vendor {vendor.id}: duplicate id")
        seen.add(vendor.id)
        vendors.append(vendor)
    top.finish()
    if problems:
        where = path or "the catalog"
        count = len(problems)
        raise CatalogError(
            f"{where}: {count} problem{'s' if count > 1 else ''}", problems
        )
    return Catalog(
        vendors=tuple(vendors), settings=settings, defaults=defaults, path=path
    )


def load(path: Path) -> Catalog:
    """Read and check the catalog at ``path``."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except FileNotFoundError as exc:
        raise CatalogError(f"{path}: no such file (set POLICYWATCH_SOURCES?)") from exc
    except OSError as exc:
        raise CatalogError(f"{path}: cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(
            f"{path}: not valid TOML", [f"not valid TOML: {exc}"]
        ) from exc
    return parse(document, path)
