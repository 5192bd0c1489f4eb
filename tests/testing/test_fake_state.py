"""The synthetic organization's numbers add up the way real ones do. No HTTP here."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from usage_async.testing import ORG_START, Organization
from usage_async.testing._prices import COMPLETIONS_PRICES, IMAGE_PRICES
from usage_async.testing._spec import load_spec
from usage_async.testing._state import Selection, UsageState

NOW = 1_736_944_200  # 2025-01-15T12:30:00Z, a Wednesday
HOUR, DAY = 3600, 86400
TODAY = NOW - NOW % DAY
SPEC = load_spec()
COUNTERS = sorted(name for name in SPEC.endpoints if name != "vector_stores")
DIMENSIONS = {"project_id", "user_id", "api_key_id", "model", "batch", "service_tier"}
DIMENSIONS |= {"size", "source", "context_level", "vector_store_id", "line_item"}
DIMENSIONS |= {"quantity_unit"}

examples = settings(max_examples=50, deadline=None)


@pytest.fixture(scope="module")
def state() -> UsageState:
    return UsageState(seed=0, now=NOW)


def _numbers(row: dict[str, Any]) -> dict[str, Decimal]:
    """The summable values of a result: its counts, or a cost's amount and quantity."""
    out: dict[str, Decimal] = {}
    for field, value in row.items():
        if field == "amount":
            out["amount"] = Decimal(value["value"])
        elif field not in DIMENSIONS and isinstance(value, (int, Decimal)):
            out[field] = Decimal(value)  # batch is a dimension, so no bool gets here
    return out


def _totals(
    buckets: Iterable[Sequence[dict[str, Any]]], group_by: Sequence[str] = ()
) -> dict[tuple[Any, ...], dict[str, Decimal]]:
    """Sum results over buckets, per group."""
    totals: dict[tuple[Any, ...], dict[str, Decimal]] = {}
    for results in buckets:
        for row in results:
            key = tuple(row[field] for field in group_by)
            into = totals.setdefault(key, {})
            for field, value in _numbers(row).items():
                into[field] = into.get(field, Decimal(0)) + value
    return totals


def _group_by(endpoint: str) -> st.SearchStrategy[tuple[str, ...]]:
    fields = SPEC.endpoints[endpoint].group_by
    return st.lists(st.sampled_from(fields), unique=True).map(tuple)


@st.composite
def counter_queries(draw: st.DrawFn) -> tuple[str, Selection]:
    endpoint = draw(st.sampled_from(COUNTERS))
    return endpoint, Selection(group_by=draw(_group_by(endpoint)))


past_hours = st.integers(min_value=1, max_value=24 * 60).map(lambda n: NOW - NOW % HOUR - n * HOUR)
past_days = st.integers(min_value=1, max_value=60).map(lambda n: TODAY - n * DAY)


@examples
@given(query=counter_queries(), hour=past_hours)
def test_the_minutes_of_an_hour_add_up_to_the_hour(
    state: UsageState, query: tuple[str, Selection], hour: int
) -> None:
    endpoint, selection = query
    minutes = state.buckets(endpoint, hour, 60, 60, selection)
    whole = state.buckets(endpoint, hour, HOUR, 1, selection)
    assert _totals(minutes, selection.group_by) == _totals(whole, selection.group_by)


@examples
@given(query=counter_queries(), day=past_days)
def test_the_hours_of_a_day_add_up_to_the_day(
    state: UsageState, query: tuple[str, Selection], day: int
) -> None:
    endpoint, selection = query
    hours = state.buckets(endpoint, day, HOUR, 24, selection)
    whole = state.buckets(endpoint, day, DAY, 1, selection)
    assert _totals(hours, selection.group_by) == _totals(whole, selection.group_by)
    assert whole[0], "a past day of this organization always has some usage"


@examples
@given(query=counter_queries(), day=past_days)
def test_the_groups_of_any_group_by_add_up_to_the_ungrouped_total(
    state: UsageState, query: tuple[str, Selection], day: int
) -> None:
    endpoint, selection = query
    grouped = state.buckets(endpoint, day, HOUR, 24, selection)
    ungrouped = state.buckets(endpoint, day, HOUR, 24, Selection())
    for groups, total in zip(grouped, ungrouped, strict=True):
        assert len(total) <= 1
        summed = _totals([groups])
        if not total:
            assert not groups
            continue
        expected = _numbers(total[0])
        summed[()].pop("quantity", None)  # quantity is only reported per line item
        assert summed[()] == expected


@examples
@given(data=st.data(), day=past_days)
def test_filters_select_exactly_the_rows_with_those_values(
    state: UsageState, data: st.DataObject, day: int
) -> None:
    endpoint = data.draw(st.sampled_from(COUNTERS))
    definition = SPEC.endpoints[endpoint]
    param = data.draw(st.sampled_from(sorted(definition.filters)))
    field = definition.filters[param]
    by_field = state.buckets(endpoint, day, DAY, 1, Selection(group_by=(field,)))[0]
    values = [*sorted({row[field] for row in by_field}, key=str), "unknown-id"]
    if field == "batch":
        values = [True, False]
    chosen = frozenset(data.draw(st.sets(st.sampled_from(values), min_size=1)))
    selection = Selection(filters={field: chosen})
    filtered = state.buckets(endpoint, day, DAY, 1, selection)[0]
    matching = [row for row in by_field if row[field] in chosen]
    expected = _totals([matching]).get(())
    got = _totals([filtered]).get(())
    assert got == expected


def test_a_filtered_and_grouped_query_reports_only_the_chosen_values(state: UsageState) -> None:
    project = state.org.projects[0]
    selection = Selection(filters={"project_id": frozenset([project])}, group_by=("project_id",))
    rows = state.buckets("completions", TODAY - 7 * DAY, DAY, 7, selection)
    assert {row["project_id"] for results in rows for row in results} <= {project}


def _day_costs(state: UsageState, day: int) -> dict[str, dict[str, Any]]:
    rows = state.buckets("costs", day, DAY, 1, Selection(group_by=("line_item",)))[0]
    return {row["line_item"]: row for row in rows}


@examples
@given(day=past_days)
def test_completion_costs_are_token_counts_times_the_price_table(
    state: UsageState, day: int
) -> None:
    costs = _day_costs(state, day)
    not_batch = Selection(filters={"batch": frozenset([False])}, group_by=("model",))
    for row in state.buckets("completions", day, DAY, 1, not_batch)[0]:
        model = row["model"]
        price_in, _, price_out, _, _ = COMPLETIONS_PRICES[model]
        tokens_in = row["input_text_tokens"] + row["input_image_tokens"]
        tokens_in += row["input_cache_write_tokens"]
        tokens_out = row["output_text_tokens"] + row["output_image_tokens"]
        for line, tokens, price in (
            ("input", tokens_in, price_in),
            ("output", tokens_out, price_out),
        ):
            item = costs[f"{model}, {line}"]
            assert item["quantity"] == tokens
            assert item["quantity_unit"] == "tokens"
            assert item["amount"]["value"] == tokens * price.usd / price.per


@examples
@given(day=past_days)
def test_batch_completions_cost_half_the_price(state: UsageState, day: int) -> None:
    costs = _day_costs(state, day)
    batch = Selection(filters={"batch": frozenset([True])}, group_by=("model",))
    for row in state.buckets("completions", day, DAY, 1, batch)[0]:
        price = COMPLETIONS_PRICES[row["model"]][2]
        item = costs[f"{row['model']}, batch output"]
        full = row["output_text_tokens"] * price.usd / price.per
        rounding = Decimal("1e-9") * row["num_model_requests"]  # at most 0.5 nano an event
        assert abs(item["amount"]["value"] - full / 2) <= rounding


@examples
@given(day=past_days)
def test_image_costs_are_images_times_the_price_per_size(state: UsageState, day: int) -> None:
    costs = _day_costs(state, day)
    for row in state.buckets("images", day, DAY, 1, Selection(group_by=("model", "size")))[0]:
        price = IMAGE_PRICES[row["model"], row["size"]]
        item = costs[f"{row['model']}, {row['size']}"]
        assert item["quantity"] == row["images"]
        assert item["amount"]["value"] == row["images"] * price.usd


def test_moderations_cost_nothing(state: UsageState) -> None:
    costs = _day_costs(state, TODAY - DAY)
    assert not [item for item in costs if "moderation" in item]


def test_vector_store_storage_is_billed_from_the_gauge(state: UsageState) -> None:
    day = TODAY - 3 * DAY
    item = _day_costs(state, day)["vector store storage"]
    gib_hours = Decimal(0)
    for hour in range(day, day + DAY, HOUR):
        at_start = state.buckets("vector_stores", hour - 60, 60, 1, Selection())[0]
        gib_hours += Decimal(at_start[0]["usage_bytes"]) / 2**30
    assert item["quantity_unit"] == "gibibyte_hours"
    assert abs(item["quantity"] - gib_hours) < Decimal("1e-6") * 24 * len(state.org.vector_stores)


@examples
@given(day=past_days)
def test_a_gauge_reports_the_value_of_the_last_minute_of_its_bucket(
    state: UsageState, day: int
) -> None:
    grouped = Selection(group_by=("project_id",))
    whole = state.buckets("vector_stores", day, DAY, 1, grouped)[0]
    last_hour = state.buckets("vector_stores", day + 23 * HOUR, HOUR, 1, grouped)[0]
    last_minute = state.buckets("vector_stores", day + DAY - 60, 60, 1, grouped)[0]
    assert whole == last_hour == last_minute
    hours = state.buckets("vector_stores", day, HOUR, 24, grouped)
    summed = _totals(hours, ("project_id",))
    assert all(summed[(row["project_id"],)]["usage_bytes"] > row["usage_bytes"] for row in whole)


@examples
@given(day=past_days)
def test_the_projects_of_a_gauge_add_up_to_its_total(state: UsageState, day: int) -> None:
    grouped = state.buckets("vector_stores", day, HOUR, 24, Selection(group_by=("project_id",)))
    total = state.buckets("vector_stores", day, HOUR, 24, Selection())
    for groups, whole in zip(grouped, total, strict=True):
        assert sum(row["usage_bytes"] for row in groups) == whole[0]["usage_bytes"]


def test_the_gauge_of_the_bucket_containing_now_is_the_current_value(state: UsageState) -> None:
    hour = NOW - NOW % HOUR
    current = state.buckets("vector_stores", hour, HOUR, 2, Selection())
    at_now = state.buckets("vector_stores", NOW - NOW % 60, 60, 1, Selection())[0]
    assert current[0] == at_now
    assert current[1] == []  # starts after now


def test_buckets_after_now_are_empty_and_the_current_one_is_partial() -> None:
    state = UsageState(seed=0, now=NOW)
    hour = NOW - NOW % HOUR
    before = state.buckets("completions", hour, HOUR, 3, Selection())
    assert before[1] == before[2] == []
    assert before[0], "the half hour before now has some completions"
    minutes = state.buckets("completions", hour, 60, 60, Selection())
    assert all(results == [] for results in minutes[30:])
    state.advance(2 * HOUR)
    after = state.buckets("completions", hour, HOUR, 3, Selection())
    assert after[1], "the next hour filled once the clock passed it"
    assert after[0][0]["num_model_requests"] >= before[0][0]["num_model_requests"]


def test_there_is_no_usage_before_the_organization_started() -> None:
    state = UsageState(seed=0, now=NOW)
    for endpoint in SPEC.endpoints:
        assert state.buckets(endpoint, ORG_START - 7 * DAY, DAY, 7, Selection()) == [[]] * 7


def test_late_data_makes_the_last_hours_grow_between_two_reads() -> None:
    state = UsageState(seed=0, now=NOW, late_data=6 * HOUR)
    start = NOW - NOW % HOUR - 12 * HOUR
    first = state.buckets("completions", start, HOUR, 12, Selection())
    state.advance(3 * HOUR)
    second = state.buckets("completions", start, HOUR, 12, Selection())
    settled = UsageState(seed=0, now=NOW + 3 * HOUR).buckets(
        "completions", start, HOUR, 12, Selection()
    )
    assert first[:3] == second[:3], "hours older than the late window do not change"
    assert first != second
    assert all(
        _totals([a]).get((), {}).get("num_model_requests", 0)
        <= _totals([b]).get((), {}).get("num_model_requests", 0)
        for a, b in zip(first, second, strict=True)
    )
    state.advance(6 * HOUR)  # everything in the range is now past the late window
    assert state.buckets("completions", start, HOUR, 12, Selection()) == UsageState(
        seed=0, now=NOW + 9 * HOUR
    ).buckets("completions", start, HOUR, 12, Selection())
    assert settled[:3] == second[:3]


def test_without_late_data_the_past_does_not_change_as_the_clock_moves() -> None:
    state = UsageState(seed=0, now=NOW)
    start = NOW - NOW % HOUR - 12 * HOUR
    first = state.buckets("costs", TODAY - 2 * DAY, DAY, 2, Selection())
    hours = state.buckets("completions", start, HOUR, 12, Selection())
    state.advance(5 * HOUR)
    assert state.buckets("costs", TODAY - 2 * DAY, DAY, 2, Selection()) == first
    assert state.buckets("completions", start, HOUR, 12, Selection()) == hours


def test_traffic_has_a_weekly_rhythm(state: UsageState) -> None:
    monday = TODAY - 2 * DAY - 5 * 7 * DAY  # the Monday five weeks before
    days = state.buckets("completions", monday, DAY, 35, Selection())
    requests = [results[0]["num_model_requests"] for results in days]
    weekdays = [n for i, n in enumerate(requests) if i % 7 < 5]
    weekends = [n for i, n in enumerate(requests) if i % 7 >= 5]
    assert sum(weekends) / len(weekends) < 0.7 * sum(weekdays) / len(weekdays)


def test_traffic_has_a_daily_rhythm(state: UsageState) -> None:
    hours = state.buckets("completions", TODAY - 28 * DAY, HOUR, 28 * 24, Selection())
    by_hour = [0] * 24
    for i, results in enumerate(hours):
        by_hour[i % 24] += results[0]["num_model_requests"] if results else 0
    assert sum(by_hour[1:5]) < 0.5 * sum(by_hour[12:16])


def test_the_same_seed_gives_the_same_organization_and_usage() -> None:
    one, two = UsageState(seed=7, now=NOW), UsageState(seed=7, now=NOW)
    assert one.org == two.org
    for endpoint in SPEC.endpoints:
        assert one.buckets(endpoint, TODAY - 3 * DAY, HOUR, 24, Selection()) == two.buckets(
            endpoint, TODAY - 3 * DAY, HOUR, 24, Selection()
        )


def test_another_seed_gives_another_organization() -> None:
    assert Organization.from_seed(1).projects != Organization.from_seed(2).projects


def test_ids_look_like_the_real_ones() -> None:
    org = Organization.from_seed(0)
    assert all(re.fullmatch(r"proj_[A-Za-z0-9]{24}", p) for p in org.projects)
    assert all(re.fullmatch(r"user-[A-Za-z0-9]{24}", u) for u in org.users)
    assert all(re.fullmatch(r"key_[A-Za-z0-9]{16}", k.id) for k in org.api_keys)
    assert all(re.fullmatch(r"vs_[A-Za-z0-9]{24}", s.id) for s in org.vector_stores)
    assert {k.project_id for k in org.api_keys} == set(org.projects)


def test_usage_reports_every_kind_of_dimension(state: UsageState) -> None:
    week = state.buckets("images", TODAY - 7 * DAY, DAY, 7, Selection(group_by=("size", "source")))
    sizes = {row["size"] for results in week for row in results}
    sources = {row["source"] for results in week for row in results}
    assert len(sizes) >= 3
    assert sources == {"image.generation", "image.edit", "image.variation"}


def test_a_query_of_90_days_of_hours_takes_well_under_two_seconds() -> None:
    import time

    state = UsageState(seed=11, now=NOW)
    start = TODAY - 90 * DAY
    began = time.process_time()
    for page in range(0, 90 * 24, 168):
        state.buckets(
            "completions",
            start + page * HOUR,
            HOUR,
            min(168, 90 * 24 - page),
            Selection(group_by=("project_id", "model")),
        )
    assert time.process_time() - began < 2.0
