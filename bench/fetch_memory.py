"""Peak memory of fetching as the number of sources grows.

Serves one real corpus page (30 KB) from four local hosts and fetches 100,
1,000 and 5,000 sources with one :class:`~policywatch.fetch.Fetcher`, the
way ``check`` does (one task per source, all gathered) and with a fixed pool
of workers. Prints the tracemalloc peak of each run and its ratio to the
100-source run of the same kind, measured in the same process.

    .venv/bin/python bench/fetch_memory.py [--sizes 100,1000,5000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import multiprocessing.connection
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.server import PageServer  # noqa: E402

from policywatch.catalog import Settings, Source  # noqa: E402
from policywatch.fetch import Fetcher  # noqa: E402

PAGE = ROOT / "tests/data/corpus/deepseek/privacy-policy/2025-07-04T12-31-34Z.html"
SETTINGS = Settings(concurrency=16, per_host=4, host_delay=0.0, retries=0)
HOSTS = 4

Runner = Callable[[Fetcher, list[Source]], Awaitable[int]]


async def gathered(fetcher: Fetcher, sources: list[Source]) -> int:
    """One task per source, all at once, as ``check`` runs them."""

    async def one(source: Source) -> int:
        return len((await fetcher.fetch(source)).body)

    return sum(await asyncio.gather(*(one(s) for s in sources)))


async def pooled(fetcher: Fetcher, sources: list[Source]) -> int:
    """A fixed pool of workers taking sources from a queue."""
    queue: asyncio.Queue[Source] = asyncio.Queue()
    for source in sources:
        queue.put_nowait(source)
    total = 0

    async def worker() -> None:
        nonlocal total
        while not queue.empty():
            page = await fetcher.fetch(queue.get_nowait())
            total += len(page.body)

    await asyncio.gather(*(worker() for _ in range(SETTINGS.concurrency)))
    return total


def measure(runner: Runner, sources: list[Source]) -> tuple[int, float]:
    """Peak traced bytes and seconds for fetching ``sources`` once."""

    async def run() -> int:
        async with Fetcher(SETTINGS) as fetcher:
            return await runner(fetcher, sources)

    gc.collect()
    tracemalloc.start()
    started = time.perf_counter()
    fetched = asyncio.run(run())
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert fetched == len(sources) * PAGE.stat().st_size, (fetched, len(sources))
    return peak, seconds


def serve(count: int, pipe: multiprocessing.connection.Connection) -> None:
    """Serve ``count`` copies of the page over HOSTS servers, in a process of
    their own so that their bookkeeping is not traced with the fetcher's."""
    servers = [PageServer().start() for _ in range(HOSTS)]
    body = PAGE.read_bytes()
    pipe.send([servers[n % HOSTS].serve(f"/p{n}", body) for n in range(count)])
    pipe.recv()
    for server in servers:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,5000")
    sizes = [int(n) for n in parser.parse_args().sizes.split(",")]

    ours, theirs = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(max(sizes), theirs))
    server.start()
    urls: list[str] = ours.recv()
    try:
        # Warm up: the first fetch imports and caches what later ones reuse.
        measure(gathered, [Source("v", "s", urls[0], "privacy-policy")] * 16)
        for name, runner in (("gathered", gathered), ("pooled", pooled)):
            base = None
            for size in sizes:
                sources = [
                    Source("v", f"s{n}", urls[n], "privacy-policy") for n in range(size)
                ]
                peak, seconds = measure(runner, sources)
                base = base or peak
                print(
                    f"{name:8} {size:>6} sources  peak {peak / 1e6:7.2f} MB  "
                    f"x{peak / base:5.2f} of {sizes[0]}  "
                    f"{peak / size / 1e3:6.1f} KB/source  {seconds:6.1f}s"
                )
    finally:
        ours.send("stop")
        server.join()


if __name__ == "__main__":
    main()
