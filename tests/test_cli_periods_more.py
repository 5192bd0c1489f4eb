"""Period names in ``--since`` on ``report``, ``export`` and ``query`` (spend and usage): the
same names with the same meaning as on the endpoint commands (both ends of the range unless
``--until``), the grammar in ``--help``, and a bad value refused with exit 2 listing the forms.

In-process through ``main()``: against ``--fake`` with a fixed clock (what each command says
it covered), against the simulator on a thread (the requests' ``start_time``/``end_time``),
and against a database ``sync --fake`` filled (``query`` and ``export --db`` read the real
clock, as they do for a user).
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import time
from pathlib import Path

import pytest

from usage_async.cli import main
from usage_async.cli._common import iso
from usage_async.localtime import load_zone, local_day
from usage_async.periods import period
from usage_async.testing import FakeUsageServer

UTC = dt.timezone.utc
BERLIN = "Europe/Berlin"
SPRING_NOW = "2025-04-02T12:00:00Z"  # last-month is March 2025, 31 UTC days


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``usage-async ARGV`` in-process: exit code, stdout, stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own refusals, and --help
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def last_week() -> tuple[str, str]:
    """Last ISO week's UTC bounds by the real clock, as the commands print them."""
    named = period("last-week", now=time.time())
    return iso(named.start_time), iso(named.end_time)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database of the simulator's last 15 days (real clock): costs, and completions in
    1h buckets (``query usage --tz`` sums them into local days)."""
    folder = tmp_path_factory.mktemp("periods")
    url = f"sqlite:///{folder}/usage.db"
    code = main([
        "sync", "--fake", "--db", url, "--since", "15d", "--endpoints", "costs", "completions",
        "--bucket-width", "completions=1h", "--no-names", "--progress", "none",
        "--format", "json", "-o", str(folder / "sync.json"),
    ])  # fmt: skip
    assert code == 0
    return url


# -- report -----------------------------------------------------------------------------------


def test_report_since_last_month_covers_that_months_utc_days(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    page = tmp_path / "march.html"
    code, _, err = run(
        capsys, "report", "--fake", "--fake-now", SPRING_NOW, "--no-names",
        "--since", "last-month", "-o", str(page),
    )  # fmt: skip
    assert code == 0, err
    assert err == f"usage-async report: wrote {page} (costs of UTC days 2025-03-01 to 2025-04-01)\n"


def test_report_since_a_period_to_date_runs_up_to_now(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "report", "--fake", "--fake-now", SPRING_NOW, "--no-names",
        "--since", "month", "-o", str(tmp_path / "april.html"),
    )  # fmt: skip
    assert code == 0, err
    assert "(costs of UTC days 2025-04-01 to 2025-04-02T12:00:00Z)" in err


def test_report_until_wins_over_the_periods_end(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "report", "--fake", "--fake-now", SPRING_NOW, "--no-names",
        "--since", "last-month", "--until", "2025-03-10", "-o", str(tmp_path / "r.html"),
    )  # fmt: skip
    assert code == 0, err
    assert "(costs of UTC days 2025-03-01 to 2025-03-10)" in err


@pytest.mark.fake_usage_server(seed=0)
def test_report_asks_the_api_for_the_periods_days(
    fake_usage_server: FakeUsageServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "report", "--since", "last-week", "--no-names", "-o", str(tmp_path / "r.html"),
        "--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key,
    )  # fmt: skip
    assert code == 0, err
    week = period("last-week", now=time.time())
    tokens = [r.params() for r in fake_usage_server.requests if r.path.endswith("/completions")]
    assert tokens
    assert {(p["start_time"][0], p["end_time"][0]) for p in tokens} == {
        (str(week.start_time), str(week.end_time))
    }


# -- export -----------------------------------------------------------------------------------


def test_export_since_last_month_writes_that_months_days(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "march.csv"
    code, _, err = run(
        capsys, "export", "--fake", "--fake-now", SPRING_NOW, "--since", "last-month",
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, err
    assert "buckets from 2025-03-01T00:00:00Z to 2025-04-01T00:00:00Z" in err
    with out.open(newline="") as f:
        days = sorted({row["start_time"] for row in csv.DictReader(f)})
    assert (days[0], days[-1], len(days)) == ("2025-03-01T00:00:00Z", "2025-03-31T00:00:00Z", 31)


def test_export_from_a_database_reads_the_periods_days(
    db: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(
        capsys, "export", "--db", db, "--since", "last-week", "-o", str(tmp_path / "w.csv")
    )
    assert code == 0, err
    start, end = last_week()
    assert f"buckets from {start} to {end})" in err


# -- query ------------------------------------------------------------------------------------


def test_query_spend_since_last_week_sums_that_week(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "query", "spend", "--db", db, "--by", "day", "--since", "last-week",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    start, end = last_week()
    assert f"buckets from {start} to {end}" in err
    assert len({row["day"] for row in json.loads(out)}) == 7


def test_query_usage_since_yesterday_is_one_utc_day(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "query", "usage", "--db", db, "--since", "yesterday", "--format", "json"
    )
    assert code == 0, err
    named = period("yesterday", now=time.time())
    assert f"buckets from {iso(named.start_time)} to {iso(named.end_time)}, into UTC days" in err
    assert {row["day"] for row in json.loads(out)} == {named.start.isoformat()}


def test_query_usage_with_tz_takes_the_periods_days_in_that_zone(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(
        capsys, "query", "usage", "--db", db, "--tz", BERLIN, "--since", "yesterday",
        "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    named = period("yesterday", tz=BERLIN, now=time.time())
    assert named.start_time % 86400 != 0  # Berlin's midnight is not UTC's
    assert f"buckets from {iso(named.start_time)} to {iso(named.end_time)}" in err
    assert {row["day"] for row in json.loads(out)} == {named.start.isoformat()}


def test_query_usage_with_tz_reads_a_bare_date_as_that_zones_day(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    day = dt.datetime.now(UTC).date() - dt.timedelta(days=5)
    code, out, err = run(
        capsys, "query", "usage", "--db", db, "--tz", BERLIN, "--since", day.isoformat(),
        "--until", (day + dt.timedelta(days=1)).isoformat(), "--format", "json",
    )  # fmt: skip
    assert code == 0, err
    start, end = local_day(day, load_zone(BERLIN))
    assert f"buckets from {iso(start)} to {iso(end)}" in err
    assert {row["day"] for row in json.loads(out)} == {day.isoformat()}


# -- help and bad values ----------------------------------------------------------------------

COMMANDS = [("report",), ("export",), ("query", "spend"), ("query", "usage")]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_shows_the_period_grammar(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, *command, "--help")
    assert code == 0
    assert "--since also takes a period name" in out
    assert "last-month" in out


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_bad_since_exits_2_in_one_line_listing_the_forms(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys, *command, "--since", "fortnight", "-o", str(tmp_path / "x.csv"), "--db", "nowhere"
    )
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert "--since" in err
    assert "'fortnight' is not a time or a period" in err
    assert "2025-01-01" in err
    assert "last-week" in err
