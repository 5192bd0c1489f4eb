"""Checking and encoding of keyword arguments, before any request."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qsl

import pytest

import usage_async as ua
from usage_async._endpoints import ENDPOINTS
from usage_async._query import build_query, to_unix

UTC = dt.timezone.utc


def q(endpoint: str = "completions", **kwargs: Any) -> list[tuple[str, str]]:
    query = build_query(ENDPOINTS[endpoint], kwargs)
    return parse_qsl(query.query_string, keep_blank_values=True)


def refused(endpoint: str = "completions", **kwargs: Any) -> ua.InvalidParameterError:
    with pytest.raises(ua.InvalidParameterError) as info:
        build_query(ENDPOINTS[endpoint], kwargs)
    return info.value


# -- times ---------------------------------------------------------------------------------


def test_int_seconds_pass_through() -> None:
    assert to_unix(1_700_000_000) == 1_700_000_000


def test_aware_datetime_in_any_zone_becomes_unix_seconds() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))
    when = dt.datetime(2025, 1, 1, 9, 0, tzinfo=tokyo)
    assert to_unix(when) == int(dt.datetime(2025, 1, 1, tzinfo=UTC).timestamp())


def test_fractions_of_a_second_are_dropped() -> None:
    when = dt.datetime(2025, 1, 1, 0, 0, 5, 999_999, tzinfo=UTC)
    assert to_unix(when) == 1_735_689_605


def test_a_date_is_midnight_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    try:
        assert to_unix(dt.date(2025, 1, 1)) == 1_735_689_600
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_a_naive_datetime_is_refused() -> None:
    err = refused(start_time=dt.datetime(2025, 1, 1))
    assert err.param == "start_time"
    assert "naive" in str(err)


@pytest.mark.parametrize("value", [True, False])
def test_a_bool_is_refused_as_a_time(value: bool) -> None:
    assert refused(start_time=value).param == "start_time"


def test_a_float_time_is_refused() -> None:
    assert "float" in str(refused(start_time=1.5))


def test_a_negative_time_is_refused() -> None:
    assert refused(start_time=-1).param == "start_time"
    assert refused(start_time=10, end_time=-5).param == "end_time"


def test_start_time_is_required() -> None:
    err = refused(end_time=100)
    assert err.param == "start_time"
    assert "required" in str(err)


@pytest.mark.parametrize("end", [100, 99])
def test_end_time_must_be_after_start_time(end: int) -> None:
    assert refused(start_time=100, end_time=end).param == "end_time"


# -- names and values ----------------------------------------------------------------------


def test_an_unknown_parameter_is_refused_naming_the_allowed_ones() -> None:
    err = refused(start_time=0, project_id=["p"])
    assert err.param == "project_id"
    assert "project_ids" in str(err)


def test_a_parameter_of_another_endpoint_is_refused() -> None:
    assert refused("costs", start_time=0, models=["gpt-4o"]).param == "models"
    assert refused("embeddings", start_time=0, batch=True).param == "batch"
    assert refused("vector_stores", start_time=0, user_ids=["u"]).param == "user_ids"


def test_costs_only_accepts_1d_buckets() -> None:
    err = refused("costs", start_time=0, bucket_width="1h")
    assert err.param == "bucket_width"
    assert "1d" in str(err)


def test_an_unknown_bucket_width_names_the_allowed_ones() -> None:
    err = refused(start_time=0, bucket_width="1w")
    assert "1m" in str(err)
    assert "1h" in str(err)
    assert "1d" in str(err)


@pytest.mark.parametrize(
    ("endpoint", "param", "bad", "allowed"),
    [
        ("completions", "group_by", "line_item", "service_tier"),
        ("costs", "group_by", "model", "line_item"),
        ("images", "sizes", "100x100", "1024x1024"),
        ("images", "sources", "image.upscale", "image.edit"),
        ("web_search_calls", "context_levels", "huge", "medium"),
        ("vector_stores", "group_by", "user_id", "project_id"),
    ],
)
def test_enum_values_outside_the_spec_are_refused(
    endpoint: str, param: str, bad: str, allowed: str
) -> None:
    err = refused(endpoint, start_time=0, **{param: [bad]})
    assert err.param == param
    assert bad in str(err)
    assert allowed in str(err)


def test_the_spec_wins_where_the_seed_differs() -> None:
    assert ("group_by", "api_key_id") in q("costs", start_time=0, group_by=["api_key_id"])
    assert ("api_key_ids", "key_1") in q("costs", start_time=0, api_key_ids=["key_1"])
    assert ("group_by", "service_tier") in q(start_time=0, group_by=["service_tier"])


@pytest.mark.parametrize("param", ["group_by", "project_ids", "models"])
def test_a_bare_string_is_never_split_into_characters(param: str) -> None:
    err = refused(start_time=0, **{param: "model"})
    assert err.param == param
    assert "bare string" in str(err)


def test_an_empty_list_is_refused_rather_than_dropping_the_filter() -> None:
    assert refused(start_time=0, project_ids=[]).param == "project_ids"


@pytest.mark.parametrize(
    ("endpoint", "width", "maximum"),
    [
        ("completions", None, 31),
        ("completions", "1d", 31),
        ("completions", "1h", 168),
        ("completions", "1m", 1440),
        ("costs", None, 180),
        ("costs", "1d", 180),
    ],
)
def test_limit_bounds_follow_the_bucket_width(
    endpoint: str, width: str | None, maximum: int
) -> None:
    ok = q(endpoint, start_time=0, bucket_width=width, limit=maximum)
    assert ("limit", str(maximum)) in ok
    assert q(endpoint, start_time=0, bucket_width=width, limit=1)
    for bad in (0, maximum + 1):
        err = refused(endpoint, start_time=0, bucket_width=width, limit=bad)
        assert err.param == "limit"
        assert str(maximum) in str(err)


def test_limit_must_be_an_int() -> None:
    assert refused(start_time=0, limit="7").param == "limit"
    assert refused(start_time=0, limit=True).param == "limit"


def test_batch_must_be_a_bool() -> None:
    assert refused(start_time=0, batch="true").param == "batch"


# -- encoding ------------------------------------------------------------------------------


def test_arrays_are_repeated_keys_and_bools_are_lowercase() -> None:
    pairs = q(start_time=10, group_by=["model", "project_id"], batch=False, models=("a", "b"))
    assert pairs == [
        ("start_time", "10"),
        ("models", "a"),
        ("models", "b"),
        ("batch", "false"),
        ("group_by", "model"),
        ("group_by", "project_id"),
    ]


def test_none_values_are_omitted() -> None:
    assert q(start_time=10, end_time=None, project_ids=None, limit=None) == [("start_time", "10")]


def test_values_are_percent_encoded() -> None:
    query = build_query(ENDPOINTS["images"], {"start_time": 1, "sizes": ["1024x1024"]})
    assert "sizes=1024x1024" in query.query_string
    query = build_query(ENDPOINTS["completions"], {"start_time": 1, "models": ["a b&c"]})
    assert "models=a%20b%26c" in query.query_string


def test_the_cursor_is_kept_apart_from_the_query_string() -> None:
    query = build_query(ENDPOINTS["costs"], {"start_time": 1, "page": "abc"})
    assert query.page == "abc"
    assert "page" not in query.query_string


def test_extra_query_passes_unknown_parameters_unvalidated() -> None:
    pairs = q(start_time=1, extra_query={"group_by": ["api_source"], "flag": True, "n": 3})
    assert ("group_by", "api_source") in pairs
    assert ("flag", "true") in pairs
    assert ("n", "3") in pairs


def test_extra_query_cannot_carry_the_parameters_a_stream_drives() -> None:
    assert refused(start_time=1, extra_query={"page": "x"}).param == "extra_query"


def test_with_start_re_encodes_from_a_new_start_time() -> None:
    query = build_query(ENDPOINTS["costs"], {"start_time": 1, "end_time": 999, "page": "p"})
    again = query.with_start(500)
    assert again.start_time == 500
    assert again.page is None
    assert parse_qsl(again.query_string) == [("start_time", "500"), ("end_time", "999")]
