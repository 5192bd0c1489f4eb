"""The money features on the command line, in-process through ``main()`` against ``--fake``
(or the simulator on a thread where requests are counted): period names in ``--since``,
local days with ``--tz``, ``summary --compare`` and ``--budget``, ``budget`` and
``reconcile``, and the bad input each refuses with exit 2."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from usage_async import UsageClient
from usage_async.cli import main
from usage_async.cli._common import parse_since, resolve_range
from usage_async.localtime import load_zone
from usage_async.testing import FakeUsageServer

UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"
# 2025-04-02T12:00Z: after both ends of March, the month whose last Sunday moves Berlin's
# clocks forward (2025-03-30, a 23-hour day).
SPRING_NOW = "2025-04-02T12:00:00Z"
# 2025-11-03T12:00Z: after 2025-10-26, when Berlin's clocks go back (a 25-hour day).
AUTUMN_NOW = "2025-11-03T12:00:00Z"


def ts(year: int, month: int, day: int, hour: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, tzinfo=UTC).timestamp())


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``usage-async ARGV`` in-process: exit code, stdout, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own refusals
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _hourly(now: int, start: int, end: int, endpoint: str) -> list[Any]:
    async with (
        FakeUsageServer(seed=0, now=now) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url) as client,
    ):
        return await client.endpoint(endpoint).collect(
            start_time=start, end_time=end, bucket_width="1h"
        )


def hourly_sum(now: str, start: int, end: int, field: str, endpoint: str = "completions") -> int:
    """``field`` summed over the simulator's 1h buckets in ``[start, end)``, by hand."""
    when = int(dt.datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp())
    buckets = asyncio.run(_hourly(when, start, end, endpoint))
    return sum(getattr(r, field) for b in buckets for r in b.results)


# -- 1. period names in --since -------------------------------------------------------------


NOW = ts(2025, 3, 15, 13)  # a Saturday


@pytest.mark.parametrize(
    ("name", "start", "end"),
    [
        ("today", ts(2025, 3, 15), None),
        ("yesterday", ts(2025, 3, 14), ts(2025, 3, 15)),
        ("week", ts(2025, 3, 10), None),
        ("last-week", ts(2025, 3, 3), ts(2025, 3, 10)),
        ("month", ts(2025, 3, 1), None),
        ("last-month", ts(2025, 2, 1), ts(2025, 3, 1)),
        ("year", ts(2025, 1, 1), None),
        ("last-year", ts(2024, 1, 1), ts(2025, 1, 1)),
    ],
)
def test_a_period_name_sets_both_ends_and_a_period_to_date_runs_to_now(
    name: str, start: int, end: int | None
) -> None:
    assert resolve_range(parse_since(name), None, "1d", NOW) == (start, end)


def test_until_given_with_a_period_name_wins_over_the_periods_end() -> None:
    until = parse_since("2025-02-10")
    assert resolve_range(parse_since("last-month"), until, "1d", NOW) == (
        ts(2025, 2, 1),
        ts(2025, 2, 10),
    )


def test_a_period_with_tz_is_that_zones_days() -> None:
    zone = load_zone(BERLIN)
    # Berlin is UTC+1 in February: its days start at 23:00 UTC the day before.
    assert resolve_range(parse_since("last-month"), None, "1d", NOW, tz=zone) == (
        ts(2025, 1, 31, 23),
        ts(2025, 2, 28, 23),
    )
    # A bare date is that zone's day too.
    start, _ = resolve_range(parse_since("2025-03-01"), None, "1d", NOW, tz=zone)
    assert start == ts(2025, 2, 28, 23)


def test_a_period_name_is_case_blind_and_a_bad_value_lists_the_periods() -> None:
    assert parse_since("Last-Month").period == "last-month"
    with pytest.raises(argparse.ArgumentTypeError) as refused:
        parse_since("fortnight")
    assert "'fortnight' is not a time or a period" in str(refused.value)
    assert "month, last-month" in str(refused.value)
    assert "2025-01-01" in str(refused.value)


def test_a_bad_since_exits_2_in_one_line_listing_the_forms(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "completions", "--fake", "--since", "last-fortnight")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "'last-fortnight' is not a time or a period" in err
    assert "last-week" in err


def test_since_last_month_on_an_endpoint_gives_that_months_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "costs", "--fake", "--fake-now", SPRING_NOW, "--since", "last-month",
        "--format", "csv",
    )  # fmt: skip
    assert code == 0
    days = sorted({row["start_time"] for row in csv_rows(out)})
    assert days[0] == "2025-03-01T00:00:00Z"
    assert days[-1] == "2025-03-31T00:00:00Z"
    assert len(days) == 31


def test_a_period_is_refused_as_fake_now(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "costs", "--fake", "--fake-now", "month", "--since", "3d")
    assert code == 2
    assert "--fake-now" in err


# -- 2. --tz on the usage endpoint rows -----------------------------------------------------


def test_tz_sums_a_23_hour_day_when_berlins_clocks_go_forward(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "completions", "--fake", "--fake-now", SPRING_NOW, "--since", "2025-03-29",
        "--until", "2025-04-01", "--tz", BERLIN, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    rows = {row["start_time"]: row for row in csv_rows(out)}
    assert list(rows) == [
        "2025-03-29T00:00:00+01:00",
        "2025-03-30T00:00:00+01:00",
        "2025-03-31T00:00:00+02:00",
    ]
    dst = rows["2025-03-30T00:00:00+01:00"]
    assert dst["end_time"] == "2025-03-31T00:00:00+02:00"  # 23 hours later
    # 2025-03-29T23:00Z to 2025-03-30T22:00Z: 23 UTC hours, summed exactly.
    start, end = ts(2025, 3, 29, 23), ts(2025, 3, 30, 22)
    assert end - start == 23 * 3600
    assert int(dst["input_tokens"]) == hourly_sum(SPRING_NOW, start, end, "input_tokens")
    assert int(dst["num_model_requests"]) == hourly_sum(
        SPRING_NOW, start, end, "num_model_requests"
    )


def test_tz_sums_a_25_hour_day_when_berlins_clocks_go_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "embeddings", "--fake", "--fake-now", AUTUMN_NOW, "--since", "2025-10-26",
        "--until", "2025-10-27", "--tz", BERLIN, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    (row,) = csv_rows(out)
    assert (row["start_time"], row["end_time"]) == (
        "2025-10-26T00:00:00+02:00",
        "2025-10-27T00:00:00+01:00",
    )
    start, end = ts(2025, 10, 25, 22), ts(2025, 10, 26, 23)
    assert end - start == 25 * 3600
    assert int(row["input_tokens"]) == hourly_sum(
        AUTUMN_NOW, start, end, "input_tokens", "embeddings"
    )


def test_tz_keeps_the_group_by_columns(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "completions", "--fake", "--fake-now", SPRING_NOW, "--since", "2025-03-30",
        "--until", "2025-03-31", "--tz", BERLIN, "--group-by", "model", "--format", "jsonl",
    )  # fmt: skip
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len({row["model"] for row in rows}) == len(rows) > 1
    total = sum(row["output_tokens"] for row in rows)
    assert total == hourly_sum(
        SPRING_NOW, ts(2025, 3, 29, 23), ts(2025, 3, 30, 22), "output_tokens"
    )


def test_tz_floors_the_range_to_local_midnights_so_no_day_is_partial(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, "embeddings", "--fake", "--fake-now", SPRING_NOW,
        "--since", "2025-03-30T09:00:00Z", "--until", "2025-03-31T05:00:00Z",
        "--tz", BERLIN, "--format", "csv",
    )  # fmt: skip
    assert code == 0
    (row,) = csv_rows(out)  # 03-31 05:00Z is within Berlin's 31st: that day is left out
    assert row["start_time"] == "2025-03-30T00:00:00+01:00"
    start, end = ts(2025, 3, 29, 23), ts(2025, 3, 30, 22)
    assert int(row["input_tokens"]) == hourly_sum(
        SPRING_NOW, start, end, "input_tokens", "embeddings"
    )
    code, _, err = run(
        capsys, "embeddings", "--fake", "--fake-now", SPRING_NOW,
        "--since", "2025-03-30T09:00:00Z", "--until", "2025-03-30T12:00:00Z", "--tz", BERLIN,
    )  # fmt: skip
    assert code == 2
    assert "within one day in Europe/Berlin" in err


def test_costs_refuse_tz_saying_costs_are_utc_days_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "costs", "--fake", "--since", "7d", "--tz", BERLIN)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "Costs are reported only in UTC days" in err


def test_an_unknown_zone_exits_2_naming_it_and_how_to_list_zones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "completions", "--fake", "--since", "7d", "--tz", "Mars/Olympus")
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "--tz: unknown time zone 'Mars/Olympus'" in err
    assert "zoneinfo.available_timezones()" in err


def test_tz_with_hourly_buckets_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "completions", "--fake", "--since", "7d", "--tz", BERLIN, "--bucket-width", "1h"
    )
    assert code == 2
    assert "--tz goes with --bucket-width 1d" in err


def test_tz_in_a_half_hour_zone_is_refused_not_guessed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(
        capsys, "completions", "--fake", "--fake-now", SPRING_NOW, "--since", "2025-03-29",
        "--until", "2025-03-31", "--tz", "Asia/Kolkata",
    )  # fmt: skip
    assert code == 2
    assert "straddles local midnight" in err
    assert "--tz Asia/Kolkata" in err


def test_fake_mismatch_needs_fake(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "costs", "--api-key", "sk-admin-x", "--since", "3d", "--fake-mismatch", "2025-01-05"
    )
    assert code == 2
    assert "--fake-mismatch needs --fake" in err


# -- 4. budget --------------------------------------------------------------------------------

JANUARY_NOW = "2025-01-15T12:30:00Z"
JANUARY_NOW_TS = ts(2025, 1, 15, 12) + 1800


async def _costs_total(start: int, end: int) -> Decimal:
    async with (
        FakeUsageServer(seed=0, now=JANUARY_NOW_TS) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url) as client,
    ):
        buckets = await client.costs.collect(start_time=start, end_time=end)
    return sum(
        (r.amount.value for b in buckets for r in b.results if r.amount is not None), Decimal(0)
    )


def budget_jsonl(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    code, out, err = run(
        capsys, "budget", "--fake", "--fake-now", JANUARY_NOW, "--format", "jsonl", *extra
    )
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_budget_spent_is_the_months_costs_summed_exactly(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = budget_jsonl(capsys)
    org = next(r for r in rows if r["scope"] == "organization" and r["what"] == "limit")
    expected = asyncio.run(_costs_total(ts(2025, 1, 1), ts(2025, 1, 16)))
    assert Decimal(org["spent"]) == expected
    projects = [r for r in rows if r["scope"] == "project" and r["what"] == "limit"]
    assert projects
    assert sum(Decimal(r["spent"]) for r in projects) <= expected
    assert all(r["project_name"] for r in projects)  # names beside ids


def test_budget_limits_and_alerts_are_the_apis_cents_in_dollars(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = budget_jsonl(capsys)
    spend = FakeUsageServer(seed=0).spend  # drawn from the seed, not served
    org_limit = spend.organization_limit
    assert org_limit is not None
    org = next(r for r in rows if r["scope"] == "organization" and r["what"] == "limit")
    assert Decimal(org["threshold"]) == Decimal(org_limit.threshold_amount) / 100
    alerts = sorted(Decimal(r["threshold"]) for r in rows if r["scope"] == "organization")[:-1]
    assert alerts == sorted(Decimal(a.threshold_amount) / 100 for a in spend.organization_alerts)
    spent = Decimal(org["spent"])
    assert Decimal(org["percent_used"]) == (spent * 100 / Decimal(org["threshold"])).quantize(
        Decimal("0.01")
    )


def test_budget_projects_linearly_over_the_complete_days_labelled_as_a_projection(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = budget_jsonl(capsys)
    org = next(r for r in rows if r["scope"] == "organization" and r["what"] == "limit")
    basis = asyncio.run(_costs_total(ts(2025, 1, 1), ts(2025, 1, 15)))  # 14 complete days
    assert Decimal(org["projection"]) == (basis * 31 / 14).quantize(Decimal("0.01"))
    code, out, _ = run(capsys, "budget", "--fake", "--fake-now", JANUARY_NOW)
    assert code == 0
    assert "The projection is an estimate" in out
    assert "14 complete UTC days" in out
    assert "not Costs data" in out


def test_budget_without_names_has_no_name_column(capsys: pytest.CaptureFixture[str]) -> None:
    rows = budget_jsonl(capsys, "--no-names")
    assert rows
    assert all("project_name" not in r for r in rows)


def test_budget_fail_above_exits_3_after_writing_the_rows_naming_the_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out_file = tmp_path / "budget.csv"
    code, _, err = run(
        capsys, "budget", "--fake", "--fake-now", JANUARY_NOW, "--fail-above", "15",
        "-o", str(out_file),
    )  # fmt: skip
    assert code == 3
    assert err.count("\n") == 1
    rows = csv_rows(out_file.read_text(encoding="utf-8"))
    used = {
        (r["project_id"] or "organization"): Decimal(r["percent_used"])
        for r in rows
        if r["what"] == "limit" and r["percent_used"]
    }
    above = [who for who, percent in used.items() if percent > 15]
    below = [who for who, percent in used.items() if percent <= 15]
    assert above
    assert below
    assert "--fail-above 15:" in err
    for who in above:
        assert (who if who != "organization" else "the organization's limit") in err
    for who in below:
        assert who not in err


def test_budget_fail_above_a_limit_not_reached_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(
        capsys, "budget", "--fake", "--fake-now", JANUARY_NOW, "--fail-above", "99", "--format",
        "csv",
    )  # fmt: skip
    assert (code, err) == (0, "")


def test_budget_fail_above_takes_only_a_percentage(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "budget", "--fake", "--fail-above", "lots")
    assert code == 2
    assert out == ""
    assert "--fail-above" in err


def test_budget_sends_a_bounded_number_of_requests(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeUsageServer(seed=0, now=JANUARY_NOW_TS).serve_in_thread() as srv:
        code, out, err = run(
            capsys, "budget", "--base-url", srv.base_url, "--api-key", srv.api_key,
            "--format", "jsonl",
        )  # fmt: skip
        sent = [r.path for r in srv.requests]
    assert code == 0, err
    assert out
    projects = [p for p in sent if p.endswith("/spend_limit") and "/projects/" in p]
    assert len(projects) >= 5
    assert sent.count("/v1/organization/costs") == 1
    assert sent.count("/v1/organization/projects") == 1
    assert len(sent) == 4 + 2 * len(projects)  # costs, projects, the org's limit and alerts


# -- 5. reconcile -------------------------------------------------------------------------------

PLANTED = "2025-01-05"
FORTNIGHT = ("--fake-now", JANUARY_NOW, "--since", "2025-01-01", "--until", "2025-01-15")


def planted_model() -> str | None:
    from usage_async.testing import Quirks

    server = FakeUsageServer(
        seed=0, now=JANUARY_NOW_TS, quirks=Quirks(costs_mismatch_days=[ts(2025, 1, 5)])
    )
    return server.state.planted_mismatch(ts(2025, 1, 5))


def reconcile_jsonl(capsys: pytest.CaptureFixture[str], *extra: str) -> list[dict[str, Any]]:
    code, out, err = run(capsys, "reconcile", "--fake", *FORTNIGHT, "--format", "jsonl", *extra)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_reconcile_flags_the_planted_mismatch_day_and_nothing_else(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = reconcile_jsonl(capsys, "--fake-mismatch", PLANTED, "--all")
    model = planted_model()
    assert model is not None
    compared = [r for r in rows if r["section"] == "compared"]
    assert len({(r["day"], r["model"]) for r in compared}) > 100  # every model-day is there
    flagged = [r for r in rows if r["flagged"]]
    assert [(r["day"], r["model"], r["kind"]) for r in flagged] == [(PLANTED, model, "output")]
    (line,) = flagged
    assert line["compared_by"] == "quantity"
    assert Decimal(line["difference"]) == Decimal(line["costs_quantity"]) - line["usage_quantity"]
    assert not [r for r in rows if r["section"] == "unmatched"]
    assert {r["line_item"] for r in rows if r["section"] == "not_compared"} >= {
        "vector store storage"
    }


def test_reconcile_without_a_planted_mismatch_flags_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert reconcile_jsonl(capsys) == []  # only flagged and unmatched rows, and there are none
    code, out, _ = run(capsys, "reconcile", "--fake", *FORTNIGHT)
    assert code == 0
    assert "0 flagged, 0 line items matching no usage" in out
    assert "(none beyond the thresholds)" in out


def test_reconcile_by_default_shows_only_the_flagged_model_day(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = reconcile_jsonl(capsys, "--fake-mismatch", PLANTED)
    assert {(r["day"], r["model"]) for r in rows} == {(PLANTED, planted_model())}
    assert [r["kind"] for r in rows if r["flagged"]] == ["output"]


def test_reconcile_a_threshold_above_the_difference_flags_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The planted day bills a quarter more output: a fifth of the larger side.
    assert reconcile_jsonl(capsys, "--fake-mismatch", PLANTED, "--threshold", "25%") == []
    assert reconcile_jsonl(capsys, "--fake-mismatch", PLANTED, "--threshold", "15%")


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("5%", "relative", Decimal("0.05")),
        ("$0.50", "absolute_usd", Decimal("0.50")),
        ("0.50 usd", "absolute_usd", Decimal("0.50")),
        ("100 units", "absolute_units", Decimal(100)),
        ("1 unit", "absolute_units", Decimal(1)),
    ],
)
def test_a_threshold_is_a_percentage_an_amount_or_a_quantity(
    text: str, field: str, value: Decimal
) -> None:
    from usage_async.cli.reconcile import parse_threshold, thresholds

    parsed = parse_threshold(text)
    assert (parsed.field, parsed.value) == (field, value)
    assert getattr(thresholds([parsed]), field) == value


def test_a_bad_threshold_exits_2_listing_the_forms(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "reconcile", "--fake", "--threshold", "lots")
    assert code == 2
    assert out == ""
    assert "'lots' is not a threshold: use a percentage (5%), an amount ($0.50)" in err


def test_reconcile_labels_every_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "reconcile", "--fake", *FORTNIGHT, "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert "estimates" in body["estimates"]
    assert "not what Costs charged" in body["estimates"]
    assert Decimal(body["costs_total"]) != Decimal(body["estimated_total"])
    code, out, _ = run(capsys, "reconcile", "--fake", *FORTNIGHT)
    assert "(an estimate, not Costs)" in out
    assert "(Costs, exact)" in out


def test_reconcile_prices_replaces_the_price_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    model = planted_model()
    assert model is not None
    prices = tmp_path / "prices.json"
    entry = {"model": model, "kind": "output", "usd": "10", "per": 1_000_000, "unit": "tokens",
             "effective_from": "2024-01-01"}  # fmt: skip
    prices.write_text(json.dumps({"currency": "usd", "prices": [entry]}), encoding="utf-8")
    rows = reconcile_jsonl(capsys, "--fake-mismatch", PLANTED, "--prices", str(prices))
    (output,) = [r for r in rows if r["kind"] == "output"]
    assert Decimal(output["estimated_amount"]) == Decimal(output["usage_quantity"]) * 10 / 10**6
    assert all(r["estimated_amount"] is None for r in rows if r["kind"] != "output")
    code, out, _ = run(capsys, "reconcile", "--fake", *FORTNIGHT, "--prices", str(prices))
    assert code == 0
    assert f"Prices: {prices}." in out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"prices": [', "not JSON: Expecting value at line 1"),
        ('{"prices": [{"model": "m"}]}', "prices[0] has no kind"),
        ("[]", 'expected an object with a "prices" list'),
    ],
)
def test_a_price_file_that_does_not_parse_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str, problem: str
) -> None:
    prices = tmp_path / "prices.json"
    prices.write_text(text, encoding="utf-8")
    with FakeUsageServer(seed=0, now=JANUARY_NOW_TS).serve_in_thread() as srv:
        code, out, err = run(
            capsys, "reconcile", "--base-url", srv.base_url, "--api-key", srv.api_key,
            "--prices", str(prices),
        )  # fmt: skip
        assert srv.requests == []
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"--prices: {prices}: {problem}" in err


def test_a_price_file_that_cannot_be_read_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "reconcile", "--fake", "--prices", str(tmp_path / "missing.json"))
    assert code == 2
    assert "missing.json: cannot be read" in err


def test_reconcile_sends_one_request_per_endpoint(capsys: pytest.CaptureFixture[str]) -> None:
    with FakeUsageServer(seed=0, now=JANUARY_NOW_TS).serve_in_thread() as srv:
        code, _, err = run(
            capsys, "reconcile", "--base-url", srv.base_url, "--api-key", srv.api_key,
            "--since", "2025-01-01", "--until", "2025-01-15",
        )  # fmt: skip
        sent = sorted(r.path.rsplit("/", 1)[-1] for r in srv.requests)
    assert code == 0, err
    assert sent == sorted(
        ["costs", "completions", "embeddings", "images", "audio_speeches", "audio_transcriptions"]
    )


# -- summary --tz, --compare, --budget ------------------------------------------------------


def summary_json(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    code, out, err = run(capsys, "summary", "--fake", "--format", "json", *extra)
    assert code == 0, err
    body: dict[str, Any] = json.loads(out)
    return body


def test_summary_tz_sums_usage_over_local_days_and_labels_costs_utc_days(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = summary_json(
        capsys, "--fake-now", SPRING_NOW, "--since", "2025-03-30", "--until", "2025-03-31",
        "--tz", BERLIN, "--no-names",
    )  # fmt: skip
    assert body["buckets"] == {
        "width": "1d",
        "start": "2025-03-30T00:00:00+01:00",
        "end": "2025-03-31T00:00:00+02:00",
        "time_zone": BERLIN,
    }
    assert body["costs_buckets"]["start"] == "2025-03-30T00:00:00Z"
    assert body["costs_buckets"]["end"] == "2025-03-31T00:00:00Z"
    assert body["costs_buckets"]["time_zone"] == "UTC"
    start, end = ts(2025, 3, 29, 23), ts(2025, 3, 30, 22)  # the 23-hour day
    requests = body["requests_by_endpoint"]["completions"]["count"]
    assert requests == hourly_sum(SPRING_NOW, start, end, "num_model_requests")
    code, out, _ = run(
        capsys, "summary", "--fake", "--fake-now", SPRING_NOW, "--since", "2025-03-30",
        "--until", "2025-03-31", "--tz", BERLIN, "--no-names",
    )  # fmt: skip
    assert code == 0
    assert out.startswith("Usage of 1 day in Europe/Berlin, 2025-03-30T00:00:00+01:00")
    assert "Costs of 1 UTC day, 2025-03-30T00:00:00Z to 2025-03-31T00:00:00Z" in out
    assert "Costs are reported only in UTC days" in out


def test_summary_an_unknown_zone_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "summary", "--fake", "--tz", "Europe/Atlantis")
    assert (code, out) == (2, "")
    assert "--tz: unknown time zone 'Europe/Atlantis'" in err


def _month_spend(start: int, end: int) -> dict[tuple[str | None, str | None], Decimal]:
    from usage_async.line_items import parse_line_item

    async def fetch() -> list[Any]:
        async with (
            FakeUsageServer(seed=0, now=JANUARY_NOW_TS) as srv,
            UsageClient(srv.api_key, base_url=srv.base_url) as client,
        ):
            return await client.costs.collect(
                start_time=start, end_time=end, group_by=["project_id", "line_item"]
            )

    sums: dict[tuple[str | None, str | None], Decimal] = {}
    for bucket in asyncio.run(fetch()):
        for r in bucket.results:
            key = (r.project_id, parse_line_item(r.line_item).model)
            sums[key] = sums.get(key, Decimal(0)) + r.amount.value
    return sums


def test_summary_compare_month_to_date_against_the_same_days_of_last_month(
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = summary_json(capsys, "--fake-now", JANUARY_NOW, "--since", "month", "--compare")
    comparison = body["comparison"]
    assert comparison["by"] == ["project", "model"]
    assert comparison["this_period"]["label"] == "2025-01-01..2025-01-15 (UTC)"
    assert comparison["previous_period"]["label"] == "2024-12-01..2024-12-15 (UTC)"
    this = _month_spend(ts(2025, 1, 1), ts(2025, 1, 16))
    before = _month_spend(ts(2024, 12, 1), ts(2024, 12, 16))
    changes = comparison["changes"]
    assert {(c["project"], c["model"]) for c in changes} == set(this) | set(before)
    for c in changes:
        key = (c["project"], c["model"])
        assert Decimal(c["this"]) == this.get(key, Decimal(0))
        assert Decimal(c["previous"]) == before.get(key, Decimal(0))
        assert Decimal(c["change"]) == Decimal(c["this"]) - Decimal(c["previous"])
        if c["previous"] != "0" and Decimal(c["previous"]):
            expected = (Decimal(c["change"]) * 100 / Decimal(c["previous"])).quantize(
                Decimal("0.01")
            )
            assert Decimal(c["change_percent"]) == expected
    assert all(c.get("project_name") for c in changes if c["project"])  # names beside ids
    (total,) = comparison["totals"]
    assert Decimal(total["this"]) == sum(this.values())
    assert Decimal(total["previous"]) == sum(before.values())


def test_summary_compare_by_another_dimension(capsys: pytest.CaptureFixture[str]) -> None:
    body = summary_json(
        capsys, "--fake-now", JANUARY_NOW, "--since", "last-week", "--compare", "--by", "kind",
        "--no-names",
    )  # fmt: skip
    comparison = body["comparison"]
    assert comparison["by"] == ["kind"]
    assert comparison["this_period"]["label"] == "2025-01-06..2025-01-12 (UTC)"
    assert comparison["previous_period"]["label"] == "2024-12-30..2025-01-05 (UTC)"
    assert {"output", "input"} <= {c["kind"] for c in comparison["changes"]}


def test_summary_compare_as_csv_rows(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "summary", "--fake", "--fake-now", JANUARY_NOW, "--since", "month", "--compare",
        "--format", "csv",
    )  # fmt: skip
    assert code == 0
    rows = [r for r in csv_rows(out) if r["section"] in ("compare", "compare_total")]
    metrics = {r["metric"] for r in rows}
    assert metrics == {"this", "previous", "change", "change_percent"}
    (total,) = [r for r in rows if r["section"] == "compare_total" and r["metric"] == "this"]
    assert "2025-01-01..2025-01-15 (UTC) against 2024-12-01..2024-12-15 (UTC)" in total["name"]


def test_summary_compare_with_no_previous_data_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The simulated organization starts on 2024-01-01: December 2023 has no Costs.
    code, out, err = run(
        capsys, "summary", "--fake", "--fake-now", "2024-01-20T12:00:00Z", "--since", "month",
        "--compare",
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert "--compare: the previous period, 2023-12-01..2023-12-20 (UTC), has no Costs" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--compare", "--by", "project,colour"), "--by: unknown dimension 'colour'; compare by:"),
        (("--compare", "--by", "day"), "--by: cannot compare by day"),
        (("--by", "model"), "--by goes with --compare"),
    ],
)
def test_summary_a_bad_by_exits_2_before_any_request(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], message: str
) -> None:
    with FakeUsageServer(seed=0, now=JANUARY_NOW_TS).serve_in_thread() as srv:
        code, out, err = run(
            capsys, "summary", "--base-url", srv.base_url, "--api-key", srv.api_key, *argv
        )
        assert srv.requests == []
    assert (code, out) == (2, "")
    assert message in err
    if "colour" in message:
        assert "project, api_key, line_item, model, kind" in err


def test_summary_compare_by_api_key_before_the_api_groups_so_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(
        capsys, "summary", "--fake", "--fake-now", JANUARY_NOW, "--since", "month", "--compare",
        "--by", "api_key",
    )  # fmt: skip
    assert (code, out) == (2, "")
    assert "groups Costs by api_key_id only from 2025-12-06T00:00:00Z" in err


def test_summary_compare_by_api_key_after_2025_12_06(capsys: pytest.CaptureFixture[str]) -> None:
    body = summary_json(
        capsys, "--fake-now", "2026-03-10T12:00:00Z", "--since", "last-month", "--compare",
        "--by", "api_key", "--no-names",
    )  # fmt: skip
    changes = body["comparison"]["changes"]
    assert any(c["api_key"] for c in changes)


def test_summary_budget_adds_the_budget_lines(capsys: pytest.CaptureFixture[str]) -> None:
    body = summary_json(capsys, "--fake-now", JANUARY_NOW, "--since", "7d", "--budget")
    rows = budget_jsonl(capsys)
    assert body["budget"]["rows"] == rows
    assert "The projection is an estimate" in body["budget"]["heading"]
    code, out, _ = run(
        capsys, "summary", "--fake", "--fake-now", JANUARY_NOW, "--since", "7d", "--budget"
    )
    assert code == 0
    assert "Spend limits and alerts (usd)" in out
    assert "projection" in out


# -- README ------------------------------------------------------------------------------------


def test_the_readme_shows_each_money_command_with_fake() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Money on the command line", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("usage-async ")]
    for needle in (
        "--since last-month",
        "--tz Europe/Berlin --group-by model",
        "summary --fake --since month --compare",
        "--budget",
        "budget --fake",
        "--fail-above 15",
        "reconcile --fake",
        "--fake-mismatch 2025-01-05",
        "--threshold 5%",
    ):
        assert any(needle in line and "--fake" in line for line in lines), needle
    fail_above = next(line for line in lines if "--fail-above" in line)
    assert fail_above.rstrip().endswith("# exits 3")
