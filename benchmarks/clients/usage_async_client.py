"""usage-async, used as its README says: ``client.completions.buckets(...)`` per stream.

One ``UsageClient`` per run with an explicit ``api_key`` and ``base_url``, the streams
gathered, every other setting the client's default unless the scenario sets
``max_concurrency``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from usage_async import Endpoint, UsageClient

from ..scenarios import API_KEY
from . import Tally, Workload, record_errors

__all__ = ["run"]


async def _stream(
    endpoint: Endpoint[Any], params: dict[str, Any], tally: Tally, workload: Workload
) -> None:
    starts, mark_at = tally.starts, workload.mark_at
    results = tokens = 0
    try:
        async for bucket in endpoint.buckets(**params):
            starts.append(bucket.start_time)
            items = bucket.results
            results += len(items)
            for item in items:
                tokens += item.input_tokens
            if len(starts) == mark_at:
                workload.mark()
    finally:
        tally.results, tally.input_tokens = results, tokens


async def run(workload: Workload) -> list[Tally]:
    """Read every stream of ``workload`` to its end with one fresh client."""
    tallies = [Tally() for _ in workload.streams]
    options: dict[str, Any] = {}
    if workload.concurrency is not None:
        options["max_concurrency"] = workload.concurrency
    async with UsageClient(api_key=API_KEY, base_url=workload.base_url, **options) as client:
        endpoint = client.endpoint("completions")
        outcomes = await asyncio.gather(
            *(
                _stream(endpoint, params, tally, workload)
                for params, tally in zip(workload.streams, tallies, strict=True)
            ),
            return_exceptions=True,
        )
    return record_errors(tallies, outcomes)
