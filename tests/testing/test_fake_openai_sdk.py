"""The official openai SDK's admin usage calls work against the simulator and agree with ours."""

from __future__ import annotations

from decimal import Decimal

import openai

from usage_async import CompletionsResult, CostsResult, UsageClient
from usage_async.testing import FakeUsageServer

NOW = 1_736_944_200
DAY = 86400
TODAY = NOW - NOW % DAY


def _sdk(srv: FakeUsageServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(
        admin_api_key=srv.api_key, api_key="unused", base_url=srv.base_url, max_retries=0
    )


async def test_sdk_completions_grouped_by_project_and_model_match_usage_client(
    server: FakeUsageServer, client: UsageClient
) -> None:
    start, end = TODAY - 7 * DAY, TODAY
    async with _sdk(server) as sdk:
        theirs = await sdk.admin.organization.usage.completions(
            start_time=start, end_time=end, group_by=["project_id", "model"]
        )
    ours = await client.completions(
        start_time=start, end_time=end, group_by=["project_id", "model"]
    )
    their_rows = [
        (b.start_time, r.project_id, r.model, r.input_tokens, r.output_tokens, r.num_model_requests)
        for b in theirs.data
        for r in b.results
        if r.object == "organization.usage.completions.result"
    ]
    our_rows = [
        (b.start_time, r.project_id, r.model, r.input_tokens, r.output_tokens, r.num_model_requests)
        for b in ours.data
        for r in b.results
        if isinstance(r, CompletionsResult)
    ]
    assert their_rows == our_rows
    assert len(our_rows) > 7
    assert [b.end_time for b in theirs.data] == [b.end_time for b in ours.data]
    sdk_request, our_request = server.requests
    assert sdk_request.params()["group_by[]"] == ["project_id", "model"]
    assert our_request.params()["group_by"] == ["project_id", "model"]


async def test_sdk_costs_match_usage_client_to_the_cent(
    server: FakeUsageServer, client: UsageClient
) -> None:
    start = TODAY - 7 * DAY
    async with _sdk(server) as sdk:
        theirs = await sdk.admin.organization.usage.costs(
            start_time=start, group_by=["line_item"], limit=8
        )
    ours = await client.costs(start_time=start, group_by=["line_item"], limit=8)
    their_amounts = [
        (r.line_item, Decimal(repr(r.amount.value)))
        for b in theirs.data
        for r in b.results
        if r.object == "organization.costs.result" and r.amount is not None
    ]
    our_amounts = [
        (r.line_item, r.amount.value)
        for b in ours.data
        for r in b.results
        if isinstance(r, CostsResult) and r.amount is not None
    ]
    assert their_amounts == our_amounts
    assert len(our_amounts) > 10
    assert theirs.has_more is ours.has_more is False
