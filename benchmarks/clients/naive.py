"""The naive per-request retry loop: raw aiohttp, and each request retries its own 429s.

What a hand-written client usually does: on a 429 wait the server's ``retry-after-ms`` or
``Retry-After`` when it gives one, else back off exponentially from 0.5 s with full jitter
(capped at 30 s), and try again, up to 20 attempts; no pace shared between the streams.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from yarl import URL

from ..scenarios import API_KEY, PATH
from . import Tally, Workload, record_errors

__all__ = ["run"]

HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "application/json"}
ATTEMPTS = 20


def _server_wait(headers: Any) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is not None:
            try:
                return float(raw) * scale
            except ValueError:
                pass
    return None


async def _get(session: aiohttp.ClientSession, target: URL) -> Any:
    for attempt in range(ATTEMPTS):
        async with session.get(target) as resp:
            body = await resp.read()
            if resp.status == 200:
                return json.loads(body)
            if resp.status != 429 or attempt == ATTEMPTS - 1:
                raise RuntimeError(f"HTTP {resp.status}")
            wait = _server_wait(resp.headers)
        if wait is None:
            wait = random.uniform(0, min(30.0, 0.5 * 2**attempt))  # noqa: S311 - jitter
        await asyncio.sleep(wait)
    raise AssertionError("unreachable")


async def _stream(
    session: aiohttp.ClientSession, url: str, params: dict[str, Any], tally: Tally
) -> None:
    base = f"{url}?{urlencode(params, doseq=True)}"
    target = URL(base, encoded=True)
    while True:
        page = await _get(session, target)
        for bucket in page["data"]:
            tally.starts.append(bucket["start_time"])
            tally.results += len(bucket["results"])
            tally.input_tokens += sum(item["input_tokens"] for item in bucket["results"])
        if not page["has_more"]:
            break
        target = URL(f"{base}&page={quote(page['next_page'], safe='')}", encoded=True)


async def run(workload: Workload) -> list[Tally]:
    """Read every stream of ``workload`` to its end, all at once."""
    tallies = [Tally() for _ in workload.streams]
    url = workload.base_url + PATH
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        outcomes = await asyncio.gather(
            *(
                _stream(session, url, params, tally)
                for params, tally in zip(workload.streams, tallies, strict=True)
            ),
            return_exceptions=True,
        )
    return record_errors(tallies, outcomes)
