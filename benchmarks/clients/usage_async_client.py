"""usage-async, used as its README says: ``client.completions.buckets(...)`` per stream.

One ``UsageClient`` per run with an explicit ``api_key`` and ``base_url``, the streams
gathered, every other setting the client's default unless the scenario sets
``max_concurrency``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from types import SimpleNamespace
from typing import Any

import aiohttp

from usage_async import Endpoint, PacingConnector, UsageClient

from ..scenarios import API_KEY
from . import Tally, Workload, record_errors

__all__ = ["run"]

_DEFAULT_CONCURRENCY: int = inspect.signature(UsageClient).parameters["max_concurrency"].default


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


def _traced_session(
    concurrency: int, throttled: list[tuple[float, float]]
) -> aiohttp.ClientSession:
    """A session like the client's own (its connector, one connection per concurrency
    slot) that appends to ``throttled``, for each request that met a 429, the loop time its
    headers were written and the time its answer came."""
    loop = asyncio.get_running_loop()

    async def headers_sent(_: Any, context: SimpleNamespace, __: Any) -> None:
        context.sent = loop.time()

    async def ended(_: Any, context: SimpleNamespace, params: Any) -> None:
        if params.response.status == 429:
            throttled.append((context.sent, loop.time()))

    trace = aiohttp.TraceConfig()
    trace.on_request_headers_sent.append(headers_sent)
    trace.on_request_end.append(ended)
    return aiohttp.ClientSession(
        connector=PacingConnector(limit=concurrency), trace_configs=[trace]
    )


async def run(workload: Workload) -> list[Tally]:
    """Read every stream of ``workload`` to its end with one fresh client."""
    tallies = [Tally() for _ in workload.streams]
    options: dict[str, Any] = {}
    if workload.concurrency is not None:
        options["max_concurrency"] = workload.concurrency
    async with contextlib.AsyncExitStack() as stack:
        if workload.throttled is not None:
            limit = workload.concurrency or _DEFAULT_CONCURRENCY
            session = _traced_session(limit, workload.throttled)
            options["session"] = await stack.enter_async_context(session)
        client = await stack.enter_async_context(
            UsageClient(api_key=API_KEY, base_url=workload.base_url, **options)
        )
        endpoint = client.endpoint("completions")
        outcomes = await asyncio.gather(
            *(
                _stream(endpoint, params, tally, workload)
                for params, tally in zip(workload.streams, tallies, strict=True)
            ),
            return_exceptions=True,
        )
    return record_errors(tallies, outcomes)
