"""The types both store back-ends share: the store interface, what it reads and writes, and
its errors. The back-ends (``_sqlite``, ``_postgres``) import this module; ``stores`` picks one
by URL.
"""

from __future__ import annotations

import abc
import decimal
import json
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

import attrs

from ..errors import UsageError
from ._schema import (
    DECIMAL,
    DIRECTORY_TABLES,
    META_TABLE,
    Dialect,
    DirectoryStatements,
    DirectoryTable,
    Schema,
    Table,
    directory_statements,
    statements,
)

__all__ = [
    "DirectoryKind",
    "DirectoryPlan",
    "DirectoryWrite",
    "KindResult",
    "NoSuchDatabaseError",
    "PageResult",
    "PageWrite",
    "SchemaVersionError",
    "Source",
    "SourceMismatchError",
    "State",
    "Store",
    "StoreError",
    "StoreURLError",
    "UnknownRow",
    "WritePlan",
    "plan_directory",
    "plan_write",
    "redact",
    "redact_url",
]


class StoreError(UsageError):
    """The database could not be opened, read or written."""


class StoreURLError(StoreError, ValueError):
    """A database URL usage-async cannot use (unknown scheme, missing driver, no path)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer usage-async: its schema version is unknown here."""


class NoSuchDatabaseError(StoreError):
    """A database opened to be read (``create=False``) does not exist, or holds no
    usage-async schema; nothing was created."""


@attrs.frozen
class Source:
    """Where a database's rows come from: the API's ``host`` (host[:port]) and who asked
    (``identity``: ``org:<organization>`` or ``key:<12 hex of the key's SHA-256>``)."""

    host: str
    identity: str

    def __str__(self) -> str:
        return f"{self.identity} at {self.host}"


class SourceMismatchError(StoreError):
    """The database holds rows of another source (another API host or organization):
    mixing them would add one organization's spend to another's, or the simulator's to real
    spend. ``stored`` and ``given`` are the two :class:`Source` values."""

    def __init__(self, message: str, *, stored: Source, given: Source) -> None:
        super().__init__(message)
        self.stored = stored
        self.given = given


@attrs.frozen
class State:
    """What is stored for one (endpoint, bucket_width, group_by): where it started, how far
    it got (``watermark``: Unix seconds up to which buckets were read)."""

    since: int
    watermark: int


@attrs.frozen
class PageWrite:
    """One page for one target, ready to commit: its rows and the watermark after it.

    ``start``/``end`` bound the page's buckets. ``read_at`` (Unix milliseconds) is when the
    page was read: a stored row written by a newer read is left alone. ``run`` (Unix
    milliseconds) is when the sync that read it started: stored rows of the range that the
    page lacks are marked ``missing_since`` = ``run``, and deleted only when a page of a later
    run lacks them too. ``unsure`` holds the starts of buckets with a result the client could
    not type: nothing in them is marked or deleted. ``unknown`` holds those results, raw
    (:class:`UnknownRow`).
    """

    endpoint: str
    bucket_width: str
    group_by: str
    start: int
    end: int
    rows: Sequence[tuple[Any, ...]]
    keys: frozenset[tuple[Any, ...]]
    since: int
    watermark: int
    now: int
    read_at: int = 0
    run: int = 0
    unsure: frozenset[int] = frozenset()
    unknown: Sequence[UnknownRow] = ()


@attrs.frozen
class UnknownRow:
    """A result the client could not type, as stored: its bucket, tag and JSON."""

    start_time: int
    end_time: int
    object: str | None
    digest: str
    data: str


@attrs.frozen
class PageResult:
    """What committing one page did.

    ``inserted``/``changed``: rows new or with revised values. ``marked``: stored rows this
    read lacked, now marked missing (still stored and counted); ``deleted``: marked rows a
    later run's read lacked too; ``restored``: marked rows that came back. ``stale``: rows a
    newer read had already written, left as they were. ``unknown``: results kept raw.
    """

    inserted: int
    changed: int
    deleted: int
    marked: int = 0
    restored: int = 0
    stale: int = 0
    unknown: int = 0


@attrs.frozen
class WritePlan:
    """The statements' parameters of one page write, decided from what is stored."""

    upserts: list[tuple[Any, ...]]
    confirms: list[tuple[Any, ...]]
    marks: list[tuple[Any, ...]]
    deletes: list[tuple[Any, ...]]
    result: PageResult


def plan_write(page: PageWrite, table: Table, stored: Sequence[Sequence[Any]]) -> WritePlan:
    """What to write for ``page``, given the rows ``stored`` in its range (``select_stored``).

    Pure: the stores call it inside the page's transaction, after taking the table's write
    lock, so ``stored`` is what the transaction will change. The rules are the schema's
    (see ``_schema``): a newer read is never overwritten; a lacking read marks, a later
    run's lacking read deletes; a bucket with an untyped result is left alone.
    """
    n_groups, n_values = len(table.groups), len(table.values)
    value_at = table.value_positions
    known: dict[tuple[Any, ...], tuple[tuple[Any, ...], int, int | None]] = {}
    for row in stored:
        key = tuple(row[: 1 + n_groups])
        values = tuple(row[1 + n_groups : 1 + n_groups + n_values])
        known[key] = (values, int(row[-2]), None if row[-1] is None else int(row[-1]))
    head = (page.bucket_width, page.group_by)
    upserts, confirms, marks, deletes = [], [], [], []
    inserted = changed = restored = stale = 0
    for row in page.rows:
        key = (row[0], *row[4 : 4 + n_groups])
        old = known.get(key)
        if old is None:
            upserts.append(row)
            inserted += 1
            continue
        values, read_at, missing_since = old
        if read_at > page.read_at:
            stale += 1
        elif tuple(row[i] for i in value_at) != values:
            upserts.append(row)
            changed += 1
        elif missing_since is not None or read_at < page.read_at:
            confirms.append((page.read_at, *head, *key, page.read_at))
            restored += missing_since is not None
    for key in sorted(known.keys() - page.keys):
        values, read_at, missing_since = known[key]
        if key[0] in page.unsure or read_at > page.read_at:
            continue  # an untyped result may be this row; or a newer read saw it
        if missing_since is None:
            marks.append((page.run, *head, *key))
        elif missing_since < page.run:
            deletes.append((*head, *key, page.run))
    result = PageResult(
        inserted=inserted,
        changed=changed,
        deleted=len(deletes),
        marked=len(marks),
        restored=restored,
        stale=stale,
        unknown=len(page.unknown),
    )
    return WritePlan(upserts, confirms, marks, deletes, result)


@attrs.frozen
class DirectoryKind:
    """What one walk listed of one kind of the directory: ``rows`` by id, each the values of
    :attr:`DirectoryTable.values` in the store's form; ``complete`` when every list of the
    kind was read to its end (only then are rows it lacks marked deleted)."""

    kind: str
    rows: Mapping[str, tuple[Any, ...]]
    complete: bool


@attrs.frozen
class DirectoryWrite:
    """One walk of the directory, ready to commit in one transaction; ``now`` (Unix seconds)
    is the sync's time: ``first_seen``/``last_seen`` of what it lists, ``deleted_at`` of what
    a complete kind lacks."""

    kinds: tuple[DirectoryKind, ...]
    now: int


@attrs.frozen
class KindResult:
    """What writing one kind did: ``listed`` by this walk, of which ``new`` and ``changed``
    (a name, owner or state differs) and ``restored`` (was marked deleted); ``deleted``
    rows newly marked deleted (kept, with their names); ``complete`` as walked."""

    kind: str
    listed: int
    new: int
    changed: int
    deleted: int
    restored: int
    complete: bool


@attrs.frozen
class DirectoryPlan:
    """The statements' parameters of one kind's write, decided from what is stored."""

    upserts: list[tuple[Any, ...]]
    marks: list[tuple[Any, ...]]
    result: KindResult


def plan_directory(
    table: DirectoryTable, part: DirectoryKind, stored: Sequence[Sequence[Any]], now: int
) -> DirectoryPlan:
    """What to write for one kind, given its ``stored`` rows (``directory_statements``'
    ``select``). Pure: the stores call it inside the write's transaction.

    Every listed row is upserted (``last_seen`` = ``now``). Only a complete walk marks the
    stored rows it lacks (``deleted_at`` = ``now``; never removed: usage still names their
    ids); an incomplete one changes no row it did not list.
    """
    n = len(table.values)
    known = {row[0]: (tuple(row[1 : 1 + n]), row[-1]) for row in stored}
    upserts, marks = [], []
    new = changed = restored = 0
    for id_, values in sorted(part.rows.items()):
        upserts.append((id_, *values, now, now, None))
        old = known.get(id_)
        if old is None:
            new += 1
        else:
            changed += tuple(old[0]) != tuple(values)
            restored += old[1] is not None
    if part.complete:
        for id_ in sorted(known.keys() - part.rows.keys()):
            if known[id_][1] is None:
                marks.append((now, id_, now))
    result = KindResult(
        kind=part.kind,
        listed=len(part.rows),
        new=new,
        changed=changed,
        deleted=len(marks),
        restored=restored,
        complete=part.complete,
    )
    return DirectoryPlan(upserts, marks, result)


class Store(abc.ABC):
    """A database the collector writes to; open it with ``async with open_store(url)``."""

    dialect: Dialect
    schema: Schema

    def __init__(self, url: str, schema: Schema, *, create: bool = True) -> None:
        self.url = url
        self.schema = schema
        self.create = create

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact_url(self.url)}>"

    def _message(self, what: str, exc: BaseException) -> str:
        """``what: <the driver's first line>``, with the URL's password removed (``redact``).

        When the password holds an unencoded ``@``, ``/``, ``?`` or ``#``, a driver reads
        part of it as a host, a path or a parameter and may quote that part alone, which no
        search for the whole password finds: then the driver's words are left out.
        """
        if _ambiguous(self.url):
            return redact(
                f"{what}: the URL's password holds an unencoded '@', '/', '?' or '#'; "
                "percent-encode it (%40, %2F, %3F, %23)",
                self.url,
            )
        return redact(f"{what}: {first_line(exc)}", self.url)

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema in a new database, migrate an older one.

        Raises :class:`SchemaVersionError` for a database from a newer version, and (when
        the store was made with ``create=False``) :class:`NoSuchDatabaseError` for a database
        that does not exist or has no schema, creating nothing.
        """

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close the connection."""

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The schema version of the database (0 when it has none yet)."""

    @abc.abstractmethod
    async def load_state(self, endpoint: str, bucket_width: str, group_by: str) -> State | None:
        """The stored state of one target, or None when nothing was stored yet."""

    @abc.abstractmethod
    async def states(self) -> list[tuple[str, str, str, int, int]]:
        """Every stored (endpoint, bucket_width, group_by, since, watermark)."""

    @abc.abstractmethod
    async def write_page(self, page: PageWrite) -> PageResult:
        """Commit one page's rows, the removal of vanished rows, and the watermark, at once."""

    async def write_directory(self, write: DirectoryWrite) -> tuple[KindResult, ...]:
        """Commit one walk of the directory, every kind in one transaction (the rules:
        ``plan_directory``). Both stores do; a store of your own that does not is used
        without names (``names=False``, the collector's default)."""
        raise NotImplementedError(f"{type(self).__name__} does not store names")

    @abc.abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query in this store's dialect."""

    @abc.abstractmethod
    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement in this store's dialect, in a transaction of its own."""

    async def source(self) -> Source | None:
        """The source the database is bound to, or None when none is recorded yet."""
        rows = await self.fetch(
            f"SELECT key, value FROM {META_TABLE} WHERE key IN ('source_host', 'source_identity')"
        )
        found = dict(rows)
        if "source_host" not in found or "source_identity" not in found:
            return None
        return Source(found["source_host"], found["source_identity"])

    async def bind_source(self, source: Source) -> bool:
        """Bind the database to ``source``; True when this call recorded it (the first sync).

        Raises :class:`SourceMismatchError` when it is bound to another. One statement
        records both values, so two first syncs at once cannot bind it half to each.
        """
        if await self.source() is None:
            p = self.dialect.param
            await self.execute(
                f"INSERT INTO {META_TABLE} (key, value) VALUES ({p}, {p}), ({p}, {p})"
                " ON CONFLICT (key) DO NOTHING",
                ("source_host", source.host, "source_identity", source.identity),
            )
            recorded = True
        else:
            recorded = False
        stored = await self.source()
        if stored != source:
            assert stored is not None  # recorded above when there was none
            raise SourceMismatchError(
                f"{redact_url(self.url)} holds data from {stored}, not from {source}: "
                "use another --db for this source (a database holds one organization's data)",
                stored=stored,
                given=source,
            )
        return recorded

    async def table_rows(self, endpoint: str) -> list[dict[str, Any]]:
        """Every row of an endpoint's table, in key order, as dicts: the same values from
        either store (money and quantities as Decimal, ``settled`` as bool)."""
        table = self.schema.tables[endpoint]
        rows = await self.fetch(statements(table, self.dialect).select_all)
        decimals = [c.name for c in table.fields if c.kind == DECIMAL]
        out = []
        for row in rows:
            values = dict(zip(table.columns, row, strict=True))
            for name in decimals:
                if values[name] is not None:
                    values[name] = decimal.Decimal(values[name])
            values["settled"] = bool(values["settled"])
            out.append(values)
        return out

    async def directory_rows(self, kind: str) -> list[dict[str, Any]]:
        """Every row of one directory table (``"projects"``, ...), by id, as dicts: the
        same values from either store (``archived`` as bool)."""
        table = DIRECTORY_TABLES[kind]
        columns = ", ".join(f'"{c}"' for c in table.columns)
        rows = await self.fetch(f"SELECT {columns} FROM {table.name} ORDER BY id")
        out = []
        for row in rows:
            values = dict(zip(table.columns, row, strict=True))
            if "archived" in values:
                values["archived"] = bool(values["archived"])
            out.append(values)
        return out


def directory_sql(dialect: Dialect) -> dict[str, DirectoryStatements]:
    """The prepared statements of every directory table in ``dialect``, by kind."""
    return {kind: directory_statements(t, dialect) for kind, t in DIRECTORY_TABLES.items()}


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (drivers add hints below it), or its type."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _userinfo(url: str) -> tuple[int, int] | None:
    """Where the userinfo of ``url`` is: from after ``scheme://`` to the last ``@``.

    The last ``@`` of the whole URL, not of the authority as a URL parser finds it: a
    password with an unencoded ``@``, ``/`` or ``?`` (a malformed URL) would otherwise be
    taken for a host or a path and printed. Over-redacting a rare ``@`` in a query is the
    price.
    """
    scheme_end = url.find("://")
    start = 0 if scheme_end < 0 else scheme_end + 3
    at = url.rfind("@")
    return (start, at) if at >= start else None


def _ambiguous(url: str) -> bool:
    """Whether the password of ``url`` holds a character that ends a URL's userinfo."""
    where = _userinfo(url)
    if where is None:
        return False
    password = url[where[0] : where[1]].partition(":")[2]
    return any(c in password for c in "@/?#")


def _password_forms(url: str) -> list[str]:
    """Every form a password in ``url`` may take in a driver's message, longest first: as
    written, percent-decoded (also ``+`` as space), percent-encoded, escaped as in a Python
    or JSON string literal; and as a URL parser reads it, when that differs."""
    passwords = set()
    where = _userinfo(url)
    if where is not None:
        _user, sep, password = url[where[0] : where[1]].partition(":")
        if sep and password:
            passwords.add(password)
    try:
        parsed = urlsplit(url).password
    except ValueError:
        parsed = None
    if parsed:
        passwords.add(parsed)
    forms: set[str] = set()
    for password in passwords:
        for plain in (password, unquote(password), unquote_plus(password)):
            forms.update((plain, quote(plain, safe=""), repr(plain)[1:-1], json.dumps(plain)[1:-1]))
    return sorted((f for f in forms if f), key=len, reverse=True)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    shown = url
    where = _userinfo(url)
    if where is not None:
        user, sep, _password = url[where[0] : where[1]].partition(":")
        if sep:
            shown = f"{url[: where[0]]}{user}:***{url[where[1] :]}"
    return redact(shown, url)


def redact(text: str, url: str) -> str:
    """``text`` (a driver's message, say) with every form of ``url``'s password removed.

    Every message the stores build from a driver's error passes through here: drivers quote
    the part of a URL they could not read (psycopg: ``invalid percent-encoded token:
    "Pw0rd%zz"``), decoded or not. A password that also occurs elsewhere (in the host name,
    say) is removed there too: a mangled host name is better than a printed password.
    """
    for form in _password_forms(url):
        text = text.replace(form, "***")
    return text
