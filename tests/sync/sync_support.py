"""Shared values and helpers of the usage_async.sync tests (fixtures are in conftest.py)."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import quote

from usage_async import RetryPolicy
from usage_async.sync import open_store

POSTGRES_ENV = "USAGE_ASYNC_TEST_POSTGRES_URL"
NOW = 1_740_830_400  # 2025-03-01T12:00:00Z, a Saturday
HOUR, DAY = 3600, 86400
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
