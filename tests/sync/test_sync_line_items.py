"""Schema version 4: costs rows carry the model and charge kind read from their line item,
written by sync and back-filled by the migration, on every store."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sync_support import DAY, LINE_ITEMS, NOW, build_old_database, pg_exec, statements_of

from usage_async import UsageClient
from usage_async.line_items import parse_line_item
from usage_async.sync import SCHEMA, open_store, sync
from usage_async.sync._schema import LINE_ITEM_COLUMNS, POSTGRES, SQLITE, line_item_values
from usage_async.testing import FakeUsageServer

DATA = Path(__file__).parent / "data"
SINCE = NOW - 4 * DAY


def expected(line_item: str) -> dict[str, str | None]:
    """The four columns as the parser reads ``line_item``: NULL where it gives nothing."""
    item = parse_line_item(line_item) if line_item else None
    if item is None or not item.recognised:
        return dict.fromkeys(LINE_ITEM_COLUMNS)
    return {
        "model": item.model,
        "kind": item.kind,
        "line_item_prefix": item.prefix,
        "line_item_detail": item.detail,
    }


def derived(row: dict[str, Any]) -> dict[str, Any]:
    return {c: row[c] for c in LINE_ITEM_COLUMNS}


def test_the_columns_are_what_the_parser_reads_and_null_for_what_it_does_not() -> None:
    assert line_item_values("priority | gpt-4.1, output") == ("gpt-4.1", "output", "priority", None)
    assert line_item_values("gpt-4.1, input, long context") == (
        "gpt-4.1",
        "input",
        None,
        "long context",
    )
    assert line_item_values("web search tool calls, low context") == (
        None,
        "tool_call",
        None,
        "web search, low context",
    )
    for unknown in ("input_tokens", "assistants api | file search", "", None):
        assert line_item_values(unknown) == (None, None, None, None)


def test_only_the_costs_table_has_them() -> None:
    for name, table in SCHEMA.tables.items():
        assert table.derived == (LINE_ITEM_COLUMNS if name == "costs" else ())


async def test_sync_writes_the_model_and_kind_of_every_costs_row(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await sync(client, store_url, endpoints=["costs"], since=SINCE, clock=server.now)
    async with open_store(store_url) as store:
        rows = await store.table_rows("costs")
    assert rows
    for row in rows:
        assert derived(row) == expected(row["line_item"]), row["line_item"]
    assert sum(row["model"] is not None for row in rows) > len(rows) // 2
    assert {row["kind"] for row in rows} >= {"input", "output", "cached_input"}


async def test_a_collection_not_grouped_by_line_item_has_them_null(
    client: UsageClient, server: FakeUsageServer, store_url: str
) -> None:
    await sync(
        client,
        store_url,
        endpoints=["costs"],
        group_by={"costs": ["project_id"]},
        since=SINCE,
        clock=server.now,
    )
    async with open_store(store_url) as store:
        rows = await store.table_rows("costs")
    assert rows
    assert all(derived(row) == dict.fromkeys(LINE_ITEM_COLUMNS) for row in rows)


@pytest.mark.parametrize("version", [1, 3])
async def test_an_older_database_is_migrated_and_its_rows_back_filled(
    store_kind: str, store_url: str, version: int
) -> None:
    build_old_database(store_kind, store_url, version)
    async with open_store(store_url) as store:
        assert await store.schema_version() == SCHEMA.version
        rows = await store.table_rows("costs")
        assert await store.states() == [("costs", "1d", "line_item,project_id", NOW - DAY, NOW)]
    assert len(rows) == len(LINE_ITEMS)
    for row in rows:
        assert derived(row) == expected(row["line_item"]), row["line_item"]
        i = int(row["project_id"].removeprefix("proj_"))
        assert row["amount_value"] == Decimal(f"{i}.{i}")  # the money is untouched
    by_item = {row["line_item"]: row for row in rows}
    assert derived(by_item["priority | gpt-4.1, output"]) == {
        "model": "gpt-4.1",
        "kind": "output",
        "line_item_prefix": "priority",
        "line_item_detail": None,
    }
    assert by_item["input_tokens"]["model"] is None
    async with open_store(store_url) as store:  # a second open migrates nothing
        assert await store.schema_version() == SCHEMA.version


async def test_a_migrated_database_holds_what_a_new_one_syncs(
    client: UsageClient,
    server: FakeUsageServer,
    store_kind: str,
    make_store_url: Any,
) -> None:
    fresh, old = make_store_url(), make_store_url()
    await sync(client, fresh, endpoints=["costs"], since=SINCE, clock=server.now)
    async with open_store(fresh) as store:
        synced = await store.table_rows("costs")
    # The same rows written by version 3, which had no line item columns.
    dialect = SQLITE if store_kind == "sqlite" else POSTGRES
    columns = [c for c in SCHEMA.tables["costs"].columns if c not in LINE_ITEM_COLUMNS]
    inserts = []
    for row in synced:
        values = []
        for c in columns:
            value = row[c]
            if isinstance(value, Decimal):
                value = dialect.decimal_out(value)
            elif isinstance(value, bool):
                value = dialect.bool_out(value)
            values.append(value)
        inserts.append(tuple(values))
    statements = statements_of(DATA / f"schema_v3_{store_kind}.sql")
    insert = f"INSERT INTO costs ({', '.join(columns)}) VALUES ({dialect.params(len(columns))})"  # noqa: S608
    if store_kind == "sqlite":
        with sqlite3.connect(old.removeprefix("sqlite:///")) as conn:
            for statement in statements:
                conn.execute(statement)
            conn.executemany(insert, inserts)
    else:
        import psycopg

        for statement in statements:
            pg_exec(old, statement)
        with psycopg.connect(old, autocommit=True) as conn, conn.cursor() as cur:
            cur.executemany(insert, inserts)  # type: ignore[arg-type]
    async with open_store(old) as store:
        migrated = await store.table_rows("costs")
    assert migrated == synced


async def test_an_empty_version_3_database_migrates(store_kind: str, store_url: str) -> None:
    ddl = statements_of(DATA / f"schema_v3_{store_kind}.sql")
    if store_kind == "sqlite":
        with sqlite3.connect(store_url.removeprefix("sqlite:///")) as conn:
            for statement in ddl:
                conn.execute(statement)
    else:
        for statement in ddl:
            pg_exec(store_url, statement)
    async with open_store(store_url) as store:
        assert await store.schema_version() == SCHEMA.version
        assert await store.table_rows("costs") == []
