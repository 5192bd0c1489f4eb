"""Shared values and helpers of the usage_async.sync tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from usage_async import RetryPolicy
from usage_async.sync import open_store

POSTGRES_ENV = "USAGE_ASYNC_TEST_POSTGRES_URL"
NOW = 1_740_830_400  # 2025-03-01T12:00:00Z, a Saturday
HOUR, DAY = 3600, 86400
DATA = Path(__file__).parent / "data"
FAST_RETRY = RetryPolicy(max_attempts=8, initial_delay=0.001, max_delay=0.01)
SKIP_REASON = (
    f"{POSTGRES_ENV} is not set: the PostgreSQL store tests were skipped "
    "(`source .ci/postgres.sh start` starts a throwaway server and sets it)"
)


def postgres_base_url() -> str | None:
    """The test server's URL, or None when the PostgreSQL tests are off."""
    return os.environ.get(POSTGRES_ENV) or None


def with_search_path(url: str, schema: str) -> str:
    """``url`` with libpq's ``options`` setting the search_path to ``schema``."""
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options={quote(f'-csearch_path={schema}')}"


def pg_exec(url: str, sql: str) -> None:
    """Run one statement on PostgreSQL, synchronously (usable from any fixture or test)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[call-overload]


async def dump(
    url: str, *, with_fetched_at: bool = False, with_read_at: bool = False
) -> dict[str, Any]:
    """Every table's rows (and the sync state) of a database, for comparing two of them.

    ``read_at`` (when a read last wrote or confirmed a row) differs between two databases
    synced at different moments, and moves on every rerun: left out unless asked for.
    """
    async with open_store(url) as store:
        out: dict[str, Any] = {"state": await store.states()}
        for name in store.schema.tables:
            rows = await store.table_rows(name)
            for row in rows:
                if not with_fetched_at:
                    del row["fetched_at"]
                if not with_read_at:
                    del row["read_at"]
            out[name] = rows
    return out


# Line items of every sort: recognised, prefixed, with a detail, model-less, unrecognised,
# and '' (the API's null line item, or a collection not grouped by line item).
LINE_ITEMS = (
    "gpt-4o-2024-08-06, input",
    "gpt-4o-mini, cached input",
    "priority | gpt-4.1, output",
    "gpt-4o audio, input",
    "dall-e-3, 1024x1024",
    "web search tool calls, low context",
    "gpt-4.1, input, long context",
    "input_tokens",
    "assistants api | file search",
    "",
)


def statements_of(path: Path) -> list[str]:
    """The statements of a saved DDL file (one per block, blocks separated by ';\\n\\n')."""
    body = "\n".join(line for line in path.read_text().splitlines() if not line.startswith("--"))
    return [s.strip().rstrip(";") for s in body.split(";\n\n") if s.strip().rstrip(";")]


def _old_costs_rows(store_kind: str) -> list[str]:
    """One costs row per line item (amounts 1.1, 2.2, ...) as an older version stored them."""
    true = "TRUE" if store_kind == "postgresql" else "1"
    out = []
    for i, line_item in enumerate(LINE_ITEMS, start=1):
        out.append(
            "INSERT INTO costs (start_time, end_time, bucket_width, group_by, project_id,"  # noqa: S608
            " line_item, amount_value, amount_currency, settled, fetched_at) VALUES"
            f" ({NOW - DAY}, {NOW}, '1d', 'line_item,project_id', 'proj_{i}',"
            f" '{line_item}', '{i}.{i}', 'usd', {true}, {NOW})"
        )
    out.append(
        "INSERT INTO usage_async_state VALUES"  # noqa: S608 - the test's own constants
        f" ('costs', '1d', 'line_item,project_id', {NOW - DAY}, {NOW}, {NOW})"
    )
    return out


def build_old_database(store_kind: str, url: str, version: int) -> None:
    """A database at ``version`` as that release created it (its saved DDL), with the rows
    of :data:`LINE_ITEMS`."""
    sql = [
        *statements_of(DATA / f"schema_v{version}_{store_kind}.sql"),
        *_old_costs_rows(store_kind),
    ]
    if store_kind == "sqlite":
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            for statement in sql:
                conn.execute(statement)
        return
    for statement in sql:
        pg_exec(url, statement)
