"""The command line's conventions, as a user meets them: real subprocesses of the console
script, the simulator on a thread (``fake_usage_server``) or ``--fake``.

Files are written whole or not at all, formats follow the file name, errors speak in options
and ISO times, options are never abbreviated, every command's help has examples that run.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from usage_async.cli import build_parser, commands
from usage_async.cli._output import OutputSpec, Target, write_rows
from usage_async.testing import FakeUsageServer

SCRIPT = str(Path(sys.executable).parent / "usage-async")
NOW = "2025-03-15T12:00:00Z"
FAKE = ("--fake", "--fake-now", NOW)
RANGE = ("--since", "2025-03-01", "--until", "2025-03-04")  # three whole UTC days
TIMEOUT = 60


def usage_async(
    *args: str, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run the console script; the environment has no key unless ``env`` gives one."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "USAGE_ASYNC_"))}
    environ.update(env)
    return subprocess.run(  # noqa: S603 - our own console script
        [SCRIPT, *args],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        cwd=cwd,
        env=environ,
    )


def one_error(result: subprocess.CompletedProcess[str], code: int, command: str) -> str:
    """The one line of a failed run, checked: its exit code, its prefix, no traceback."""
    assert result.returncode == code, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"usage-async {command}: error: "), lines[0]
    return lines[0]


def api(server: FakeUsageServer, key: str | None = None) -> tuple[str, ...]:
    return ("--base-url", server.base_url, "--api-key", key or server.api_key)


# -- 1. a file is written whole, or not at all ------------------------------------------------


def test_a_failed_run_leaves_an_existing_output_file_as_it_was(
    fake_usage_server: FakeUsageServer, tmp_path: Path
) -> None:
    out = tmp_path / "costs.csv"
    out.write_text("yesterday's rows\n", encoding="utf-8")

    result = usage_async(
        "costs", *api(fake_usage_server, "sk-admin-wrong"), "--since", "3d", "-o", str(out)
    )

    one_error(result, 1, "costs")
    assert out.read_text(encoding="utf-8") == "yesterday's rows\n"
    assert os.listdir(tmp_path) == ["costs.csv"]  # no temporary file left behind


@pytest.mark.fake_usage_server(now=1741996800)  # 2025-03-15T00:00:00Z
def test_a_run_cut_midway_keeps_its_rows_and_append_completes_the_file(
    fake_usage_server: FakeUsageServer, tmp_path: Path
) -> None:
    out = tmp_path / "costs.csv"
    whole = usage_async(
        "costs",
        *api(fake_usage_server),
        *RANGE,
        "--group-by",
        "project_id",
        "--no-names",  # the scripted 401 is for a page of costs, not for a list of names
        "--limit",
        "1",
        "-o",
        str(tmp_path / "whole.csv"),
    )
    assert whole.returncode == 0, whole.stderr
    out.write_text("an older file\n", encoding="utf-8")

    fake_usage_server.script(200, 200, 401)  # the third page fails, and is not retried
    cut = usage_async(
        "costs",
        *api(fake_usage_server),
        *RANGE,
        "--group-by",
        "project_id",
        "--no-names",  # the scripted 401 is for a page of costs, not for a list of names
        "--limit",
        "1",
        "-o",
        str(out),
    )

    line = one_error(cut, 1, "costs")
    hint = re.search(r"to go on: (--since \S+ --append -o \S+)\)", line)
    assert hint is not None, line
    assert f"{out} holds the rows before 2025-03-03T00:00:00Z" in line
    rest = usage_async(
        "costs",
        *api(fake_usage_server),
        *shlex.split(hint[1]),
        "--until",
        "2025-03-04",
        "--group-by",
        "project_id",
        "--no-names",  # the scripted 401 is for a page of costs, not for a list of names
        "--limit",
        "1",
    )
    assert rest.returncode == 0, rest.stderr
    assert out.read_text(encoding="utf-8") == (tmp_path / "whole.csv").read_text(encoding="utf-8")


def test_append_refuses_a_file_with_other_columns_before_any_request(
    fake_usage_server: FakeUsageServer, tmp_path: Path
) -> None:
    out = tmp_path / "mine.csv"
    out.write_text("a,b\n1,2\n", encoding="utf-8")
    before = len(fake_usage_server.requests)

    result = usage_async(
        "costs", *api(fake_usage_server), "--since", "3d", "--append", "-o", str(out)
    )

    assert "has the columns a,b" in one_error(result, 2, "costs")
    assert out.read_text(encoding="utf-8") == "a,b\n1,2\n"
    assert len(fake_usage_server.requests) == before


async def test_a_failed_write_names_the_file() -> None:
    class Full(io.StringIO):
        def write(self, text: str) -> int:
            raise OSError(28, "No space left on device")

    target = Target(OutputSpec("jsonl", path="/data/out.jsonl"))
    target.stream = Full()

    async def rows() -> Any:
        yield {"a": 1}

    with pytest.raises(Exception, match=r"cannot write /data/out.jsonl: No space left on device"):
        await write_rows(target, ["a"], rows())


# -- 2. the format is the file's ---------------------------------------------------------------


@pytest.mark.parametrize("name", ["out.csv", "out.json", "out.jsonl"])
def test_the_format_follows_the_file_name(tmp_path: Path, name: str) -> None:
    result = usage_async(
        "costs", *FAKE, *RANGE, "--group-by", "project_id", "-o", name, cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr
    text = (tmp_path / name).read_text(encoding="utf-8")
    if name.endswith(".csv"):
        rows = list(csv.DictReader(io.StringIO(text)))
    elif name.endswith(".jsonl"):
        rows = [json.loads(line) for line in text.splitlines()]
    else:
        rows = json.loads(text)
    assert len(rows) > 3
    assert all(row["project_id"].startswith("proj_") for row in rows)
    assert result.stdout == ""


def test_dash_is_standard_output(tmp_path: Path) -> None:
    result = usage_async("costs", *FAKE, *RANGE, "-o", "-", "--format", "jsonl", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])["object"] == "organization.costs.result"
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-o", "json"), "-o json would write a file named 'json': did you mean --format json?"),
        (("--output", "csv"), "did you mean --format csv?"),
        (("-o", "x.csv", "--format", "jsonl"), "--format jsonl conflicts with -o x.csv"),
        (("--append",), "--append needs -o FILE"),
        (("-o", "x.json", "--append"), "--append works with csv and jsonl, not json"),
        (("-o", "no/such/folder/x.csv"), "the folder"),
        (("--fields", "start_time,nope"), "--fields: no column 'nope'; columns: start_time,"),
    ],
)
def test_output_options_that_cannot_work_are_refused_before_any_request(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = usage_async("costs", *FAKE, *RANGE, *args, cwd=tmp_path)

    assert message in one_error(result, 2, "costs")
    assert os.listdir(tmp_path) == []


# -- 3. one set of formats everywhere ----------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_every_data_command_takes_every_format(fmt: str) -> None:
    for command in ("costs", "summary"):
        result = usage_async(command, *FAKE, *RANGE, "--format", fmt)
        assert result.returncode == 0, (command, result.stderr)
        assert result.stdout.strip()


def test_sync_reports_and_query_answers_in_every_format(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/u.db"
    sync = ("sync", *FAKE, "--since", "3d", "--endpoints", "costs", "--db", db)
    as_json = usage_async(*sync, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    assert report["ok"] is True
    assert [e["endpoint"] for e in report["endpoints"]] == ["costs"]
    assert report["endpoints"][0]["start"].endswith("T00:00:00Z")  # ISO, not Unix seconds
    again = usage_async(*sync, "--format", "csv", "--fields", "endpoint,inserted")
    assert again.stdout.splitlines() == ["endpoint,inserted", "costs,0"]
    lines = usage_async(*sync, "--progress", "lines", "--format", "jsonl")
    assert re.search(r"^start costs 1d from \d{4}-\d\d-\d\dT00:00:00Z", lines.stderr, re.M)

    for fmt in ("table", "csv", "json", "jsonl"):
        answer = usage_async("query", "spend", "--db", db, "--format", fmt)
        assert answer.returncode == 0, answer.stderr
        assert "proj_" in answer.stdout
    jsonl = usage_async("query", "spend", "--db", db, "--format", "jsonl", "--fields", "amount")
    assert all(set(json.loads(line)) == {"amount"} for line in jsonl.stdout.splitlines())


def test_summary_csv_holds_the_same_totals_as_its_json() -> None:
    as_json = json.loads(usage_async("summary", *FAKE, *RANGE, "--format", "json").stdout)
    rows = list(
        csv.DictReader(io.StringIO(usage_async("summary", *FAKE, *RANGE, "--format", "csv").stdout))
    )

    totals = [r for r in rows if r["section"] == "cost_total"]
    assert [(r["currency"], r["value"]) for r in totals] == [
        (currency, costs["total"]) for currency, costs in as_json["costs"].items()
    ]
    assert {r["start"] for r in rows} == {"2025-03-01T00:00:00Z"}
    assert {r["end"] for r in rows} == {"2025-03-04T00:00:00Z"}


# -- 4. summary says the range it summed -------------------------------------------------------


def test_summary_floors_times_within_a_day_says_so_and_sums_what_it_says() -> None:
    result = usage_async(
        "summary",
        *FAKE,
        "--since",
        "2025-03-01T05:00:00+02:00",
        "--until",
        "2025-03-04T18:30:00Z",
        "--format",
        "json",
    )

    assert result.returncode == 0, result.stderr
    notes = result.stderr.splitlines()
    assert notes == [
        "usage-async summary: note: --since 2025-03-01T03:00:00Z is within a UTC day: summing "
        "from 2025-03-01T00:00:00Z, the start of its bucket",
        "usage-async summary: note: --until 2025-03-04T18:30:00Z is within a UTC day: summing "
        "to 2025-03-04T00:00:00Z, the end of the last whole day before it",
    ]
    summary = json.loads(result.stdout)
    assert summary["buckets"]["start"] == "2025-03-01T00:00:00Z"
    assert summary["buckets"]["end"] == "2025-03-04T00:00:00Z"
    costs = usage_async("costs", *FAKE, *RANGE, "--format", "csv")
    exact = sum(
        (Decimal(r["amount_value"]) for r in csv.DictReader(io.StringIO(costs.stdout))),
        Decimal(0),
    )
    assert Decimal(summary["costs"]["usd"]["total"]) == exact


def test_summary_text_names_the_days_it_covers_and_that_costs_are_utc_days() -> None:
    result = usage_async("summary", *FAKE, *RANGE)

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Usage and costs of 3 UTC days, 2025-03-01T00:00:00Z to 2025-03-04T00:00:00Z"
    assert "Cost by project (usd, UTC days)" in result.stdout


# -- 5. errors in the command line's own words -------------------------------------------------


def test_a_plain_http_base_url_error_names_the_option_not_the_python_parameter() -> None:
    result = usage_async(
        "costs", "--since", "3d", "--base-url", "http://usage.example/v1", "--api-key", "sk-admin-x"
    )

    line = one_error(result, 2, "costs")
    assert "--base-url" in line
    assert "--allow-http" in line
    assert "allow_http" not in line
    assert "base_url" not in line


# -- 6. no abbreviations, and a "did you mean" ------------------------------------------------


@pytest.mark.parametrize(
    ("args", "command", "message"),
    [
        (
            ("costs", "--fa", "--since", "3d"),
            "costs",
            "unrecognized arguments: --fa (did you mean --fake?)",
        ),
        (
            ("summary", "--fake", "--sinse", "3d"),
            "summary",
            "unrecognized arguments: --sinse 3d (did you mean --since?)",
        ),
        (("costs", "--fake", "--since", "3d", "--format", "cvs"), "costs", "invalid choice: 'cvs'"),
    ],
)
def test_options_are_never_abbreviated_and_a_misspelt_one_gets_a_suggestion(
    args: tuple[str, ...], command: str, message: str
) -> None:
    line = one_error(usage_async(*args), 2, command)
    assert message in line
    if "cvs" in args:
        assert "(did you mean csv?)" in line


def test_an_unknown_command_gets_a_suggestion() -> None:
    result = usage_async("sumary", "--fake")

    assert result.returncode == 2
    assert "invalid choice: 'sumary'" in result.stderr
    assert "(did you mean summary?)" in result.stderr


# -- 8. impossible times -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("since", "message"),
    [
        (
            "2026-01-01",
            "--since 2026-01-01T00:00:00Z is in the future (now is 2025-03-15T12:00:00Z)",
        ),
        ("1741996800000", "as milliseconds it is 2025-03-15T00:00:00Z; give seconds (1741996800)"),
        ("1969-07-20", "'1969-07-20' is before 1970"),
    ],
)
def test_an_impossible_time_exits_2_with_a_hint(since: str, message: str) -> None:
    for command in ("costs", "summary"):
        assert message in one_error(usage_async(command, *FAKE, "--since", since), 2, command)


# -- 9. readable tables --------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv", "json", "jsonl"])
def test_fields_chooses_the_columns_and_their_order_in_every_format(fmt: str) -> None:
    result = usage_async(
        "costs",
        *FAKE,
        *RANGE,
        "--group-by",
        "project_id",
        "--fields",
        "amount_value,project_id,start_time",
        "--format",
        fmt,
    )

    assert result.returncode == 0, result.stderr
    text = result.stdout
    if fmt == "table":
        assert text.splitlines()[0].split() == ["amount_value", "project_id", "start_time"]
    elif fmt == "csv":
        assert text.splitlines()[0] == "amount_value,project_id,start_time"
    else:
        first = json.loads(text)[0] if fmt == "json" else json.loads(text.splitlines()[0])
        assert list(first) == ["amount_value", "project_id", "start_time"]


def test_a_table_of_chosen_fields_with_no_rows_says_so() -> None:
    result = usage_async(
        "costs", *FAKE, "--since", "2020-01-01", "--until", "2020-01-03",
        "--fields", "start_time,amount_value",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stdout == "(no rows: every bucket in the range is empty)\n"


def test_group_columns_come_first_in_the_order_given() -> None:
    result = usage_async(
        "completions", *FAKE, *RANGE, "--group-by", "model,project_id", "--format", "csv"
    )

    assert result.stdout.splitlines()[0].startswith("start_time,end_time,model,project_id,")


# -- 10. environment and options a platform team expects ---------------------------------------


def test_organization_and_base_url_come_from_the_environment_or_options(
    fake_usage_server: FakeUsageServer,
) -> None:
    key = fake_usage_server.api_key
    by_env = usage_async(
        "costs",
        *RANGE,
        OPENAI_ADMIN_KEY=key,
        OPENAI_BASE_URL=fake_usage_server.base_url,
        OPENAI_ORG_ID="org-env",
    )
    by_option = usage_async("costs", *RANGE, *api(fake_usage_server), "--organization", "org-opt")

    assert by_env.returncode == by_option.returncode == 0, by_env.stderr + by_option.stderr
    sent = [r.headers.get("OpenAI-Organization") for r in fake_usage_server.requests]
    assert sent[0] == "org-env"
    assert sent[-1] == "org-opt"


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_every_command_that_takes_fake_takes_fake_now() -> None:
    with_fake = []
    for name, sub in subparsers().items():
        options = {o for action in sub._actions for o in action.option_strings}
        if "--fake" in options:
            with_fake.append(name)
            assert "--fake-now" in options, name
    assert {"costs", "summary", "sync"} <= set(with_fake)


def test_ctrl_c_during_start_up_exits_130_without_a_traceback() -> None:
    # -X importtime prints a line as each import finishes: interrupt once main() has begun
    # importing what the commands need, as the first of aiohttp's modules is in.
    with subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "usage_async", "summary", "--fake"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            if re.search(r"\|\s+aiohttp\b", line):
                proc.send_signal(signal.SIGINT)
                break
        rest = proc.stderr.read()
        proc.wait(timeout=TIMEOUT)
    assert proc.returncode == 130, rest
    assert "Traceback" not in rest
    assert "KeyboardInterrupt" not in rest


# -- 11. examples in every --help, and completion ------------------------------------------------


def test_every_command_has_examples_in_its_help_and_each_example_parses() -> None:
    parser, helps = build_parser(), subparsers()
    for command in commands():
        help_text = helps[command.name].format_help()
        assert "Examples:\n  usage-async " in help_text, command.name
        for example in command.examples:
            words = shlex.split(example, comments=True)
            assert words[0] == "usage-async"
            argv = words[1 : words.index(">") if ">" in words else None]
            parser.parse_args(argv)  # SystemExit (a failed test) if it does not parse


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash to complete in")
def test_bash_completion_completes_commands_and_options(tmp_path: Path) -> None:
    script = usage_async("completion", "bash")
    assert script.returncode == 0, script.stderr
    (tmp_path / "complete.sh").write_text(script.stdout, encoding="utf-8")
    probe = (
        f"source {tmp_path}/complete.sh\n"
        'COMP_WORDS=(usage-async sum); COMP_CWORD=1; _shtab_usage_async; echo "${COMPREPLY[@]}"\n'
        "COMP_WORDS=(usage-async costs --sin); COMP_CWORD=2; _shtab_usage_async; "
        'echo "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)  # noqa: S603, S607

    assert result.stdout.splitlines() == ["summary", "--since"]
