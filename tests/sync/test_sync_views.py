"""The views of spend (schema version 5): their figures equal ``query spend``'s, from the same
single collection, on every store."""

from __future__ import annotations

import datetime as _dt
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sync_support import DAY, FAST_RETRY, NOW, build_old_database

from usage_async import UsageClient
from usage_async.sync import VIEWS, DecimalSum, SpendAnswer, open_store, spend, sync
from usage_async.testing import FakeUsageServer

SINCE = NOW - 6 * DAY


def as_decimal(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(value)


async def view(url: str, name: str) -> list[dict[str, Any]]:
    async with open_store(url) as store:
        rows = await store.fetch(f"SELECT * FROM {name}")  # noqa: S608 - our own view names
        if store.dialect.name == "postgresql":
            columns = await _pg_columns(store, name)
        else:
            columns = await _sqlite_columns(store, name)
    return [dict(zip(columns, row, strict=True)) for row in rows]


async def _sqlite_columns(store: Any, name: str) -> list[str]:
    return [r[1] for r in await store.fetch(f"PRAGMA table_info({name})")]


async def _pg_columns(store: Any, name: str) -> list[str]:
    rows = await store.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s"
        " AND table_schema = current_schema() ORDER BY ordinal_position",
        (name,),
    )
    return [r[0] for r in rows]


def spend_by(answer: SpendAnswer, key_of: Any) -> dict[Any, tuple[Decimal, bool, Any]]:
    return {(*key_of(r), r.currency): (r.amount, r.settled, r.names) for r in answer}


async def collect_three_ways(client: UsageClient, server: FakeUsageServer, url: str) -> None:
    """Three collections of the same spend: adding any two would count it twice."""
    for group_by in (["project_id"], [], ["project_id", "line_item"]):
        await sync(
            client,
            url,
            endpoints=["costs"],
            group_by={"costs": group_by},
            since=SINCE,
            clock=server.now,
            names=True,
        )


async def test_every_database_has_the_views(store_url: str) -> None:
    async with open_store(store_url) as store:
        for name in VIEWS:
            assert await store.fetch(f"SELECT * FROM {name}") == []  # noqa: S608


async def test_daily_spend_by_project_equals_query_spend_by_project_and_day(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await collect_three_ways(client, server, store_url)
    rows = await view(store_url, "usage_async_daily_spend_by_project")
    assert list(rows[0]) == [
        "day",
        "day_start",
        "project_id",
        "project_name",
        "currency",
        "amount",
        "settled",
    ]
    answer = await spend(store_url, by="project,day")
    assert answer.collection is not None
    assert answer.collection.group_by == "line_item,project_id"
    expected = spend_by(answer, lambda r: (r.key[1], r.key[0] or ""))
    found = {
        (r["day"], r["project_id"], r["currency"]): (
            as_decimal(r["amount"]),
            bool(r["settled"]),
            (r["project_id"] and r["project_name"], None),
        )
        for r in rows
    }
    assert found == {k: (a, s, (n[0], None)) for k, (a, s, n) in expected.items()}
    for r in rows:
        start = _dt.datetime.fromtimestamp(r["day_start"], _dt.timezone.utc)
        assert start.date().isoformat() == r["day"]
    assert any(r["project_name"] for r in rows)


async def test_daily_spend_by_model_equals_query_spend_by_day_and_model(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await collect_three_ways(client, server, store_url)
    rows = await view(store_url, "usage_async_daily_spend_by_model")
    assert list(rows[0]) == ["day", "day_start", "model", "currency", "amount", "settled"]
    answer = await spend(store_url, by="day,model")
    expected = {k: (a, s) for k, (a, s, _) in spend_by(answer, lambda r: r.key).items()}
    found = {
        (r["day"], r["model"], r["currency"]): (as_decimal(r["amount"]), bool(r["settled"]))
        for r in rows
    }
    assert found == expected
    assert len({r["model"] for r in rows}) > 3


async def test_the_views_follow_query_to_the_most_current_collection(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    # By project and line item up to a day ago, by project alone since: the newer one wins.
    for group_by, now in ((["project_id", "line_item"], NOW - DAY), (["project_id"], NOW)):
        await sync(
            client,
            store_url,
            endpoints=["costs"],
            group_by={"costs": group_by},
            since=SINCE,
            clock=lambda now=now: float(now),  # type: ignore[misc]
        )
    answer = await spend(store_url, by="project,day")
    assert answer.collection is not None
    assert answer.collection.group_by == "project_id"
    rows = await view(store_url, "usage_async_daily_spend_by_project")
    total = sum((as_decimal(r["amount"]) for r in rows), Decimal(0))
    assert total == sum((r.amount for r in answer), Decimal(0))
    by_model = await view(store_url, "usage_async_daily_spend_by_model")
    older = await spend(store_url, by="day,model")  # only the older collection has models
    assert older.collection is not None
    assert older.collection.group_by == "line_item,project_id"
    assert sum((as_decimal(r["amount"]) for r in by_model), Decimal(0)) == sum(
        (r.amount for r in older), Decimal(0)
    )


@pytest.fixture
async def today_client() -> AsyncIterator[tuple[UsageClient, FakeUsageServer]]:
    """The simulator with its clock on the real now: month to date is the database's now."""
    async with (
        FakeUsageServer(seed=2, now=int(time.time())) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST_RETRY) as c,
    ):
        yield c, srv


def month_start(now: float) -> int:
    today = _dt.datetime.fromtimestamp(now, _dt.timezone.utc)
    first = today.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return int(first.timestamp())


async def test_month_to_date_spend_equals_query_spend_since_the_month_began(
    today_client: tuple[UsageClient, FakeUsageServer], store_url: str
) -> None:
    client, server = today_client
    start = month_start(server.now())
    for group_by in (["project_id"], ["project_id", "line_item"]):
        await sync(
            client,
            store_url,
            endpoints=["costs"],
            group_by={"costs": group_by},
            since=start - 3 * DAY,
            clock=server.now,
            names=True,
        )
    rows = await view(store_url, "usage_async_month_to_date_spend")
    answer = await spend(store_url, by="project", since=start)
    assert answer.until is not None
    if start == answer.until:  # the first seconds of a month: nothing to compare yet
        pytest.skip("the month began moments ago")
    month = _dt.datetime.fromtimestamp(start, _dt.timezone.utc).strftime("%Y-%m")
    assert {(r["month"], r["month_start"], r["until_time"]) for r in rows} == {
        (month, start, answer.until)
    }
    found = {
        (r["project_id"], r["currency"]): (as_decimal(r["amount"]), bool(r["settled"]))
        for r in rows
    }
    assert found == {(r.group, r.currency): (r.amount, r.settled) for r in answer}


async def test_a_migrated_database_gets_the_views(store_kind: str, store_url: str) -> None:
    build_old_database(store_kind, store_url, 3)  # one costs row per line item, 2025-02-28
    rows = await view(store_url, "usage_async_daily_spend_by_model")
    answer = await spend(store_url, by="day,model")
    assert {(r["day"], r["model"]): as_decimal(r["amount"]) for r in rows} == {
        r.key: r.amount for r in answer
    }
    assert len(rows) == len(answer) > 3


async def test_another_sqlite_client_reads_the_views_with_decimal_sum_registered(
    client: UsageClient, server: FakeUsageServer, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path}/usage.db"
    await collect_three_ways(client, server, url)
    answer = await spend(url, by="project,day")
    rows = _read_with_sqlite3(tmp_path / "usage.db", "usage_async_daily_spend_by_project")
    assert sum(Decimal(r[5]) for r in rows) == sum((r.amount for r in answer), Decimal(0))
    assert all(isinstance(r[5], str) for r in rows)  # the exact decimal string


def _read_with_sqlite3(path: Path, name: str) -> Sequence[Any]:
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="decimal_sum"):
            conn.execute(f"SELECT * FROM {name}").fetchall()  # noqa: S608
        conn.create_aggregate("decimal_sum", 1, DecimalSum)  # type: ignore[arg-type]
        return conn.execute(f"SELECT * FROM {name}").fetchall()  # noqa: S608
    finally:
        conn.close()


def test_the_views_are_the_last_step_of_the_migration_to_version_5() -> None:
    from usage_async.sync._schema import POSTGRES, SCHEMA, SQLITE

    for dialect in (SQLITE, POSTGRES):
        step = SCHEMA.migrations[4](dialect)
        assert [str(s).split(" AS")[0] for s in step] == [f"CREATE VIEW {v}" for v in VIEWS]
