"""Named periods in UTC or a zone, the period to compare each with (month ends clamped), and a
typed comparison of two spend tables: new and gone keys, no division by zero."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from usage_async import Amount, Bucket, CostsResult, InvalidParameterError
from usage_async.localtime import load_zone, local_day
from usage_async.periods import (
    PERIOD_NAMES,
    Change,
    compare,
    period,
    period_between,
    previous,
)
from usage_async.spend import SpendTable, group_spend

D = dt.date
UTC = dt.timezone.utc


def span(p: Any) -> tuple[dt.date, dt.date]:
    """The inclusive first and last day."""
    return p.start, p.end - dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("name", "first", "last", "to_date"),
    [
        ("today", D(2025, 3, 31), D(2025, 3, 31), True),
        ("yesterday", D(2025, 3, 30), D(2025, 3, 30), False),
        ("week", D(2025, 3, 31), D(2025, 3, 31), True),  # the 31st is a Monday
        ("last-week", D(2025, 3, 24), D(2025, 3, 30), False),
        ("month", D(2025, 3, 1), D(2025, 3, 31), True),
        ("last-month", D(2025, 2, 1), D(2025, 2, 28), False),
        ("year", D(2025, 1, 1), D(2025, 3, 31), True),
        ("last-year", D(2024, 1, 1), D(2024, 12, 31), False),
    ],
)
def test_each_named_period_in_utc(name: str, first: D, last: D, to_date: bool) -> None:
    p = period(name, today=D(2025, 3, 31))
    assert span(p) == (first, last)
    assert p.to_date is to_date
    assert p.zone == "UTC"
    assert p.start_time == int(
        dt.datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp()
    )
    assert name in PERIOD_NAMES


def test_a_period_in_a_zone_is_bounded_by_its_local_midnights() -> None:
    berlin = load_zone("Europe/Berlin")
    p = period("last-month", tz="Europe/Berlin", today=D(2025, 4, 15))
    assert (p.start_time, p.end_time) == (
        local_day(D(2025, 3, 1), berlin)[0],
        local_day(D(2025, 4, 1), berlin)[0],
    )
    assert p.end_time - p.start_time == 31 * 86400 - 3600  # March lost an hour
    assert p.zone == "Europe/Berlin"
    assert p.label == "2025-03-01..2025-03-31 (Europe/Berlin)"


def test_today_is_the_local_date_of_now() -> None:
    late_utc = int(dt.datetime(2025, 3, 31, 23, 30, tzinfo=UTC).timestamp())
    assert period("today", now=late_utc).start == D(2025, 3, 31)
    assert period("today", now=late_utc, tz="Europe/Berlin").start == D(2025, 4, 1)
    aware = dt.datetime(2025, 4, 1, 1, 30, tzinfo=load_zone("Europe/Berlin"))
    assert period("month", now=aware).start == D(2025, 3, 1)  # 23:30 UTC on 31 March
    with pytest.raises(InvalidParameterError, match="aware"):
        period("today", now=dt.datetime(2025, 1, 1))


def test_an_unknown_period_names_the_value_and_the_allowed_ones() -> None:
    with pytest.raises(InvalidParameterError) as info:
        period("fortnight")
    assert "'fortnight'" in str(info.value)
    assert ", ".join(PERIOD_NAMES) in str(info.value)


@pytest.mark.parametrize(
    ("today", "first", "last"),
    [
        (D(2025, 3, 31), D(2025, 2, 1), D(2025, 2, 28)),  # 31 -> 28
        (D(2024, 3, 31), D(2024, 2, 1), D(2024, 2, 29)),  # 31 -> 29 in a leap year
        (D(2025, 5, 31), D(2025, 4, 1), D(2025, 4, 30)),  # 31 -> 30
        (D(2025, 3, 30), D(2025, 2, 1), D(2025, 2, 28)),  # 30 -> 28
        (D(2025, 3, 15), D(2025, 2, 1), D(2025, 2, 15)),  # the same days
        (D(2025, 1, 10), D(2024, 12, 1), D(2024, 12, 10)),  # across a year
    ],
)
def test_month_to_date_compares_with_the_same_days_of_last_month_clamped(
    today: D, first: D, last: D
) -> None:
    before = previous(period("month", today=today))
    assert span(before) == (first, last)
    assert before.unit == "month"


def test_the_previous_of_whole_units_is_the_unit_before_whatever_its_length() -> None:
    assert span(previous(period("last-month", today=D(2025, 4, 2)))) == (
        D(2025, 2, 1),
        D(2025, 2, 28),
    )
    assert span(previous(period("last-week", today=D(2025, 3, 31)))) == (
        D(2025, 3, 17),
        D(2025, 3, 23),
    )
    assert span(previous(period("week", today=D(2025, 4, 2)))) == (D(2025, 3, 24), D(2025, 3, 26))
    assert span(previous(period("today", today=D(2025, 3, 1)))) == (D(2025, 2, 28),) * 2
    assert span(previous(period("yesterday", today=D(2025, 3, 1)))) == (D(2025, 2, 27),) * 2
    assert span(previous(period("year", today=D(2024, 2, 29)))) == (D(2023, 1, 1), D(2023, 2, 28))
    assert span(previous(period("last-year", today=D(2025, 6, 1)))) == (
        D(2023, 1, 1),
        D(2023, 12, 31),
    )


def test_a_custom_range_compares_with_as_many_days_just_before() -> None:
    p = period_between(D(2025, 1, 10), D(2025, 1, 20), tz="Europe/Berlin")
    assert span(previous(p)) == (D(2024, 12, 31), D(2025, 1, 9))
    assert previous(p).zone == "Europe/Berlin"
    with pytest.raises(InvalidParameterError, match="after the start"):
        period_between(D(2025, 1, 10), D(2025, 1, 10))


# -- comparing spend ----------------------------------------------------------------------

JAN, FEB = 1_735_689_600, 1_738_368_000  # 2025-01-01 and 2025-02-01, 00:00Z


def table(start: int, *rows: tuple[str, str, str], by: Any = ("project", "model")) -> SpendTable:
    results = [
        CostsResult(amount=Amount(Decimal(v), "usd"), project_id=p, line_item=f"{m}, input")
        for p, m, v in rows
    ]
    return group_spend([Bucket(start, start + 86400, results)], by=by)


def test_a_comparison_gives_this_previous_change_and_percent_per_key() -> None:
    this = table(FEB, ("proj_a", "gpt-4o", "15.00"), ("proj_b", "gpt-4o", "1.00"))
    before = table(JAN, ("proj_a", "gpt-4o", "10.00"), ("proj_c", "gpt-4o", "3.00"))
    result = compare(this, before)
    assert result.changes == (
        Change(("proj_a", "gpt-4o"), "usd", Decimal("15.00"), Decimal("10.00"), "both"),
        Change(("proj_b", "gpt-4o"), "usd", Decimal("1.00"), Decimal(0), "new"),
        Change(("proj_c", "gpt-4o"), "usd", Decimal(0), Decimal("3.00"), "gone"),
    )
    a, b, c = result.changes
    assert (a.change, a.change_percent) == (Decimal("5.00"), Decimal("50.00"))
    assert (b.change, b.change_percent) == (Decimal("1.00"), None)  # no division by zero
    assert (c.change, c.change_percent) == (Decimal("-3.00"), Decimal("-100.00"))
    (total,) = result.totals
    assert (total.this, total.previous, total.change) == (
        Decimal("16.00"),
        Decimal("13.00"),
        Decimal("3.00"),
    )
    assert total.change_percent == Decimal("23.08")
    assert result.this_period == (FEB, FEB + 86400)
    assert result.previous_period == (JAN, JAN + 86400)


def test_a_previous_period_with_no_data_is_one_error_naming_its_range() -> None:
    this = table(FEB, ("proj_a", "gpt-4o", "1"))
    empty = group_spend([Bucket(JAN, JAN + 86400, [])], by=("project", "model"))
    with pytest.raises(InvalidParameterError) as info:
        compare(this, empty)
    assert "2025-01-01T00:00Z..2025-01-02T00:00Z" in str(info.value)
    assert "no data" in str(info.value)
    assert compare(this, empty, allow_empty=True).changes[0].status == "new"


def test_tables_grouped_differently_or_by_time_are_not_compared() -> None:
    this = table(FEB, ("proj_a", "gpt-4o", "1"))
    with pytest.raises(InvalidParameterError, match="grouped differently"):
        compare(this, table(JAN, ("proj_a", "gpt-4o", "1"), by=("project",)))
    by_day = ("project", "day")
    with pytest.raises(InvalidParameterError, match="cannot compare by day"):
        compare(table(FEB, ("p", "m", "1"), by=by_day), table(JAN, ("p", "m", "1"), by=by_day))
