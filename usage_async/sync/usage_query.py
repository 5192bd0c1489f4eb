"""Reading back collected usage: tokens and requests per day, per project and model, in UTC
days or the local days of a time zone.

:func:`usage` reads one collection of a usage endpoint, chosen by the rule every reader of
the database uses (:func:`usage_async.sync.reading.choose`: the most current one that holds
the range; adding two would count usage twice), sums it per bucket and per project and
model (whichever of the two the collection is grouped by), and re-buckets those buckets into
days with :func:`usage_async.localtime.rebucket`: UTC days by default; with ``tz``, the local
days of that zone, 23 or 25 hours long on the days the clocks change. Local days need
buckets that lie inside one local day, so ``tz`` reads only ``1h`` (or ``1m``) collections:
with only ``1d`` buckets synced it is refused (:class:`UsageQueryError`), naming the
``sync --bucket-width`` that collects hours. Counts are integers: exact in both stores.
"""

from __future__ import annotations

import datetime as _dt
import typing
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from .._endpoints import ENDPOINTS, WIDTH_SECONDS
from .._query import to_unix
from ..errors import InvalidParameterError, UsageError
from ..localtime import LocalDayBucket, load_zone, local_day, rebucket, zone_name
from ..models import Bucket
from ._schema import DIRECTORY_TABLES, INT, SCHEMA
from .query import Collection, _iso, name_label
from .reading import choose, collections
from .stores import DEFAULT_DB, Store, open_store

__all__ = [
    "USAGE_ENDPOINTS",
    "UsageAnswer",
    "UsageDay",
    "UsageQueryError",
    "usage",
    "usage_columns",
]

USAGE_ENDPOINTS = tuple(name for name in ENDPOINTS if name not in ("costs", "vector_stores"))
"""The endpoints :func:`usage` reads: those that count (``costs`` is money, read with
:func:`~usage_async.sync.spend`; ``vector_stores`` holds a size, which no day sums)."""

_KEYS = ("project_id", "model")  # what a day is split by, where the collection has it
_LOCAL_WIDTHS = ("1h", "1m")
_UTC = _dt.timezone.utc


def _counters(endpoint: str) -> tuple[str, ...]:
    """The endpoint's counts (its integer columns), in the table's order."""
    return tuple(c.name for c in SCHEMA.tables[endpoint].fields if c.kind == INT)


# The counts shown by default where an endpoint has many (the rest: ``every=True``).
_MAIN_COUNTS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"completions": ("input_tokens", "output_tokens", "input_cached_tokens", "num_model_requests")}
)


def usage_columns(
    endpoint: str, keys: Sequence[str], *, names: bool = True, every: bool = True
) -> list[str]:
    """The columns of :meth:`UsageAnswer.records`: ``day``, the keys (``project_name``
    beside ``project_id`` when ``names``), the endpoint's counts, then ``complete``.
    ``every=False`` keeps only the main counts of ``completions`` (tokens in and out, cached
    input, requests) of its fifteen."""
    out = ["day"]
    for key in keys:
        out.append(key)
        if key == "project_id" and names:
            out.append("project_name")
    counts = _counters(endpoint)
    if not every and endpoint in _MAIN_COUNTS:
        counts = tuple(c for c in counts if c in _MAIN_COUNTS[endpoint])
    return [*out, *counts, "complete"]


class UsageQueryError(UsageError, ValueError):
    """The database cannot answer: no collection of the endpoint holds the range, or local
    days were asked of ``1d`` buckets. ``held`` lists the endpoint's collections."""

    def __init__(self, message: str, held: tuple[Collection, ...]) -> None:
        super().__init__(message)
        self.held = held


@attrs.frozen
class UsageDay:
    """The counts of one day (``day``, local to ``zone``) for one project and model.

    ``project_id``/``model`` are None where the collection is not grouped by them, or the
    API gave none; ``project_name`` is the stored name (None without one). ``counts`` holds
    every count of the endpoint (None where the API never gave it). ``complete`` is False
    when the buckets summed do not cover the whole day (the range asked, or the data held,
    ends inside it); ``hours`` is the day's length: 23 or 25 on the days clocks change.
    """

    day: _dt.date
    zone: str
    project_id: str | None
    model: str | None
    counts: Mapping[str, int | None]
    complete: bool
    hours: float
    project_name: str | None = None


class UsageAnswer(list[UsageDay]):
    """The days of :func:`usage`, and what they sum: the ``endpoint``, the ``collection``
    read (None when the endpoint was never synced), its ``keys`` (which of ``project_id``
    and ``model`` it is grouped by), the buckets summed (those that start in ``[since,
    until)``) and the ``zone`` of the days."""

    def __init__(
        self,
        days: Iterable[UsageDay] = (),
        *,
        endpoint: str,
        zone: str = "UTC",
        collection: Collection | None = None,
        keys: tuple[str, ...] = (),
        since: int | None = None,
        until: int | None = None,
    ) -> None:
        super().__init__(days)
        self.endpoint = endpoint
        self.zone = zone
        self.collection = collection
        self.keys = keys
        self.since = since
        self.until = until

    def describe(self) -> str:
        """One line: which collection was summed, over what range, into which days."""
        if self.collection is None or self.since is None or self.until is None:
            return f"no {self.endpoint} usage collected"
        c = self.collection
        days = "UTC days" if self.zone == "UTC" else f"local days in {self.zone}"
        return (
            f"summed {self.endpoint} {c.bucket_width} by {c.group_by or '(nothing)'}, buckets "
            f"from {_iso(self.since)} to {_iso(self.until)}, into {days}"
        )

    def columns(self, *, names: bool = True, every: bool = True) -> list[str]:
        """The columns of :meth:`records` (``every=False``: the main counts only)."""
        return usage_columns(self.endpoint, self.keys, names=names, every=every)

    def records(self, *, names: bool = True) -> list[dict[str, Any]]:
        """Every day as a dict of :meth:`columns` (a project the directory does not name
        shows as its id and "(unknown)")."""
        out = []
        for d in self:
            row: dict[str, Any] = {"day": d.day.isoformat()}
            for key in self.keys:
                value = getattr(d, key)
                row[key] = value
                if key == "project_id" and names:
                    row["project_name"] = name_label(value, d.project_name)
            row.update(d.counts)
            row["complete"] = d.complete
            out.append(row)
        return out


async def usage(
    db: str | Store = DEFAULT_DB,
    *,
    endpoint: str = "completions",
    tz: str | _dt.tzinfo | None = None,
    since: int | _dt.date | None = None,
    until: int | _dt.date | None = None,
    names: bool = True,
) -> UsageAnswer:
    """Collected usage of ``endpoint`` per day, per project and model (where stored).

    Days are UTC, or with ``tz`` (an IANA name such as ``"Europe/Berlin"``) the local days of
    that zone, re-bucketed from ``1h`` buckets (see the module). ``since``/``until`` (Unix
    seconds, an aware datetime, or a date: with ``tz``, that local date's first instant)
    keep buckets that start in ``[since, until)``; an open end is the newest data held.
    Days come in date order, then by project and model. Raises
    :class:`~usage_async.InvalidParameterError` for an unknown endpoint or zone (naming it)
    before opening the database, and :class:`UsageQueryError` when no collection holds the
    range or ``tz`` is given and only ``1d`` buckets were synced.
    """
    if endpoint not in USAGE_ENDPOINTS:
        raise InvalidParameterError(
            f"endpoint: {endpoint!r} is not a usage endpoint; endpoints: "
            f"{', '.join(USAGE_ENDPOINTS)}",
            param="endpoint",
        )
    zone = load_zone(tz) if tz is not None else _UTC
    local = zone_name(zone) != "UTC"  # UTC days are whole 1d buckets too
    low = _bound(since, zone, "since")
    high = _bound(until, zone, "until")
    if isinstance(db, Store):
        return await _usage(db, endpoint, zone, local, low, high, names)
    async with open_store(db, create=False) as store:
        return await _usage(store, endpoint, zone, local, low, high, names)


def _bound(value: int | _dt.date | None, zone: _dt.tzinfo, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, _dt.date) and not isinstance(value, _dt.datetime):
        return local_day(value, zone)[0]
    return to_unix(value, what)


async def _usage(
    store: Store,
    endpoint: str,
    zone: _dt.tzinfo,
    local: bool,
    since: int | None,
    until: int | None,
    names: bool,
) -> UsageAnswer:
    held = tuple(await collections(store, endpoint))
    shown_zone = zone_name(zone)
    if not held:
        return UsageAnswer(endpoint=endpoint, zone=shown_zone)
    able = [c for c in held if c.bucket_width in _LOCAL_WIDTHS] if local else list(held)
    listing = "; ".join(c.describe(endpoint) for c in held)
    if not able:
        raise UsageQueryError(
            f"--tz {shown_zone}: local days are summed from 1h buckets, and the database "
            f"holds only {listing}; collect hours with usage-async sync --bucket-width "
            f"{endpoint}=1h",
            held,
        )
    if since is not None and until is None:
        until = max(c.watermark for c in able)  # "until now": the newest data held
    chosen = choose(able, endpoint, (), since, until)
    if chosen is None:
        start = _iso(since) if since is not None else "the start"
        end = _iso(until) if until is not None else "now"
        raise UsageQueryError(
            f"no collection of {endpoint} usage{' in 1h buckets' if local else ''} holds "
            f"{start} to {end}: the database holds {listing}; ask within one of them, or "
            "backfill one with sync --since",
            held,
        )
    low = chosen.since if since is None else max(since, chosen.since)
    high = chosen.watermark if until is None else min(until, chosen.watermark)
    grouped = chosen.group_by.split(",")
    keys = tuple(k for k in _KEYS if k in grouped)
    counters = _counters(endpoint)
    buckets = await _buckets(store, endpoint, chosen, keys, counters, low, high)
    project_names = await _project_names(store) if names and "project_id" in keys else {}
    try:
        local_days = rebucket(buckets, zone)
    except InvalidParameterError as exc:  # a zone whose midnight falls inside an hour
        raise UsageQueryError(
            f"--tz {shown_zone}: {str(exc).removeprefix('buckets: ')}; collect minutes with "
            f"usage-async sync --bucket-width {endpoint}=1m",
            held,
        ) from None
    flat = [d for day in local_days for d in _day(day, keys, counters, project_names)]
    return UsageAnswer(
        flat,
        endpoint=endpoint,
        zone=shown_zone,
        collection=chosen,
        keys=keys,
        since=low,
        until=high,
    )


async def _buckets(
    store: Store,
    endpoint: str,
    chosen: Collection,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    low: int,
    high: int,
) -> list[Bucket[Any]]:
    """The collection's buckets that start in ``[low, high)``, empty ones included (a day is
    complete only when every one of its buckets was read), each with one result per key
    (its other groups summed), as the API's own buckets would hold them."""
    p = store.dialect.param
    # SUM of integers is exact in both stores; a NULL count stays NULL only if all are NULL.
    sums = ", ".join(f'SUM("{c}")' for c in counters)
    group = ", ".join(["start_time", "end_time", *(f'"{k}"' for k in keys)])
    sql = (
        f'SELECT {group}, {sums} FROM "{endpoint}" WHERE bucket_width = {p} AND group_by = {p}'
        f" AND start_time >= {p} AND start_time < {p} GROUP BY {group} ORDER BY {group}"
    )
    rows = await store.fetch(sql, (chosen.bucket_width, chosen.group_by, low, high))
    result_type = ENDPOINTS[endpoint].result_type
    hints = typing.get_type_hints(result_type)
    required = {c for c in counters if type(None) not in typing.get_args(hints[c])}
    width = WIDTH_SECONDS[chosen.bucket_width]
    first = -(-low // width) * width  # buckets start on the UTC grid of their width
    grid: dict[int, Bucket[Any]] = {
        start: Bucket(start, start + width, []) for start in range(first, high, width)
    }
    for row in rows:
        start, end = int(row[0]), int(row[1])
        values: dict[str, Any] = {k: (row[2 + i] or None) for i, k in enumerate(keys)}
        for i, name in enumerate(counters):
            count = row[2 + len(keys) + i]
            values[name] = int(count) if count is not None else (0 if name in required else None)
        bucket = grid.setdefault(start, Bucket(start, end, []))
        bucket.results.append(result_type(**values))
    return [grid[start] for start in sorted(grid)]


async def _project_names(store: Store) -> Mapping[str, str | None]:
    table = DIRECTORY_TABLES["projects"].name
    return MappingProxyType(dict(await store.fetch(f"SELECT id, name FROM {table}")))


def _day(
    day: LocalDayBucket,
    keys: tuple[str, ...],
    counters: tuple[str, ...],
    project_names: Mapping[str, str | None],
) -> list[UsageDay]:
    out = []
    for result in day.results:
        project = result.project_id if "project_id" in keys else None
        out.append(
            UsageDay(
                day=day.date,
                zone=day.zone,
                project_id=project,
                model=getattr(result, "model", None) if "model" in keys else None,
                counts=MappingProxyType({c: getattr(result, c) for c in counters}),
                complete=day.complete,
                hours=day.hours,
                project_name=project_names.get(project) if project else None,
            )
        )
    return out
