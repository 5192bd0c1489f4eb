"""The ``usage-async`` console script end to end: real subprocesses, loopback servers only.

The runs that need nothing but ``--fake`` start together once per module (``runs``), each
on a fixed past range with a fixed seed, so their output is the same on every run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from usage_async import CostsResult, UsageClient, columns
from usage_async.cli._output import decimal_text
from usage_async.testing import FakeUsageServer

SCRIPT = Path(sys.executable).parent / "usage-async"
RANGE = ("--since", "2025-01-01", "--until", "2025-01-04")  # three whole past days
COSTS_CSV = (
    "costs", "--fake", "--seed", "0", *RANGE,
    "--group-by", "project_id,line_item", "--format", "csv",
)  # fmt: skip
TIMEOUT = 60


def env_without_key() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OPENAI_ADMIN_KEY"}


def start(*args: str, module: bool = False, stderr: int = subprocess.PIPE) -> subprocess.Popen[str]:
    """Start the console script (or ``python -m usage_async``), stdout piped."""
    command = [sys.executable, "-m", "usage_async"] if module else [str(SCRIPT)]
    return subprocess.Popen(  # noqa: S603 - our own console script, fixed arguments
        [*command, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env_without_key(),
    )


def run(*args: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    proc = start(*args, module=module)
    out, err = proc.communicate(timeout=TIMEOUT)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def assert_one_error_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("usage-async: error: ") or " error: " in lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Independent runs, started together (each is mostly interpreter start-up)."""
    out_file = tmp_path_factory.mktemp("cli") / "costs.csv"
    commands = {
        "costs_csv": (COSTS_CSV, False),
        "costs_csv_module": (COSTS_CSV, True),
        "costs_csv_file": ((*COSTS_CSV, "-o", str(out_file)), False),
        "costs_jsonl": (("costs", "--fake", *RANGE, "--group-by", "project_id,line_item",
                         "--format", "jsonl"), False),
        "costs_table": (("costs", "--fake", *RANGE, "--group-by", "project_id"), False),
        "summary_json": (("summary", "--fake", *RANGE, "--format", "json"), False),
        "summary_text": (("summary", "--fake"), False),
        "missing_key": (("costs", "--since", "30d"), False),
        "bad_group_by": (("costs", "--fake", "--since", "30d", "--group-by", "model"), False),
    }  # fmt: skip
    procs = {name: start(*args, module=module) for name, (args, module) in commands.items()}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=TIMEOUT)
        results[name] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    results["costs_csv_file"].stdout = out_file.read_text("utf-8")
    return results


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


# -- formats ------------------------------------------------------------------------------


def test_csv_has_the_row_columns_as_its_header_with_the_group_by_columns_first(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["costs_csv"]

    assert result.returncode == 0, result.stderr
    header = next(csv.reader(io.StringIO(result.stdout)))
    rest = [c for c in columns(CostsResult) if c not in ("project_id", "line_item")]
    assert header == [*rest[:2], "project_id", "project_name", "line_item", *rest[2:]]


async def test_csv_holds_every_result_with_the_exact_decimal_amounts_the_library_reads(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    async with (
        FakeUsageServer(seed=0) as server,
        UsageClient(server.api_key, base_url=server.base_url) as client,
    ):
        buckets = await client.costs.collect(
            start_time=1_735_689_600, end_time=1_735_948_800, group_by=["project_id", "line_item"]
        )
    expected = [
        (r.project_id, r.line_item, decimal_text(r.amount.value))
        for b in buckets
        for r in b.results
        if isinstance(r, CostsResult) and r.amount is not None
    ]

    got = [
        (row["project_id"], row["line_item"], row["amount_value"])
        for row in csv_rows(runs["costs_csv"].stdout)
    ]

    assert got == expected
    assert len(got) > 100
    assert all("e" not in amount.lower() for _, _, amount in got)  # plain digits, no float


def test_csv_gives_bucket_times_as_iso_utc_and_a_missing_value_as_empty(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    first = csv_rows(runs["costs_csv"].stdout)[0]

    assert first["start_time"] == "2025-01-01T00:00:00Z"
    assert first["end_time"] == "2025-01-02T00:00:00Z"
    assert first["api_key_id"] == ""


def test_jsonl_is_one_json_object_per_row_with_money_as_a_string_and_null_for_missing(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["costs_jsonl"]
    assert result.returncode == 0, result.stderr

    objects = [json.loads(line) for line in result.stdout.splitlines()]
    amounts = [row["amount_value"] for row in csv_rows(runs["costs_csv"].stdout)]

    assert [o["amount_value"] for o in objects] == amounts
    assert all(isinstance(o["amount_value"], str) for o in objects)
    assert objects[0]["api_key_id"] is None
    assert objects[0]["start_time"] == "2025-01-01T00:00:00Z"
    assert set(objects[0]) == {*columns(CostsResult), "project_name"}


def test_table_has_a_header_and_leaves_out_columns_that_are_empty_everywhere(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["costs_table"]
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()

    assert lines[0].split() == [
        "start_time", "end_time", "project_id", "project_name", "amount_value", "amount_currency",
    ]  # fmt: skip
    assert set(lines[1]) == {"-", " "}
    assert lines[2].startswith("2025-01-01T00:00:00Z  2025-01-02T00:00:00Z")


def test_output_file_gets_what_stdout_would_and_stdout_stays_empty(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["costs_csv_file"]

    assert result.returncode == 0, result.stderr
    assert result.stdout == runs["costs_csv"].stdout  # the fixture put the file's text there


def test_python_dash_m_runs_the_same_command_line(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    assert runs["costs_csv_module"].returncode == 0, runs["costs_csv_module"].stderr
    assert runs["costs_csv_module"].stdout == runs["costs_csv"].stdout


# -- summary ------------------------------------------------------------------------------


def test_summary_json_totals_are_the_exact_sums_of_the_costs_rows(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["summary_json"]
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = csv_rows(runs["costs_csv"].stdout)
    by_project: dict[str, Decimal] = {}
    for row in rows:
        value = Decimal(row["amount_value"])
        by_project[row["project_id"]] = by_project.get(row["project_id"], Decimal(0)) + value

    usd = summary["costs"]["usd"]
    assert Decimal(usd["total"]) == sum(by_project.values())
    assert {k: Decimal(v) for k, v in usd["by_project_id"].items()} == by_project
    assert sum(Decimal(v) for v in usd["by_line_item"].values()) == Decimal(usd["total"])
    assert summary["since"] == "2025-01-01T00:00:00Z"
    assert summary["buckets"] == {
        "width": "1d", "start": "2025-01-01T00:00:00Z", "end": "2025-01-04T00:00:00Z"
    }  # fmt: skip
    assert summary["requests_by_endpoint"]["completions"]["count"] > 0
    assert summary["requests_by_endpoint"]["completions"]["counter"] == "num_model_requests"
    assert "vector_stores" not in summary["requests_by_endpoint"]
    assert summary["storage"]["vector_stores"]["usage_bytes"] > 0
    assert summary["tokens_by_model"]


def test_summary_fake_prints_a_report_of_the_last_30_days(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    result = runs["summary_text"]
    assert result.returncode == 0, result.stderr
    text = result.stdout
    day = 86400
    possible = {
        (
            time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(t - 30 * day)),
            time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(t + day)),
        )
        for t in (time.time() - 600, time.time())  # the run started a moment ago
    }

    head = text.splitlines()[0]
    assert any(
        head.startswith(f"Usage and costs of 31 UTC days, {since} to {until} (the last day")
        for since, until in possible
    ), head
    for title in (
        "Cost by project (usd, UTC days)", "Cost by line item (usd, UTC days)", "Tokens by model"
    ):  # fmt: skip
        assert title in text
    requests = text.split("Requests by endpoint\n")[1].split("\n\n")[0]
    for endpoint in ("completions", "embeddings", "web_search_calls"):
        assert f"  {endpoint} " in requests
    assert "vector_stores" not in requests  # a level, reported apart
    assert "  vector_stores " in text.split("Storage at the end of the last bucket")[1]


# -- errors -------------------------------------------------------------------------------


def test_no_key_and_no_fake_is_one_line_naming_the_variable_and_fake_with_exit_2(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    line = assert_one_error_line(runs["missing_key"], 2)

    assert "OPENAI_ADMIN_KEY" in line
    assert "--fake" in line
    assert runs["missing_key"].stdout == ""


def test_a_bad_group_by_is_one_line_naming_the_allowed_values_with_exit_2(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    line = assert_one_error_line(runs["bad_group_by"], 2)

    assert "--group-by" in line
    assert "'model'" in line
    assert "project_id, line_item, api_key_id" in line


@pytest.mark.fake_usage_server(seed=0)
def test_an_api_failure_is_one_line_with_exit_1(fake_usage_server: FakeUsageServer) -> None:
    fake_usage_server.script(500, 500)

    result = run(
        "costs", *RANGE, "--retries", "0", "--format", "csv",
        "--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key,
    )  # fmt: skip

    line = assert_one_error_line(result, 1)
    assert "HTTP 500" in line


def test_a_refused_connection_is_one_line_with_exit_1() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this socket is closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]

    result = run(
        "costs", "--since", "1d", "--retries", "0",
        "--base-url", f"http://127.0.0.1:{port}/v1", "--api-key", "sk-admin-x",
    )  # fmt: skip

    line = assert_one_error_line(result, 1)
    assert "connect" in line.lower()


@pytest.mark.fake_usage_server(seed=0)
def test_csv_rows_before_a_failure_are_written_and_the_error_says_where_to_go_on(
    fake_usage_server: FakeUsageServer,
) -> None:
    fake_usage_server.script(200, 500)  # page 1 (one day, --limit 1), then a failure

    result = run(
        "costs", *RANGE, "--limit", "1", "--retries", "0", "--format", "csv",
        "--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key,
    )  # fmt: skip

    line = assert_one_error_line(result, 1)
    assert "--since 2025-01-02T00:00:00Z" in line
    days = {row["start_time"] for row in csv_rows(result.stdout)}
    assert days == {"2025-01-01T00:00:00Z"}


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    proc = start(
        "costs", "--fake", "--since", "2025-01-01", "--until", "2025-03-01",
        "--group-by", "project_id,line_item", "--format", "csv",
    )  # fmt: skip
    assert proc.stdout is not None
    assert proc.stderr is not None
    header = proc.stdout.readline()  # far more than a pipe holds follows: writes will fail
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read()
    proc.wait(timeout=TIMEOUT)

    assert header.startswith("start_time,end_time,")
    assert err == ""
    assert proc.returncode == 141


# -- serve --------------------------------------------------------------------------------


def test_serve_prints_its_address_answers_the_cli_and_stops_quietly_on_ctrl_c(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    server = start("serve", "--port", "0", "--seed", "0")
    try:
        assert server.stdout is not None
        assert server.stderr is not None
        base_url = server.stdout.readline().removeprefix("base_url: ").strip()
        api_key = server.stdout.readline().removeprefix("api_key: ").strip()
        assert base_url.startswith("http://127.0.0.1:")
        assert api_key.startswith("sk-admin-")

        args = [a for a in COSTS_CSV if a not in ("--fake",)]
        result = run(*args, "--base-url", base_url, "--api-key", api_key)

        assert result.returncode == 0, result.stderr
        assert result.stdout == runs["costs_csv"].stdout  # the same seed: the same rows
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=TIMEOUT) == 130
        assert server.stderr.read() == ""
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        with contextlib.suppress(Exception):
            server.stdout.close()  # type: ignore[union-attr]
            server.stderr.close()  # type: ignore[union-attr]


# -- progress -----------------------------------------------------------------------------


@contextlib.contextmanager
def tty_stderr() -> Iterator[tuple[int, list[bytes]]]:
    """A pseudo-terminal for a child's stderr: yields its slave fd and what the master reads."""
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def pump() -> None:
        while True:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: every copy of the slave end is closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=pump)
    reader.start()
    try:
        yield slave, chunks
    finally:
        with contextlib.suppress(OSError):
            os.close(slave)
        reader.join(timeout=TIMEOUT)
        os.close(master)


def run_on_tty(*args: str) -> tuple[int, str, str]:
    """Run with stderr on a terminal: exit code, stdout, and what the terminal showed."""
    with tty_stderr() as (slave, chunks):
        proc = start(*args, stderr=slave)
        os.close(slave)
        out, _ = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, b"".join(chunks).decode()


def test_progress_shows_pages_and_buckets_when_stderr_is_a_terminal() -> None:
    code, out, terminal = run_on_tty("costs", "--fake", *RANGE, "--format", "csv")

    assert code == 0
    assert "\rcosts: 1 page, 3 buckets, 0 retries" in terminal
    assert terminal.endswith("\r\x1b[K")  # the line is cleared at the end
    assert out.startswith("start_time,")


def test_nothing_extra_goes_to_stderr_when_it_is_piped(
    runs: dict[str, subprocess.CompletedProcess[str]],
) -> None:
    assert runs["costs_csv"].stderr == ""
    assert runs["summary_text"].stderr == ""


@pytest.mark.fake_usage_server(seed=0)
def test_progress_counts_retries_on_a_terminal(fake_usage_server: FakeUsageServer) -> None:
    fake_usage_server.script(500)  # one failure, then the real answer

    code, _, terminal = run_on_tty(
        "costs", *RANGE, "--format", "csv",
        "--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key,
    )  # fmt: skip

    assert code == 0
    assert "1 retry" in terminal
    assert "warning" not in terminal


@pytest.mark.fake_usage_server(seed=0)
def test_a_retry_is_one_plain_warning_line_when_stderr_is_piped(
    fake_usage_server: FakeUsageServer,
) -> None:
    fake_usage_server.script(500)

    result = run(
        "costs", *RANGE, "--format", "csv",
        "--base-url", fake_usage_server.base_url, "--api-key", fake_usage_server.api_key,
    )  # fmt: skip

    assert result.returncode == 0
    [line] = result.stderr.splitlines()
    assert line.startswith("usage-async: warning: retrying /organization/costs after ")
    assert "status 500" in line
