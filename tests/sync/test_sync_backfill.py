"""An earlier ``since`` than stored reads the missing range (issue 10, item 14), on every
store: the result equals one sync from the earlier since, and a backfill cut short is read
again by the next run."""

from __future__ import annotations

from typing import Any

from sync_support import DAY, NOW, dump

from usage_async import RetryPolicy, UsageClient
from usage_async.sync import open_store, spend, sync
from usage_async.testing import FakeUsageServer

OPTIONS: dict[str, Any] = {"endpoints": ["costs", "completions"], "limit": 3}
TEN_DAYS = NOW - NOW % DAY - 10 * DAY


async def test_an_earlier_since_reads_the_missing_range_and_equals_one_longer_sync(
    client: UsageClient, server: FakeUsageServer, make_store_url: Any
) -> None:
    url, single = make_store_url(), make_store_url()
    await sync(client, url, since=NOW - 3 * DAY, clock=server.now, **OPTIONS)
    report = await sync(client, url, since=NOW - 10 * DAY, clock=server.now, **OPTIONS)
    await sync(client, single, since=NOW - 10 * DAY, clock=server.now, **OPTIONS)
    assert await dump(url) == await dump(single)
    assert {r.backfilled_from for r in report.endpoints} == {TEN_DAYS}
    async with open_store(url) as store:
        assert {s[3] for s in await store.states()} == {TEN_DAYS}
    days = await spend(url, by="day")
    assert len(days) == 11  # ten whole days and today's
    assert days == await spend(single, by="day")


async def test_a_backfill_cut_short_is_read_again_by_the_next_run(
    server: FakeUsageServer, make_store_url: Any
) -> None:
    url, single = make_store_url(), make_store_url()
    options = {**OPTIONS, "endpoints": ["costs"], "clock": server.now}
    async with UsageClient(
        server.api_key, base_url=server.base_url, retry=RetryPolicy(max_attempts=1)
    ) as client:
        await sync(client, url, since=NOW - 3 * DAY, **options)
        server.script(200, 500)  # the backfill's second page fails
        cut = await sync(client, url, since=NOW - 10 * DAY, **options)
        async with open_store(url) as store:
            (state,) = await store.states()
        assert state[3] == NOW - NOW % DAY - 3 * DAY  # the earlier since is not recorded yet
        again = await sync(client, url, since=NOW - 10 * DAY, **options)
        await sync(client, single, since=NOW - 10 * DAY, **options)
    assert not cut.ok
    assert again.ok
    assert await dump(url) == await dump(single)
