"""Flat rows from buckets: one dict per result, for CSV, JSON lines, dataframes and databases.

``rows(buckets)`` takes buckets you already have (a list from ``.collect()``, say);
``arows(buckets)`` takes a stream (``client.costs.buckets(...)``) and yields each row as its
bucket arrives, so memory stays flat however long the range::

    async for row in usage_async.arows(client.costs.buckets(start_time=since)):
        print(row["start_time"], row["line_item"], row["amount_value"])

A row's keys, in order: ``start_time`` and ``end_time`` of its bucket (aware UTC
datetimes), ``object`` (the result's tag), then every field of the result class, named as in
the API, with ``amount`` flattened to ``amount_value`` (a Decimal) and ``amount_currency``.
A field the API left out is None. An :class:`~usage_async.UnknownResult` gives its raw JSON
fields instead, in the order the API sent them. Empty buckets give no rows.

``columns(result_type)`` gives the keys of a result class's rows, for a CSV header.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Iterator
from typing import Any

import attrs

from .models import Amount, Bucket, UnknownResult

__all__ = ["Row", "arows", "columns", "rows"]

Row = dict[str, Any]
"""One result of one bucket as a flat dict (see the module docstring for its keys)."""

_BUCKET_KEYS = ("start_time", "end_time")
_UTC = _dt.timezone.utc
# Field names of each result class, with `amount` flattened: computed once per class.
_FIELDS: dict[type, tuple[str, ...]] = {}


def _utc(seconds: int) -> _dt.datetime:
    return _dt.datetime.fromtimestamp(seconds, _UTC)


def _result_fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = tuple(field.name for field in attrs.fields(cls))
        _FIELDS[cls] = names
    return names


def columns(result_type: type) -> tuple[str, ...]:
    """The keys of a row of ``result_type`` (a result class such as ``CostsResult``), in order.

    Use it for a CSV header before the first row arrives:
    ``columns(client.costs.spec.result_type)``.
    """
    if not attrs.has(result_type) or result_type is UnknownResult:
        raise TypeError(f"expected a result class, got {result_type!r}")
    names: list[str] = [*_BUCKET_KEYS, "object"]
    for name in _result_fields(result_type):
        if name == "amount":
            names += ["amount_value", "amount_currency"]
        else:
            names.append(name)
    return tuple(names)


def _unknown_fields(row: Row, result: UnknownResult) -> None:
    for key, value in result.data.items():
        if key == "object" or key in row:
            continue  # the tag is already there; bucket keys win over a clash
        if key == "amount" and isinstance(value, dict):
            row["amount_value"] = value.get("value")
            row["amount_currency"] = value.get("currency")
        else:
            row[key] = value


def _row(start: _dt.datetime, end: _dt.datetime, result: Any) -> Row:
    row: Row = {"start_time": start, "end_time": end, "object": result.object}
    if isinstance(result, UnknownResult):
        _unknown_fields(row, result)
        return row
    for name in _result_fields(type(result)):
        value = getattr(result, name)
        if name == "amount":
            amount: Amount | None = value
            row["amount_value"] = None if amount is None else amount.value
            row["amount_currency"] = None if amount is None else amount.currency
        else:
            row[name] = value
    return row


def _bucket_rows(bucket: Bucket[Any]) -> list[Row]:
    """The rows of one bucket: one per result, none when the bucket is empty."""
    if not bucket.results:
        return []
    start, end = _utc(bucket.start_time), _utc(bucket.end_time)
    return [_row(start, end, result) for result in bucket.results]


def rows(buckets: Iterable[Bucket[Any]]) -> Iterator[Row]:
    """One flat dict per result of every bucket, in order (keys: see the module docstring).

    For buckets already in memory, e.g. ``rows(await client.costs.collect(...))``; for a
    stream use :func:`arows`.
    """
    for bucket in buckets:
        yield from _bucket_rows(bucket)


async def arows(buckets: AsyncIterable[Bucket[Any]]) -> AsyncGenerator[Row, None]:
    """One flat dict per result of a stream of buckets, yielded as each bucket arrives.

    ``async for row in arows(client.costs.buckets(...))``. Closing the rows (leaving the
    loop early, an error) closes ``buckets`` too when it can be closed, so a stream's
    request in flight is cancelled at once instead of when it is garbage collected.
    """
    try:
        async for bucket in buckets:
            for row in _bucket_rows(bucket):
                yield row
    finally:
        aclose = getattr(buckets, "aclose", None)
        if aclose is not None:
            await aclose()
