"""The real API's quirks (API-NOTES), each switchable, and what a client sees of them."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp

from usage_async import RetryPolicy, UsageClient
from usage_async.testing import FakeUsageServer, Faults, Quirks

NOW = 1_736_944_200
HOUR, DAY = 3600, 86400
TODAY = NOW - NOW % DAY
INVALID_TOKEN = "The page token is invalid, have you modified the query parameters?"


async def _get(
    session: aiohttp.ClientSession, srv: FakeUsageServer, path: str, params: dict[str, str]
) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    async with session.get(srv.base_url + path, params=params, headers=headers) as resp:
        return resp.status, resp.headers, await resp.json()


async def test_amount_value_is_a_json_number_unless_the_string_quirk_is_on(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    params = {"start_time": str(TODAY - DAY), "limit": "1"}
    _, _, as_number = await _get(session, server, "/organization/costs", params)
    server.quirks = Quirks(amount_as_string=True)
    _, _, as_string = await _get(session, server, "/organization/costs", params)
    number = as_number["data"][0]["results"][0]["amount"]["value"]
    string = as_string["data"][0]["results"][0]["amount"]["value"]
    assert isinstance(number, float)
    assert isinstance(string, str)
    assert Decimal(string) == Decimal(repr(number))


async def test_a_client_reads_the_same_money_from_a_string_amount(server: FakeUsageServer) -> None:
    async with UsageClient(server.api_key, base_url=server.base_url) as client:
        plain = await client.costs.collect(start_time=TODAY - 3 * DAY, group_by=["project_id"])
        server.quirks = Quirks(amount_as_string=True)
        quirky = await client.costs.collect(start_time=TODAY - 3 * DAY, group_by=["project_id"])
    assert plain == quirky


async def _costs_pages(
    session: aiohttp.ClientSession, srv: FakeUsageServer
) -> tuple[dict[str, Any], tuple[int, Any]]:
    # 7 days of which only the first 3 have happened: the second page is all empty.
    params = {"start_time": str(TODAY - 2 * DAY), "end_time": str(TODAY + 12 * DAY), "limit": "7"}
    _, _, first = await _get(session, srv, "/organization/costs", params)
    status, _, second = await _get(
        session, srv, "/organization/costs", {**params, "page": first["next_page"]}
    )
    return first, (status, second)


async def test_costs_cursor_after_an_empty_tail_is_refused_with_the_quirk(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.quirks = Quirks(costs_cursor_after_empty_tail=True)
    first, (status, second) = await _costs_pages(session, server)
    assert first["has_more"] is True
    assert first["next_page"]
    assert status == 400
    assert second["error"]["message"] == INVALID_TOKEN


async def test_costs_cursor_after_an_empty_tail_works_without_the_quirk(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    _, (status, second) = await _costs_pages(session, server)
    assert status == 200
    assert [b["results"] for b in second["data"]] == [[]] * 7


async def test_a_client_stream_survives_the_costs_cursor_quirk(server: FakeUsageServer) -> None:
    async with UsageClient(server.api_key, base_url=server.base_url) as client:
        expected = await client.costs.collect(start_time=TODAY - 9 * DAY, limit=7)
        server.quirks = Quirks(costs_cursor_after_empty_tail=True)
        got = await client.costs.collect(
            start_time=TODAY - 9 * DAY, end_time=TODAY + 12 * DAY, limit=7
        )
    assert [b for b in got if b.results] == [b for b in expected if b.results]
    assert any(r.path.endswith("/costs") and "page" in r.params() for r in server.requests)


async def test_a_429_has_no_retry_after_with_the_quirk(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.faults = Faults(rate_limit=0.01, burst=1, script=[429])
    server.quirks = Quirks(rate_limit_without_retry_after=True)
    params = {"start_time": "0", "limit": "1"}
    answers = [await _get(session, server, "/organization/costs", params) for _ in range(3)]
    assert [status for status, _, _ in answers] == [429, 200, 429]
    assert all("Retry-After" not in headers for _, headers, _ in answers)


async def test_late_data_makes_the_last_hours_grow_as_the_clock_advances(
    session: aiohttp.ClientSession,
) -> None:
    quirks = Quirks(late_data=6 * HOUR)
    params = {"start_time": str(NOW - 12 * HOUR), "bucket_width": "1h", "limit": "13"}
    path = "/organization/usage/completions"
    async with FakeUsageServer(now=NOW, quirks=quirks) as srv:
        _, _, first = await _get(session, srv, path, params)
        srv.advance(HOUR)
        _, _, second = await _get(session, srv, path, params)

    def requests(page: dict[str, Any]) -> list[int]:
        return [sum(r["num_model_requests"] for r in b["results"]) for b in page["data"]]

    before, after = requests(first), requests(second)
    assert before[:5] == after[:5], "buckets older than the late window are final"
    assert sum(after[5:12]) > sum(before[5:12]), "recent buckets grew"
    assert all(a >= b for a, b in zip(after, before, strict=True))


async def test_quirks_are_off_by_default() -> None:
    assert Quirks() == Quirks(
        amount_as_string=False,
        costs_cursor_after_empty_tail=False,
        rate_limit_without_retry_after=False,
        late_data=0,
    )
    assert Faults().rate_limit is None
    assert Faults().error_rate == Faults().drop_rate == Faults().truncate_rate == 0.0


async def test_a_retrying_client_waits_out_a_429_without_retry_after(
    server: FakeUsageServer,
) -> None:
    server.quirks = Quirks(rate_limit_without_retry_after=True)
    server.script(429)
    policy = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=policy) as client:
        page = await client.costs(start_time=TODAY - DAY)
    assert page.data
