"""The SQLite store: standard library ``sqlite3`` on one thread of its own.

``sqlite3`` calls block, so every call runs on a single-thread executor that owns the
connection: the event loop keeps streaming pages while a page is written, and there is
exactly one writer. WAL mode lets readers (``usage-async query``, another process) read
while a sync writes; ``synchronous=NORMAL`` in WAL mode keeps every commit consistent and
durable against a killed process (an OS crash may lose the last commits, never half of one).
Money is TEXT; :class:`DecimalSum` sums it exactly as the SQL aggregate ``decimal_sum``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import decimal
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote

from ._schema import (
    DIRECTORY_TABLES,
    EXACT_CONTEXT,
    META_TABLE,
    SQLITE,
    STATE_TABLE,
    Backfill,
    Schema,
    Statements,
    canonical_decimal,
    migration_plan,
    state_statements,
    statements,
    unknown_statements,
)
from ._store_base import (
    DirectoryWrite,
    KindResult,
    NoSuchDatabaseError,
    PageResult,
    PageWrite,
    SchemaVersionError,
    State,
    Store,
    StoreError,
    StoreURLError,
    directory_sql,
    plan_directory,
    plan_write,
    redact_url,
)

__all__ = ["DecimalSum", "SQLiteStore", "sqlite_path"]

T = TypeVar("T")
BUSY_TIMEOUT_MS = 30_000  # another writer (an overlapping sync) holds the lock this long at most


def sqlite_path(url: str) -> str:
    """The file of a ``sqlite:///relative.db`` or ``sqlite:////absolute.db`` URL."""
    rest = url.split("://", 1)[1]
    if not rest.startswith("/") or rest == "/":
        raise StoreURLError(
            f"bad SQLite URL {redact_url(url)!r}: use sqlite:///relative/path.db or "
            "sqlite:////absolute.db"
        )
    path = unquote(rest[1:].split("?", 1)[0])
    if not path:
        raise StoreURLError(f"bad SQLite URL {redact_url(url)!r}: no file name")
    return path


def _set_wal(conn: sqlite3.Connection) -> None:
    """Switch to WAL. The switch does not wait on the busy timeout (two first runs at once
    can find the new file locked), so wait for it here, on this store's writer thread."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class DecimalSum:
    """``decimal_sum(text)``: an exact SQL sum of decimal strings, as a decimal string.

    SQLite's own ``sum()`` would turn TEXT money into floats.
    """

    def __init__(self) -> None:
        self.total: decimal.Decimal | None = None

    def step(self, value: str | None) -> None:
        """Add one value (NULL is skipped, as SQL's ``sum`` does)."""
        if value is None:
            return
        amount = decimal.Decimal(value)
        self.total = amount if self.total is None else EXACT_CONTEXT.add(self.total, amount)

    def finalize(self) -> str | None:
        """The sum, or NULL when every value was NULL."""
        return None if self.total is None else canonical_decimal(self.total)


class SQLiteStore(Store):
    """A SQLite file, written by one thread."""

    dialect = SQLITE

    def __init__(self, url: str, path: str, schema: Schema, *, create: bool = True) -> None:
        super().__init__(url, schema, create=create)
        self.path = path
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self._sql: dict[str, Statements] = {
            name: statements(table, SQLITE) for name, table in schema.tables.items()
        }
        _, self._state_upsert, self._state_select = state_statements(SQLITE)
        self._unknown_upsert = unknown_statements(SQLITE)[1]
        self._directory_sql = directory_sql(SQLITE)

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise StoreError("the store is not open: use `async with open_store(url)`")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def open(self) -> None:
        """Connect on the writer thread, then create or migrate the schema."""
        if self._executor is not None:
            return
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="usage-async-sqlite"
        )
        try:
            await self._run(self._open)
        except BaseException:
            await self.aclose()
            raise

    def _open(self) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            if not self.create and not Path(self.path).is_file():
                raise NoSuchDatabaseError(f"no such database: {self.path}")
            if not parent.is_dir():
                raise StoreError(f"cannot open {self.path}: the folder {parent} does not exist")
        try:
            # Read-write but never create, for a reader: a mistyped path must not leave an
            # empty database behind that the next query then reads as "nothing collected".
            target, uri = (self.path, False) if self.create else (_rw_uri(self.path), True)
            conn = sqlite3.connect(
                target, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000, uri=uri
            )
        except sqlite3.Error as exc:
            raise StoreError(self._message(f"cannot open {self.path}", exc)) from None
        self._conn = conn
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not self.create and self._version(conn) == 0:
                raise NoSuchDatabaseError(f"no such database: {self.path} has no usage-async data")
            _set_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.create_aggregate("decimal_sum", 1, DecimalSum)  # type: ignore[arg-type]
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                self._message(f"cannot use {self.path} as a usage-async database", exc)
            ) from None

    def _version(self, conn: sqlite3.Connection) -> int:
        found = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (META_TABLE,)
        ).fetchone()
        if found is None:
            return 0
        row = conn.execute(
            f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0]) if row is not None else 0

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")  # two first runs at once: one creates, one waits
        try:
            found = self._version(conn)
            if found > self.schema.version:
                raise SchemaVersionError(
                    f"{self.path} has schema version {found}, newer than this usage-async's "
                    f"({self.schema.version}): upgrade usage-async to use it"
                )
            plan = migration_plan(self.schema, found, SQLITE) if found < self.schema.version else []
            for step in plan:  # SQLite's DDL is transactional: all of it, or none
                for sql in step:
                    if isinstance(sql, Backfill):
                        rows = conn.execute(sql.select).fetchall()
                        conn.executemany(sql.update, [sql.compute(row) for row in rows])
                    else:
                        conn.execute(sql)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    async def aclose(self) -> None:
        """Close the connection and stop the writer thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        conn, self._conn = self._conn, None
        try:
            if conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
        finally:
            executor.shutdown(wait=True)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError("the store is not open")
        return self._conn

    async def schema_version(self) -> int:
        """The database's schema version."""
        return await self._run(lambda: self._version(self._connection()))

    async def load_state(self, endpoint: str, bucket_width: str, group_by: str) -> State | None:
        """The stored since and watermark of one target."""

        def load() -> State | None:
            row = (
                self._connection()
                .execute(self._state_select, (endpoint, bucket_width, group_by))
                .fetchone()
            )
            return None if row is None else State(int(row[0]), int(row[1]))

        return await self._run(load)

    async def states(self) -> list[tuple[str, str, str, int, int]]:
        """Every stored target state."""
        rows = await self.fetch(
            f"SELECT endpoint, bucket_width, group_by, since, watermark FROM {STATE_TABLE}"
            " ORDER BY endpoint, bucket_width, group_by"
        )
        return [(r[0], r[1], r[2], int(r[3]), int(r[4])) for r in rows]

    async def write_page(self, page: PageWrite) -> PageResult:
        """One transaction: the page's rows, the marks and deletions of rows it lacks, its
        untyped results and the watermark (the rules: ``plan_write``)."""
        try:
            return await self._run(self._write_page, page)
        except sqlite3.Error as exc:
            raise StoreError(
                self._message(f"writing {page.endpoint} to {self.path}", exc)
            ) from None

    def _write_page(self, page: PageWrite) -> PageResult:
        conn = self._connection()
        sql = self._sql[page.endpoint]
        conn.execute("BEGIN IMMEDIATE")  # the one writer from here on: what is read stays so
        try:
            stored = conn.execute(
                sql.select_stored, (page.bucket_width, page.group_by, page.start, page.end)
            ).fetchall()
            plan = plan_write(page, self.schema.tables[page.endpoint], stored)
            conn.executemany(sql.upsert, plan.upserts)
            conn.executemany(sql.confirm, plan.confirms)
            conn.executemany(sql.mark, plan.marks)
            conn.executemany(sql.delete, plan.deletes)
            head = (page.endpoint, page.bucket_width, page.group_by)
            conn.executemany(
                self._unknown_upsert,
                [
                    (
                        *head,
                        u.start_time,
                        u.end_time,
                        u.object,
                        u.digest,
                        u.data,
                        page.now,
                        page.now,
                    )
                    for u in page.unknown
                ],
            )
            conn.execute(
                self._state_upsert,
                (
                    page.endpoint,
                    page.bucket_width,
                    page.group_by,
                    page.since,
                    page.watermark,
                    page.now,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return plan.result

    async def write_directory(self, write: DirectoryWrite) -> tuple[KindResult, ...]:
        """One transaction: every kind's listed rows upserted, and what a complete kind
        lacks marked deleted (the rules: ``plan_directory``)."""
        try:
            return await self._run(self._write_directory, write)
        except sqlite3.Error as exc:
            raise StoreError(self._message(f"writing names to {self.path}", exc)) from None

    def _write_directory(self, write: DirectoryWrite) -> tuple[KindResult, ...]:
        conn = self._connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            results = []
            for part in write.kinds:
                sql = self._directory_sql[part.kind]
                stored = conn.execute(sql.select).fetchall()
                plan = plan_directory(DIRECTORY_TABLES[part.kind], part, stored, write.now)
                conn.executemany(sql.upsert, plan.upserts)
                conn.executemany(sql.mark, plan.marks)
                results.append(plan.result)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return tuple(results)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query."""
        try:
            return await self._run(lambda: self._connection().execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(self._message(f"reading {self.path}", exc)) from None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement, committed on its own (the connection is in autocommit mode)."""
        try:
            await self._run(lambda: self._connection().execute(sql, params))
        except sqlite3.Error as exc:
            raise StoreError(self._message(f"writing {self.path}", exc)) from None


def _rw_uri(path: str) -> str:
    """A ``file:`` URI of ``path`` that opens it read-write and never creates it."""
    return f"file:{quote(str(Path(path).absolute()))}?mode=rw"
