"""Spend grouped any way: exact sums by any combination of dimensions, names from a directory,
UTC days only for Costs, and one error for a dimension that does not exist."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from usage_async import (
    Amount,
    Bucket,
    CompletionsResult,
    CostsResult,
    InvalidParameterError,
)
from usage_async.directory import Directory, Name
from usage_async.spend import DIMENSIONS, SpendTableRow, check_dimensions, group_spend
from usage_async.testing._state import Selection, UsageState

DAY = 86400
JAN_1 = 1_735_689_600  # 2025-01-01T00:00Z, a Wednesday


def cost(
    value: str,
    line_item: str | None = None,
    project: str | None = None,
    key: str | None = None,
    currency: str = "usd",
) -> CostsResult:
    return CostsResult(
        amount=Amount(Decimal(value), currency),
        line_item=line_item,
        project_id=project,
        api_key_id=key,
    )


def day(offset: int, *results: Any) -> Bucket[Any]:
    start = JAN_1 + offset * DAY
    return Bucket(start, start + DAY, list(results))


def test_an_unknown_dimension_names_the_value_and_every_allowed_one() -> None:
    with pytest.raises(InvalidParameterError) as info:
        group_spend([], by=("project", "modle"))
    message = str(info.value)
    assert "'modle'" in message
    assert ", ".join(DIMENSIONS) in message
    assert info.value.param == "by"


@pytest.mark.parametrize("by", [(), "", ("day", "day"), (1,)])
def test_no_dimension_a_repeated_one_or_a_non_name_is_refused(by: Any) -> None:
    with pytest.raises(InvalidParameterError, match="by: "):
        check_dimensions(by)


def test_dimensions_may_be_one_comma_separated_string_with_dashes() -> None:
    assert check_dimensions("project, line-item,api-key") == ("project", "line_item", "api_key")


def test_sums_are_exact_decimals_where_floats_would_drift() -> None:
    buckets = [day(i, cost("0.1", "gpt-4o, input", "proj_a")) for i in range(3)]
    buckets.append(day(3, cost("0.003627500000000000000000000000000000", "gpt-4o, input")))
    table = group_spend(buckets, by="kind")
    assert table.totals == {"usd": Decimal("0.303627500000000000000000000000000000")}
    assert 0.1 + 0.1 + 0.1 != 0.3  # what a float sum would have reported
    assert table.rows == (
        SpendTableRow(("input",), "usd", Decimal("0.303627500000000000000000000000000000")),
    )


def test_any_combination_groups_by_project_day_model_and_kind() -> None:
    buckets = [
        day(
            0,
            cost("1.00", "gpt-4o-2024-08-06, input", "proj_a"),
            cost("2.00", "gpt-4o-2024-08-06, output", "proj_a"),
            cost("0.50", "gpt-4o-mini-2024-07-18, input", "proj_b"),
            cost("0.25", "web search tool calls, low context", "proj_a"),
            cost("0.10", "assistants api | file search", "proj_b"),
        ),
        day(1, cost("4.00", "gpt-4o-2024-08-06, output", "proj_a")),
    ]
    table = group_spend(buckets, by=("project", "day", "model"))
    assert [(r.key, r.amount) for r in table.rows] == [
        (("proj_a", "2025-01-01", "gpt-4o-2024-08-06"), Decimal("3.00")),
        (("proj_a", "2025-01-01", None), Decimal("0.25")),  # a tool call names no model
        (("proj_a", "2025-01-02", "gpt-4o-2024-08-06"), Decimal("4.00")),
        (("proj_b", "2025-01-01", "gpt-4o-mini-2024-07-18"), Decimal("0.50")),
        (("proj_b", "2025-01-01", None), Decimal("0.10")),  # unrecognised: no model guessed
    ]
    by_kind = group_spend(buckets, by=("model", "kind"))
    assert {r.key: r.amount for r in by_kind.rows} == {
        ("gpt-4o-2024-08-06", "input"): Decimal("1.00"),
        ("gpt-4o-2024-08-06", "output"): Decimal("6.00"),
        ("gpt-4o-mini-2024-07-18", "input"): Decimal("0.50"),
        (None, "tool_call"): Decimal("0.25"),
        (None, None): Decimal("0.10"),
    }
    assert table.totals == by_kind.totals == {"usd": Decimal("7.85")}
    assert (table.start_time, table.end_time) == (JAN_1, JAN_1 + 2 * DAY)
    assert table.results == 6


def test_weeks_are_iso_weeks_from_monday_and_months_calendar_months_in_utc() -> None:
    dec_29 = -3  # Sunday 2024-12-29 is in 2024-W52; Monday 2024-12-30 starts 2025-W01
    buckets = [day(d, cost("1", "gpt-4o, input")) for d in (dec_29, dec_29 + 1, 5, 31)]
    weeks = group_spend(buckets, by="week")
    assert {r.key[0]: r.amount for r in weeks.rows} == {
        "2024-W52": Decimal(1),
        "2025-W01": Decimal(1),
        "2025-W02": Decimal(1),  # Monday 2025-01-06
        "2025-W05": Decimal(1),  # Saturday 2025-02-01
    }
    months = group_spend(buckets, by="month")
    assert {r.key[0]: r.amount for r in months.rows} == {
        "2024-12": Decimal(2),
        "2025-01": Decimal(1),
        "2025-02": Decimal(1),
    }


def test_costs_are_never_grouped_by_the_days_of_another_zone() -> None:
    buckets = [day(0, cost("1", "gpt-4o, input"))]
    with pytest.raises(InvalidParameterError) as info:
        group_spend(buckets, by=("day",), tz="Europe/Berlin")
    assert "only in UTC days" in str(info.value)
    assert "Europe/Berlin" in str(info.value)
    assert group_spend(buckets, by=("day",), tz="UTC").rows[0].key == ("2025-01-01",)
    # Without a time dimension the zone changes nothing.
    assert group_spend(buckets, by=("model",), tz="Europe/Berlin").rows[0].amount == 1


def test_an_unknown_zone_is_refused_even_for_costs() -> None:
    with pytest.raises(InvalidParameterError, match="Mars/Olympus"):
        group_spend([day(0, cost("1", "gpt-4o, input"))], by="day", tz="Mars/Olympus")


def test_a_dimension_the_costs_were_not_fetched_with_is_refused_naming_the_group_by() -> None:
    buckets = [day(0, cost("1", project="proj_a"))]  # fetched grouped by project only
    with pytest.raises(InvalidParameterError) as info:
        group_spend(buckets, by=("project", "model"))
    assert "group_by=['line_item']" in str(info.value)
    with pytest.raises(InvalidParameterError, match=r"group_by=\['api_key_id'\]"):
        group_spend(buckets, by="api_key")
    assert group_spend(buckets, by="project").rows[0].key == ("proj_a",)


def test_results_without_an_amount_are_counted_never_summed_as_zero() -> None:
    buckets = [day(0, cost("1", "gpt-4o, input"), CostsResult(line_item="gpt-4o, output"))]
    table = group_spend(buckets, by="kind")
    assert table.missing_amounts == 1
    assert [r.key for r in table.rows] == [("input",)]


def test_other_results_are_skipped_and_currencies_are_kept_apart() -> None:
    usage = CompletionsResult(input_tokens=1, output_tokens=1, num_model_requests=1)
    buckets = [
        day(0, usage, cost("1", "gpt-4o, input"), cost("2", "gpt-4o, input", currency="EUR"))
    ]
    table = group_spend(buckets, by="model")
    assert table.totals == {"eur": Decimal(2), "usd": Decimal(1)}
    assert [(r.currency, r.amount) for r in table.rows] == [("eur", 2), ("usd", 1)]
    assert table.results == 2


def test_a_bucket_that_is_not_a_utc_day_cannot_be_grouped_by_day() -> None:
    hour = Bucket(JAN_1, JAN_1 + 3600, [cost("1", "gpt-4o, input")])
    with pytest.raises(InvalidParameterError, match="not a whole UTC day"):
        group_spend([hour], by="day")


def _directory() -> Directory:
    projects = {"proj_a": Name("proj_a", "projects", True, name="Search")}
    return Directory(
        projects=MappingProxyType(projects),
        users=MappingProxyType({}),
        api_keys=MappingProxyType({"key_a": Name("key_a", "api_keys", True, name="prod")}),
        service_accounts=MappingProxyType({}),
        complete=MappingProxyType({}),
        warnings=(),
        requests=0,
        taken_at=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    )


def test_names_come_from_the_directory_and_unknown_ids_say_so() -> None:
    buckets = [
        day(
            0,
            cost("1", "gpt-4o, input", "proj_a", "key_a"),
            cost("2", "gpt-4o, input", "proj_gone", "key_a"),
        )
    ]
    table = group_spend(buckets, by=("project", "api_key", "model"), directory=_directory())
    assert [r.names for r in table.rows] == [
        ("Search", "prod", None),
        ("proj_gone (unknown)", "prod", None),
    ]
    assert group_spend(buckets, by="project").rows[0].names == ()


def test_grouped_simulated_costs_add_up_to_the_simulators_own_totals() -> None:
    state = UsageState(seed=0, now=1_736_944_200)
    start = JAN_1 - 10 * DAY
    raw = state.buckets("costs", start, DAY, 14, Selection(group_by=("project_id", "line_item")))
    buckets = [
        Bucket(
            start + i * DAY,
            start + (i + 1) * DAY,
            [cost(str(r["amount"]["value"]), r["line_item"], r["project_id"]) for r in results],
        )
        for i, results in enumerate(raw)
    ]
    table = group_spend(buckets, by=("project", "model", "kind", "week"))
    whole = state.buckets("costs", start, 14 * DAY, 1, Selection(group_by=("project_id",)))[0]
    expected = {r["project_id"]: r["amount"]["value"] for r in whole}
    by_project: dict[str | None, Decimal] = {}
    for row in table.rows:
        by_project[row.key[0]] = by_project.get(row.key[0], Decimal(0)) + row.amount
    assert by_project == expected
    assert table.totals["usd"] == sum(expected.values())
