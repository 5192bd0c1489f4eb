"""Reading back: spend by project, line item and day equals the API's own costs, exactly."""

from __future__ import annotations

import datetime as _dt
from collections import defaultdict
from decimal import Decimal

import pytest
from sync_support import DAY, NOW

from usage_async import InvalidParameterError, UsageClient
from usage_async.sync import NoSuchDatabaseError, open_store, spend, sync
from usage_async.sync.query import SpendRangeError
from usage_async.testing import FakeUsageServer

SINCE = NOW - 5 * DAY


async def api_spend(client: UsageClient, field: str | None) -> dict[str, Decimal]:
    """The costs endpoint's own sums, grouped as asked (None: by UTC day)."""
    group_by = [field] if field else None
    totals: dict[str, Decimal] = defaultdict(Decimal)
    async for bucket in client.costs.buckets(
        start_time=SINCE, end_time=NOW, group_by=group_by, limit=31
    ):
        day = _dt.datetime.fromtimestamp(bucket.start_time, _dt.timezone.utc).date().isoformat()
        for result in bucket.results:
            key = day if field is None else getattr(result, field) or ""
            totals[key] += result.amount.value
    return dict(totals)


@pytest.mark.parametrize(
    ("by", "field"), [("project", "project_id"), ("line_item", "line_item"), ("day", None)]
)
async def test_spend_equals_the_apis_own_sums_exactly(
    client: UsageClient, server: FakeUsageServer, store_url: str, by: str, field: str | None
) -> None:
    await sync(client, store_url, endpoints=["costs"], since=SINCE, clock=server.now)
    rows = await spend(store_url, by=by)
    assert {r.group: r.amount for r in rows} == await api_spend(client, field)
    assert {r.currency for r in rows} == {"usd"}
    if by == "day":
        assert [r.group for r in rows] == sorted(r.group for r in rows)
        # The last 48 hours may still be revised.
        assert [r.settled for r in rows][-2:] == [False, False]
        assert rows[0].settled
    else:
        assert [r.amount for r in rows] == sorted((r.amount for r in rows), reverse=True)


async def test_two_collections_of_the_same_spend_are_never_added_together(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    for group_by in (["project_id"], ["project_id", "line_item"], []):
        await sync(
            client,
            store_url,
            endpoints=["costs"],
            group_by={"costs": group_by},
            since=SINCE,
            clock=server.now,
        )
    by_project = {r.group: r.amount for r in await spend(store_url, by="project")}
    assert by_project == await api_spend(client, "project_id")
    by_day = await spend(store_url, by="day")
    assert sum(r.amount for r in by_day) == sum(by_project.values())


async def test_since_and_until_keep_the_buckets_that_start_between_them(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await sync(client, store_url, endpoints=["costs"], since=SINCE, clock=server.now)
    day = NOW - NOW % DAY
    until = _dt.datetime.fromtimestamp(day - DAY, _dt.timezone.utc)
    rows = await spend(store_url, by="day", since=day - 3 * DAY, until=until)
    assert len(rows) == 2


async def test_nothing_collected_reads_as_no_rows(store_url: str) -> None:
    async with open_store(store_url):
        pass  # a database with the schema, and no costs
    answer = await spend(store_url, by="project")
    assert answer == []
    assert answer.collection is None


async def test_reading_a_database_that_does_not_exist_raises_and_creates_nothing(
    store_url: str,
) -> None:
    with pytest.raises(NoSuchDatabaseError, match="no such database"):
        await spend(store_url, by="project")
    with pytest.raises(NoSuchDatabaseError):  # and still nothing: no schema was created
        async with open_store(store_url, create=False):
            pass


async def test_an_unknown_by_is_refused(store_url: str) -> None:
    with pytest.raises(InvalidParameterError, match="by: unknown dimension 'colour'; dim"):
        await spend(store_url, by="colour")


async def true_spend(client: UsageClient, since: int, until: int) -> Decimal:
    total = Decimal(0)
    async for bucket in client.costs.buckets(start_time=since, end_time=until, limit=31):
        for result in bucket.results:
            total += result.amount.value
    return total


async def test_after_a_group_by_switch_spend_answers_from_the_collection_that_covers_it(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    # Issue 10, item 15: costs by project_id,line_item for a while, then by project_id.
    start = SINCE - SINCE % DAY
    for group_by, days in (([], 0), ([], 2), (["project_id"], 0), (["project_id"], 3)):
        server.advance(days * DAY)
        options = {} if not group_by else {"group_by": {"costs": group_by}}
        await sync(client, store_url, endpoints=["costs"], since=start, clock=server.now, **options)
    truth = await true_spend(client, start, server.now())
    answer = await spend(store_url, by="project")
    assert sum(r.amount for r in answer) == truth
    assert answer.collection is not None
    assert (answer.collection.group_by, answer.since, answer.until) == (
        "project_id",
        start,
        server.now(),
    )
    assert "also holds costs 1d by line_item,project_id" in answer.describe()
    asked = await spend(store_url, by="project", since=start)
    assert sum(r.amount for r in asked) == truth


async def test_a_range_no_one_collection_holds_is_refused_naming_what_is_held(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await sync(client, store_url, endpoints=["costs"], since=NOW - 2 * DAY, clock=server.now)
    with pytest.raises(SpendRangeError) as caught:
        await spend(store_url, by="project", since=NOW - 5 * DAY)
    message = str(caught.value)
    day = _dt.datetime.fromtimestamp(NOW - NOW % DAY - 2 * DAY, _dt.timezone.utc)
    assert f"holds costs 1d by line_item,project_id from {day:%Y-%m-%d}T00:00:00Z" in message
    assert "backfill" in message
