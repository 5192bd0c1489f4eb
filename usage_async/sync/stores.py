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
    NoSuchDatabaseError,
    PageResult,
    PageWrite,
    SchemaVersionError,
    Source,
    SourceMismatchError,
    State,
    Store,
    StoreError,
    StoreURLError,
    UnknownRow,
    redact,
    redact_url,
)

__all__ = [
    "DEFAULT_DB",
    "FAKE_DB",
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
    "open_store",
    "redact",
    "redact_url",
]

DEFAULT_DB = "sqlite:///usage.db"
FAKE_DB = "sqlite:///usage-fake.db"
"""Where ``sync --fake`` writes without ``--db``: never the real data's default file."""


def open_store(url: str, *, schema: Schema = SCHEMA, create: bool = True) -> Store:
    """The store for a database URL, not yet opened: use ``async with open_store(url) as s``.

    ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` (standard library ``sqlite3``);
    ``postgresql://user@host:port/dbname`` or ``postgres://...`` (libpq's URL, psycopg 3: the
    ``postgres`` extra). Raises :class:`StoreURLError` for anything else. With
    ``create=False`` (readers), opening a database that does not exist or holds no
    usage-async schema raises :class:`NoSuchDatabaseError` and creates nothing.
    """
    if not isinstance(url, str) or "://" not in url:
        shown = repr(redact_url(url)) if isinstance(url, str) else repr(type(url).__name__)
        raise StoreURLError(
            f"not a database URL: {shown}; use sqlite:///path.db or postgresql://host/dbname"
        )
    scheme = url.split("://", 1)[0].lower()
    if scheme == "sqlite":
        from ._sqlite import SQLiteStore, sqlite_path

        return SQLiteStore(url, sqlite_path(url), schema, create=create)
    if scheme in ("postgresql", "postgres"):
        from ._postgres import PostgresStore

        return PostgresStore(url, schema, create=create)
    raise StoreURLError(
        f"unknown database URL scheme {scheme!r} in {redact_url(url)!r}; "
        "use sqlite:///path.db or postgresql://host/dbname"
    )
