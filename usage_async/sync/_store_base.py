"""The types both store back-ends share: the store interface, what it reads and writes, and
its errors. The back-ends (``_sqlite``, ``_postgres``) import this module; ``stores`` picks one
by URL.
"""

from __future__ import annotations

import abc
import decimal
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs

from ..errors import UsageError
from ._schema import DECIMAL, Dialect, Schema, statements

__all__ = [
    "PageResult",
    "PageWrite",
    "SchemaVersionError",
    "State",
    "Store",
    "StoreError",
    "StoreURLError",
    "redact_url",
]


class StoreError(UsageError):
    """The database could not be opened, read or written."""


class StoreURLError(StoreError, ValueError):
    """A database URL usage-async cannot use (unknown scheme, missing driver, no path)."""


class SchemaVersionError(StoreError):
    """The database was written by a newer usage-async: its schema version is unknown here."""


@attrs.frozen
class State:
    """What is stored for one (endpoint, bucket_width, group_by): where it started, how far
    it got (``watermark``: Unix seconds up to which buckets were read)."""

    since: int
    watermark: int


@attrs.frozen
class PageWrite:
    """One page for one target, ready to commit: its rows and the watermark after it.

    ``start``/``end`` bound the page's buckets; stored rows of this (width, group_by) in that
    range whose key is not among ``keys`` are removed (the API no longer reports them).
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


@attrs.frozen
class PageResult:
    """What committing one page did."""

    inserted: int
    changed: int
    deleted: int


class Store(abc.ABC):
    """A database the collector writes to; open it with ``async with open_store(url)``."""

    dialect: Dialect
    schema: Schema

    def __init__(self, url: str, schema: Schema) -> None:
        self.url = url
        self.schema = schema

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {redact_url(self.url)}>"

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, create the schema in a new database, migrate an older one.

        Raises :class:`SchemaVersionError` for a database from a newer version.
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

    @abc.abstractmethod
    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a read-only query in this store's dialect."""

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


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
