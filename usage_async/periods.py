"""Named periods (``month``, ``last-week``, ...), the period before each, and a comparison of
two spend tables. Pure: the day "today" is a value you pass (or the clock's, once).

A :class:`Period` is whole local days ``[start, end)`` in one zone (UTC unless given), with
the UTC instants that bound them, ready to pass as ``start_time``/``end_time``. The names:

=============  ==========================================================================
``today``      today so far (a to-date period)
``yesterday``  the day before today
``week``       this ISO week so far, Monday to today (to date)
``last-week``  the ISO week before this one, Monday to Sunday
``month``      this calendar month so far (to date)
``last-month`` the calendar month before this one
``year``       this calendar year so far (to date)
``last-year``  the calendar year before this one
=============  ==========================================================================

:func:`previous` gives the period to compare with: the previous calendar unit for a whole
one (the month before ``last-month``, whatever its length), the same days of the previous
unit for a to-date one (month-to-date on the 31st is compared with the 1st to the 31st of the
month before, clamped to that month's end: 30 days after a 30-day month, 28 or 29 in
February; a shorter period, which the comparison's ``days`` show), and for any other range
the same number of days just before it.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from .errors import InvalidParameterError
from .localtime import Zone, load_zone, local_day, zone_name
from .spend import TIME_DIMENSIONS, SpendTable, SpendTableRow, key_order

__all__ = [
    "PERIOD_NAMES",
    "Change",
    "Comparison",
    "Period",
    "compare",
    "period",
    "period_between",
    "previous",
]

_DAY = _dt.timedelta(days=1)
_UTC = _dt.timezone.utc


@attrs.frozen
class Period:
    """Whole local days ``[start, end)`` of ``zone``; ``start_time``/``end_time`` are the UTC
    instants (Unix seconds) that bound them.

    ``name`` is the shortcut it came from (``"month"``) or ``"custom"``; ``unit`` is
    ``"day"``, ``"week"``, ``"month"``, ``"year"`` or None for a custom range; ``to_date`` is
    True for a period that runs until today included (its last day is not over yet).
    """

    name: str
    start: _dt.date
    end: _dt.date
    zone: str
    start_time: int
    end_time: int
    unit: str | None = None
    to_date: bool = False

    @property
    def days(self) -> int:
        """How many local days it spans."""
        return (self.end - self.start).days

    @property
    def label(self) -> str:
        """``2025-01-01..2025-01-31`` (inclusive dates) and the zone."""
        last = self.end - _DAY
        span = self.start.isoformat() if last == self.start else f"{self.start}..{last}"
        return f"{span} ({self.zone})"


def _make(
    name: str,
    start: _dt.date,
    end: _dt.date,
    tz: Zone,
    *,
    unit: str | None = None,
    to_date: bool = False,
) -> Period:
    return Period(
        name=name,
        start=start,
        end=end,
        zone=zone_name(tz),
        start_time=local_day(start, tz)[0],
        end_time=local_day(end, tz)[0],
        unit=unit,
        to_date=to_date,
    )


def _month_start(day: _dt.date) -> _dt.date:
    return day.replace(day=1)


def _add_months(day: _dt.date, months: int) -> _dt.date:
    """The same day of the month ``months`` later, clamped to that month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return _dt.date(year, month + 1, min(day.day, last))


def _today(today: _dt.date | None, now: float | _dt.datetime | None, tz: Zone) -> _dt.date:
    if today is not None:
        return today
    if isinstance(now, _dt.datetime):
        if now.utcoffset() is None:
            raise InvalidParameterError("now: expected an aware datetime", param="now")
        return now.astimezone(tz).date()
    seconds = _dt.datetime.now(_UTC).timestamp() if now is None else now
    return _dt.datetime.fromtimestamp(seconds, tz).date()


def _named(name: str, today: _dt.date, tz: Zone) -> Period:
    tomorrow = today + _DAY
    monday = today - _dt.timedelta(days=today.weekday())
    if name == "today":
        return _make(name, today, tomorrow, tz, unit="day", to_date=True)
    if name == "yesterday":
        return _make(name, today - _DAY, today, tz, unit="day")
    if name == "week":
        return _make(name, monday, tomorrow, tz, unit="week", to_date=True)
    if name == "last-week":
        return _make(name, monday - 7 * _DAY, monday, tz, unit="week")
    if name == "month":
        return _make(name, _month_start(today), tomorrow, tz, unit="month", to_date=True)
    if name == "last-month":
        first = _month_start(today)
        return _make(name, _add_months(first, -1), first, tz, unit="month")
    if name == "year":
        return _make(name, today.replace(month=1, day=1), tomorrow, tz, unit="year", to_date=True)
    if name == "last-year":
        first = today.replace(month=1, day=1)
        return _make(name, first.replace(year=first.year - 1), first, tz, unit="year")
    raise AssertionError(name)  # pragma: no cover - PERIOD_NAMES is checked first


PERIOD_NAMES = (
    "today",
    "yesterday",
    "week",
    "last-week",
    "month",
    "last-month",
    "year",
    "last-year",
)
"""Every name :func:`period` takes."""


def period(
    name: str,
    *,
    tz: str | Zone | None = None,
    today: _dt.date | None = None,
    now: float | _dt.datetime | None = None,
) -> Period:
    """The named period (see the module's table) in ``tz`` (default UTC).

    "Today" is ``today`` when given, else the local date of ``now`` (Unix seconds or an aware
    datetime; default the system clock). An unknown name raises
    :class:`InvalidParameterError` naming the value and the allowed names.
    """
    if name not in PERIOD_NAMES:
        raise InvalidParameterError(
            f"period: unknown period {name!r}; periods: {', '.join(PERIOD_NAMES)}",
            param="period",
        )
    zone = load_zone(tz if tz is not None else "UTC")
    return _named(name, _today(today, now, zone), zone)


def period_between(start: _dt.date, end: _dt.date, *, tz: str | Zone | None = None) -> Period:
    """A custom period of the local days ``[start, end)``."""
    if end <= start:
        raise InvalidParameterError(
            f"period: the end {end} must be after the start {start}", param="period"
        )
    return _make("custom", start, end, load_zone(tz if tz is not None else "UTC"))


def previous(p: Period) -> Period:
    """The period to compare ``p`` with (see the module's rules).

    A whole week, month or year: the one before it. A to-date period: the same days of the
    previous unit, clamped at that unit's end (the 31st of March compares with the 1st to the
    28th or 29th of February). A day: the day before. A custom range: as many days just
    before it.
    """
    tz = load_zone(p.zone)
    name = f"before {p.name}"
    if p.unit == "day":
        return _make(name, p.start - _DAY, p.start, tz, unit="day", to_date=False)
    if p.unit == "week":
        return _make(name, p.start - 7 * _DAY, p.end - 7 * _DAY, tz, unit="week")
    if p.unit in ("month", "year"):
        months = -1 if p.unit == "month" else -12
        start = _add_months(p.start, months)
        if not p.to_date:
            return _make(name, start, p.start, tz, unit=p.unit)
        # The same days of the previous unit: its last day is this one's last day moved back
        # (clamped to the month's end), and the end is the day after.
        last = _add_months(p.end - _DAY, months)
        return _make(name, start, last + _DAY, tz, unit=p.unit)
    span = p.end - p.start
    return _make(name, p.start - span, p.start, tz)


# -- comparing two spend tables ---------------------------------------------------------

NEW = "new"
GONE = "gone"
BOTH = "both"
_PERCENT = Decimal("0.01")


@attrs.frozen
class Change:
    """One key of a comparison: this period's amount, the previous one's, and the change.

    ``status`` is ``"both"``, ``"new"`` (nothing in the previous period: ``previous`` is 0)
    or ``"gone"`` (nothing in this one). ``change_percent`` is None when the previous amount
    is zero (a change from nothing has no percentage); otherwise rounded to 0.01.
    """

    key: tuple[str | None, ...]
    currency: str
    this: Decimal
    previous: Decimal
    status: str
    names: tuple[str | None, ...] = ()

    @property
    def change(self) -> Decimal:
        """``this - previous``, exact."""
        return self.this - self.previous

    @property
    def change_percent(self) -> Decimal | None:
        """The change as a percentage of the previous amount, or None if that is zero."""
        if not self.previous:
            return None
        ratio = self.change * 100 / self.previous
        return ratio.quantize(_PERCENT, rounding=ROUND_HALF_EVEN)


@attrs.frozen
class Comparison:
    """This period against the previous one, per key of the tables' dimensions ``by``.

    ``changes`` are sorted by key; ``totals`` compare the tables' totals per currency.
    ``this_period`` and ``previous_period`` are the ranges each table summed (so a shorter
    previous month-to-date shows as such).
    """

    by: tuple[str, ...]
    changes: tuple[Change, ...]
    totals: tuple[Change, ...]
    this_period: tuple[int | None, int | None]
    previous_period: tuple[int | None, int | None]


def _amounts(rows: Iterable[SpendTableRow]) -> dict[tuple[tuple[str | None, ...], str], Decimal]:
    out: dict[tuple[tuple[str | None, ...], str], Decimal] = {}
    for row in rows:
        key = (row.key, row.currency)
        out[key] = out.get(key, Decimal(0)) + row.amount
    return out


def _changes(
    this: Mapping[tuple[tuple[str | None, ...], str], Decimal],
    before: Mapping[tuple[tuple[str | None, ...], str], Decimal],
    names: Mapping[tuple[str | None, ...], tuple[str | None, ...]],
) -> tuple[Change, ...]:
    out = []
    for key, currency in sorted(set(this) | set(before), key=_order):
        now_amount = this.get((key, currency))
        then_amount = before.get((key, currency))
        status = (
            BOTH
            if now_amount is not None and then_amount is not None
            else (NEW if then_amount is None else GONE)
        )
        out.append(
            Change(
                key=key,
                currency=currency,
                this=now_amount if now_amount is not None else Decimal(0),
                previous=then_amount if then_amount is not None else Decimal(0),
                status=status,
                names=names.get(key, ()),
            )
        )
    return tuple(out)


def _order(item: tuple[tuple[str | None, ...], str]) -> tuple[tuple[bool, str], ...]:
    return key_order(*item)


def compare(this: SpendTable, before: SpendTable, *, allow_empty: bool = False) -> Comparison:
    """Compare two :class:`~usage_async.spend.SpendTable` values grouped the same way.

    The tables must have the same dimensions and none of them a time dimension (a day of
    March is not a day of February: compare by project, model, kind, ...). Keys in only one
    table are ``"new"`` or ``"gone"``. Raises :class:`InvalidParameterError` for different
    dimensions, a time dimension, or (unless ``allow_empty``) a previous period with no data,
    naming that period's range.
    """
    if this.by != before.by:
        raise InvalidParameterError(
            f"compare: the tables are grouped differently ({', '.join(this.by)} against "
            f"{', '.join(before.by)})",
            param="by",
        )
    timed = [d for d in this.by if d in TIME_DIMENSIONS]
    if timed:
        raise InvalidParameterError(
            f"compare: cannot compare by {', '.join(timed)}: the two periods have different "
            "days; group by project, line_item, model, kind or api_key",
            param="by",
        )
    if not before.rows and not allow_empty:
        raise InvalidParameterError(
            f"compare: the previous period ({before.range_label}) has no data to compare with",
            param="compare",
        )
    names = {row.key: row.names for row in (*before.rows, *this.rows)}
    no_key: tuple[str | None, ...] = ()
    totals_this = {(no_key, c): a for c, a in this.totals.items()}
    totals_before = {(no_key, c): a for c, a in before.totals.items()}
    return Comparison(
        by=this.by,
        changes=_changes(_amounts(this.rows), _amounts(before.rows), names),
        totals=_changes(totals_this, totals_before, {}),
        this_period=(this.start_time, this.end_time),
        previous_period=(before.start_time, before.end_time),
    )
