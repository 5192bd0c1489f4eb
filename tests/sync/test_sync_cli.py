"""The ``sync`` and ``query`` commands: output, reruns, exit codes, one-line errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sync_support import NOW, dump

from usage_async.cli import main
from usage_async.sync import SCHEMA_VERSION, open_store
from usage_async.testing import FakeUsageServer

FAKE = ["--fake", "--fake-now", str(NOW), "--since", "3d"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m usage_async ARGS`` in a fresh process."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "usage_async", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sync_fake_works_with_its_own_default_db_and_a_rerun_inserts_nothing(
    tmp_path: Path,
) -> None:
    first = run(["sync", *FAKE], tmp_path)
    assert first.returncode == 0, first.stderr
    assert (tmp_path / "usage-fake.db").exists()
    assert not (tmp_path / "usage.db").exists()  # the real data's default stays untouched
    lines = first.stdout.splitlines()
    assert lines[0].split() == [
        "endpoint", "width", "group_by", "pages", "buckets", "inserted", "changed", "deleted",
        "seconds",
    ]  # fmt: skip
    assert len(lines) == 1 + 11 + 1 + 1  # the endpoints, their total, then the names stored
    assert lines[-2].startswith("total")
    assert int(lines[-2].split()[3].replace(",", "")) > 0  # rows inserted
    assert lines[-1].startswith("names: projects ")
    again = run(["sync", *FAKE], tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-2].split()[3:6] == ["0", "0", "0"]
    assert first.stderr == again.stderr == ""  # no progress when not on a terminal


def test_query_spend_prints_a_table_csv_or_json(tmp_path: Path, capsys: Any) -> None:
    db = f"sqlite:///{tmp_path}/q.db"
    assert main(["sync", *FAKE, "--endpoints", "costs", "--db", db]) == 0
    capsys.readouterr()
    assert main(["query", "--db", db, "spend", "--by", "project"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["project_id", "project_name", "currency", "amount", "settled"]
    assert main(["query", "--db", db, "spend", "--by", "day", "--format", "csv"]) == 0
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0] == "day,currency,amount,settled"
    assert len(csv_lines) == 1 + 4  # 3 days back from noon, floored to UTC midnight
    assert main(["query", "--db", db, "spend", "--by", "line_item", "--format", "json"]) == 0
    items = json.loads(capsys.readouterr().out)
    assert {"line_item", "currency", "amount", "settled"} == set(items[0])
    assert len(items) == len({i["line_item"] for i in items}) > 1
    assert len(table) > 2


def test_query_on_a_database_without_costs_says_so(tmp_path: Path, capsys: Any) -> None:
    import asyncio

    url = f"sqlite:///{tmp_path}/e.db"

    async def make() -> None:
        async with open_store(url):
            pass

    asyncio.run(make())
    assert main(["query", "--db", url, "spend"]) == 0
    assert "no costs collected yet" in capsys.readouterr().err


def test_query_on_a_missing_database_exits_2_in_one_line_and_creates_nothing(
    tmp_path: Path,
) -> None:
    done = run(["query", "--db", "sqlite:///missing.db", "spend"], tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == "usage-async query: error: no such database: missing.db\n"
    assert list(tmp_path.iterdir()) == []


def _newer_db(tmp_path: Path) -> str:
    import asyncio

    url = f"sqlite:///{tmp_path}/newer.db"

    async def make() -> None:
        async with open_store(url) as store:
            await store.fetch(
                "UPDATE usage_async_meta SET value = '7' WHERE key = 'schema_version'"
            )

    asyncio.run(make())
    return url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--db", "mysql://localhost/x"], "unknown database URL scheme 'mysql'"),
        (["--endpoints", "completions,nope"], "unknown endpoint 'nope'"),
        (["--since", "last tuesday"], "bad time 'last tuesday'"),
        (["--since", "2025-01-01T00:00:00"], "has no UTC offset"),
        (["--bucket-width", "costs=1h"], "costs: bucket_width '1h' is not offered"),
        (["--group-by", "costs=model"], "costs: cannot group by 'model'"),
        (["--lookback", "two days"], "bad duration"),
        (["NEWER"], f"schema version 7, newer than this usage-async's ({SCHEMA_VERSION})"),
        (["NOKEY"], "no API key"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: Any, args: list[str], message: str
) -> None:
    base = ["--db", f"sqlite:///{tmp_path}/x.db"]
    if args == ["NEWER"]:
        args, base = ["--db", _newer_db(tmp_path)], []
    if args == ["NOKEY"]:
        args = []
    elif "--fake" not in args:
        args = [*args, "--fake", "--fake-now", str(NOW)]
    assert main(["sync", *base, *args]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1
    assert out.err.startswith("usage-async sync: error: ")
    assert message in out.err


@pytest.mark.fake_usage_server(seed=1)
def test_an_api_failure_exits_1_and_the_next_run_resumes(
    fake_usage_server: FakeUsageServer, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", fake_usage_server.api_key)
    url = f"sqlite:///{tmp_path}/f.db"
    args = ["sync", "--db", url, "--base-url", fake_usage_server.base_url, "--since", "2d",
            "--endpoints", "completions", "--bucket-width", "1h", "--limit", "6",
            "--retries", "0", "--no-names"]  # fmt: skip
    fake_usage_server.script(200, 200, 500)  # not retried (--retries 0): it stops at page 3
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "completions: FAILED: " in out
    assert "HTTP 500" in out
    import asyncio

    partial = asyncio.run(dump(url))
    assert len(partial["state"]) == 1
    assert main(args) == 0
    assert "FAILED" not in capsys.readouterr().out
    assert len(asyncio.run(dump(url))["completions"]) > len(partial["completions"])


LATE = ["--fake", "--fake-now", "2026-01-15T12:30:00Z", "--endpoints", "costs"]


def test_sync_stores_the_directory_and_query_spend_by_project_shows_names(tmp_path: Path) -> None:
    named, bare = f"sqlite:///{tmp_path}/n.db", f"sqlite:///{tmp_path}/b.db"
    synced = run(["sync", *LATE, "--since", "3d", "--db", named, "--format", "json"], tmp_path)
    assert synced.returncode == 0, synced.stderr
    report = json.loads(synced.stdout)
    assert report["names"]["complete"] is True
    assert report["names"]["requests"] == 14
    assert report["names"]["kinds"]["projects"]["listed"] == 6
    query = run(["query", "spend", "--by", "project", "--db", named, "--format", "csv"], tmp_path)
    assert query.returncode == 0, query.stderr
    rows = list(csv.DictReader(io.StringIO(query.stdout)))
    assert list(rows[0]) == ["project_id", "project_name", "currency", "amount", "settled"]
    assert {"Billing, EU", "Search", "'=SUM(A1:A9)"} <= {r["project_name"] for r in rows}

    without = run(["sync", *LATE, "--since", "3d", "--db", bare, "--no-names"], tmp_path)
    assert without.returncode == 0, without.stderr
    assert "names:" not in without.stdout
    query = run(["query", "spend", "--by", "project", "--db", bare, "--format", "csv"], tmp_path)
    rows = list(csv.DictReader(io.StringIO(query.stdout)))
    assert rows
    assert all(r["project_name"] == f"{r['project_id']} (unknown)" for r in rows)


def test_sync_says_in_its_report_when_grouping_by_key_moved_the_start(tmp_path: Path) -> None:
    done = run(
        ["sync", *LATE, "--since", "2025-11-01", "--group-by", "costs=project_id,api_key_id",
         "--no-names", "--db", f"sqlite:///{tmp_path}/k.db"],
        tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert (
        "costs: --since 2025-11-01T00:00:00Z moved to 2025-12-06T00:00:00Z: the API groups "
        "costs by api_key_id only for windows from then on (as observed)"
    ) in done.stdout.splitlines()
