"""The practical floor: raw ``aiohttp.ClientSession``, ``resp.read()``, ``json.loads``.

A hand-written cursor loop and no models: what any client has to spend at least. Like
usage-async, it prepares each stream's query string once and hands aiohttp a pre-encoded
``yarl.URL``; every stream runs at once (no concurrency limit below aiohttp's 100).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from ..scenarios import API_KEY, PATH
from . import Tally, Workload, record_errors

__all__ = ["run"]

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}


async def _stream(
    session: aiohttp.ClientSession,
    url: str,
    params: dict[str, Any],
    tally: Tally,
    workload: Workload,
) -> None:
    base = f"{url}?{urlencode(params, doseq=True)}"
    target = URL(base, encoded=True)
    starts, mark_at = tally.starts, workload.mark_at
    results = tokens = 0
    try:
        while True:
            async with session.get(target) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                body = await resp.read()
            page = json.loads(body)
            for bucket in page["data"]:
                starts.append(bucket["start_time"])
                items = bucket["results"]
                results += len(items)
                for item in items:
                    tokens += item["input_tokens"]
                if len(starts) == mark_at:
                    workload.mark()
            if not page["has_more"]:
                break
            target = URL(f"{base}&page={quote(page['next_page'], safe='')}", encoded=True)
    finally:
        tally.results, tally.input_tokens = results, tokens


async def run(workload: Workload) -> list[Tally]:
    """Read every stream of ``workload`` to its end, all at once."""
    tallies = [Tally() for _ in workload.streams]
    url = workload.base_url + PATH
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        outcomes = await asyncio.gather(
            *(
                _stream(session, url, params, tally, workload)
                for params, tally in zip(workload.streams, tallies, strict=True)
            ),
            return_exceptions=True,
        )
    return record_errors(tallies, outcomes)
