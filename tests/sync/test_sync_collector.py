"""The collector against the simulator, on every store: what it reads, what it stores, reruns.

Each test runs once per store (``store_url``); ranges are kept to a few days of buckets.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from sync_support import DAY, FAST_RETRY, HOUR, NOW, dump

from usage_async import ENDPOINTS, InvalidParameterError, RetryPolicy, UsageClient
from usage_async.models import Amount
from usage_async.sync import SCHEMA, Collector, PageResult, PageWrite, Store, open_store, sync
from usage_async.testing import FakeUsageServer, Faults, Quirks

WIDTHS = {"completions": "1h", "vector_stores": "1h", "costs": "1d"}
GROUPS = {"completions": ["project_id", "model"], "vector_stores": ["project_id"]}


def expected_rows(name: str, buckets: Any, group_by: str) -> list[dict[str, Any]]:
    """What the table should hold for these buckets, built from the results independently."""
    spec = ENDPOINTS[name]
    out = []
    for bucket in buckets:
        for result in bucket.results:
            row: dict[str, Any] = {
                "start_time": bucket.start_time,
                "end_time": bucket.end_time,
                "group_by": group_by,
            }
            for field in attrs.fields(type(result)):
                value = getattr(result, field.name)
                if field.name in spec.group_by:
                    text = {None: "", True: "true", False: "false"}.get(value, value)
                    row[field.name] = text if isinstance(text, str) else str(value)
                elif isinstance(value, Amount) or field.name == "amount":
                    row["amount_value"] = value.value if value is not None else None
                    row["amount_currency"] = value.currency if value is not None else None
                else:
                    row[field.name] = value
            out.append(row)
    return sorted(out, key=lambda r: (r["start_time"], *(r[g] for g in spec.group_by)))


def strip(rows: list[dict[str, Any]], keep: set[str]) -> list[dict[str, Any]]:
    return [{k: v for k, v in row.items() if k in keep} for row in rows]


async def test_a_first_run_stores_every_result_of_every_bucket_exactly(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    since = NOW - 2 * DAY
    report = await sync(
        client,
        store_url,
        endpoints=list(WIDTHS),
        bucket_width=WIDTHS,
        group_by=GROUPS,
        since=since,
        limit=10,
        clock=server.now,
    )
    assert report.ok
    async with open_store(store_url) as store:
        for name, width in WIDTHS.items():
            group_by = GROUPS.get(name, ["project_id", "line_item"])
            start = since - since % (DAY if width == "1d" else HOUR)
            buckets = await client.endpoint(name).collect(
                start_time=start, end_time=NOW, bucket_width=width, group_by=group_by
            )
            expected = expected_rows(name, buckets, ",".join(sorted(group_by)))
            stored = await store.table_rows(name)
            assert len(stored) == len(expected) > 0, name
            assert strip(stored, set(expected[0])) == expected, name
            entry = next(r for r in report.endpoints if r.endpoint == name)
            assert entry.inserted == len(expected)
            assert entry.buckets == len(buckets)
            assert entry.pages == -(-len(buckets) // 10)
            assert {r["bucket_width"] for r in stored} == {width}


async def test_money_is_stored_exactly_also_when_the_api_sends_strings(
    server: FakeUsageServer, client: UsageClient, store_url: str
) -> None:
    server.quirks = Quirks(amount_as_string=True)
    await sync(client, store_url, endpoints=["costs"], since=NOW - 3 * DAY, clock=server.now)
    buckets = await client.costs.collect(
        start_time=NOW - 3 * DAY, end_time=NOW, group_by=["project_id", "line_item"]
    )
    async with open_store(store_url) as store:
        stored = await store.table_rows("costs")
    amounts = sorted(r.amount.value for b in buckets for r in b.results)
    assert sorted(r["amount_value"] for r in stored) == amounts
    assert all(isinstance(r["amount_value"], Decimal) for r in stored)
    assert sum(amounts) == sum(r["amount_value"] for r in stored)


async def test_a_repeated_run_changes_nothing_not_even_fetched_at(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    options: dict[str, Any] = {
        "endpoints": list(WIDTHS),
        "bucket_width": WIDTHS,
        "group_by": GROUPS,
        "since": NOW - 3 * DAY,
        "limit": 12,
        "clock": server.now,
    }
    first = await sync(client, store_url, **options)
    before = await dump(store_url, with_fetched_at=True)
    server.requests.clear()
    again = await sync(client, store_url, **options)
    assert first.total("inserted") > 0
    assert [again.total(k) for k in ("inserted", "changed", "deleted")] == [0, 0, 0]
    assert await dump(store_url, with_fetched_at=True) == before
    # The rerun read only the look-back: from the watermark (now) minus 48 h, floored.
    starts = {r.path.rsplit("/", 1)[1]: int(r.params()["start_time"][0]) for r in server.requests}
    assert starts["completions"] == NOW - 48 * HOUR
    assert starts["costs"] == (NOW - 48 * HOUR) // DAY * DAY


async def test_since_is_floored_to_the_width_and_a_later_one_changes_nothing_once_stored(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    odd = NOW - 2 * DAY - 1234
    await sync(client, store_url, endpoints=["costs"], since=odd, clock=server.now)
    assert server.requests[0].params()["start_time"] == [str(odd - odd % DAY)]
    server.requests.clear()
    await sync(
        client, store_url, endpoints=["costs"], since=_dt.timedelta(days=1), clock=server.now
    )
    assert [r.params()["start_time"] for r in server.requests] == [
        [str((NOW - 2 * DAY) // DAY * DAY)]
    ]
    async with open_store(store_url) as store:
        ((*_, since, watermark),) = await store.states()
    assert (since, watermark) == (odd - odd % DAY, NOW)


async def test_a_relative_since_counts_back_from_the_collectors_clock(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await sync(
        client,
        store_url,
        endpoints=["completions"],
        bucket_width="1h",
        since=_dt.timedelta(hours=5, minutes=30),
        clock=lambda: NOW + 600,
    )
    assert server.requests[0].params()["start_time"] == [str(NOW - 5 * HOUR - HOUR)]
    assert server.requests[0].params()["end_time"] == [str(NOW + 600)]


async def test_late_data_is_picked_up_and_only_changed_rows_get_a_new_fetched_at(
    make_store_url: Any,
) -> None:
    async with (
        FakeUsageServer(seed=2, now=NOW, quirks=Quirks(late_data=8 * HOUR)) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST_RETRY) as client,
    ):
        url, fresh = make_store_url(), make_store_url()
        options: dict[str, Any] = {
            "endpoints": ["completions", "costs"],
            "bucket_width": {"completions": "1h"},
            "since": NOW - 3 * DAY,
            "clock": srv.now,
        }
        await sync(client, url, **options)
        before = await dump(url, with_fetched_at=True)
        srv.advance(4 * HOUR)  # the last hours' events become visible
        report = await sync(client, url, **options)
        after = await dump(url, with_fetched_at=True)
        await sync(client, fresh, **options)  # a first read at the new time
        assert await dump(url) == await dump(fresh)
    assert report.total("changed") > 0
    for name in ("completions", "costs"):
        old = {_key(name, r): r for r in before[name]}
        revised = []
        for row in after[name]:
            previous = old.get(_key(name, row))
            if row["fetched_at"] == NOW:  # untouched rows are exactly as before
                assert previous == row
                continue
            assert row["fetched_at"] == NOW + 4 * HOUR  # and touched ones did change
            assert previous is None or {**previous, "fetched_at": 0} != {**row, "fetched_at": 0}
            if previous is not None and _values(previous) != _values(row):
                revised.append(row["start_time"])
        # Revised values: only in the buckets the late data reached (the last 8 hours).
        assert revised, name
        width = HOUR if name == "completions" else DAY
        assert min(revised) >= (NOW - 8 * HOUR) // width * width, name


def _key(name: str, row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["start_time"], *(row[g] for g in SCHEMA.tables[name].groups))


def _values(row: dict[str, Any]) -> dict[str, Any]:
    """A row's values, without the time it was fetched and whether it is settled."""
    return {k: v for k, v in row.items() if k not in ("fetched_at", "settled")}


async def test_a_bucket_is_settled_once_it_ended_more_than_the_lookback_ago(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    options: dict[str, Any] = {
        "endpoints": ["vector_stores"],
        "bucket_width": "1h",
        "since": NOW - 4 * DAY,
        "lookback": _dt.timedelta(hours=30),
    }
    await sync(client, store_url, clock=lambda: NOW, **options)
    async with open_store(store_url) as store:
        rows = await store.table_rows("vector_stores")
    assert rows
    assert all(r["settled"] == (r["end_time"] <= NOW - 30 * HOUR) for r in rows)
    server.advance(DAY)
    await sync(client, store_url, clock=server.now, **options)
    async with open_store(store_url) as store:
        rows = await store.table_rows("vector_stores")
    later = NOW + DAY - 30 * HOUR
    assert all(r["settled"] == (r["end_time"] <= later) for r in rows)
    assert any(r["settled"] and r["end_time"] > NOW - 30 * HOUR for r in rows)


async def test_overlapping_runs_store_each_row_once(
    client: UsageClient, server: FakeUsageServer, make_store_url: Any
) -> None:
    url, single = make_store_url(), make_store_url()
    options: dict[str, Any] = {
        "endpoints": ["completions", "costs"],
        "bucket_width": {"completions": "1h"},
        "since": NOW - 2 * DAY,
        "limit": 5,
        "clock": server.now,
    }
    one, two = await asyncio.gather(sync(client, url, **options), sync(client, url, **options))
    await sync(client, single, **options)
    assert await dump(url) == await dump(single)
    rows = sum(len(v) for k, v in (await dump(single)).items() if k != "state")
    assert one.total("inserted") + two.total("inserted") == rows


async def test_faults_5xx_429_and_dropped_connections_leave_the_same_contents(
    server: FakeUsageServer, make_store_url: Any
) -> None:
    url, clean = make_store_url(), make_store_url()
    options: dict[str, Any] = {
        "endpoints": ["completions", "costs", "images"],
        "bucket_width": {"completions": "1h", "images": "1h"},
        "since": NOW - 2 * DAY,
        "limit": 6,
        "clock": server.now,
    }
    server.faults = Faults(
        error_rate=0.25, drop_rate=0.1, truncate_rate=0.05, retry_after=0, seed=7,
        script=(429, 503, "drop"),
    )  # fmt: skip
    # No pacing: this is about what reaches the store, not about finding the server's rate.
    # About 4 in 10 attempts fail, so give each request enough attempts that none runs out.
    patient = RetryPolicy(max_attempts=30, initial_delay=0.001, max_delay=0.01)
    async with UsageClient(
        server.api_key, base_url=server.base_url, retry=patient, rate_limit=None
    ) as client:
        report = await sync(client, url, **options)
        failed = len(server.requests) - report.total("pages")
        server.faults = Faults()
        await sync(client, clean, **options)
    assert report.ok
    assert failed >= 5  # the faults did happen, and were retried
    assert await dump(url) == await dump(clean)


async def test_an_api_failure_mid_run_commits_whole_pages_and_the_next_run_resumes(
    server: FakeUsageServer, make_store_url: Any
) -> None:
    url, clean = make_store_url(), make_store_url()
    options: dict[str, Any] = {
        "endpoints": ["completions"],
        "bucket_width": "1h",
        "since": NOW - 2 * DAY,
        "limit": 6,
        "clock": server.now,
    }
    no_retry = RetryPolicy(max_attempts=1)
    server.script(200, 200, 500)  # the third page fails for good
    async with UsageClient(server.api_key, base_url=server.base_url, retry=no_retry) as client:
        report = await sync(client, url, **options)
        (entry,) = report.endpoints
        assert not report.ok
        assert entry.error is not None
        assert "500" in entry.error
        assert entry.pages == 2
        async with open_store(url) as store:
            rows = await store.table_rows("completions")
            assert {r["start_time"] for r in rows} <= set(
                range(NOW - 2 * DAY, NOW - 36 * HOUR, HOUR)
            )
            assert (await store.states())[0][4] == NOW - 36 * HOUR  # the watermark: 12 buckets
        resumed = await sync(client, url, **options)
        assert resumed.ok
        await sync(client, clean, **options)
    assert await dump(url) == await dump(clean)


class StalledStore(Store):
    """A store whose writes wait until released, to see how far the readers run ahead."""

    def __init__(self, inner: Store, server: FakeUsageServer) -> None:
        super().__init__(inner.url, inner.schema)
        self.dialect = inner.dialect
        self.inner = inner
        self.server = server
        self.requests_seen: list[int] = []

    async def open(self) -> None:
        await self.inner.open()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def schema_version(self) -> int:
        return await self.inner.schema_version()

    async def load_state(self, endpoint: str, bucket_width: str, group_by: str) -> Any:
        return await self.inner.load_state(endpoint, bucket_width, group_by)

    async def states(self) -> list[tuple[str, str, str, int, int]]:
        return await self.inner.states()

    async def fetch(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return await self.inner.fetch(sql, params)

    async def execute(self, sql: str, params: Any = ()) -> None:
        await self.inner.execute(sql, params)

    async def write_page(self, page: PageWrite) -> PageResult:
        if not self.requests_seen:
            # Not a synchronisation: a grace period in which unbounded readers would read
            # (many) more pages. The assertion below is an upper bound, true at any speed.
            await asyncio.sleep(0.5)
        self.requests_seen.append(len(self.server.requests))
        return await self.inner.write_page(page)


async def test_readers_stay_a_few_pages_ahead_of_a_slow_writer(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    async with open_store(store_url) as inner:
        store = StalledStore(inner, server)
        report = await Collector(
            client,
            store,
            endpoints=["completions"],
            bucket_width="1h",
            since=NOW - 3 * DAY,
            limit=1,
            clock=server.now,
        ).run()
    assert report.total("pages") == 72
    # Written pages + (queue of 2) + (one blocked on the queue) + (one read ahead) + 1.
    ahead = [seen - i for i, seen in enumerate(store.requests_seen)]
    assert max(ahead) <= 5


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"endpoints": ["completions", "nope"]}, "unknown endpoint 'nope'"),
        ({"endpoints": "costs"}, "expected a list of names"),
        ({"bucket_width": {"costs": "1h"}}, "costs: bucket_width '1h' is not offered"),
        ({"bucket_width": "2h"}, "bucket_width '2h'"),
        ({"group_by": {"costs": ["model"]}}, "costs: cannot group by 'model'"),
        ({"group_by": {"vector_stores": "project_id"}}, "must be a list"),
        ({"limit": 0}, "limit"),
        ({"since": _dt.datetime(2025, 1, 1)}, "naive datetime"),
        ({"since": 1.5}, "since"),
    ],
)
async def test_bad_options_are_refused_before_any_request(
    client: UsageClient, server: FakeUsageServer, store_url: str, options: Any, message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        await sync(client, store_url, **options)
    assert server.requests == []


async def test_a_one_width_bucket_width_leaves_costs_at_1d_and_groups_default_for_finops(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    report = await sync(client, store_url, bucket_width="1h", since=NOW - HOUR, clock=server.now)
    shapes = {r.endpoint: (r.bucket_width, r.group_by) for r in report.endpoints}
    assert len(shapes) == 11
    assert shapes["costs"] == ("1d", "line_item,project_id")
    assert shapes["completions"] == ("1h", "model,project_id")
    assert shapes["vector_stores"] == ("1h", "project_id")
    assert shapes["file_search_calls"] == ("1h", "project_id")
