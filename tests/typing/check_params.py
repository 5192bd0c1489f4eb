"""Checked by mypy in .ci/run (never run): endpoint keyword arguments are typed.

Every `# type: ignore[...]` line below must be an error for mypy; with `warn_unused_ignores`
(part of --strict) an ignore that is no longer needed fails the check, so each line proves
that the type system catches that mistake.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import usage_async as ua
from usage_async import Endpoint, UsageClient
from usage_async._endpoints import ENDPOINTS


async def accepted(client: UsageClient) -> None:
    page = await client.completions(start_time=0, group_by=["model", "batch"], limit=31)
    for bucket in page.data:
        for result in bucket.results:
            if isinstance(result, ua.CompletionsResult):
                tokens: int = result.input_tokens
                del tokens
    async for costs_page in client.costs.pages(start_time=dt.date(2025, 1, 1)):
        for costs_bucket in costs_page.data:
            for item in costs_bucket.results:
                if isinstance(item, ua.CostsResult) and item.amount is not None:
                    money: Decimal = item.amount.value
                    del money
    async for b in client.images.buckets(start_time=0, sizes=["1024x1024"], sources=None):
        start: int = b.start_time
        del start
    buckets = await client.embeddings.collect(start_time=0, end_time=86400, bucket_width="1h")
    del buckets
    await client.completions(start_time=0, extra_query={"group_by": ["api_source"]})


async def refused(client: UsageClient) -> None:
    await client.costs(start_time=0, bucket_width="1h")  # type: ignore[arg-type]
    await client.completions(start_time=0, project_id=["p"])  # type: ignore[call-arg]
    await client.completions(end_time=5)  # type: ignore[call-arg]
    await client.vector_stores(start_time=0, models=["m"])  # type: ignore[call-arg]
    await client.images(start_time=0, sizes=["100x100"])  # type: ignore[list-item]
    await client.completions(start_time=0, group_by=["line_item"])  # type: ignore[list-item]
    await client.completions(start_time=0, limit="7")  # type: ignore[arg-type]
    await client.completions(start_time="yesterday")  # type: ignore[arg-type]


def endpoints_conform(client: UsageClient) -> None:
    """The runtime Endpoint class satisfies each generated Protocol."""
    completions: ua._params.CompletionsEndpoint = Endpoint[ua.CompletionsResult | ua.UnknownResult](
        client, ENDPOINTS["completions"]
    )
    costs: ua._params.CostsEndpoint = Endpoint[ua.CostsResult | ua.UnknownResult](
        client, ENDPOINTS["costs"]
    )
    del costs
    assert completions.spec.name == "completions"
