"""Spend grouped any way: Costs buckets summed by project, line item, model, kind, day, week,
month or API key, in any combination, exactly. Pure.

``group_spend(buckets, by=("project", "day", "model"))`` sums the ``amount`` of every
:class:`~usage_async.CostsResult` into a :class:`SpendTable`: one row per key and currency,
``Decimal`` sums (never a float), totals per currency, and the range the buckets covered.

The dimensions (:data:`DIMENSIONS`):

* ``project``, ``api_key``, ``line_item``: the result's ``project_id``, ``api_key_id`` and
  ``line_item`` as the API sent them; a :class:`~usage_async.directory.Directory` given as
  ``directory`` adds their names (an id it cannot name shows as the id and a marker);
* ``model`` and ``kind``: read from ``line_item`` by
  :func:`~usage_async.line_items.parse_line_item` (None where the text names none: a tool
  call has a kind but no model; an unrecognised line item has neither);
* ``day``, ``week``, ``month``: the bucket's UTC day (``2025-01-15``), ISO week starting
  Monday (``2025-W03``) and calendar month (``2025-01``). Costs have only UTC days, so these
  are always UTC: grouping Costs by the days of another zone is refused, never spread over
  local days by guesswork.

A dimension the buckets cannot answer (``model`` of Costs fetched without
``group_by=["line_item"]``) is refused, naming the ``group_by`` to fetch with, rather than
reported as one ``None`` row. Results without an ``amount`` are counted in
``missing_amounts``, never summed as zero.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .errors import InvalidParameterError
from .line_items import parse_line_item
from .localtime import load_zone, zone_name
from .models import Bucket, CostsResult

if TYPE_CHECKING:
    from .directory import Directory

__all__ = [
    "COSTS_FIELD",
    "DIMENSIONS",
    "TIME_DIMENSIONS",
    "SpendTable",
    "SpendTableRow",
    "check_dimensions",
    "group_spend",
    "key_order",
    "time_key",
]

TIME_DIMENSIONS = ("day", "week", "month")
DIMENSIONS = ("project", "line_item", "model", "kind", *TIME_DIMENSIONS, "api_key")
"""Every dimension :func:`group_spend` groups by."""

COSTS_FIELD: Mapping[str, str] = MappingProxyType(
    {
        "project": "project_id",
        "api_key": "api_key_id",
        "line_item": "line_item",
        "model": "line_item",
        "kind": "line_item",
    }
)
"""The Costs result field each dimension reads, and so the ``group_by`` it needs (the time
dimensions read the bucket and need none)."""
_NAMED: Mapping[str, str] = MappingProxyType({"project": "project_id", "api_key": "api_key_id"})
_UTC = _dt.timezone.utc


@attrs.frozen
class SpendTableRow:
    """One key of a :class:`SpendTable`: its values in the order of ``by``, the currency,
    the exact sum, and, for ``project`` and ``api_key``, the directory's names (None for other
    dimensions, or without a directory)."""

    key: tuple[str | None, ...]
    currency: str
    amount: Decimal
    names: tuple[str | None, ...] = ()


@attrs.frozen
class SpendTable:
    """Costs summed by ``by``: rows sorted by key, totals per currency (exact).

    ``start_time``/``end_time`` are the range the summed buckets covered (None with no
    bucket); days, weeks and months are UTC (``time_zone``). ``results`` counts the Costs
    results summed; ``missing_amounts`` those without an amount (not summed).
    """

    by: tuple[str, ...]
    rows: tuple[SpendTableRow, ...]
    totals: Mapping[str, Decimal]
    start_time: int | None
    end_time: int | None
    results: int = 0
    missing_amounts: int = 0
    time_zone: str = "UTC"

    @property
    def range_label(self) -> str:
        """The covered range as UTC instants, ``2025-01-01T00:00Z..2025-02-01T00:00Z``."""
        if self.start_time is None or self.end_time is None:
            return "no buckets"
        return f"{_iso(self.start_time)}..{_iso(self.end_time)}"


def _iso(seconds: int) -> str:
    return _dt.datetime.fromtimestamp(seconds, _UTC).strftime("%Y-%m-%dT%H:%MZ")


def check_dimensions(by: Sequence[str] | str) -> tuple[str, ...]:
    """``by`` as a tuple of known, distinct dimensions (a string may list them with commas).

    Raises :class:`InvalidParameterError` naming an unknown dimension and the allowed ones.
    """
    items = by.split(",") if isinstance(by, str) else list(by)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidParameterError(f"by: expected dimension names, got {item!r}", param="by")
        name = item.strip().replace("-", "_")
        if name not in DIMENSIONS:
            raise InvalidParameterError(
                f"by: unknown dimension {item.strip()!r}; dimensions: {', '.join(DIMENSIONS)}",
                param="by",
            )
        if name in out:
            raise InvalidParameterError(f"by: {name!r} is given twice", param="by")
        out.append(name)
    if not out:
        raise InvalidParameterError(
            f"by: give at least one dimension of: {', '.join(DIMENSIONS)}", param="by"
        )
    return tuple(out)


def time_key(dimension: str, start: int) -> str:
    """The UTC day (``2025-03-01``), ISO week (``2025-W09``) or month (``2025-03``) of ``start``."""
    day = _dt.datetime.fromtimestamp(start, _UTC).date()
    if dimension == "day":
        return day.isoformat()
    if dimension == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _value(dimension: str, result: CostsResult, start: int) -> str | None:
    if dimension in TIME_DIMENSIONS:
        return time_key(dimension, start)
    if dimension == "model":
        return parse_line_item(result.line_item).model if result.line_item else None
    if dimension == "kind":
        return parse_line_item(result.line_item).kind if result.line_item else None
    value: str | None = getattr(result, COSTS_FIELD[dimension])
    return value


def group_spend(
    buckets: Iterable[Bucket[Any]],
    by: Sequence[str] | str = ("project", "day", "model"),
    *,
    tz: str | _dt.tzinfo | None = None,
    directory: Directory | None = None,
) -> SpendTable:
    """Sum the Costs results of ``buckets`` by the dimensions ``by`` (see the module).

    ``tz`` may only be UTC when ``by`` has a time dimension: Costs have only UTC days. Raises
    :class:`InvalidParameterError` for an unknown dimension (naming the allowed ones), a
    local-time day, week or month, a bucket that is not one UTC day or longer, or a dimension
    the buckets' results do not carry (naming the ``group_by`` to fetch them with).
    """
    dims = check_dimensions(by)
    timed = [d for d in dims if d in TIME_DIMENSIONS]
    if tz is not None and timed:
        zone = load_zone(tz)
        if zone_name(zone) != "UTC":
            raise InvalidParameterError(
                f"tz: Costs are reported only in UTC days; grouping them by {timed[0]} in "
                f"{zone_name(zone)} would spread a day's spend over two local days by "
                "guesswork: leave tz unset to group by UTC day",
                param="tz",
            )
    sums: dict[tuple[tuple[str | None, ...], str], Decimal] = {}
    totals: dict[str, Decimal] = {}
    seen_source: dict[str, bool] = {}
    first: int | None = None
    last: int | None = None
    results = missing = 0
    for bucket in buckets:
        first = bucket.start_time if first is None else min(first, bucket.start_time)
        last = bucket.end_time if last is None else max(last, bucket.end_time)
        if timed and (bucket.start_time % 86400 or bucket.end_time - bucket.start_time < 86400):
            raise InvalidParameterError(
                f"buckets: a bucket from {_iso(bucket.start_time)} is not a whole UTC day; "
                "Costs buckets are 1d",
                param="buckets",
            )
        for result in bucket.results:
            if not isinstance(result, CostsResult):
                continue
            results += 1
            for dimension in dims:
                source = COSTS_FIELD.get(dimension)
                if source is not None and getattr(result, source) is not None:
                    seen_source[dimension] = True
            if result.amount is None:
                missing += 1
                continue
            key = tuple(_value(d, result, bucket.start_time) for d in dims)
            currency = result.amount.currency.lower()
            sums[key, currency] = sums.get((key, currency), Decimal(0)) + result.amount.value
            totals[currency] = totals.get(currency, Decimal(0)) + result.amount.value
    if results:
        for dimension in dims:
            source = COSTS_FIELD.get(dimension)
            if source is not None and not seen_source.get(dimension):
                raise InvalidParameterError(
                    f"by: the Costs results carry no {source}, so they cannot be grouped by "
                    f"{dimension}: fetch them with group_by=[{source!r}]",
                    param="by",
                )
    rows = tuple(
        SpendTableRow(key, currency, amount, _names(dims, key, directory))
        for (key, currency), amount in sorted(sums.items(), key=_row_order)
    )
    return SpendTable(
        by=dims,
        rows=rows,
        totals=MappingProxyType(dict(sorted(totals.items()))),
        start_time=first,
        end_time=last,
        results=results,
        missing_amounts=missing,
    )


def _names(
    dims: tuple[str, ...], key: tuple[str | None, ...], directory: Directory | None
) -> tuple[str | None, ...]:
    if directory is None:
        return ()
    return tuple(
        directory.for_field(_NAMED[d], value).label if d in _NAMED and value is not None else None
        for d, value in zip(dims, key, strict=True)
    )


def key_order(key: tuple[str | None, ...], currency: str) -> tuple[tuple[bool, str], ...]:
    """The sort key of a spend row: its key's values in order (None, no id, last), then its
    currency."""
    return (*((v is None, v or "") for v in key), (False, currency))


def _row_order(
    item: tuple[tuple[tuple[str | None, ...], str], Decimal],
) -> tuple[tuple[bool, str], ...]:
    (key, currency), _ = item
    return key_order(key, currency)
