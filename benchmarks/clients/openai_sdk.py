"""The official SDK: ``AsyncOpenAI(...).admin.organization.usage.completions(...)``.

One page per call, so the cursor loop is hand-written (``has_more``, ``next_page``).
Retries are off (``max_retries=0``) except where the scenario asks for the SDK's default.
"""

from __future__ import annotations

import asyncio
from typing import Any

import openai

from ..scenarios import API_KEY
from . import Tally, Workload, record_errors

__all__ = ["run"]


async def _stream(usage: Any, params: dict[str, Any], tally: Tally, workload: Workload) -> None:
    starts, mark_at = tally.starts, workload.mark_at
    results = tokens = 0
    try:
        page = await usage.completions(**params)
        while True:
            for bucket in page.data:
                starts.append(bucket.start_time)
                items = bucket.results
                results += len(items)
                for item in items:
                    tokens += item.input_tokens
                if len(starts) == mark_at:
                    workload.mark()
            if not page.has_more:
                break
            page = await usage.completions(**params, page=page.next_page)
    finally:
        tally.results, tally.input_tokens = results, tokens


async def run(workload: Workload) -> list[Tally]:
    """Read every stream of ``workload`` to its end with one fresh SDK client."""
    tallies = [Tally() for _ in workload.streams]
    options: dict[str, Any] = {}
    if workload.openai_retries is not None:
        options["max_retries"] = workload.openai_retries
    client = openai.AsyncOpenAI(admin_api_key=API_KEY, base_url=workload.base_url, **options)
    try:
        usage = client.admin.organization.usage
        outcomes = await asyncio.gather(
            *(
                _stream(usage, params, tally, workload)
                for params, tally in zip(workload.streams, tallies, strict=True)
            ),
            return_exceptions=True,
        )
    finally:
        await client.close()
    return record_errors(tallies, outcomes)
