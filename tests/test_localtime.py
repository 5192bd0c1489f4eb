"""Local-time days: zones loaded with one clear error, days of 23 and 25 hours, usage summed
from UTC hours into them exactly, gauges not summed, and no guess where an hour straddles a
local midnight."""

from __future__ import annotations

import datetime as dt
import importlib.util
import zoneinfo
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest

from usage_async import (
    Amount,
    Bucket,
    CompletionsResult,
    CostsResult,
    InvalidParameterError,
    RetryPolicy,
    UnknownResult,
    UsageClient,
    VectorStoresResult,
)
from usage_async.localtime import (
    TZ_EXTRA,
    load_zone,
    local_day,
    local_days,
    local_midnight,
    rebucket,
)
from usage_async.testing import FakeUsageServer
from usage_async.testing._state import Selection, UsageState

UTC = dt.timezone.utc
HOUR, DAY = 3600, 86400
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SPRING = dt.date(2025, 3, 30)  # clocks 02:00 -> 03:00: a 23-hour day
FALL = dt.date(2025, 10, 26)  # clocks 03:00 -> 02:00: a 25-hour day
NOW = 1_762_000_000  # 2025-11-01T12:26:40Z, after both


def at(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


# -- zones --------------------------------------------------------------------------------


def test_an_unknown_zone_is_one_error_naming_the_value_and_how_to_list_zones() -> None:
    with pytest.raises(InvalidParameterError) as info:
        load_zone("Europe/Berln")
    message = str(info.value)
    assert "'Europe/Berln'" in message
    assert "Europe/Berlin" in message  # the close match
    assert "available_timezones" in message  # how to list the allowed ones
    assert info.value.param == "tz"
    assert "\n" not in message


@pytest.mark.parametrize("name", ["", "  ", "../../etc/passwd", "Not/AZone"])
def test_names_that_are_not_zones_are_refused(name: str) -> None:
    with pytest.raises(InvalidParameterError, match="tz: "):
        load_zone(name)


def test_without_a_zone_database_the_error_names_the_tzdata_extra() -> None:
    with pytest.raises(InvalidParameterError) as info:
        load_zone("Europe/Nowhere", available=lambda: ())
    assert "no time zone database" in str(info.value)
    assert TZ_EXTRA in str(info.value)


@pytest.fixture
def no_zone_database() -> Iterator[None]:
    if importlib.util.find_spec("tzdata") is not None:
        pytest.skip("the tzdata package is installed: zones load without a system database")
    zoneinfo.reset_tzpath(to=[])
    zoneinfo.ZoneInfo.clear_cache()
    try:
        yield
    finally:
        zoneinfo.reset_tzpath()
        zoneinfo.ZoneInfo.clear_cache()


@pytest.mark.usefixtures("no_zone_database")
def test_a_system_without_zone_files_gets_the_tzdata_error_for_a_real_zone() -> None:
    with pytest.raises(InvalidParameterError, match=r"usage-async\[tz\]"):
        load_zone("Europe/Berlin")


def test_utc_needs_no_database_and_a_tzinfo_is_taken_as_is() -> None:
    assert load_zone("UTC") is UTC
    assert load_zone("utc") is UTC
    assert load_zone(BERLIN) is BERLIN


# -- local days ---------------------------------------------------------------------------


def test_berlin_has_a_23_hour_day_in_spring_and_a_25_hour_day_in_autumn() -> None:
    assert local_day(SPRING, BERLIN) == (at("2025-03-29T23:00Z"), at("2025-03-30T22:00Z"))
    assert local_day(FALL, BERLIN) == (at("2025-10-25T22:00Z"), at("2025-10-26T23:00Z"))
    lengths = [(end - start) // HOUR for _, start, end in local_days(SPRING, FALL, BERLIN)]
    assert lengths[0] == 23
    assert set(lengths[1:]) == {24}
    assert (lambda s, e: (e - s) // HOUR)(*local_day(FALL, BERLIN)) == 25


def test_a_day_whose_midnight_is_skipped_starts_when_the_clocks_skip_to() -> None:
    # Chile moved its clocks from 00:00 to 01:00 on 2024-09-08: no local midnight that day.
    santiago = zoneinfo.ZoneInfo("America/Santiago")
    start, end = local_day(dt.date(2024, 9, 8), santiago)
    assert start == at("2024-09-08T04:00Z")  # 01:00 -03:00
    assert end - start == 23 * HOUR
    assert local_day(dt.date(2024, 9, 7), santiago)[1] == start


def test_local_days_list_each_day_with_its_bounds() -> None:
    days = local_days(dt.date(2025, 1, 1), dt.date(2025, 1, 4), BERLIN)
    assert [d for d, _, _ in days] == [dt.date(2025, 1, d) for d in (1, 2, 3)]
    assert all(days[i][2] == days[i + 1][1] for i in range(2))


# -- re-bucketing -------------------------------------------------------------------------


def _completion(model: str, tokens: int, cached: int | None = None) -> CompletionsResult:
    return CompletionsResult(
        input_tokens=tokens,
        output_tokens=1,
        num_model_requests=1,
        input_cached_tokens=cached,
        model=model,
    )


def _hours(start: int, count: int, results: Any) -> list[Bucket[Any]]:
    return [Bucket(start + i * HOUR, start + (i + 1) * HOUR, results(i)) for i in range(count)]


def test_hours_are_summed_into_local_days_of_23_and_25_hours_by_group() -> None:
    start = at("2025-03-29T23:00Z")
    buckets = _hours(start, 23 + 24, lambda i: [_completion("a", i), _completion("b", 1)])
    days = rebucket(buckets, "Europe/Berlin")
    assert [d.date for d in days] == [SPRING, dt.date(2025, 3, 31)]
    spring = days[0]
    assert spring.hours == 23
    assert spring.complete
    assert (spring.start_time, spring.end_time) == local_day(SPRING, BERLIN)
    by_model = {r.model: r for r in spring.results}
    assert by_model["a"].input_tokens == sum(range(23))
    assert by_model["b"].input_tokens == 23
    assert by_model["b"].num_model_requests == 23
    assert days[1].results[0].input_tokens == sum(range(23, 47))

    fall_start = at("2025-10-25T22:00Z")
    fall = rebucket(_hours(fall_start, 25, lambda i: [_completion("a", 2)]), BERLIN)
    assert len(fall) == 1
    assert fall[0].hours == 25
    assert fall[0].results[0].input_tokens == 50


def test_a_day_only_partly_covered_says_so_and_says_what_it_summed() -> None:
    start = at("2025-03-30T05:00Z")
    day = rebucket(_hours(start, 3, lambda i: [_completion("a", 1)]), BERLIN)[0]
    assert not day.complete
    assert (day.start_time, day.end_time) == (start, start + 3 * HOUR)
    assert (day.day_start, day.day_end) == local_day(SPRING, BERLIN)


def test_a_missing_hour_makes_a_day_incomplete() -> None:
    buckets = _hours(at("2025-01-09T23:00Z"), 24, lambda i: [_completion("a", 1)])
    del buckets[5]
    day = rebucket(buckets, BERLIN)[0]
    assert (day.start_time, day.end_time) == local_day(dt.date(2025, 1, 10), BERLIN)
    assert not day.complete


def test_an_optional_count_stays_none_only_if_every_hour_left_it_out() -> None:
    start = at("2025-01-09T23:00Z")
    none_at_all = rebucket(_hours(start, 24, lambda i: [_completion("a", 1)]), BERLIN)
    assert none_at_all[0].results[0].input_cached_tokens is None
    some = rebucket(
        _hours(start, 24, lambda i: [_completion("a", 1, cached=2 if i % 2 else None)]), BERLIN
    )
    assert some[0].results[0].input_cached_tokens == 24


def test_a_gauge_takes_the_last_hour_of_the_day_not_the_sum() -> None:
    start = at("2025-01-09T23:00Z")

    def stored(i: int) -> list[VectorStoresResult]:
        return [VectorStoresResult(usage_bytes=1000 + i, project_id="proj_a")]

    day = rebucket(_hours(start, 24, stored), BERLIN)[0]
    assert day.results == [VectorStoresResult(usage_bytes=1023, project_id="proj_a")]


def test_an_hour_that_straddles_a_half_hour_midnight_is_refused_naming_it() -> None:
    # Asia/Kolkata is +05:30: its midnight is 18:30 UTC, inside the 18:00-19:00 UTC hour.
    buckets = _hours(at("2025-01-09T12:00Z"), 12, lambda i: [_completion("a", 1)])
    with pytest.raises(InvalidParameterError) as info:
        rebucket(buckets, "Asia/Kolkata")
    message = str(info.value)
    assert "2025-01-09T18:00Z" in message
    assert "2025-01-09T18:30Z" in message
    assert "1m" in message


def test_minute_buckets_build_half_hour_zone_days_exactly() -> None:
    start = at("2025-01-09T18:00Z")
    minutes = [
        Bucket(start + i * 60, start + (i + 1) * 60, [_completion("a", 1)]) for i in range(60)
    ]
    days = rebucket(minutes, "Asia/Kolkata")
    assert [d.date for d in days] == [dt.date(2025, 1, 9), dt.date(2025, 1, 10)]
    assert [d.results[0].input_tokens for d in days] == [30, 30]


def test_costs_are_never_spread_over_local_days() -> None:
    costs = CostsResult(amount=Amount(Decimal("1.00"), "usd"), line_item="gpt-4o, input")
    with pytest.raises(InvalidParameterError, match="only in UTC days"):
        rebucket([Bucket(at("2025-01-10T00:00Z"), at("2025-01-11T00:00Z"), [costs])], BERLIN)


def test_a_result_the_client_could_not_type_is_not_summed() -> None:
    unknown = UnknownResult("organization.usage.new.result", {"x": 1})
    with pytest.raises(InvalidParameterError, match="could not type"):
        rebucket([Bucket(at("2025-01-10T00:00Z"), at("2025-01-10T01:00Z"), [unknown])], BERLIN)


# -- against the simulator ----------------------------------------------------------------


def _results(rows: list[dict[str, Any]], cls: type) -> list[Any]:
    return [cls(**{k: v for k, v in row.items() if k != "object"}) for row in rows]


@pytest.mark.parametrize("day", [SPRING, FALL])
def test_simulated_hours_rebucketed_equal_the_simulators_own_local_day(day: dt.date) -> None:
    """The simulator sums events over any span: one bucket of exactly the local day is an
    oracle that never went through hours."""
    state = UsageState(seed=0, now=NOW)
    start, end = local_day(day, BERLIN)
    grouped = Selection(group_by=("model",))
    hours = state.buckets("completions", start, HOUR, (end - start) // HOUR, grouped)
    buckets = [
        Bucket(start + i * HOUR, start + (i + 1) * HOUR, _results(rows, CompletionsResult))
        for i, rows in enumerate(hours)
    ]
    (local,) = rebucket(buckets, BERLIN)
    whole = state.buckets("completions", start, end - start, 1, grouped)[0]
    assert local.complete
    assert local.results == _results(whole, CompletionsResult)


async def test_a_client_reads_simulated_hours_into_berlin_days_across_both_clock_changes() -> None:
    """The simulator's clock set in Berlin time; a client streams hours, re-bucketed."""
    now = dt.datetime(2025, 11, 1, 13, 26, 40, tzinfo=BERLIN)
    policy = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
    async with FakeUsageServer(seed=0, now=now) as srv:
        assert srv.now() == NOW
        async with UsageClient(srv.api_key, base_url=srv.base_url, retry=policy) as client:
            for day in (SPRING, FALL):
                start, end = local_day(day, BERLIN)
                hours = await client.vector_stores.collect(
                    start_time=start, end_time=end, bucket_width="1h", group_by=["project_id"]
                )
                embeddings = await client.embeddings.collect(
                    start_time=start, end_time=end, bucket_width="1h"
                )
                (stored,) = rebucket(hours, BERLIN)
                (used,) = rebucket(embeddings, BERLIN)
                assert stored.hours == used.hours == (23 if day == SPRING else 25)
                last_hour = await client.vector_stores(
                    start_time=end - HOUR, end_time=end, bucket_width="1h", group_by=["project_id"]
                )
                assert stored.results == last_hour.data[0].results  # a gauge: the last hour
                oracle = srv.state.buckets("embeddings", start, end - start, 1, Selection())[0]
                assert used.results[0].input_tokens == oracle[0]["input_tokens"]


def test_local_midnight_is_the_start_of_the_local_day_holding_the_instant() -> None:
    berlin = load_zone("Europe/Berlin")
    noon = int(dt.datetime(2025, 3, 30, 12, tzinfo=berlin).timestamp())
    assert local_midnight(noon, berlin) == local_day(dt.date(2025, 3, 30), berlin)[0]
    # 23:30 UTC on the 29th is already the 30th in Berlin
    late = int(dt.datetime(2025, 3, 29, 23, 30, tzinfo=dt.timezone.utc).timestamp())
    assert local_midnight(late, berlin) == local_day(dt.date(2025, 3, 30), berlin)[0]
