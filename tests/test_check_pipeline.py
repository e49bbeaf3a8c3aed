"""The check pipeline's shortcuts: an identical raw page is not normalized
again, and large runs normalize in a pool of processes with the same results."""

from __future__ import annotations

from pathlib import Path

import pytest

from policywatch import check
from policywatch.catalog import Catalog, load
from policywatch.check import Checker
from policywatch.store import Store
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
