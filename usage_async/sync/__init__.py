"""Collect the Usage and Costs API into a database, incrementally, idempotently, crash-safe.

``await sync(client, "sqlite:///usage.db", since=timedelta(days=90))`` syncs every endpoint
into SQLite (or ``postgresql://...`` with the ``postgres`` extra); later runs re-read from
the stored watermark minus a 48 h look-back and upsert, so late data and revisions are
picked up and a repeated run changes nothing; with ``names=True`` it also keeps the
organization's directory (project, user, key and service account names) in tables SQL can
join. ``await spend(db, by="project,day,model")`` reads the spend back, by any combination of
dimensions, from one collection that holds the range asked, and says which; ``await
usage(db, tz="Europe/Berlin")`` reads tokens and requests per local day. The schema,
and what is never deleted, are documented in ``usage_async/sync/_schema.py``.
"""

from ._rows import DuplicateResultError
from ._schema import SCHEMA, SCHEMA_VERSION, VIEWS, Schema
from ._sqlite import DecimalSum
from .collector import (
    DEFAULT_GROUP_BY,
    DEFAULT_LOOKBACK,
    DEFAULT_SINCE,
    Collector,
    EndpointReport,
    NamesReport,
    SyncReport,
    Target,
    source_of,
    sync,
)
from .query import (
    SPEND_BY,
    Collection,
    SpendAnswer,
    SpendDimensionError,
    SpendRangeError,
    SpendRow,
    spend,
)
from .stores import (
    DEFAULT_DB,
    FAKE_DB,
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
    open_store,
)
from .usage_query import USAGE_ENDPOINTS, UsageAnswer, UsageDay, UsageQueryError, usage

__all__ = [
    "DEFAULT_DB",
    "DEFAULT_GROUP_BY",
    "DEFAULT_LOOKBACK",
    "DEFAULT_SINCE",
    "FAKE_DB",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SPEND_BY",
    "USAGE_ENDPOINTS",
    "VIEWS",
    "Collection",
    "Collector",
    "DecimalSum",
    "DuplicateResultError",
    "EndpointReport",
    "NamesReport",
    "NoSuchDatabaseError",
    "PageResult",
    "PageWrite",
    "Schema",
    "SchemaVersionError",
    "Source",
    "SourceMismatchError",
    "SpendAnswer",
    "SpendDimensionError",
    "SpendRangeError",
    "SpendRow",
    "State",
    "Store",
    "StoreError",
    "StoreURLError",
    "SyncReport",
    "Target",
    "UsageAnswer",
    "UsageDay",
    "UsageQueryError",
    "open_store",
    "source_of",
    "spend",
    "sync",
    "usage",
]
