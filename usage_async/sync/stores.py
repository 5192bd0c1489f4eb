"""Stores, picked by URL: ``sqlite:///path.db`` (built in) and ``postgresql://...`` (extra).

A store is the one writer of its database during a sync: the collector hands it one page
at a time (:class:`PageWrite`), and it commits that page's rows and the watermark advance in
one transaction. All SQL lives in the stores and ``_schema``; the collector sees only the
:class:`Store` methods. The shared types live in ``_store_base``, which both back-ends
import; this façade only picks one.
"""

from __future__ import annotations

from ._schema import SCHEMA, Schema
from ._store_base import (
    PageResult,
    PageWrite,
    SchemaVersionError,
    State,
    Store,
    StoreError,
    StoreURLError,
    redact_url,
)

__all__ = [
    "DEFAULT_DB",
    "PageResult",
    "PageWrite",
    "SchemaVersionError",
    "State",
    "Store",
    "StoreError",
    "StoreURLError",
    "open_store",
    "redact_url",
]

DEFAULT_DB = "sqlite:///usage.db"


def open_store(url: str, *, schema: Schema = SCHEMA) -> Store:
    """The store for a database URL, not yet opened: use ``async with open_store(url) as s``.

    ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` (standard library ``sqlite3``);
    ``postgresql://user@host:port/dbname`` or ``postgres://...`` (libpq's URL, psycopg 3: the
    ``postgres`` extra). Raises :class:`StoreURLError` for anything else.
    """
    if not isinstance(url, str) or "://" not in url:
        raise StoreURLError(
            f"not a database URL: {url!r}; use sqlite:///path.db or postgresql://host/dbname"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from ._sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(url, sqlite_path(url), schema)
    if scheme in ("postgresql", "postgres"):
        from ._postgres import PostgresStore

        return PostgresStore(url, schema)
    raise StoreURLError(
        f"unknown database URL scheme {scheme!r} in {redact_url(url)!r}; "
        "use sqlite:///path.db or postgresql://host/dbname"
    )
