"""Storage cost per source per year: a daily check of a ~100 KB page that
changes monthly, recorded through the real store.

Run: .venv/bin/python bench/storage.py [--sources 3] [--postgres URL]

Each source serves a real corpus page (OpenAI's privacy policy, 117 KB),
made distinct per source and edited once a month (12 changes, 13 texts).
365 daily checks are recorded with Store.record, as a check would, under
three scenarios:

  identical  unchanged days serve byte-identical bodies (one raw page per text)
  noisy      every day's body differs in markup only (a nonce and a token), so
             every fetch is a new raw page, while the text stays the same
  noisy+gc   as noisy, with `policywatch gc` (default policy: attempts 90 days,
             unversioned raw pages 30 days) run daily, and on PostgreSQL a
             weekly VACUUM standing in for autovacuum

Reported: bytes the database holds per source per year, against a baseline
measured in the same run: the raw bodies of the year as fetched (365 pages).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from policywatch.catalog import Extraction  # noqa: E402
from policywatch.normalize import RELEASE, normalize, text_hash  # noqa: E402
from policywatch.store import Attempt, NewVersion, Store  # noqa: E402
from policywatch.store.retention import collect, database_bytes  # noqa: E402

PAGE = (
    ROOT
    / "tests/data/corpus/openai-chatgpt/privacy-policy-rest-of-world"
    / "2023-11-10T06-30-28Z.html"
)
DAYS = 365
START = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
HEADERS = {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "max-age=0, private",
    "server": "cloudflare",
    "vary": "Accept-Encoding",
    "x-frame-options": "DENY",
    "strict-transport-security": "max-age=31536000",
}


def page(base: str, source: int, month: int, day: int, noisy: bool) -> bytes:
    """The page source ``source`` serves on ``day`` of ``month``: the corpus
    page with one edited paragraph per month so far, and a daily nonce if
    ``noisy``."""
    edits = "".join(
        f"<p>Update {m + 1} for service {source}: we revised how we describe "
        f"retention of account data in section {m + 3}.</p>"
        for m in range(month)
    )
    body = base.replace("<body", f"<body data-source='{source}'", 1)
    body = re.sub(r"(</main>|</body>)", edits + r"\1", body, count=1)
    if noisy:
        nonce = uuid.UUID(int=source * 10_000 + day).hex
        body = body.replace(
            "<head>",
            f"<head><script nonce='{nonce}'>window.__t='{nonce}'</script>",
            1,
        )
    return body.encode("utf-8")


def simulate(url: str, sources: int, *, noisy: bool, gc: bool) -> int:
    """Record a year of daily checks of ``sources`` sources; bytes added."""
    store = Store(url)
    keys = [f"vendor{s}/privacy" for s in range(sources)]
    store.sync_sources(
        [(*k.split("/"), f"https://example.test/{k}", "p") for k in keys]
    )
    empty = database_bytes(store)
    base = PAGE.read_text(encoding="utf-8")
    texts: dict[tuple[int, int], str] = {}

    for day in range(DAYS):
        now = START + dt.timedelta(days=day)
        month = min(day // 28, 12)
        for s, key in enumerate(keys):
            raw = page(base, s, month, day, noisy)
            if (s, month) not in texts:
                texts[s, month] = normalize(
                    raw.decode("utf-8"),
                    content_type="text/html",
                    extraction=Extraction(),
                )
            record(store, key, raw, texts[s, month], now)
        if gc:
            collect(store, now=now)
            if day % 7 == 6:
                _vacuum(store)

    used = database_bytes(store) - empty
    versions = sum(len(store.versions(k)) for k in keys)
    assert versions == 13 * sources, versions
    store.close()
    return used


def _vacuum(store: Store) -> None:
    """On PostgreSQL, what autovacuum does between two daily runs: make the
    space of deleted rows reusable (the file does not shrink)."""
    if store.engine.dialect.name != "postgresql":
        return
    with store.engine.connect() as connection:
        connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM"
        )


def record(store: Store, key: str, raw: bytes, text: str, now: dt.datetime) -> None:
    latest = store.latest(key)
    attempt = Attempt(
        "fetched",
        started_at=now,
        duration=0.4,
        status_code=200,
        final_url=f"https://example.test/{key}",
        headers=HEADERS | {"date": now.strftime("%a, %d %b %Y %H:%M:%S GMT")},
        raw=raw,
        content_type="text/html",
    )
    changed = latest is not None and latest.text != text
    version = NewVersion(
        text=text,
        sha256=text_hash(text),
        normalizer=RELEASE,
        based_on=latest.id if latest else None,
        diff={"hunks": [{"added": text[-200:]}]} if changed else None,
        triage={"claims_at_risk": []} if changed else None,
    )
    store.record(key, attempt, version)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=3)
    parser.add_argument("--postgres", help="also measure on this PostgreSQL URL")
    args = parser.parse_args()

    base = PAGE.read_text(encoding="utf-8")
    noisy = [page(base, 0, 0, d, True) for d in (1, 2)]
    assert noisy[0] != noisy[1]
    assert normalize(noisy[0].decode(), content_type="text/html") == normalize(
        noisy[1].decode(), content_type="text/html"
    ), "the daily noise must not change the text"
    baseline = sum(len(page(base, 0, min(d // 28, 12), d, True)) for d in range(DAYS))

    results = []
    backends = [("sqlite", None), ("postgresql", args.postgres)]
    for backend, admin in backends:
        if backend == "postgresql" and not admin:
            continue
        for name, noisy_, gc in (
            ("identical", False, False),
            ("noisy", True, False),
            ("noisy+gc", True, True),
        ):
            with tempfile.TemporaryDirectory() as folder:
                url = (
                    f"sqlite:///{folder}/bench.db"
                    if backend == "sqlite"
                    else _postgres_database(admin or "")
                )
                used = simulate(url, args.sources, noisy=noisy_, gc=gc)
                if backend == "postgresql":
                    _drop_database(admin or "", url)
            per_source = used / args.sources
            results.append(
                {
                    "backend": backend,
                    "scenario": name,
                    "bytes_per_source_year": round(per_source),
                    "ratio_to_raw_fetches": round(per_source / baseline, 4),
                }
            )
            print(
                f"{backend:10} {name:10} {per_source / 1e6:7.2f} MB/source/year "
                f"({per_source / baseline:.3%} of the {baseline / 1e6:.1f} MB fetched)",
                flush=True,
            )
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "storage.json").write_text(json.dumps(results, indent=2))


def _postgres_database(admin: str) -> str:
    """A fresh database next to ``admin``'s, for one scenario."""
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"pw_bench_{uuid.uuid4().hex[:10]}"
    libpq = make_url(admin).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(False), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return libpq.set(database=name).render_as_string(False)


def _drop_database(admin: str, url: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    libpq = make_url(admin).set(drivername="postgresql")
    with psycopg.connect(libpq.render_as_string(False), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{make_url(url).database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
