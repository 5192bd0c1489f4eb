"""Local-time days: usage re-bucketed from UTC hours into the days of a time zone.

Every bucket of the API starts and ends on a UTC boundary (API-NOTES #12). A day in
Europe/Berlin is 1 a.m. to 1 a.m. UTC in winter, 10 p.m. to 10 p.m. UTC in summer, and 23 or
25 hours long on the days the clocks change; :func:`rebucket` sums ``1h`` (or ``1m``) usage
buckets into such days, exactly, and says which days it covered in full.

Rules:

* A zone is an IANA name (``Europe/Berlin``), read with the standard library's ``zoneinfo``
  from the system's zone database, or from the ``tzdata`` package where a system has none
  (``pip install 'usage-async[tz]'``). :func:`load_zone` raises one
  :class:`~usage_async.errors.InvalidParameterError` naming the value and how to find the
  allowed ones.
* A local day starts at the first instant whose local date is that day: local midnight, or,
  in a zone whose clocks skip midnight, the instant the clocks skip to (``fold=0``).
* An input bucket must lie inside one local day. A zone whose offset is not a whole number of
  hours (Asia/Kolkata, +05:30) has local midnights in the middle of UTC hours, so its days
  cannot be built from ``1h`` buckets without splitting an hour by guesswork: such a bucket is
  refused, naming the bucket and the local midnight it straddles; ``1m`` buckets work.
* Counters (tokens, requests, images, ...) are summed per group (a group is the result's
  other fields: project, model, ...). A gauge, ``vector_stores``' ``usage_bytes``, is the
  value of the last bucket of the day that reports it, never a sum. An optional count the API
  left out (None) stays None only if every bucket left it out.
* Costs are reported only in UTC days: a Costs result is refused here (spreading a day's
  spend over two local days would be a guess).
"""

from __future__ import annotations

import datetime as _dt
import difflib
import functools
import zoneinfo
from collections.abc import Callable, Collection, Iterable
from typing import Any

import attrs

from .errors import InvalidParameterError
from .models import Bucket, CostsResult, UnknownResult, VectorStoresResult

__all__ = [
    "TZ_EXTRA",
    "LocalDayBucket",
    "load_zone",
    "local_day",
    "local_days",
    "local_midnight",
    "rebucket",
    "zone_name",
]

TZ_EXTRA = "pip install 'usage-async[tz]'"
_LIST_ZONES = 'python -c "import zoneinfo; print(*sorted(zoneinfo.available_timezones()))"'
_UTC = _dt.timezone.utc
Zone = _dt.tzinfo


def _zone_error(name: str, available: Collection[str]) -> InvalidParameterError:
    """The one error for a zone that cannot be loaded: unknown, or no zone database at all."""
    if not available:
        return InvalidParameterError(
            f"tz: cannot load the time zone {name!r}: this system has no time zone database; "
            f"install the tzdata extra ({TZ_EXTRA})",
            param="tz",
        )
    close = difflib.get_close_matches(name, sorted(available), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return InvalidParameterError(
        f"tz: unknown time zone {name!r}{hint}; give an IANA name such as Europe/Berlin or "
        f"UTC (list them with: {_LIST_ZONES})",
        param="tz",
    )


def load_zone(
    name: str | Zone, *, available: Callable[[], Collection[str]] = zoneinfo.available_timezones
) -> Zone:
    """The time zone called ``name`` (an IANA name, or ``"UTC"``); a tzinfo is returned as is.

    Raises :class:`InvalidParameterError` naming the value: for an unknown name (with close
    matches and how to list every name), or, on a system without a zone database, naming the
    ``tzdata`` extra to install.
    """
    if isinstance(name, _dt.tzinfo):
        return name
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(
            f"tz: expected an IANA time zone name, got {name!r}", param="tz"
        )
    if name.strip().upper() == "UTC":
        return _UTC
    try:
        return zoneinfo.ZoneInfo(name.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise _zone_error(name, available()) from None


def zone_name(tz: Zone) -> str:
    """The zone's IANA name (``"UTC"`` for UTC), for labels."""
    if tz is _UTC:
        return "UTC"
    key = getattr(tz, "key", None)
    return key if isinstance(key, str) else str(tz)


def local_day(day: _dt.date, tz: Zone) -> tuple[int, int]:
    """``(start, end)``: the Unix seconds of the first instant of the local ``day`` and of the
    day after (23, 24 or 25 hours apart around clock changes)."""
    return _day_start(day, tz), _day_start(day + _dt.timedelta(days=1), tz)


def local_midnight(seconds: int, tz: Zone) -> int:
    """The Unix seconds at which the local day holding ``seconds`` began."""
    return _day_start(_local_date(seconds, tz), tz)


def _day_start(day: _dt.date, tz: Zone) -> int:
    # fold=0: an ambiguous midnight is its first occurrence; a skipped midnight maps to the
    # instant the clocks skipped to, which is where that local date begins.
    return int(_dt.datetime(day.year, day.month, day.day, tzinfo=tz).timestamp())


def local_days(start: _dt.date, end: _dt.date, tz: Zone) -> list[tuple[_dt.date, int, int]]:
    """Every local day from ``start`` up to, not including, ``end``: ``(date, start, end)``
    with the UTC instants (Unix seconds) that bound it."""
    out = []
    day = start
    while day < end:
        first, after = local_day(day, tz)
        out.append((day, first, after))
        day += _dt.timedelta(days=1)
    return out


def _local_date(seconds: int, tz: Zone) -> _dt.date:
    return _dt.datetime.fromtimestamp(seconds, tz).date()


@attrs.frozen
class LocalDayBucket:
    """The usage of one local day: ``[day_start, day_end)`` in Unix seconds, and its results.

    ``start_time`` and ``end_time`` are the span actually summed (the first input bucket's
    start and the last one's end inside this day); ``complete`` is True when that span is the
    whole local day with no input bucket missing. ``hours`` is the day's length
    (23, 24 or 25 around clock changes).
    """

    date: _dt.date
    zone: str
    day_start: int
    day_end: int
    start_time: int
    end_time: int
    complete: bool
    results: list[Any]

    @property
    def hours(self) -> float:
        """The local day's length in hours."""
        return (self.day_end - self.day_start) / 3600


# Which fields of a result class are counters (summed) and which are group values.
_COUNTERS: dict[type, tuple[str, ...]] = {}
_GROUPS: dict[type, tuple[str, ...]] = {}
_GAUGES: frozenset[type] = frozenset({VectorStoresResult})


def _split_fields(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    counters = _COUNTERS.get(cls)
    if counters is None:
        attrs.resolve_types(cls)
        fields = attrs.fields(cls)
        counters = tuple(f.name for f in fields if f.type in (int, int | None))
        _COUNTERS[cls] = counters
        _GROUPS[cls] = tuple(f.name for f in fields if f.name not in counters)
    return counters, _GROUPS[cls]


@attrs.define
class _Day:
    date: _dt.date
    bounds: tuple[int, int]
    first: int
    last: int
    covered: int = 0
    sums: dict[tuple[Any, ...], dict[str, int | None]] = attrs.Factory(dict)
    classes: dict[tuple[Any, ...], type] = attrs.Factory(dict)
    gauge_bucket: int | None = None
    gauges: dict[tuple[Any, ...], Any] = attrs.Factory(dict)


def rebucket(buckets: Iterable[Bucket[Any]], tz: str | Zone) -> list[LocalDayBucket]:
    """Sum UTC usage buckets (``1h`` or ``1m``, in order) into the local days of ``tz``.

    Results are grouped by their other fields (project, model, ...) and sorted by them;
    counters are summed exactly, a gauge takes its day's last reported value (see the module
    rules). Each day says the span it summed and whether it is complete.

    Raises :class:`InvalidParameterError` for a bucket that straddles a local midnight (use
    ``1m`` buckets in a zone with a half-hour offset), for a Costs result (Costs have only
    UTC days), and for an :class:`~usage_async.UnknownResult` (its fields cannot be summed
    without knowing them).
    """
    zone = load_zone(tz)
    days: dict[_dt.date, _Day] = {}
    for bucket in buckets:
        date = _local_date(bucket.start_time, zone)
        day = days.get(date)
        if day is None:
            bounds = local_day(date, zone)
            day = days[date] = _Day(date, bounds, bucket.start_time, bucket.end_time)
        for result in bucket.results:
            _refuse(result)
        if bucket.end_time > day.bounds[1]:
            raise InvalidParameterError(
                f"buckets: the bucket [{_iso(bucket.start_time)}, {_iso(bucket.end_time)}) "
                f"straddles local midnight {_iso(day.bounds[1])} in {zone_name(zone)}; its "
                "usage cannot be split between two local days without guessing: ask for "
                "bucket_width='1h', or '1m' in a zone whose offset is not whole hours",
                param="buckets",
            )
        day.first = min(day.first, bucket.start_time)
        day.last = max(day.last, bucket.end_time)
        day.covered += bucket.end_time - bucket.start_time
        for result in bucket.results:
            _add(day, bucket.start_time, result)
    return [_finish(days[d], zone) for d in sorted(days)]


def _refuse(result: Any) -> None:
    if isinstance(result, CostsResult):
        raise InvalidParameterError(
            "buckets: Costs are reported only in UTC days; a day's spend cannot be spread "
            "over local days without guessing: show Costs by UTC day",
            param="buckets",
        )
    if isinstance(result, UnknownResult):
        raise InvalidParameterError(
            f"buckets: a result the client could not type ({result.object!r}) cannot be "
            "summed into local days",
            param="buckets",
        )


def _add(day: _Day, bucket_start: int, result: Any) -> None:
    cls = type(result)
    counters, groups = _split_fields(cls)
    key = (cls.__name__, *(getattr(result, name) for name in groups))
    if cls in _GAUGES:
        if day.gauge_bucket is None or bucket_start > day.gauge_bucket:
            day.gauge_bucket = bucket_start
            day.gauges = {}
        if bucket_start == day.gauge_bucket:
            day.gauges[key] = result
        return
    totals = day.sums.get(key)
    if totals is None:
        day.sums[key] = {name: getattr(result, name) for name in counters}
        day.classes[key] = cls
        return
    for name in counters:
        value = getattr(result, name)
        if value is not None:
            before = totals[name]
            totals[name] = value if before is None else before + value


def _finish(day: _Day, zone: Zone) -> LocalDayBucket:
    results: list[Any] = []
    for key in sorted(day.sums, key=_order):
        cls = day.classes[key]
        _, groups = _split_fields(cls)
        values = dict(zip(groups, key[1:], strict=True))
        results.append(cls(**values, **day.sums[key]))
    results.extend(day.gauges[key] for key in sorted(day.gauges, key=_order))
    first, after = day.bounds
    complete = day.first == first and day.last == after and day.covered == after - first
    return LocalDayBucket(
        date=day.date,
        zone=zone_name(zone),
        day_start=first,
        day_end=after,
        start_time=day.first,
        end_time=day.last,
        complete=complete,
        results=results,
    )


def _order(key: tuple[Any, ...]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in key)


@functools.lru_cache(maxsize=1024)
def _iso(seconds: int) -> str:
    return _dt.datetime.fromtimestamp(seconds, _UTC).strftime("%Y-%m-%dT%H:%MZ")
