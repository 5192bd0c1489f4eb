"""Nothing is deleted on evidence one read could fake (issue 10, item 11), on every store.

A Costs server whose days a test writes (``costs_server``) stands in for the API: a row
leaves a bucket, a result arrives that the client cannot type, a row comes back. Each sync
is a run of its own; the collector's clock moves between runs, as it does between cron runs.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from costs_server import DAY, cost, costs_server
from sync_support import NOW

from usage_async import UsageClient
from usage_async.models import UnknownResult
from usage_async.sync import SyncReport, open_store, spend, sync
from usage_async.sync._rows import unknown_row

D = NOW - NOW % DAY - DAY  # yesterday's bucket: every read covers it (48 h look-back)
OPTIONS: dict[str, Any] = {"endpoints": ["costs"], "since": D}


class Runs:
    """Sync runs a minute apart on the collector's clock (the server's clock stays)."""

    def __init__(self, client: UsageClient, url: str) -> None:
        self.client, self.url, self.clock = client, url, NOW

    async def sync(self) -> SyncReport:
        self.clock += 60
        return await sync(self.client, self.url, clock=lambda: self.clock, **OPTIONS)


async def projects(url: str) -> dict[str, Decimal]:
    """What is stored for day D, and what ``spend`` counts."""
    async with open_store(url) as store:
        rows = await store.table_rows("costs")
    stored = {r["project_id"]: r["amount_value"] for r in rows if r["start_time"] == D}
    counted = {r.group: r.amount for r in await spend(url, by="project")}
    assert counted == stored  # every stored row counts, marked missing or not
    return stored


async def test_a_row_missing_from_one_read_stays_counted_until_a_later_runs_read_agrees(
    store_url: str,
) -> None:
    async with costs_server(NOW) as (server, client):
        runs = Runs(client, store_url)
        server.days[D] = [cost("proj_a", "1.5"), cost("proj_b", "2.25")]
        await runs.sync()
        server.days[D] = [cost("proj_a", "1.5")]
        first_miss = await runs.sync()
        assert await projects(store_url) == {"proj_a": Decimal("1.5"), "proj_b": Decimal("2.25")}
        second_miss = await runs.sync()
        assert await projects(store_url) == {"proj_a": Decimal("1.5")}
    assert (first_miss.total("missing"), first_miss.total("deleted")) == (1, 0)
    assert (second_miss.total("missing"), second_miss.total("deleted")) == (0, 1)


async def test_a_bucket_that_reads_empty_once_keeps_its_rows_and_a_row_that_comes_back_is_unmarked(
    store_url: str,
) -> None:
    async with costs_server(NOW) as (server, client):
        runs = Runs(client, store_url)
        server.days[D] = [cost("proj_a", "1.5")]
        await runs.sync()
        server.days[D] = []
        await runs.sync()  # an empty read: marked, kept
        server.days[D] = [cost("proj_a", "1.5")]
        back = await runs.sync()
        server.days[D] = []
        await runs.sync()  # empty once more: a new first miss, not the second
        assert await projects(store_url) == {"proj_a": Decimal("1.5")}
    assert back.total("restored") == 1


async def test_a_result_the_client_cannot_type_deletes_nothing_and_is_kept_raw(
    store_url: str,
) -> None:
    untyped = '{"object": "organization.costs.result.v2", "project_id": "proj_b", "amount": 12.50}'
    async with costs_server(NOW) as (server, client):
        runs = Runs(client, store_url)
        server.days[D] = [cost("proj_a", "1.5"), cost("proj_b", "2.25")]
        await runs.sync()
        server.days[D] = [cost("proj_a", "1.5"), untyped]
        reports = [await runs.sync(), await runs.sync()]  # two later runs: still no deletion
        assert await projects(store_url) == {"proj_a": Decimal("1.5"), "proj_b": Decimal("2.25")}
        async with open_store(store_url) as store:
            kept = await store.fetch(
                "SELECT endpoint, bucket_width, group_by, start_time, end_time, object, data"
                " FROM usage_async_unknown"
            )
    assert [r.total("unknown") for r in reports] == [1, 1]
    assert [r.total("missing") + r.total("deleted") for r in reports] == [0, 0]
    ((endpoint, width, group_by, start, end, tag, data),) = kept
    assert (endpoint, width, group_by, start, end) == (
        "costs",
        "1d",
        "line_item,project_id",
        D,
        D + DAY,
    )
    assert tag == "organization.costs.result.v2"
    raw = json.loads(data)
    assert {k: raw[k] for k in ("object", "project_id")} == {
        "object": "organization.costs.result.v2",
        "project_id": "proj_b",
    }
    assert Decimal(str(raw["amount"])) == Decimal("12.5")


def test_an_untyped_results_numbers_are_stored_as_exact_strings() -> None:
    exact = Decimal("0.1000000000000000055511151231257827")
    row = unknown_row(D, D + DAY, UnknownResult("x.v2", {"amount": exact, "n": 3}))
    assert json.loads(row.data) == {"amount": "0.1000000000000000055511151231257827", "n": 3}
    assert (
        row.digest
        == unknown_row(D, D + DAY, UnknownResult("x.v2", {"n": 3, "amount": exact})).digest
    )


async def test_a_known_result_whose_values_do_not_fit_is_kept_raw_too(store_url: str) -> None:
    bad = (
        '{"object": "organization.costs.result", "project_id": "proj_b",'
        ' "amount": {"value": "twelve", "currency": "usd"}}'
    )
    async with costs_server(NOW) as (server, client):
        server.days[D] = [cost("proj_a", "1.5"), bad]
        report = await Runs(client, store_url).sync()
        async with open_store(store_url) as store:
            ((tag, data),) = await store.fetch("SELECT object, data FROM usage_async_unknown")
    assert report.total("unknown") == 1
    assert tag == "organization.costs.result"
    assert json.loads(data)["amount"] == {"value": "twelve", "currency": "usd"}
