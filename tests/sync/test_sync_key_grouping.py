"""Costs grouped by ``api_key_id``: the API refuses windows that start before 2025-12-06
(API-NOTES #14), so the collector starts such a target no earlier, and says so."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sync_support import DAY, FAST_RETRY

from usage_async import UsageClient
from usage_async.errors import API_KEY_GROUPING_SINCE
from usage_async.sync import Collector, SyncReport, open_store
from usage_async.testing import FakeUsageServer

LATE_NOW = 1_768_480_200  # 2026-01-15T12:30:00Z
NOVEMBER = API_KEY_GROUPING_SINCE - 35 * DAY  # 2025-11-01
BY_KEY = {"costs": ["project_id", "api_key_id"]}


@pytest.fixture
async def srv() -> AsyncIterator[FakeUsageServer]:
    async with FakeUsageServer(seed=0, now=LATE_NOW) as server:
        yield server


async def run(srv: FakeUsageServer, url: str, since: int, group_by: object = BY_KEY) -> SyncReport:
    async with (
        UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST_RETRY) as client,
        open_store(url) as store,
    ):
        collector = Collector(
            client,
            store,
            endpoints=["costs"],
            group_by=group_by,  # type: ignore[arg-type]
            since=since,
            clock=srv.now,
        )
        return await collector.run()


def costs_starts(srv: FakeUsageServer) -> list[int]:
    return [
        int(dict(r.query)["start_time"])
        for r in srv.requests
        if r.path.endswith("/organization/costs")
    ]


async def test_a_first_sync_grouped_by_key_starts_at_the_date_and_says_from_where(
    srv: FakeUsageServer, store_url: str
) -> None:
    report = await run(srv, store_url, NOVEMBER)

    (costs,) = report.endpoints
    assert costs.error is None  # no 400: the window the API refuses was never asked for
    assert (costs.since_moved_from, costs.start) == (NOVEMBER, API_KEY_GROUPING_SINCE)
    assert min(costs_starts(srv)) == API_KEY_GROUPING_SINCE
    async with open_store(store_url) as store:
        state = await store.load_state("costs", "1d", "api_key_id,project_id")
    assert state is not None
    assert state.since == API_KEY_GROUPING_SINCE


async def test_a_backfill_grouped_by_key_reaches_back_to_the_date_at_most(
    srv: FakeUsageServer, store_url: str
) -> None:
    await run(srv, store_url, API_KEY_GROUPING_SINCE + 10 * DAY)

    report = await run(srv, store_url, NOVEMBER)

    (costs,) = report.endpoints
    assert costs.error is None
    assert costs.backfilled_from == API_KEY_GROUPING_SINCE
    assert costs.since_moved_from == NOVEMBER


async def test_costs_not_grouped_by_key_start_where_asked(
    srv: FakeUsageServer, store_url: str
) -> None:
    report = await run(srv, store_url, NOVEMBER, group_by={"costs": ["project_id"]})

    (costs,) = report.endpoints
    assert (costs.since_moved_from, costs.start) == (None, NOVEMBER)
