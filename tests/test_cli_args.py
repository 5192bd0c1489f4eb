"""The command line in-process: times, options, values as text, progress, summary sums."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import logging
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from helpers import KEY, ScriptedServer, Terminal, page

from usage_async import ENDPOINTS, CostsResult, Row, columns
from usage_async.cli import build_parser, commands, main
from usage_async.cli._common import TimeArg, Watch, parse_time, resolve_time
from usage_async.cli._output import OutputSpec, Progress, Target, cell, decimal_text, write_rows
from usage_async.cli.rows import endpoint_params
from usage_async.cli.summary import Summary
from usage_async.retry import RetryEvent
from usage_async.testing import FakeUsageServer

UTC = dt.timezone.utc
NOW = int(dt.datetime(2025, 3, 15, 13, 47, 12, tzinfo=UTC).timestamp())


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(dt.datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp())


def parse(*argv: str) -> argparse.Namespace:
    args: argparse.Namespace = build_parser().parse_args(argv)
    return args


# -- times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 12 * 3600), ("90m", 90 * 60), ("2w", 14 * 86400)],
)
def test_a_relative_time_is_how_long_ago(text: str, seconds: int) -> None:
    assert parse_time(text) == TimeArg(seconds, relative=True)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-01", ts(2025, 1, 1)),
        ("2025-01-01T12:30:00Z", ts(2025, 1, 1, 12, 30)),
        ("2025-01-01T14:30:00+02:00", ts(2025, 1, 1, 12, 30)),
        ("1735689600", 1_735_689_600),
    ],
)
def test_an_absolute_time_is_a_utc_date_an_iso_datetime_with_zone_or_unix_seconds(
    text: str, expected: int
) -> None:
    parsed = parse_time(text)
    assert (parsed.seconds, parsed.relative, parsed.period) == (expected, False, None)


def test_a_datetime_without_zone_is_refused_saying_to_add_one() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="no time zone; add Z"):
        parse_time("2025-01-01T00:00:00")


def test_something_that_is_not_a_time_is_refused_listing_the_forms() -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="'yesterday' is not a time: use 30d"):
        parse_time("yesterday")


def test_30d_with_1d_buckets_is_floored_to_utc_midnight() -> None:
    assert resolve_time(parse_time("30d"), "1d", NOW) == ts(2025, 2, 13)


def test_12h_with_1h_buckets_is_floored_to_the_hour() -> None:
    assert resolve_time(parse_time("12h"), "1h", NOW) == ts(2025, 3, 15, 1)


def test_90m_with_1m_buckets_is_floored_to_the_minute() -> None:
    assert resolve_time(parse_time("90m"), "1m", NOW) == ts(2025, 3, 15, 12, 17)


def test_runs_an_hour_apart_ask_for_the_same_start() -> None:
    since = parse_time("7d")

    assert resolve_time(since, "1d", NOW) == resolve_time(since, "1d", NOW + 3600)


def test_an_absolute_time_is_not_floored() -> None:
    assert resolve_time(parse_time("2025-01-01T12:30:00Z"), "1d", NOW) == ts(2025, 1, 1, 12, 30)


# -- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "width", "expected"), [
    ("completions", "1d", "31"), ("completions", "1h", "168"), ("costs", "1d", "180"),
])  # fmt: skip
def test_the_limit_sent_is_the_most_buckets_a_page_may_hold_for_the_width(
    fake_usage_server: FakeUsageServer,
    capsys: pytest.CaptureFixture[str],
    command: str,
    width: str,
    expected: str,
) -> None:
    server = ("--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key)

    assert main([command, *server, "--since", "2d", "--bucket-width", width]) == 0

    assert {dict(r.query)["limit"] for r in fake_usage_server.requests} == {expected}


def test_a_given_limit_is_kept() -> None:
    args = parse("costs", "--since", "30d", "--limit", "5")

    assert endpoint_params(ENDPOINTS["costs"], args, NOW)["limit"] == 5


def test_list_options_take_commas_and_repeats_and_map_to_the_api_names() -> None:
    args = parse(
        "completions", "--since", "2025-01-01", "--until", "2d",
        "--project-id", "p1,p2", "--project-id", "p3", "--group-by", "model,project_id",
        "--model", "gpt-4o", "--no-batch",
    )  # fmt: skip

    params = endpoint_params(ENDPOINTS["completions"], args, NOW)

    assert params == {
        "start_time": ts(2025, 1, 1),
        "end_time": ts(2025, 3, 13),
        "bucket_width": "1d",
        "project_ids": ["p1", "p2", "p3"],
        "user_ids": None,
        "api_key_ids": None,
        "models": ["gpt-4o"],
        "batch": False,
        "group_by": ["model", "project_id"],
        "limit": None,
    }


def test_each_endpoint_has_exactly_its_own_filters() -> None:
    images = parse("images", "--since", "1d", "--size", "256x256", "--source", "image.edit")
    assert (images.sizes, images.sources) == (["256x256"], ["image.edit"])
    web_search = parse("web-search-calls", "--since", "1d", "--context-level", "high")
    assert web_search.context_levels == ["high"]
    files = parse("file_search_calls", "--since", "1d", "--vector-store-id", "vs_1")
    assert files.vector_store_ids == ["vs_1"]
    with pytest.raises(SystemExit):
        parse("costs", "--since", "1d", "--model", "gpt-4o")


def test_an_endpoint_answers_to_its_name_with_dashes_too() -> None:
    command = next(c for c in commands() if c.name == "audio_speeches")

    assert parse("audio-speeches", "--since", "1d").run is command.run
    assert parse("audio_speeches", "--since", "1d").run is command.run


def test_every_command_is_a_row_of_the_command_table() -> None:
    names = [command.name for command in commands()]

    assert names == [
        *ENDPOINTS,
        "summary",
        "budget",
        "reconcile",
        "sync",
        "query",
        "check",
        "report",
        "exporter",
        "export",
        "serve",
        "completion",
    ]
    assert all(callable(c.add_arguments) and callable(c.run) for c in commands())


def test_sync_and_query_parse_with_the_same_api_options_as_the_rest() -> None:
    args = parse("sync", "--fake", "--seed", "3", "--since", "90d", "--db", "sqlite:///x.db")
    assert (args.fake, args.seed, args.since, args.db) == (True, 3, "90d", "sqlite:///x.db")
    query = parse("query", "--db", "sqlite:///x.db", "spend", "--by", "day")
    assert query.by == "day"


def test_a_bad_option_value_is_one_line_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["costs", "--since", "fortnight"])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("usage-async costs: error: argument --since: 'fortnight' is not")


def test_a_library_refusal_names_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["costs", "--fake", "--since", "30d", "--limit", "500"])

    assert code == 2
    assert capsys.readouterr().err == (
        "usage-async costs: error: --limit: must be between 1 and 180 for costs with "
        "bucket_width='1d', got 500\n"
    )


def test_until_before_since_is_refused_naming_until(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["costs", "--fake", "--since", "2025-01-02", "--until", "2025-01-01"])

    assert code == 2
    assert capsys.readouterr().err == (
        "usage-async costs: error: --until 2025-01-01T00:00:00Z must be after "
        "--since 2025-01-02T00:00:00Z\n"
    )


# -- values as text -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("12.50", "12.50"),
        ("0.000025463", "0.000025463"),
        ("1E-7", "0.0000001"),
        ("1.5E+3", "1500"),
        ("0E-6176", "0"),
        ("1E+60", "1E+60"),
    ],
)
def test_decimals_are_written_exactly_in_plain_digits(value: str, text: str) -> None:
    assert decimal_text(Decimal(value)) == text
    assert Decimal(decimal_text(Decimal(value))) == Decimal(value)


def test_cells_are_empty_for_none_and_json_like_for_bools_and_times() -> None:
    assert cell(None) == ""
    assert (cell(True), cell(False)) == ("true", "false")
    assert cell(dt.datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00Z"
    assert cell({"a": Decimal("1.10")}) == '{"a":"1.10"}'


def row(**fields: Any) -> Row:
    base: Row = dict.fromkeys(columns(CostsResult))
    base.update(
        start_time=dt.datetime(2025, 1, 1, tzinfo=UTC),
        end_time=dt.datetime(2025, 1, 2, tzinfo=UTC),
        object=CostsResult.object,
    )
    base.update(fields)
    return base


async def each(*rows: Row) -> AsyncIterator[Row]:
    for one in rows:
        yield one


async def test_the_table_right_aligns_numbers_and_drops_columns_empty_in_every_row() -> None:
    out = io.StringIO()

    await write_rows(
        Target(OutputSpec("table"), out),
        columns(CostsResult),
        each(row(amount_value=Decimal("1.5"), line_item="a"), row(amount_value=Decimal("10.25"))),
    )

    assert out.getvalue().splitlines() == [
        "start_time            end_time              amount_value  line_item",
        "--------------------  --------------------  ------------  ---------",
        "2025-01-01T00:00:00Z  2025-01-02T00:00:00Z           1.5  a",
        "2025-01-01T00:00:00Z  2025-01-02T00:00:00Z         10.25",
    ]


async def test_csv_warns_once_when_an_unknown_result_has_fields_outside_its_columns() -> None:
    out, warnings = io.StringIO(), list[str]()

    async def stream() -> AsyncIterator[Row]:
        yield row(amount_value=Decimal(1))
        for _ in range(2):
            yield {"start_time": None, "end_time": None, "object": "costs.v2", "region": "eu"}

    await write_rows(
        Target(OutputSpec("csv"), out), columns(CostsResult), stream(), warn=warnings.append
    )

    assert len(out.getvalue().splitlines()) == 4
    assert warnings == [
        "a costs.v2 result has fields outside the CSV columns (region); "
        "use --format jsonl to keep them"
    ]


# -- progress -----------------------------------------------------------------------------


def test_progress_on_a_terminal_counts_retries_instead_of_printing_them() -> None:
    terminal = Terminal()
    event = RetryEvent("/x", 1, "5xx", 500, "InternalServerError", 0.5, False, None)

    with Watch() as watch, Progress("costs", terminal) as progress:
        watch.on_retry(event)  # what the client's on_retry hook does
        logging.getLogger("usage_async").warning(
            "retrying %s after %.2fs (attempt %d failed: %s)",
            *("/x", 0.5, 1, "status 500"),
            extra={"retry_event": event},
        )
        assert progress.retries == 1

    shown = terminal.getvalue()
    assert "\rcosts: 0 pages, 0 buckets, 1 retry\x1b[K" in shown
    assert "warning" not in shown
    assert shown.endswith("\r\x1b[K")


def test_progress_when_piped_draws_nothing_and_prints_warnings_as_lines() -> None:
    piped = io.StringIO()

    with Progress("costs", piped):
        logging.getLogger("usage_async").warning("retrying %s after %.2fs", "/x", 0.5)
        logging.getLogger("usage_async").warning("kept a %s result as UnknownResult", "t")

    assert piped.getvalue() == (
        "usage-async: warning: retrying /x after 0.50s\n"
        "usage-async: warning: kept a t result as UnknownResult\n"
    )


def test_progress_stops_listening_to_the_library_when_done() -> None:
    piped = io.StringIO()
    with Progress("costs", piped):
        pass

    logging.getLogger("usage_async").warning("later")

    assert piped.getvalue() == ""


# -- summary ------------------------------------------------------------------------------


def test_summary_sums_money_exactly_by_project_and_by_line_item() -> None:
    summary = Summary(0, None)
    for value, project, item in (("0.1", "p1", "a"), ("0.2", "p1", "b"), ("0.7", "p2", "a")):
        summary.add_cost(
            row(
                amount_value=Decimal(value),
                amount_currency="usd",
                project_id=project,
                line_item=item,
            )
        )

    usd = summary.to_json()["costs"]["usd"]

    assert usd["total"] == "1.0"
    assert usd["by_project_id"] == {"p2": "0.7", "p1": "0.3"}
    assert usd["by_line_item"] == {"a": "0.8", "b": "0.2"}


def test_summary_reports_a_gauge_from_its_latest_bucket_not_a_sum() -> None:
    summary = Summary(0, None)
    for level in (100, 250):
        latest: dict[str, int] = {}
        summary.add_usage("vector_stores", {"usage_bytes": level, "project_id": "p"}, latest)
        assert latest == {"usage_bytes": level}


async def test_summary_asks_the_endpoints_concurrently_grouped_for_its_tables() -> None:
    async def handler(request: web.Request, n: int) -> Any:
        # Answer nothing before a second request is in flight: one by one never gets here.
        # (How many go at once is the client's business: its slow start and max_concurrency.)
        await asyncio.wait_for(server.wait_for_requests(2), timeout=30)
        return page([])

    async with ScriptedServer(handler=handler) as server:
        code = await asyncio.to_thread(
            main,
            ["summary", "--since", "7d", "--no-names", "--base-url", server.base_url,
             "--api-key", KEY],
        )  # fmt: skip

    assert code == 0
    assert server.max_in_flight >= 2
    assert len(server.requests) == len(ENDPOINTS)
    queries = {r.path.rsplit("/", 1)[-1]: r.query for r in server.requests}
    assert ("group_by", "project_id") in queries["costs"]
    assert ("group_by", "line_item") in queries["costs"]
    assert ("limit", "180") in queries["costs"]
    assert ("group_by", "model") in queries["completions"]
    assert ("limit", "31") in queries["completions"]
    assert not any(key == "group_by" for key, _ in queries["vector_stores"])
