"""``query spend --by`` any combination: exact sums equal a Decimal sum of the raw rows, names
beside ids, a dimension no collection holds refused, on every store."""

from __future__ import annotations

import datetime as _dt
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sync_support import DAY

from usage_async import InvalidParameterError, UsageClient, group_spend
from usage_async.cli import main
from usage_async.line_items import parse_line_item
from usage_async.sync import (
    SpendDimensionError,
    SpendRangeError,
    open_store,
    spend,
    sync,
)
from usage_async.testing import FakeUsageServer

# After 2025-12-06, from when the API groups Costs by api_key_id (API-NOTES #14).
NOW = 1_768_478_400  # 2026-01-15T12:00:00Z, a Thursday
SINCE = NOW - 20 * DAY  # three ISO weeks and two months
GROUP_BY = ["project_id", "line_item", "api_key_id"]
HEAD = ("1d", "api_key_id,line_item,project_id")


@pytest.fixture
async def server() -> AsyncIterator[FakeUsageServer]:
    """The simulator (conftest's ``client`` asks it) with its clock on NOW."""
    async with FakeUsageServer(seed=3, now=NOW) as srv:
        yield srv


@pytest.fixture
async def collect(client: UsageClient, server: FakeUsageServer) -> Callable[..., Awaitable[None]]:
    """``await collect(url, group_by)``: sync the simulator's costs (and names) into ``url``."""

    async def run(url: str, group_by: Sequence[str] = GROUP_BY) -> None:
        await sync(
            client,
            url,
            endpoints=["costs"],
            group_by={"costs": list(group_by)},
            since=SINCE,
            clock=server.now,
            names=True,
        )

    return run


Collect = Callable[..., Awaitable[None]]


def day_key(dimension: str, start: int) -> str:
    return date_key(dimension, _dt.datetime.fromtimestamp(start, _dt.timezone.utc).date())


def date_key(dimension: str, day: _dt.date) -> str:
    if dimension == "day":
        return day.isoformat()
    if dimension == "week":
        return "{}-W{:02d}".format(*day.isocalendar()[:2])
    return day.strftime("%Y-%m")


def raw_value(dimension: str, row: dict[str, Any]) -> str | None:
    """A dimension's value of one stored row, read independently of the stored columns."""
    if dimension in ("day", "week", "month"):
        return day_key(dimension, row["start_time"])
    if dimension in ("model", "kind"):
        item = parse_line_item(row["line_item"]) if row["line_item"] else None
        return getattr(item, dimension) if item is not None else None
    column = {"project": "project_id", "api_key": "api_key_id", "line_item": "line_item"}
    return row[column[dimension]] or None


async def raw_sums(url: str, by: Sequence[str], head: tuple[str, str] = HEAD) -> dict[Any, Decimal]:
    """The Decimal sum of the raw costs rows of one collection, by ``by`` and currency."""
    async with open_store(url) as store:
        rows = await store.table_rows("costs")
    sums: dict[Any, Decimal] = defaultdict(Decimal)
    for row in rows:
        if (row["bucket_width"], row["group_by"]) != head or row["amount_value"] is None:
            continue
        key = tuple(raw_value(d, row) for d in by)
        sums[key, row["amount_currency"]] += row["amount_value"]
    return dict(sums)


@pytest.mark.parametrize(
    "by",
    [
        ("project",),
        ("line_item",),
        ("model",),
        ("kind",),
        ("day",),
        ("week",),
        ("month",),
        ("api_key",),
        ("project", "day", "model"),
        ("month", "kind", "api_key"),
        ("model", "project", "week", "line_item"),
    ],
    ids=lambda by: ",".join(by),
)
async def test_every_dimension_and_combination_sums_the_raw_rows_exactly(
    collect: Collect, store_url: str, by: tuple[str, ...]
) -> None:
    await collect(store_url)
    answer = await spend(store_url, by=",".join(by))
    assert answer.by == by
    assert answer.collection is not None
    assert (answer.collection.bucket_width, answer.collection.group_by) == HEAD
    found = {(r.key, r.currency): r.amount for r in answer}
    assert found == await raw_sums(store_url, by)
    assert len(found) > 1
    assert all(type(r.amount) is Decimal for r in answer)
    assert answer.results == sum(
        1
        for r in await _rows(store_url)
        if (r["bucket_width"], r["group_by"]) == HEAD and r["amount_value"] is not None
    )


async def _rows(url: str) -> list[dict[str, Any]]:
    async with open_store(url) as store:
        return await store.table_rows("costs")


async def test_the_answer_as_a_table_equals_group_spend_of_the_apis_own_buckets(
    collect: Collect, client: UsageClient, store_url: str
) -> None:
    await collect(store_url)
    by = ("project", "week", "model", "kind")
    answer = await spend(store_url, by=by, names=False)
    assert answer.since is not None
    assert answer.until is not None
    buckets = [
        b
        async for b in client.costs.buckets(
            start_time=answer.since, end_time=answer.until, group_by=GROUP_BY, limit=31
        )
    ]
    from_api = group_spend(buckets, by=by)
    table = answer.table()
    assert [(r.key, r.currency, r.amount) for r in table.rows] == [
        (r.key, r.currency, r.amount) for r in from_api.rows
    ]
    assert table.totals == from_api.totals
    assert table.results == from_api.results


async def test_weeks_and_months_add_their_days_exactly(collect: Collect, store_url: str) -> None:
    await collect(store_url)
    days = await spend(store_url, by="day")
    for dimension in ("week", "month"):
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in days:
            totals[date_key(dimension, _dt.date.fromisoformat(row.group))] += row.amount
        answer = await spend(store_url, by=dimension)
        assert {r.group: r.amount for r in answer} == dict(totals)
        assert [r.group for r in answer] == sorted(totals)  # time dimensions: in time order
    assert len({r.group for r in await spend(store_url, by="month")}) == 2


async def test_sqlite_and_postgresql_never_sum_through_a_float(
    collect: Collect, store_url: str
) -> None:
    await collect(store_url)
    async with open_store(store_url) as store:
        tenth = store.dialect.decimal_out(Decimal("0.1"))
        set_all = "UPDATE costs SET amount_value = " + store.dialect.param  # noqa: S608
        await store.execute(set_all, (tenth,))
        count = len(await store.table_rows("costs"))
    answer = await spend(store_url, by="month,kind")
    assert sum((r.amount for r in answer), Decimal(0)) == Decimal(count) / 10
    assert all((r.amount * 10) % 1 == 0 for r in answer)  # float sums leave ...00000004


async def test_names_stand_beside_project_and_api_key_ids(collect: Collect, store_url: str) -> None:
    await collect(store_url)
    async with open_store(store_url) as store:
        projects = {r["id"]: r["name"] for r in await store.directory_rows("projects")}
        keys = {r["id"]: r["name"] for r in await store.directory_rows("api_keys")}
    answer = await spend(store_url, by="api_key,day,project")
    assert answer.columns() == [
        "api_key_id",
        "api_key_name",
        "day",
        "project_id",
        "project_name",
        "currency",
        "amount",
        "settled",
    ]
    named = 0
    for row in answer:
        api_key, _day, project = row.key
        assert row.names[1] is None
        assert row.names[0] == (keys.get(api_key) if api_key else None)
        assert row.names[2] == (projects.get(project) if project else None)
        named += row.names[0] is not None
    assert named > 0
    record = answer.records()[0]
    assert list(record) == answer.columns()
    without = await spend(store_url, by="api_key,day,project", names=False)
    assert without.columns(names=False) == [
        "api_key_id",
        "day",
        "project_id",
        *answer.columns()[5:],
    ]
    assert all(r.names == (None, None, None) for r in without)


async def test_an_id_the_directory_does_not_name_shows_as_unknown(
    collect: Collect, store_url: str
) -> None:
    await collect(store_url)
    async with open_store(store_url) as store:
        await store.execute("DELETE FROM usage_async_api_keys")
    answer = await spend(store_url, by="api_key")
    row = next(r for r in answer if r.key[0])
    assert row.names == (None,)
    assert answer.records()[answer.index(row)]["api_key_name"] == f"{row.key[0]} (unknown)"
    (in_table,) = [
        r for r in answer.table().rows if r.key == row.key and r.currency == row.currency
    ]
    assert in_table.names == (f"{row.key[0]} (unknown)",)


@pytest.mark.parametrize(
    ("by", "missing", "hint"),
    [
        ("api_key", "api_key_id", "costs=api_key_id"),
        ("project,model", "line_item", "costs=project_id,line_item"),
        ("kind", "line_item", "costs=line_item"),
    ],
)
async def test_a_dimension_no_collection_is_grouped_for_is_refused_naming_the_group_by(
    collect: Collect, store_url: str, by: str, missing: str, hint: str
) -> None:
    await collect(store_url, group_by=["project_id"])
    with pytest.raises(SpendDimensionError, match=f"sync --group-by {hint}$") as caught:
        await spend(store_url, by=by)
    assert caught.value.missing == missing
    assert isinstance(caught.value, SpendRangeError)  # "cannot answer", as a range is


async def test_an_unknown_dimension_is_refused_before_opening_the_database(
    tmp_path: Path,
) -> None:
    with pytest.raises(InvalidParameterError, match="dimensions: project, line_item, model"):
        await spend(f"sqlite:///{tmp_path}/missing.db", by="project,colour")


def test_the_command_exits_2_naming_the_dimensions_for_an_unknown_one(
    tmp_path: Path, capsys: Any
) -> None:
    assert main(["query", "--db", f"sqlite:///{tmp_path}/x.db", "spend", "--by", "day,hue"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "usage-async query: error: --by: unknown dimension 'hue'; dimensions: project, "
        "line_item, model, kind, day, week, month, api_key\n"
    )
    assert list(tmp_path.iterdir()) == []


async def test_the_command_exits_2_naming_the_group_by_for_a_dimension_not_collected(
    collect: Collect, store_url: str, capsys: Any
) -> None:
    await collect(store_url, group_by=["project_id", "line_item"])
    assert await _main(["query", "--db", store_url, "spend", "--by", "project,api_key"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage-async query: error: no costs collection is grouped by api_key_id")
    assert err.endswith(
        "collect one with usage-async sync --group-by costs=project_id,api_key_id\n"
    )
    assert err.count("\n") == 1


async def _main(argv: list[str]) -> int:
    """``main`` runs its own event loop: run it on a thread from an async test."""
    import asyncio

    return await asyncio.to_thread(main, argv)


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
async def test_the_command_writes_the_columns_in_the_order_given_in_every_format(
    collect: Collect, store_url: str, tmp_path: Path, fmt: str
) -> None:
    await collect(store_url)
    out = tmp_path / f"spend.{fmt}"
    argv = ["query", "--db", store_url, "spend", "--by", "month,project,kind"]
    assert await _main([*argv, "--format", fmt, "-o", str(out)]) == 0
    text = out.read_text()
    header = ["month", "project_id", "project_name", "kind", "currency", "amount", "settled"]
    answer = await spend(store_url, by="month,project,kind")
    if fmt == "table":
        assert text.splitlines()[0].split() == header
        assert len(text.splitlines()) == 2 + len(answer)
    elif fmt == "csv":
        lines = text.splitlines()
        assert lines[0] == ",".join(header)
        assert len(lines) == 1 + len(answer)
    else:
        items = (
            json.loads(text, parse_float=Decimal)
            if fmt == "json"
            else [json.loads(x, parse_float=Decimal) for x in text.splitlines()]
        )
        assert [list(item) for item in items] == [header] * len(answer)
        assert [Decimal(item["amount"]) for item in items] == [r.amount for r in answer]


async def test_columns_held_only_in_separate_collections_are_refused_naming_them_all(
    collect: Collect, store_url: str
) -> None:
    await collect(store_url, group_by=["project_id", "line_item"])
    await collect(store_url, group_by=["api_key_id"])
    with pytest.raises(
        SpendDimensionError, match="grouped by all of api_key_id, line_item at"
    ) as caught:
        await spend(store_url, by="model,api_key")
    assert str(caught.value).endswith("sync --group-by costs=line_item,api_key_id")
    assert caught.value.missing == "api_key_id,line_item"
