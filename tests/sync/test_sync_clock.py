"""A collector's clock against the API's (issue 10, item 13), on every store: the watermark
never passes the API's own time (its ``Date`` header), and a stored watermark ahead of now
is said out loud."""

from __future__ import annotations

from typing import Any

from sync_support import DAY, HOUR, NOW, dump

from usage_async import UsageClient
from usage_async.sync import PageWrite, open_store, sync
from usage_async.testing import FakeUsageServer

OPTIONS: dict[str, Any] = {
    "endpoints": ["completions", "costs"],
    "bucket_width": {"completions": "1h"},
    "since": NOW - 3 * DAY,
}


async def test_the_simulators_date_header_follows_its_own_clock(
    client: UsageClient, server: FakeUsageServer
) -> None:
    assert client.last_server_date is None
    await client.costs(start_time=NOW - DAY)
    assert client.last_server_date == NOW
    server.advance(3 * DAY)
    await client.costs(start_time=NOW - DAY)
    assert client.last_server_date == NOW + 3 * DAY


async def test_a_collector_clock_days_ahead_of_the_api_skips_no_bucket_later(
    client: UsageClient, server: FakeUsageServer, make_store_url: Any
) -> None:
    url, single = make_store_url(), make_store_url()
    ahead = await sync(client, url, clock=lambda: NOW + 5 * DAY, **OPTIONS)
    async with open_store(url) as store:
        assert {s[4] for s in await store.states()} == {NOW}  # capped by the API's time
    server.advance(3 * DAY)
    await sync(client, url, clock=server.now, **OPTIONS)  # the clock is fixed
    await sync(client, single, clock=server.now, **OPTIONS)
    assert await dump(url) == await dump(single)
    assert any("ahead of the API's" in w for w in ahead.warnings)


async def test_a_stored_watermark_ahead_of_now_is_warned_about_and_reread_from_now(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    future = NOW + 10 * DAY
    async with open_store(store_url) as store:  # as an older release left it
        await store.write_page(
            PageWrite(
                endpoint="completions", bucket_width="1h", group_by="model,project_id",
                start=0, end=0, rows=(), keys=frozenset(), since=NOW - 3 * DAY,
                watermark=future, now=NOW,
            )
        )  # fmt: skip
    server.requests.clear()
    options = {**OPTIONS, "endpoints": ["completions"]}
    report = await sync(client, store_url, clock=server.now, **options)
    (warning,) = [w for w in report.warnings if "watermark" in w]
    assert "completions" in warning
    assert "ahead of now" in warning
    assert server.requests[0].params()["start_time"] == [str(NOW - 48 * HOUR)]
    assert report.total("inserted") > 0
