"""The stores on their own, on every store: schema, versions, migration, page writes, money."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from sync_support import DAY, NOW

from usage_async import ENDPOINTS
from usage_async.directory import KINDS
from usage_async.sync import SCHEMA, PageWrite, SchemaVersionError, StoreURLError, open_store
from usage_async.sync._schema import (
    DIRECTORY_TABLES,
    POSTGRES,
    SQLITE,
    Schema,
    canonical_decimal,
    table_for,
)
from usage_async.sync._sqlite import DecimalSum

COSTS = SCHEMA.tables["costs"]


def costs_row(start: int, project: str, value: str, *, settled: bool = False) -> dict[str, Any]:
    return {
        "start_time": start,
        "end_time": start + DAY,
        "bucket_width": "1d",
        "group_by": "line_item,project_id",
        "project_id": project,
        "line_item": "gpt-4o, input",
        "api_key_id": "",
        "amount_value": Decimal(value),
        "amount_currency": "usd",
        "quantity": Decimal(1000),
        "quantity_unit": "tokens",
        "settled": settled,
        "fetched_at": NOW,
        "read_at": 0,
        "missing_since": None,
        "model": "gpt-4o",
        "kind": "input",
        "line_item_prefix": None,
        "line_item_detail": None,
    }


def page_of(
    store: Any,
    rows: list[dict[str, Any]],
    start: int,
    end: int,
    *,
    read_at: int = 0,
    run: int = 0,
    unsure: frozenset[int] = frozenset(),
) -> PageWrite:
    dialect = store.dialect
    tuples = []
    for row in rows:
        row = {**row, "read_at": read_at}
        values = [row[c] for c in COSTS.columns]
        for i, column in enumerate(COSTS.columns):
            if column in ("amount_value", "quantity"):
                values[i] = dialect.decimal_out(values[i])
            if column == "settled":
                values[i] = dialect.bool_out(values[i])
        tuples.append(tuple(values))
    keys = frozenset((r["start_time"], r["project_id"], r["line_item"], "") for r in rows)
    return PageWrite(
        endpoint="costs",
        bucket_width="1d",
        group_by="line_item,project_id",
        start=start,
        end=end,
        rows=tuples,
        keys=keys,
        since=start,
        watermark=end,
        now=NOW,
        read_at=read_at,
        run=run,
        unsure=unsure,
    )


def test_every_endpoint_has_a_table_with_every_result_field_and_group_column() -> None:
    assert set(SCHEMA.tables) == set(ENDPOINTS)
    for name, spec in ENDPOINTS.items():
        table = SCHEMA.tables[name]
        assert table.groups == spec.group_by
        fields = {f.name for f in attrs.fields(spec.result_type)} - set(spec.group_by)
        assert {c.attr for c in table.fields} == fields
        assert table.key == ("bucket_width", "group_by", "start_time", *spec.group_by)
    assert [c.name for c in COSTS.fields] == [
        "amount_value",
        "amount_currency",
        "quantity",
        "quantity_unit",
    ]


def test_the_schema_of_version_5_is_pinned() -> None:
    # A new result field changes the tables: that needs SCHEMA_VERSION 6 and a migration.
    layout = {name: t.columns for name, t in SCHEMA.tables.items()}
    assert SCHEMA.version == 5
    assert layout["costs"][-5:] == (
        "missing_since",
        "model",
        "kind",
        "line_item_prefix",
        "line_item_detail",
    )
    assert layout == {name: table_for(name).columns for name in ENDPOINTS}
    assert len(layout["completions"]) == 4 + 6 + 15 + 4
    assert layout["vector_stores"] == (
        "start_time",
        "end_time",
        "bucket_width",
        "group_by",
        "project_id",
        "usage_bytes",
        "settled",
        "fetched_at",
        "read_at",
        "missing_since",
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("12.50", "12.5"),
        ("0E-6176", "0"),
        ("100", "100"),
        ("1E+3", "1000"),
        ("-0.000", "0"),
        ("0.123456789012345678901234567890123", "0.123456789012345678901234567890123"),
    ],
)
def test_decimals_have_one_exact_spelling(value: str, text: str) -> None:
    assert canonical_decimal(Decimal(value)) == text
    assert Decimal(text) == Decimal(value)


def test_the_sqlite_decimal_sum_is_exact_where_floats_are_not() -> None:
    total = DecimalSum()
    for value in ["0.1", "0.2", None, "12345678901234567890.000000001"]:
        total.step(value)
    assert total.finalize() == "12345678901234567890.300000001"
    assert 0.1 + 0.2 != 0.3


async def test_a_new_database_gets_every_table_at_the_current_version(store_url: str) -> None:
    async with open_store(store_url) as store:
        assert await store.schema_version() == SCHEMA.version
        for name in ENDPOINTS:
            assert await store.table_rows(name) == []
        assert await store.states() == []
    async with open_store(store_url) as store:  # reopening changes nothing
        assert await store.schema_version() == SCHEMA.version


async def test_a_database_from_a_newer_version_is_refused(store_url: str) -> None:
    async with open_store(store_url) as store:
        await store.fetch("UPDATE usage_async_meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match="schema version 99, newer than"):
        async with open_store(store_url):
            pass


async def test_an_older_database_is_migrated_in_place_keeping_its_rows(store_url: str) -> None:
    async with open_store(store_url) as store:
        await store.write_page(page_of(store, [costs_row(NOW - DAY, "proj_a", "1.5")], 0, NOW))

    def add_note(dialect: Any) -> list[str]:
        return ['ALTER TABLE "costs" ADD COLUMN "note" TEXT']

    note = attrs.evolve(COSTS.fields[-1], name="note", attr="note")
    tables = {**SCHEMA.tables, "costs": attrs.evolve(COSTS, fields=(*COSTS.fields, note))}
    newer = SCHEMA.version + 1
    migrations = {**SCHEMA.migrations, SCHEMA.version: add_note}
    v_next = Schema(version=newer, tables=tables, migrations=migrations)
    async with open_store(store_url, schema=v_next) as store:
        assert await store.schema_version() == newer
        (row,) = await store.table_rows("costs")
    assert row["note"] is None
    assert row["amount_value"] == Decimal("1.5")
    with pytest.raises(SchemaVersionError):  # and the current version no longer opens it
        async with open_store(store_url):
            pass


async def test_a_page_write_upserts_and_reports_what_changed(store_url: str) -> None:
    day = NOW - NOW % DAY
    async with open_store(store_url) as store:
        first = [costs_row(day - DAY, "proj_a", "1.5"), costs_row(day - DAY, "proj_b", "2")]
        result = await store.write_page(page_of(store, first, day - DAY, day, read_at=1))
        assert (result.inserted, result.changed, result.deleted) == (2, 0, 0)
        again = await store.write_page(page_of(store, first, day - DAY, day, read_at=2))
        assert (again.inserted, again.changed, again.deleted) == (0, 0, 0)
        revised = [costs_row(day - DAY, "proj_a", "1.50"), costs_row(day - DAY, "proj_b", "3")]
        result = await store.write_page(page_of(store, revised, day - DAY, day, read_at=3))
        assert (result.inserted, result.changed, result.deleted) == (0, 1, 0)
        rows = await store.table_rows("costs")
        assert [(r["project_id"], r["amount_value"]) for r in rows] == [
            ("proj_a", Decimal("1.5")),
            ("proj_b", Decimal("3")),
        ]
        # A page of another range leaves these rows alone.
        await store.write_page(page_of(store, [], day, day + DAY, read_at=4))
        assert len(await store.table_rows("costs")) == 2


async def test_the_same_ungrouped_key_twice_is_one_row_never_a_null_duplicate(
    store_url: str,
) -> None:
    row = costs_row(NOW - NOW % DAY, "", "4")
    row.update(group_by="", line_item="")
    async with open_store(store_url) as store:
        write = page_of(store, [row], 0, NOW)
        write = attrs.evolve(write, group_by="", keys=frozenset({(row["start_time"], "", "", "")}))
        await store.write_page(write)
        await store.write_page(write)
        rows = await store.table_rows("costs")
    assert len(rows) == 1
    assert (rows[0]["project_id"], rows[0]["line_item"], rows[0]["api_key_id"]) == ("", "", "")


async def test_the_watermark_never_moves_back(store_url: str) -> None:
    async with open_store(store_url) as store:
        await store.write_page(attrs.evolve(page_of(store, [], 0, NOW), watermark=NOW))
        await store.write_page(attrs.evolve(page_of(store, [], 0, NOW), watermark=NOW - DAY))
        state = await store.load_state("costs", "1d", "line_item,project_id")
    assert state is not None
    assert state.watermark == NOW


def test_sqlite_keeps_money_as_text_holding_the_exact_decimal(tmp_path: Path) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/m.db"

    async def write() -> None:
        async with open_store(url) as store:
            row = costs_row(NOW - NOW % DAY, "proj_a", "0.100000000000000000000000000001")
            await store.write_page(page_of(store, [row], 0, NOW))

    asyncio.run(write())
    with sqlite3.connect(tmp_path / "m.db") as conn:
        kind, value = conn.execute(
            "SELECT typeof(amount_value), amount_value FROM costs"
        ).fetchone()
    assert (kind, value) == ("text", "0.100000000000000000000000000001")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://localhost/db", "unknown database URL scheme 'mysql'"),
        ("usage.db", "not a database URL"),
        ("sqlite://usage.db", "bad SQLite URL"),
        ("sqlite:///", "bad SQLite URL"),
    ],
)
def test_a_bad_url_is_refused_with_one_clear_message(url: str, message: str) -> None:
    with pytest.raises(StoreURLError, match=message):
        open_store(url)


def test_a_password_in_a_url_never_shows() -> None:
    from usage_async.sync.stores import redact_url

    assert redact_url("postgresql://me:s3cret@db/x") == "postgresql://me:***@db/x"
    assert redact_url("sqlite:///usage.db") == "sqlite:///usage.db"


V1_SQL = Path(__file__).parent / "data"


def build_v1_database(store_kind: str, url: str, version: int = 1) -> None:
    """A database of an older ``version`` as the release before it created it (its DDL,
    saved in tests/sync/data), holding one costs row and its watermark."""
    text = (V1_SQL / f"schema_v{version}_{store_kind}.sql").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("--"))
    statements_v1 = [s.strip() for s in body.split(";\n\n") if s.strip().rstrip(";")]
    statements_v1 = [s.rstrip(";") for s in statements_v1]
    statements_v1 += [
        "INSERT INTO costs (start_time, end_time, bucket_width, group_by, project_id,"  # noqa: S608
        " line_item, amount_value, amount_currency, settled, fetched_at) VALUES"
        f" ({NOW - DAY}, {NOW}, '1d', 'line_item,project_id', 'proj_a', 'gpt-4o, input',"
        f" '1.25', 'usd', {'TRUE' if store_kind == 'postgresql' else 1}, {NOW})",
        "INSERT INTO usage_async_state VALUES"  # noqa: S608 - the test's own constants
        f" ('costs', '1d', 'line_item,project_id', {NOW - DAY}, {NOW}, {NOW})",
    ]
    if store_kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for sql in statements_v1:
                conn.execute(sql)
        return
    from sync_support import pg_exec

    for sql in statements_v1:
        pg_exec(url, sql)


async def test_a_version_1_database_from_the_previous_release_migrates_keeping_its_rows(
    store_kind: str, store_url: str
) -> None:
    build_v1_database(store_kind, store_url)
    async with open_store(store_url) as store:
        assert await store.schema_version() == SCHEMA.version  # 1 -> 2 -> 3 -> 4 -> 5
        (row,) = await store.table_rows("costs")
        assert await store.fetch("SELECT * FROM usage_async_unknown") == []
        assert await store.states() == [("costs", "1d", "line_item,project_id", NOW - DAY, NOW)]
        assert await store.source() is None
    assert (row["project_id"], row["amount_value"], row["settled"]) == (
        "proj_a",
        Decimal("1.25"),
        True,
    )
    assert (row["read_at"], row["missing_since"]) == (0, None)
    async with open_store(store_url) as store:  # a second open migrates nothing
        assert await store.schema_version() == SCHEMA.version


async def test_a_version_2_database_from_the_previous_release_migrates_keeping_its_rows(
    store_kind: str, store_url: str
) -> None:
    build_v1_database(store_kind, store_url, version=2)
    async with open_store(store_url) as store:
        assert await store.schema_version() == SCHEMA.version
        (row,) = await store.table_rows("costs")
        assert await store.states() == [("costs", "1d", "line_item,project_id", NOW - DAY, NOW)]
        for kind in DIRECTORY_TABLES:  # the directory's tables, new and empty
            assert await store.directory_rows(kind) == []
    assert (row["project_id"], row["amount_value"], row["read_at"]) == (
        "proj_a",
        Decimal("1.25"),
        0,
    )
    async with open_store(store_url) as store:  # a second open migrates nothing
        assert await store.schema_version() == SCHEMA.version


def test_the_migration_to_version_3_only_creates_the_directory_tables() -> None:
    for dialect in (SQLITE, POSTGRES):
        step = SCHEMA.migrations[2](dialect)
        assert [s.split("(")[0].strip() for s in step] == [
            f"CREATE TABLE {t.name}" for t in DIRECTORY_TABLES.values()
        ]


def test_the_directory_tables_are_pinned() -> None:
    layout = {kind: (t.name, t.columns) for kind, t in DIRECTORY_TABLES.items()}
    tail = ("first_seen", "last_seen", "deleted_at")
    assert layout == {
        "projects": (
            "usage_async_projects",
            ("id", "name", "status", "archived", "archived_at", "created_at", *tail),
        ),
        "users": ("usage_async_users", ("id", "email", "name", "role", "added_at", *tail)),
        "api_keys": (
            "usage_async_api_keys",
            (
                "id",
                "name",
                "redacted_value",
                "project_id",
                "owner_type",
                "owner_id",
                "owner_name",
                "created_at",
                *tail,
            ),
        ),
        "service_accounts": (
            "usage_async_service_accounts",
            ("id", "name", "project_id", "role", "created_at", *tail),
        ),
    }
    assert tuple(DIRECTORY_TABLES) == KINDS
