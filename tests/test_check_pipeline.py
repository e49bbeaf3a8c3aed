"""The check pipeline's shortcuts: an identical raw page is not normalized
again, checks that found no new text are recorded together, and large runs
normalize in a pool of processes with the same results."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select

from policywatch import check
from policywatch.catalog import Catalog, load
from policywatch.check import Checker
from policywatch.errors import StoreError
from policywatch.store import Attempt, Store
from policywatch.store.models import FetchAttemptRow, SourceRow, VersionRow
from tests.conftest import corpus_page
from tests.server import PageServer

DEEPSEEK = "deepseek/privacy-policy"


def catalog(tmp_path: Path, server: PageServer, paths: list[str]) -> Catalog:
    lines = ['[settings]\nhost_delay = "0s"\n\n[[vendors]]\nid = "v"\nname = "V"\n']
    for number, path in enumerate(paths):
        lines.append(
            f'[[vendors.sources]]\nid = "s{number}"\nkind = "privacy-policy"\n'
            f'url = "{server.url(path)}"\n'
        )
    file = tmp_path / "sources.toml"
    file.write_text("\n".join(lines), encoding="utf-8")
    return load(file)


def outcomes(catalog: Catalog, store: Store) -> list[str]:
    results = Checker(catalog, store).run(list(catalog.sources()))
    return [r.outcome for r in results]


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every page the check normalizes in-process, in order."""
    calls: list[str] = []
    real = check.normalize

    def counting(page: str, **kwargs: object) -> str:
        calls.append(page)
        return real(page, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(check, "normalize", counting)
    return calls


def test_identical_raw_page_is_unchanged_without_normalizing(
    tmp_path: Path, server: PageServer, counted: list[str]
) -> None:
    """A server without ETags sends the same bytes again: the check records
    "unchanged" and does not normalize the page a second time."""
    server.serve("/p", corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    pages = catalog(tmp_path, server, ["/p"])
    store = Store(f"sqlite:///{tmp_path / 'pw.db'}")

    assert outcomes(pages, store) == ["new"]
    assert len(counted) == 1
    assert outcomes(pages, store) == ["unchanged"]
    assert len(counted) == 1


def test_changed_extraction_settings_read_an_identical_page_again(
    tmp_path: Path, server: PageServer, counted: list[str]
) -> None:
    """When the source's extraction settings change, an identical raw page is
    normalized again with them, so the new settings take effect at once."""
    server.serve("/p", corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    pages = catalog(tmp_path, server, ["/p"])
    store = Store(f"sqlite:///{tmp_path / 'pw.db'}")
    assert outcomes(pages, store) == ["new"]

    file = tmp_path / "sources.toml"
    file.write_text(
        file.read_text().replace(
            'kind = "privacy-policy"', 'kind = "privacy-policy"\nignore = ["DeepSeek"]'
        ),
        encoding="utf-8",
    )
    assert outcomes(load(file), store) == ["changed"]
    assert len(counted) == 2
    assert "DeepSeek" not in (
        store.latest("v/s0").text if store.latest("v/s0") else "x"
    )


def test_different_raw_page_is_normalized_and_compared(
    tmp_path: Path, server: PageServer, counted: list[str]
) -> None:
    """Bytes that differ only outside the text are normalized and found
    unchanged; a later real capture is normalized and recorded as a change."""
    page = corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z")
    server.serve("/p", page)
    pages = catalog(tmp_path, server, ["/p"])
    store = Store(f"sqlite:///{tmp_path / 'pw.db'}")
    assert outcomes(pages, store) == ["new"]

    server.serve("/p", page + b"<!-- served at another time -->")
    assert outcomes(pages, store) == ["unchanged"]
    assert len(counted) == 2

    server.serve("/p", corpus_page(f"{DEEPSEEK}/2025-07-18T00-31-43Z"))
    assert outcomes(pages, store) == ["changed"]
    assert len(counted) == 3


@pytest.mark.slow
def test_process_pool_gives_the_same_outcomes(
    tmp_path: Path, server: PageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the pool of normalizing processes on, pages are recorded new,
    then unchanged, then the one swapped page as changed, as without it."""
    monkeypatch.setattr(check, "POOL_MIN_SOURCES", 1)
    monkeypatch.setattr(check.os, "sched_getaffinity", lambda _pid: {0, 1})
    server.serve("/a", corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z"))
    server.serve("/b", corpus_page("xai-grok/privacy-policy/2024-08-28T18-33-07Z"))
    pages = catalog(tmp_path, server, ["/a", "/b"])
    store = Store(f"sqlite:///{tmp_path / 'pw.db'}")

    assert outcomes(pages, store) == ["new", "new"]
    server.serve("/a", corpus_page(f"{DEEPSEEK}/2025-07-18T00-31-43Z"))
    assert outcomes(pages, store) == ["changed", "unchanged"]
    assert store.latest("v/s0") is not None


def _attempts(store: Store) -> list[tuple[str, str, int | None]]:
    """(source, outcome, version id) of every recorded fetch attempt."""
    with store.session(read_only=True) as session:
        rows = session.execute(
            select(
                SourceRow.source_id, FetchAttemptRow.outcome, FetchAttemptRow.version_id
            )
            .join(SourceRow, SourceRow.id == FetchAttemptRow.source_id)
            .order_by(FetchAttemptRow.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


def test_unchanged_checks_are_recorded_together(
    tmp_path: Path,
    server: PageServer,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    """Checks that found no new text and finish together are written in one
    transaction, and each still has its own attempt, tied to its version."""
    page = corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z")
    paths = [f"/p{n}" for n in range(6)]
    for n, path in enumerate(paths):
        server.serve(path, page.replace(b"DeepSeek", f"DeepSeek {n}".encode(), 1))
    pages = catalog(tmp_path, server, paths)
    store = Store(db_url)
    assert outcomes(pages, store) == ["new"] * 6
    versions = {source: version for source, _, version in _attempts(store)}

    batches: list[list[str]] = []
    real = Store.record_unchanged

    def spying(self: Store, checks: list[tuple[str, Attempt]]) -> list[object]:
        batches.append([key for key, _ in checks])
        return real(self, checks)  # type: ignore[return-value]

    monkeypatch.setattr(Store, "record_unchanged", spying)
    sources = list(pages.sources())

    async def all_at_once() -> list[str]:
        checker = Checker(pages, store)
        async with checker.session() as check_one:
            # Six checks at once: those that finish while a batch is being
            # written join the next one.
            results = await asyncio.gather(*(check_one(s) for s in sources))
        return [r.outcome for r in results]

    assert asyncio.run(all_at_once()) == ["unchanged"] * 6
    assert sorted(key for batch in batches for key in batch) == sorted(
        s.key for s in sources
    )
    assert len(batches) < 6
    later = _attempts(store)[6:]
    assert sorted(later) == sorted((s, "unchanged", versions[s]) for s in versions)
    assert store.count(VersionRow) == 6


def test_a_batch_that_cannot_be_written_falls_back_to_one_by_one(
    tmp_path: Path,
    server: PageServer,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    """When the batch's transaction fails, each check is recorded on its own:
    the good ones as unchanged, the one that still fails as a failed check."""
    page = corpus_page(f"{DEEPSEEK}/2025-07-04T12-31-34Z")
    server.serve("/a", page)
    server.serve("/b", page + b"<!-- b -->")
    pages = catalog(tmp_path, server, ["/a", "/b"])
    store = Store(db_url)
    assert outcomes(pages, store) == ["new", "new"]

    def failing(*args: object) -> object:
        raise StoreError("database is locked")

    monkeypatch.setattr(Store, "_record_unchanged", failing)
    assert outcomes(pages, store) == ["unchanged", "unchanged"]
    assert [outcome for _, outcome, _ in _attempts(store)[2:]] == ["unchanged"] * 2

    real_record = Store.record

    def record_failing_for_b(self: Store, key: str, *args: object) -> object:
        if key == "v/s1":
            raise StoreError("disk I/O error")
        return real_record(self, key, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "record", record_failing_for_b)
    results = Checker(pages, store).run(list(pages.sources()))
    assert [(r.outcome, r.reason) for r in results] == [
        ("unchanged", None),
        ("failed", "store"),
    ]
    assert "disk I/O error" in (results[1].error or "")
    assert store.count(VersionRow) == 2


@pytest.mark.parametrize(
    ("sources", "workers", "cpus", "expected"),
    [
        (100, None, 2, 1),  # one fewer than the CPUs
        (100, None, 4, 3),
        (100, None, 1, None),  # one CPU: normalize in the process itself
        (100, 0, 4, None),  # the setting turns the pool off
        (100, 2, 2, 2),  # or sizes it
        (10, 2, 4, None),  # a small run is not worth a pool
    ],
)
def test_pool_size_follows_the_setting_or_the_cpus(
    monkeypatch: pytest.MonkeyPatch,
    sources: int,
    workers: int | None,
    cpus: int,
    expected: int | None,
) -> None:
    monkeypatch.setattr(check.os, "sched_getaffinity", lambda _pid: set(range(cpus)))
    pool = check._normalizer_pool(sources, workers)
    try:
        size = None if pool is None else pool._max_workers  # type: ignore[attr-defined]
        assert size == expected
    finally:
        if pool is not None:
            pool.shutdown()
