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


# -- the directory: the SDK's admin listing calls read the same names --------------------

LATE_NOW = 1_768_480_200  # 2026-01-15T12:30:00Z: after the archived project and deleted key


async def test_sdk_admin_listings_read_the_same_names_as_usage_client() -> None:
    async with FakeUsageServer(seed=0, now=LATE_NOW) as srv:
        async with _sdk(srv) as sdk:
            org = sdk.admin.organization
            theirs_projects = [
                (p.id, p.name, p.status)
                async for p in org.projects.list(include_archived=True, limit=2)
            ]
            theirs_users = [(u.id, u.name, u.email) async for u in org.users.list(limit=3)]
            theirs_admin_keys = [(k.id, k.name) async for k in org.admin_api_keys.list()]
            theirs_keys = []
            theirs_accounts = []
            for project_id, _, status in theirs_projects:
                async for k in org.projects.api_keys.list(
                    project_id, owner_project_access="any", limit=2
                ):
                    theirs_keys.append((k.id, k.name, k.redacted_value, k.owner.type))
                if status != "archived":
                    async for a in org.projects.service_accounts.list(project_id):
                        theirs_accounts.append((a.id, a.name))
        async with UsageClient(srv.api_key, base_url=srv.base_url) as client:
            directory = await client.directory()
            ours_projects = [
                (p.id, p.name, p.status) async for p in client.projects.items(include_archived=True)
            ]
    assert theirs_projects == ours_projects
    assert len(theirs_projects) == len(srv.organization.projects) + 1  # and the archived one
    assert [(i, directory.user(i).name, e) for i, _, e in theirs_users] == theirs_users
    for key_id, name, redacted, owner_type in theirs_keys:
        ours = directory.api_key(key_id)
        assert ours.owner is not None
        assert (ours.name, ours.redacted_value, ours.owner.type) == (name, redacted, owner_type)
    assert {t for *_, t in theirs_keys} == {"user", "service_account"}
    assert all(directory.service_account(i).name == n for i, n in theirs_accounts)
    assert all(directory.api_key(i).name == n for i, n in theirs_admin_keys)
    assert len(directory.api_keys) == len(theirs_keys) + len(theirs_admin_keys)
    sdk_asked = {
        (r.path.rsplit("/", 1)[-1], r.params().get("after") is not None) for r in srv.requests
    }
    assert ("projects", True) in sdk_asked  # the SDK paged by after=<last_id> as well
