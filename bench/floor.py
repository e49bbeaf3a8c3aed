"""The floor: the same pages fetched with httpx and parsed by lxml, nothing
stored. Run as ``python -m bench.floor URLS_FILE CONCURRENCY``; prints how
many pages it parsed and how many characters of text they held."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import httpx
import lxml.html


async def fetch_all(urls: list[str], concurrency: int) -> tuple[int, int]:
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency
    )
    parsed = characters = 0
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def one(url: str) -> None:
            nonlocal parsed, characters
            async with slots:
                response = await client.get(url)
                response.raise_for_status()
                text = lxml.html.fromstring(response.content).text_content()
                parsed += 1
                characters += len(text)

        await asyncio.gather(*(one(u) for u in urls))
    return parsed, characters


def main() -> None:
    urls = Path(sys.argv[1]).read_text().split()
    parsed, characters = asyncio.run(fetch_all(urls, int(sys.argv[2])))
    print(f"{parsed} pages parsed, {characters} characters of text")


if __name__ == "__main__":
    main()
