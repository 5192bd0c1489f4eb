"""The official openai SDK's admin usage calls work against the simulator and agree with ours."""

from __future__ import annotations

from decimal import Decimal

import openai

from usage_async import UsageClient
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
    query = {"start_time": TODAY - 7 * DAY, "end_time": TODAY, "group_by": ["project_id", "model"]}
    async with _sdk(server) as sdk:
        theirs = await sdk.admin.organization.usage.completions(**query)  # type: ignore[arg-type]
    ours = await client.completions(**query)
    assert [(b.start_time, b.end_time) for b in theirs.data] == [
        (b.start_time, b.end_time) for b in ours.data
    ]
    for their_bucket, our_bucket in zip(theirs.data, ours.data, strict=True):
        assert [
            (r.project_id, r.model, r.input_tokens, r.output_tokens, r.num_model_requests)
            for r in their_bucket.results
        ] == [
            (r.project_id, r.model, r.input_tokens, r.output_tokens, r.num_model_requests)
            for r in our_bucket.results
        ]
    assert sum(len(b.results) for b in ours.data) > 7
    sdk_request, our_request = server.requests
    assert sdk_request.params()["group_by[]"] == ["project_id", "model"]
    assert our_request.params()["group_by"] == ["project_id", "model"]


async def test_sdk_costs_match_usage_client_to_the_cent(
    server: FakeUsageServer, client: UsageClient
) -> None:
    query = {"start_time": TODAY - 7 * DAY, "group_by": ["line_item"], "limit": 8}
    async with _sdk(server) as sdk:
        theirs = await sdk.admin.organization.usage.costs(**query)  # type: ignore[arg-type]
    ours = await client.costs(**query)
    their_amounts = [
        (r.line_item, Decimal(repr(r.amount.value)))  # type: ignore[union-attr]
        for b in theirs.data
        for r in b.results
    ]
    our_amounts = [(r.line_item, r.amount.value) for b in ours.data for r in b.results if r.amount]
    assert their_amounts == our_amounts
    assert len(our_amounts) > 10
    assert theirs.has_more is ours.has_more is False
