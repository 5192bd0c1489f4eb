"""The PostgreSQL store: psycopg 3's asyncio connection (the ``postgres`` extra).

psycopg 3 rather than asyncpg: it is fully typed (this package is checked with mypy
--strict), it takes libpq's URL and environment unchanged (Unix sockets, ``sslmode``,
``.pgpass``, ``PG*`` variables, ``options=-csearch_path=...``), its ``executemany`` runs in
pipeline mode (one round trip per page, not per row), and NUMERIC comes back as Decimal with
no setup. asyncpg is faster per row, but a page's rows are not where a sync spends its time
(the API's rate limit is).

One connection, one writer: each page is one transaction. Schema creation and migration
take a transaction-scoped advisory lock, so two first runs at once do not race.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._schema import (
    DIRECTORY_TABLES,
    META_TABLE,
    POSTGRES,
    STATE_TABLE,
    Backfill,
    Schema,
    Statements,
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

if TYPE_CHECKING:
    import psycopg

__all__ = ["PostgresStore"]

# pg_advisory_xact_lock key for schema changes: "usage-async" in ASCII, in 63 bits.
_SCHEMA_LOCK = 0x75736167652D6173
# pg_advisory_xact_lock(class, object) class for writing one endpoint's table.
_WRITE_LOCK = 0x75736173


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreURLError(
            "a postgresql:// database needs psycopg 3: pip install 'usage-async[postgres]'"
        ) from None
    return psycopg


class PostgresStore(Store):
    """A PostgreSQL database, written through one asyncio connection."""

    dialect = POSTGRES

    def __init__(self, url: str, schema: Schema, *, create: bool = True) -> None:
        super().__init__(url, schema, create=create)
        self._psycopg = _psycopg()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._sql: dict[str, Statements] = {
            name: statements(table, POSTGRES) for name, table in schema.tables.items()
        }
        _, self._state_upsert, self._state_select = state_statements(POSTGRES)
        self._unknown_upsert = unknown_statements(POSTGRES)[1]
        self._directory_sql = directory_sql(POSTGRES)

    def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            raise StoreError("the store is not open: use `async with open_store(url)`")
        return self._conn

    async def open(self) -> None:
        """Connect, then create or migrate the schema under an advisory lock."""
        if self._conn is not None:
            return
        psycopg = self._psycopg
        try:
            self._conn = await psycopg.AsyncConnection.connect(self.url, autocommit=True)
        except psycopg.ProgrammingError as exc:  # a malformed URL
            # The driver quotes the part it could not read, the password included.
            raise StoreURLError(
                self._message(f"bad PostgreSQL URL {redact_url(self.url)!r}", exc)
            ) from None
        except psycopg.Error as exc:
            raise StoreError(
                self._message(f"cannot connect to {redact_url(self.url)}", exc)
            ) from None
        try:
            await self._migrate()
        except BaseException:
            await self.aclose()
            raise

    async def _version(self) -> int:
        conn = self._connection()
        cur = await conn.execute("SELECT to_regclass(%s)", (META_TABLE,))
        found = await cur.fetchone()
        if found is None or found[0] is None:
            return 0
        cur = await conn.execute(f"SELECT value FROM {META_TABLE} WHERE key = 'schema_version'")
        row = await cur.fetchone()
        return int(row[0]) if row is not None else 0

    async def _migrate(self) -> None:
        conn = self._connection()
        try:
            async with conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                found = await self._version()
                if found == 0 and not self.create:
                    raise NoSuchDatabaseError(
                        f"no such database: {redact_url(self.url)} has no usage-async data"
                    )
                if found > self.schema.version:
                    raise SchemaVersionError(
                        f"{redact_url(self.url)} has schema version {found}, newer than this "
                        f"usage-async's ({self.schema.version}): upgrade usage-async to use it"
                    )
                if found < self.schema.version:
                    for step in migration_plan(self.schema, found, POSTGRES):
                        for sql in step:  # PostgreSQL's DDL is transactional too
                            if isinstance(sql, Backfill):
                                cur = await conn.execute(sql.select)
                                rows = [sql.compute(row) for row in await cur.fetchall()]
                                if rows:
                                    async with conn.cursor() as many:
                                        await many.executemany(sql.update, rows)
                            else:
                                await conn.execute(sql)
        except self._psycopg.Error as exc:
            raise StoreError(
                self._message(f"cannot set up the schema in {redact_url(self.url)}", exc)
            ) from None

    async def aclose(self) -> None:
        """Close the connection."""
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    async def schema_version(self) -> int:
        """The database's schema version."""
        return await self._version()

    async def load_state(self, endpoint: str, bucket_width: str, group_by: str) -> State | None:
        """The stored since and watermark of one target."""
        rows = await self.fetch(self._state_select, (endpoint, bucket_width, group_by))
        return State(int(rows[0][0]), int(rows[0][1])) if rows else None

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
            return await self._write_page(page)
        except self._psycopg.Error as exc:
            raise StoreError(
                self._message(f"writing {page.endpoint} to {redact_url(self.url)}", exc)
            ) from None

    async def _write_page(self, page: PageWrite) -> PageResult:
        conn = self._connection()
        sql = self._sql[page.endpoint]
        async with conn.transaction(), conn.cursor() as cur:
            # Overlapping syncs write one table's pages one at a time, as SQLite's
            # BEGIN IMMEDIATE makes them: the read below then sees what was committed, and
            # nothing changes it before this transaction ends.
            await cur.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_WRITE_LOCK, page.endpoint)
            )
            await cur.execute(
                sql.select_stored,
                (page.bucket_width, page.group_by, page.start, page.end),
            )
            plan = plan_write(page, self.schema.tables[page.endpoint], await cur.fetchall())
            for statement, rows in (
                (sql.upsert, plan.upserts),
                (sql.confirm, plan.confirms),
                (sql.mark, plan.marks),
                (sql.delete, plan.deletes),
            ):
                if rows:
                    await cur.executemany(statement, rows)
            if page.unknown:
                head = (page.endpoint, page.bucket_width, page.group_by)
                seen = (page.now, page.now)  # first_seen, last_seen
                await cur.executemany(
                    self._unknown_upsert,
                    [
                        (*head, u.start_time, u.end_time, u.object, u.digest, u.data, *seen)
                        for u in page.unknown
                    ],
                )
            await cur.execute(
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
        return plan.result

    async def write_directory(self, write: DirectoryWrite) -> tuple[KindResult, ...]:
        """One transaction: every kind's listed rows upserted, and what a complete kind
        lacks marked deleted (the rules: ``plan_directory``)."""
        try:
            return await self._write_directory(write)
        except self._psycopg.Error as exc:
            raise StoreError(
                self._message(f"writing names to {redact_url(self.url)}", exc)
            ) from None

    async def _write_directory(self, write: DirectoryWrite) -> tuple[KindResult, ...]:
        conn = self._connection()
        results = []
        async with conn.transaction(), conn.cursor() as cur:
            # Overlapping syncs write the directory one at a time, as SQLite's BEGIN
            # IMMEDIATE makes them: what is read below stays so until this one commits.
            await cur.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_WRITE_LOCK, "directory")
            )
            for part in write.kinds:
                sql = self._directory_sql[part.kind]
                await cur.execute(sql.select)
                stored = await cur.fetchall()
                plan = plan_directory(DIRECTORY_TABLES[part.kind], part, stored, write.now)
                for statement, rows in ((sql.upsert, plan.upserts), (sql.mark, plan.marks)):
                    if rows:
                        await cur.executemany(statement, rows)
                results.append(plan.result)
        return tuple(results)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query."""
        conn = self._connection()
        try:
            cur = await conn.execute(sql, params)
            return list(await cur.fetchall()) if cur.description is not None else []
        except self._psycopg.Error as exc:
            raise StoreError(self._message(f"reading {redact_url(self.url)}", exc)) from None

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One statement, committed on its own (the connection is in autocommit mode)."""
        try:
            await self._connection().execute(sql, params)
        except self._psycopg.Error as exc:
            raise StoreError(self._message(f"writing {redact_url(self.url)}", exc)) from None
