"""The database schema, as data, and the SQL it turns into for each store. No I/O.

One table per endpoint, named as the endpoint (``completions``, ..., ``costs``)::

    start_time, end_time   the bucket, int Unix seconds (UTC), as in the API
    bucket_width           '1m' | '1h' | '1d'
    group_by               the group_by set: its names sorted and comma-joined ('' = none)
    <group columns>        every value the endpoint can group by, TEXT NOT NULL:
                           '' when not grouped by it (or the API sent null);
                           batch as 'true'/'false'
    <result fields>        every other field of the result: counts as integers, money and
                           quantities exact (PostgreSQL NUMERIC; SQLite TEXT holding the
                           decimal string), Amount as amount_value + amount_currency
    settled                the bucket ended more than the look-back before the sync
    fetched_at             int Unix seconds of the sync that last changed the row's values
    read_at                int Unix milliseconds of the newest read that wrote or confirmed
                           the row (version 2): an older read never overwrites it
    missing_since          NULL, or int Unix milliseconds of the start of the run whose read
                           of the row's bucket first lacked the row (version 2)

    PRIMARY KEY (bucket_width, group_by, start_time, <group columns>)

Group columns are NOT NULL with '' for "not grouped" because a NULL in a key lets SQLite
insert duplicates (NULLs are distinct in a UNIQUE index) and PostgreSQL refuses it in a
primary key. SQLite's NUMERIC affinity would store money as a float, hence TEXT.

**What is never deleted, and when rows stop counting.** One read is never evidence enough
to delete: a read can be wrong for a moment (a replica behind, a result the client could
not type). A stored row that a read of its bucket lacks gets ``missing_since`` and stays,
counted by every query like any other row; it is deleted only when a read in a later run
(one that started after the run that marked it) lacks it too, and the mark is cleared if
the row comes back. A bucket holding any result the client could not type marks and
deletes nothing; such results are kept raw in ``usage_async_unknown``::

    endpoint, bucket_width, group_by, start_time, end_time   where it was read
    object, data           the result's tag and its JSON (numbers as exact strings)
    digest                 SHA-256 prefix of ``data``: one row per distinct result
    first_seen, last_seen  int Unix seconds of the syncs that saw it first and last

Nothing deletes from ``usage_async_unknown``.

**Names** (version 3). ``sync`` also keeps the organization's directory, one table per
kind, so that SQL can join names to ids (``usage-async query spend --by project`` does)::

    usage_async_projects          id, name, status, archived, archived_at, created_at
    usage_async_users             id, email, name, role, added_at
    usage_async_api_keys          id, name, redacted_value (never the key), project_id (NULL
                                  for an admin key), owner_type ('user' | 'service_account'),
                                  owner_id, owner_name, created_at
    usage_async_service_accounts  id, name, project_id, role, created_at

    and in each: first_seen, last_seen  int Unix seconds of the syncs that listed it first
                                        and last
                 deleted_at             NULL, or int Unix seconds of the first sync whose
                                        complete walk of that kind lacked it

Each sync upserts what its walk listed (``last_seen`` moves, ``deleted_at`` is cleared). A
row is never removed: one that a *complete* walk of its kind lacks (a deleted key, a user
who left) gets ``deleted_at`` and keeps its name, because usage still reports its id. A kind
whose walk was not complete (a list the key may not read, a list that kept failing) marks
nothing. Join on the id, keeping ids that have no row::

    SELECT c.project_id, p.name AS project_name, c.amount_value
    FROM costs c LEFT JOIN usage_async_projects p ON p.id = c.project_id

**Line items read** (version 4). ``costs`` also holds what
:func:`usage_async.line_items.parse_line_item` reads in each row's ``line_item``, so that SQL
can group spend by model::

    model              the model the line item names ('gpt-4o-2024-08-06')
    kind               the charge kind ('input', 'cached_input', 'tool_call', ...)
    line_item_prefix   what came before ' | ' ('priority', 'evals')
    line_item_detail   a qualifier: an image size, a tool, 'long context'

Each is NULL where the parser gives none: a line item it does not recognise (never a
guess), and every row of a collection not grouped by ``line_item``. They are written with
the row and never read back from the API; the migration to version 4 fills them in for the
rows already stored, with the same parser.

**Views of spend** (version 5), for dashboards (Grafana's PostgreSQL data source) and SQL::

    usage_async_daily_spend_by_project  day, day_start, project_id, project_name, currency,
                                        amount, settled
    usage_async_daily_spend_by_model    day, day_start, model, currency, amount, settled
    usage_async_month_to_date_spend     month, month_start, until_time, project_id,
                                        project_name, currency, amount, settled

``day`` is the UTC date ('2025-03-01'), ``day_start`` and ``month_start`` its first second
(Unix seconds), ``until_time`` the end of the data held. Each view sums one costs collection,
the one ``query spend`` picks for the same question, so two collections of the same spend are
never added together (:func:`view_statements`). ``amount`` is NUMERIC in PostgreSQL; in
SQLite the decimal string summed by the ``decimal_sum`` aggregate usage-async registers
(``settled`` is then 0 or 1).

``usage_async_state`` holds one ``since`` and watermark per (endpoint, bucket_width,
group_by): buckets from ``since`` up to the watermark were read (``since`` only moves back,
by a backfill; the watermark only forward). ``usage_async_meta`` holds the schema version
and the source the database is bound to (``source_host``: the API's host[:port];
``source_identity``: ``org:<organization>`` or ``key:<12 hex of the key's SHA-256>``).
A database from an older version is migrated in place by :attr:`Schema.migrations`; one
from a newer version is refused.
"""

from __future__ import annotations

import decimal
import typing
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from .._endpoints import ENDPOINTS
from ..directory import API_KEYS, PROJECTS, SERVICE_ACCOUNTS, USERS
from ..line_items import parse_line_item
from ..models import Amount
from ._targets import DEFAULT_GROUP_BY

__all__ = [
    "DIALECT_SQL",
    "DIRECTORY_TABLES",
    "EXACT_CONTEXT",
    "LINE_ITEM_COLUMNS",
    "POSTGRES",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SQLITE",
    "VIEWS",
    "Backfill",
    "Column",
    "Dialect",
    "DirectoryTable",
    "Schema",
    "Table",
    "canonical_decimal",
    "directory_statements",
    "line_item_values",
    "migration_plan",
    "statements",
    "unknown_statements",
    "view_statements",
]

SCHEMA_VERSION = 5

# Column kinds.
INT = "int"
DECIMAL = "decimal"
TEXT = "text"
BOOL = "bool"

STATE_TABLE = "usage_async_state"
META_TABLE = "usage_async_meta"
UNKNOWN_TABLE = "usage_async_unknown"
FIXED_HEAD = ("start_time", "end_time", "bucket_width", "group_by")
FIXED_TAIL = ("settled", "fetched_at", "read_at", "missing_since")
LINE_ITEM_COLUMNS = ("model", "kind", "line_item_prefix", "line_item_detail")
"""The columns ``costs`` has from its ``line_item`` (version 4), in order."""


def line_item_values(text: str | None) -> tuple[str | None, str | None, str | None, str | None]:
    """:data:`LINE_ITEM_COLUMNS` of a row whose ``line_item`` is ``text``: all None when the
    row is not grouped by line item (None or '') or the parser does not recognise it."""
    if not text:
        return (None, None, None, None)
    item = parse_line_item(text)
    if not item.recognised:
        return (None, None, None, None)
    return (item.model, item.kind, item.prefix, item.detail)


EXACT_CONTEXT = decimal.Context(prec=decimal.MAX_PREC)
"""A decimal context that never rounds a sum: adding exact amounts (SQLite's ``decimal_sum``,
days into weeks and months) keeps every digit."""


def canonical_decimal(value: decimal.Decimal) -> str:
    """The exact value as a plain decimal string without trailing zeros (``12.5``, ``0``).

    The API sends the same amount as ``12.50``, ``12.5`` or ``"0E-6176"``; one spelling per
    value keeps a re-read from counting as a change. No context rounding is involved.
    """
    if not value.is_finite():
        return str(value)
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


@attrs.frozen
class Column:
    """One result column: its name, kind, and the result attribute it comes from."""

    name: str
    kind: str
    attr: str
    part: str | None = None  # "value" / "currency" for the two columns of an Amount


@attrs.frozen
class Table:
    """One endpoint's table: its group columns (all ``TEXT NOT NULL``) and result columns."""

    endpoint: str
    groups: tuple[str, ...]
    fields: tuple[Column, ...]
    derived: tuple[str, ...] = ()  # TEXT columns read from line_item (costs, version 4)

    @property
    def name(self) -> str:
        """The table's name: the endpoint's."""
        return self.endpoint

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column, in the order rows are written (each version's new columns last, as
        ALTER TABLE appends them)."""
        return (
            *FIXED_HEAD,
            *self.groups,
            *(c.name for c in self.fields),
            *FIXED_TAIL,
            *self.derived,
        )

    @property
    def key(self) -> tuple[str, ...]:
        """The primary key's columns."""
        return ("bucket_width", "group_by", "start_time", *self.groups)

    @property
    def values(self) -> tuple[str, ...]:
        """The columns a read can revise: a row whose values differ is "changed"."""
        return ("end_time", *(c.name for c in self.fields), "settled")

    @property
    def value_positions(self) -> tuple[int, ...]:
        """Where :attr:`values` are in a row written in :attr:`columns` order."""
        columns = self.columns
        return tuple(columns.index(v) for v in self.values)


def _kind(annotation: Any) -> tuple[str, ...]:
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    (base,) = args
    if base is bool:
        return (BOOL,)
    if base is int:
        return (INT,)
    if base is decimal.Decimal:
        return (DECIMAL,)
    if base is str:
        return (TEXT,)
    if base is Amount:
        return (DECIMAL, TEXT)
    raise TypeError(f"no column kind for {annotation!r}")


def table_for(endpoint: str) -> Table:
    """The table of one endpoint, from its row in ``_endpoints`` and its result class."""
    spec = ENDPOINTS[endpoint]
    hints = typing.get_type_hints(spec.result_type)
    groups = tuple(spec.group_by)
    fields: list[Column] = []
    for field in attrs.fields(spec.result_type):
        if field.name in groups:
            continue
        kinds = _kind(hints[field.name])
        if len(kinds) == 2:  # Amount
            fields.append(Column(f"{field.name}_value", kinds[0], field.name, "value"))
            fields.append(Column(f"{field.name}_currency", kinds[1], field.name, "currency"))
        else:
            fields.append(Column(field.name, kinds[0], field.name))
    derived = LINE_ITEM_COLUMNS if "line_item" in groups else ()
    return Table(endpoint, groups, tuple(fields), derived)


@attrs.frozen
class Dialect:
    """What differs between the stores: placeholders, types, and how values are sent."""

    name: str
    param: str  # placeholder
    types: Mapping[str, str]
    decimal_out: Callable[[decimal.Decimal], object]
    bool_out: Callable[[bool], object]
    max_fn: str  # max(a, b) of two values
    distinct: str  # null-safe "differs" operator
    table_suffix: str = ""

    def params(self, n: int) -> str:
        """``n`` placeholders, comma-separated."""
        return ", ".join([self.param] * n)


SQLITE = Dialect(
    name="sqlite",
    param="?",
    types=MappingProxyType(
        {INT: "INTEGER", DECIMAL: "TEXT", TEXT: "TEXT", BOOL: "INTEGER", "time": "INTEGER"}
    ),
    decimal_out=canonical_decimal,
    bool_out=int,
    max_fn="max",
    distinct="IS NOT",
    # A composite text key: rows live in the key's B-tree, with no rowid index beside it.
    table_suffix=" WITHOUT ROWID",
)

POSTGRES = Dialect(
    name="postgresql",
    param="%s",
    types=MappingProxyType(
        {INT: "BIGINT", DECIMAL: "NUMERIC", TEXT: "TEXT", BOOL: "BOOLEAN", "time": "BIGINT"}
    ),
    decimal_out=lambda d: decimal.Decimal(canonical_decimal(d)),
    bool_out=bool,
    max_fn="GREATEST",
    distinct="IS DISTINCT FROM",
)


def _q(name: str) -> str:
    return f'"{name}"'


@attrs.frozen
class Statements:
    """The prepared SQL of one table in one dialect.

    ``select_stored`` reads, for one (width, group_by) and a range of bucket starts, each
    row's key (start_time, groups), values (:attr:`Table.values`), read_at and
    missing_since: what a page write compares its rows with.
    """

    create: str
    upsert: str
    confirm: str
    mark: str
    delete: str
    select_stored: str
    select_all: str


def statements(table: Table, dialect: Dialect) -> Statements:
    """The SQL that creates, writes and reads ``table``."""
    t = _q(table.name)
    p = dialect.param
    types = dialect.types
    defs = [
        f"start_time {types['time']} NOT NULL",
        f"end_time {types['time']} NOT NULL",
        "bucket_width TEXT NOT NULL",
        "group_by TEXT NOT NULL",
    ]
    defs += [f"{_q(g)} TEXT NOT NULL DEFAULT ''" for g in table.groups]
    defs += [f"{_q(c.name)} {types[c.kind]}" for c in table.fields]
    defs += [f"settled {types[BOOL]} NOT NULL", f"fetched_at {types['time']} NOT NULL"]
    defs += _v2_columns(dialect)
    defs += [f"{_q(d)} TEXT" for d in table.derived]
    key = ", ".join(_q(k) for k in table.key)
    defs.append(f"PRIMARY KEY ({key})")
    create = f"CREATE TABLE {t} (\n    " + ",\n    ".join(defs) + f"\n){dialect.table_suffix}"
    cols = table.columns
    sets = ", ".join(
        f"{_q(v)} = excluded.{_q(v)}"
        for v in (*table.values, "fetched_at", "read_at", "missing_since", *table.derived)
    )
    # The writer sends only new and revised rows; the condition is the last guard that an
    # older read (an overlapping sync that read before this one) never overwrites a newer.
    upsert = (
        f"INSERT INTO {t} ({', '.join(_q(c) for c in cols)}) VALUES ({dialect.params(len(cols))})"
        f" ON CONFLICT ({key}) DO UPDATE SET {sets} WHERE {t}.read_at <= excluded.read_at"
    )
    where_key = " AND ".join(f"{_q(k)} = {p}" for k in table.key)
    confirm = (
        f"UPDATE {t} SET read_at = {p}, missing_since = NULL WHERE {where_key} AND read_at <= {p}"
    )
    mark = f"UPDATE {t} SET missing_since = {p} WHERE {where_key} AND missing_since IS NULL"
    delete = (
        f"DELETE FROM {t} WHERE {where_key} AND missing_since IS NOT NULL AND missing_since < {p}"
    )
    stored = ", ".join(
        _q(c) for c in ("start_time", *table.groups, *table.values, "read_at", "missing_since")
    )
    select_stored = (
        f"SELECT {stored} FROM {t} WHERE bucket_width = {p} AND group_by = {p}"
        f" AND start_time >= {p} AND start_time < {p}"
    )
    select_all = f"SELECT {', '.join(_q(c) for c in cols)} FROM {t} ORDER BY " + ", ".join(
        _q(k) for k in table.key
    )
    return Statements(create, upsert, confirm, mark, delete, select_stored, select_all)


def _v2_columns(dialect: Dialect) -> list[str]:
    # Appended by version 2, in the order ALTER TABLE ... ADD COLUMN appends them, so that a
    # new database and a migrated one have the same columns in the same order.
    time = dialect.types["time"]
    return [f"read_at {time} NOT NULL DEFAULT 0", f"missing_since {time}"]


def unknown_statements(dialect: Dialect) -> tuple[str, str]:
    """CREATE and UPSERT of the table of results the client could not type."""
    time = dialect.types["time"]
    create = (
        f"CREATE TABLE {UNKNOWN_TABLE} (\n"
        "    endpoint TEXT NOT NULL,\n"
        "    bucket_width TEXT NOT NULL,\n"
        "    group_by TEXT NOT NULL,\n"
        f"    start_time {time} NOT NULL,\n"
        f"    end_time {time} NOT NULL,\n"
        "    object TEXT,\n"
        "    digest TEXT NOT NULL,\n"
        "    data TEXT NOT NULL,\n"
        f"    first_seen {time} NOT NULL,\n"
        f"    last_seen {time} NOT NULL,\n"
        "    PRIMARY KEY (endpoint, bucket_width, group_by, start_time, digest)\n"
        f"){dialect.table_suffix}"
    )
    upsert = (
        f"INSERT INTO {UNKNOWN_TABLE} (endpoint, bucket_width, group_by, start_time, end_time,"
        f" object, digest, data, first_seen, last_seen) VALUES ({dialect.params(10)})"
        " ON CONFLICT (endpoint, bucket_width, group_by, start_time, digest) DO UPDATE SET"
        f" last_seen = {dialect.max_fn}({UNKNOWN_TABLE}.last_seen, excluded.last_seen)"
    )
    return create, upsert


def state_statements(dialect: Dialect) -> tuple[str, str, str]:
    """CREATE, UPSERT (watermark only forward, since only back) and SELECT of the state."""
    p = dialect.param
    types = dialect.types
    create = (
        f"CREATE TABLE {STATE_TABLE} (\n"
        "    endpoint TEXT NOT NULL,\n"
        "    bucket_width TEXT NOT NULL,\n"
        "    group_by TEXT NOT NULL,\n"
        f"    since {types['time']} NOT NULL,\n"
        f"    watermark {types['time']} NOT NULL,\n"
        f"    updated_at {types['time']} NOT NULL,\n"
        "    PRIMARY KEY (endpoint, bucket_width, group_by)\n"
        f"){dialect.table_suffix}"
    )
    least = "min" if dialect.name == "sqlite" else "LEAST"
    upsert = (
        f"INSERT INTO {STATE_TABLE} (endpoint, bucket_width, group_by, since, watermark,"
        f" updated_at) VALUES ({dialect.params(6)}) ON CONFLICT (endpoint, bucket_width,"
        f" group_by) DO UPDATE SET watermark = {dialect.max_fn}({STATE_TABLE}.watermark,"
        f" excluded.watermark), since = {least}({STATE_TABLE}.since, excluded.since),"
        " updated_at = excluded.updated_at"
    )
    select = (
        f"SELECT since, watermark FROM {STATE_TABLE}"
        f" WHERE endpoint = {p} AND bucket_width = {p} AND group_by = {p}"
    )
    return create, upsert, select


def meta_create() -> str:
    """CREATE of the key/value table that holds ``schema_version``."""
    return f"CREATE TABLE {META_TABLE} (key TEXT PRIMARY KEY, value TEXT NOT NULL)"


# -- the organization's directory (version 3) ---------------------------------------------


@attrs.frozen
class DirectoryTable:
    """The table of one kind of the directory (``"projects"``, ``"users"``, ``"api_keys"``,
    ``"service_accounts"``, as ``usage_async.directory`` names them): ``id``, the values the
    admin lists give (``fields``: column name and kind), then when it was seen."""

    kind: str
    name: str
    fields: tuple[tuple[str, str], ...]

    @property
    def values(self) -> tuple[str, ...]:
        """The columns a walk writes, after ``id``: a row whose values differ is "changed"."""
        return tuple(name for name, _ in self.fields)

    @property
    def columns(self) -> tuple[str, ...]:
        """Every column, in the order rows are written."""
        return ("id", *self.values, "first_seen", "last_seen", "deleted_at")


DIRECTORY_TABLES: Mapping[str, DirectoryTable] = MappingProxyType(
    {
        PROJECTS: DirectoryTable(
            PROJECTS,
            "usage_async_projects",
            (
                ("name", TEXT),
                ("status", TEXT),
                ("archived", BOOL),
                ("archived_at", "time"),
                ("created_at", "time"),
            ),
        ),
        USERS: DirectoryTable(
            USERS,
            "usage_async_users",
            (("email", TEXT), ("name", TEXT), ("role", TEXT), ("added_at", "time")),
        ),
        API_KEYS: DirectoryTable(
            API_KEYS,
            "usage_async_api_keys",
            (
                ("name", TEXT),
                ("redacted_value", TEXT),
                ("project_id", TEXT),
                ("owner_type", TEXT),
                ("owner_id", TEXT),
                ("owner_name", TEXT),
                ("created_at", "time"),
            ),
        ),
        SERVICE_ACCOUNTS: DirectoryTable(
            SERVICE_ACCOUNTS,
            "usage_async_service_accounts",
            (("name", TEXT), ("project_id", TEXT), ("role", TEXT), ("created_at", "time")),
        ),
    }
)
"""The directory's tables, by kind (see the module's docstring)."""


@attrs.frozen
class DirectoryStatements:
    """The prepared SQL of one directory table: ``upsert`` keeps ``first_seen``, moves
    ``last_seen`` (never back: an older walk written late changes nothing) and clears
    ``deleted_at``; ``mark`` sets ``deleted_at`` on a row not seen since before this walk;
    ``select`` reads ``id``, the values, ``last_seen`` and ``deleted_at`` of every row."""

    create: str
    upsert: str
    mark: str
    select: str


def directory_statements(table: DirectoryTable, dialect: Dialect) -> DirectoryStatements:
    """The SQL that creates, writes and reads one directory table."""
    t, p, types = table.name, dialect.param, dialect.types
    time = types["time"]
    defs = ["id TEXT PRIMARY KEY"]
    defs += [f"{_q(name)} {types[kind]}" for name, kind in table.fields]
    defs += [f"first_seen {time} NOT NULL", f"last_seen {time} NOT NULL", f"deleted_at {time}"]
    create = f"CREATE TABLE {t} (\n    " + ",\n    ".join(defs) + f"\n){dialect.table_suffix}"
    columns = ", ".join(_q(c) for c in table.columns)
    sets = ", ".join(f"{_q(v)} = excluded.{_q(v)}" for v in (*table.values, "last_seen"))
    upsert = (
        f"INSERT INTO {t} ({columns}) VALUES ({dialect.params(len(table.columns))})"
        f" ON CONFLICT (id) DO UPDATE SET {sets}, deleted_at = NULL"
        f" WHERE {t}.last_seen <= excluded.last_seen"
    )
    mark = (
        f"UPDATE {t} SET deleted_at = {p} WHERE id = {p} AND deleted_at IS NULL AND last_seen < {p}"
    )
    shown = ", ".join(_q(c) for c in ("id", *table.values, "last_seen", "deleted_at"))
    select = f"SELECT {shown} FROM {t}"
    return DirectoryStatements(create, upsert, mark, select)


# -- views of spend (version 5) ------------------------------------------------------------

VIEWS = (
    "usage_async_daily_spend_by_project",
    "usage_async_daily_spend_by_model",
    "usage_async_month_to_date_spend",
)
"""The views of spend every database has (version 5), in the order they are created."""

# What spend's SQL (the views, and `query spend`) writes differently in each store: the exact
# sum of c.amount_value, "every row settled", the UTC date of Unix seconds, the first instant
# of this UTC month, and a byte-order collation (Python's order of strings, whatever the
# database's locale).
DIALECT_SQL: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "sqlite": MappingProxyType(
            {
                "sum": "decimal_sum(c.amount_value)",
                "settled": "MIN(c.settled)",
                "date": "date({}, 'unixepoch')",
                "month": "strftime('%Y-%m', {}, 'unixepoch')",
                "month_start": "CAST(strftime('%s', 'now', 'start of month') AS INTEGER)",
                "collate": "",
            }
        ),
        "postgresql": MappingProxyType(
            {
                "sum": "SUM(c.amount_value)",
                "settled": "bool_and(c.settled)",
                "date": "to_char(to_timestamp({}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
                "month": "to_char(to_timestamp({}) AT TIME ZONE 'UTC', 'YYYY-MM')",
                "month_start": (
                    "CAST(EXTRACT(EPOCH FROM date_trunc('month', now() AT TIME ZONE 'UTC'))"
                    " AS BIGINT)"
                ),
                "collate": ' COLLATE "C"',
            }
        ),
    }
)


def _able(column: str) -> str:
    """The costs collections grouped by ``column`` (``_`` escaped: LIKE reads it as any
    character)."""
    pattern = column.replace("_", "\\_")
    return (
        f"SELECT bucket_width, group_by, since, watermark FROM {STATE_TABLE}"
        f" WHERE endpoint = 'costs' AND ',' || group_by || ',' LIKE '%,{pattern},%' ESCAPE '\\'"
    )


def _most_current(sql: Mapping[str, str]) -> str:
    """ORDER BY of the collection ``query`` picks first: the latest watermark, then the
    default ``group_by``, then the fewest groups, then width and ``group_by`` as strings."""
    default = ",".join(sorted(DEFAULT_GROUP_BY["costs"]))
    groups = (
        "CASE WHEN group_by = '' THEN 0"
        " ELSE length(group_by) - length(replace(group_by, ',', '')) + 1 END"
    )
    collate = sql["collate"]
    return (
        f"ORDER BY watermark DESC, CASE WHEN group_by = '{default}' THEN 0 ELSE 1 END,"
        f" {groups}, bucket_width{collate}, group_by{collate} LIMIT 1"
    )


def view_statements(dialect: Dialect) -> list[str]:
    """CREATE VIEW of each of :data:`VIEWS`.

    Each view sums exactly one costs collection, the one ``usage-async query spend`` sums
    for the same question (``--by project,day``, ``--by day,model``, ``--by project --since``
    this month's start), over the buckets it holds: two collections of the same spend are
    never added together. Amounts are exact: PostgreSQL sums NUMERIC; SQLite sums the TEXT
    amounts with ``decimal_sum``, the aggregate usage-async registers on its connections
    (another tool registers ``usage_async.sync.DecimalSum`` under that name to read them).
    """
    sql = DIALECT_SQL[dialect.name]
    projects = DIRECTORY_TABLES[PROJECTS].name
    day_start = "(c.start_time / 86400) * 86400"
    day = sql["date"].format(day_start)
    amount = f"{sql['sum']} AS amount, {sql['settled']} AS settled"
    currency = "COALESCE(c.amount_currency, '') AS currency"
    chosen_rows = (
        "FROM costs c JOIN chosen s ON c.bucket_width = s.bucket_width AND c.group_by = s.group_by"
    )
    by_project = (
        f"CREATE VIEW {VIEWS[0]} AS\n"
        f"WITH chosen AS ({_able('project_id')} {_most_current(sql)})\n"
        f"SELECT {day} AS day, {day_start} AS day_start, c.project_id, p.name AS project_name,"
        f" {currency}, {amount}\n"
        f"{chosen_rows}\n"
        f"LEFT JOIN {projects} p ON p.id = c.project_id\n"
        "WHERE c.amount_value IS NOT NULL AND c.start_time >= s.since"
        " AND c.start_time < s.watermark\n"
        "GROUP BY 1, 2, 3, 4, 5"
    )
    by_model = (
        f"CREATE VIEW {VIEWS[1]} AS\n"
        f"WITH chosen AS ({_able('line_item')} {_most_current(sql)})\n"
        f"SELECT {day} AS day, {day_start} AS day_start, c.model, {currency}, {amount}\n"
        f"{chosen_rows}\n"
        "WHERE c.amount_value IS NOT NULL AND c.start_time >= s.since"
        " AND c.start_time < s.watermark\n"
        "GROUP BY 1, 2, 3, 4"
    )
    # As `query spend --by project --since <month start>`: among the collections by project
    # that hold the month's start up to the newest data held, the most current.
    month_to_date = (
        f"CREATE VIEW {VIEWS[2]} AS\n"
        f"WITH able AS ({_able('project_id')}),\n"
        f"bounds AS (SELECT {sql['month_start']} AS month_start,"
        " (SELECT MAX(watermark) FROM able) AS newest),\n"
        "chosen AS (SELECT a.bucket_width, a.group_by, a.since, a.watermark FROM able a, bounds b"
        f" WHERE a.since <= b.month_start AND a.watermark >= b.newest {_most_current(sql)})\n"
        f"SELECT {sql['month'].format('b.month_start')} AS month, b.month_start,"
        " s.watermark AS until_time, c.project_id, p.name AS project_name,"
        f" {currency}, {amount}\n"
        f"{chosen_rows}\n"
        "CROSS JOIN bounds b\n"
        f"LEFT JOIN {projects} p ON p.id = c.project_id\n"
        "WHERE c.amount_value IS NOT NULL AND c.start_time >= b.month_start"
        " AND c.start_time < s.watermark\n"
        "GROUP BY 1, 2, 3, 4, 5, 6"
    )
    return [by_project, by_model, month_to_date]


@attrs.frozen
class Backfill:
    """A migration step done in Python: each row ``select`` returns is turned by ``compute``
    into the parameters of one ``update``. The stores run it in the migration's transaction."""

    select: str
    update: str
    compute: Callable[[Sequence[Any]], Sequence[Any]]


Step = str | Backfill
"""One statement of a migration, or a back-fill done in Python."""

Migration = Callable[[Dialect], Sequence[Step]]
"""The steps that take a database from one schema version to the next."""


@attrs.frozen
class Schema:
    """A schema version: its tables, and the migrations that reach it from older versions.

    ``migrations[v]`` takes a database at version ``v`` to ``v + 1``; a new database is
    created at ``version`` directly. Version 1 has no predecessor.
    """

    version: int
    tables: Mapping[str, Table]
    migrations: Mapping[int, Migration] = attrs.field(factory=dict)

    def create(self, dialect: Dialect) -> list[str]:
        """Every CREATE of a new database at this version."""
        out = [meta_create(), state_statements(dialect)[0], unknown_statements(dialect)[0]]
        out += [statements(t, dialect).create for t in self.tables.values()]
        out += [directory_statements(t, dialect).create for t in DIRECTORY_TABLES.values()]
        out += view_statements(dialect)
        return out


def _to_v2(dialect: Dialect) -> list[str]:
    """Version 1 to 2: ``read_at`` and ``missing_since`` on every endpoint table, and the
    table of results the client could not type."""
    out = []
    for name in ENDPOINTS:
        out += [f"ALTER TABLE {_q(name)} ADD COLUMN {column}" for column in _v2_columns(dialect)]
    out.append(unknown_statements(dialect)[0])
    return out


def _to_v3(dialect: Dialect) -> list[str]:
    """Version 2 to 3: the directory's tables (projects, users, API keys, service accounts).
    Self-contained: it creates four new tables and touches nothing else."""
    return [directory_statements(t, dialect).create for t in DIRECTORY_TABLES.values()]


def _to_v4(dialect: Dialect) -> list[Step]:
    """Version 3 to 4: ``model``, ``kind``, ``line_item_prefix`` and ``line_item_detail`` on
    ``costs``, filled in for every stored row by the parser new rows are written with (in
    Python, so that a migrated database and a new one agree to the letter).

    Each distinct line item is parsed once into a temporary table, and one UPDATE reads it
    by key: one pass over ``costs``, however many line items (an UPDATE per line item
    would scan the table once for each)."""
    temp = "usage_async_line_items_v4"
    out: list[Step] = [f"ALTER TABLE costs ADD COLUMN {_q(c)} TEXT" for c in LINE_ITEM_COLUMNS]
    out.append(
        f"CREATE TEMPORARY TABLE {temp} (line_item TEXT PRIMARY KEY, "
        + ", ".join(f"{_q(c)} TEXT" for c in LINE_ITEM_COLUMNS)
        + ")"
    )
    out.append(
        Backfill(
            select="SELECT DISTINCT line_item FROM costs WHERE line_item <> ''",
            update=f"INSERT INTO {temp} VALUES ({dialect.params(1 + len(LINE_ITEM_COLUMNS))})",
            compute=lambda row: (row[0], *line_item_values(row[0])),
        )
    )
    sets = ", ".join(
        f"{_q(c)} = (SELECT t.{_q(c)} FROM {temp} t WHERE t.line_item = costs.line_item)"
        for c in LINE_ITEM_COLUMNS
    )
    out.append(f"UPDATE costs SET {sets} WHERE line_item <> ''")
    out.append(f"DROP TABLE {temp}")
    return out


def _to_v5(dialect: Dialect) -> list[Step]:
    """Version 4 to 5: the views of spend (:func:`view_statements`). Creates three views
    and touches no table."""
    return list(view_statements(dialect))


SCHEMA = Schema(
    version=SCHEMA_VERSION,
    tables=MappingProxyType({name: table_for(name) for name in ENDPOINTS}),
    migrations=MappingProxyType({1: _to_v2, 2: _to_v3, 3: _to_v4, 4: _to_v5}),
)
"""The schema this version of usage-async writes."""


def migration_plan(schema: Schema, found: int, dialect: Dialect) -> list[list[Step]]:
    """The transactions that bring a database at version ``found`` to ``schema.version``.

    ``found`` 0 is a new database: one transaction creates everything. Each later step is
    its migration's statements; every transaction ends by recording its version.
    """
    if found > schema.version:
        raise ValueError(f"schema version {found} is newer than {schema.version}")

    def stamp(version: int) -> list[Step]:
        return [
            f"DELETE FROM {META_TABLE} WHERE key = 'schema_version'",
            f"INSERT INTO {META_TABLE} (key, value) VALUES ('schema_version', '{version}')",
        ]

    if found == 0:
        return [[*schema.create(dialect), *stamp(schema.version)]]
    plan = []
    for version in range(found, schema.version):
        step = schema.migrations.get(version)
        if step is None:
            raise ValueError(f"no migration from schema version {version} to {version + 1}")
        plan.append([*step(dialect), *stamp(version + 1)])
    return plan
