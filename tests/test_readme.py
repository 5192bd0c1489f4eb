"""The README's examples run: each Python block is executed, and its functions are called
against the simulator; its command lines with --fake run as subprocesses."""

from __future__ import annotations

import functools
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from helpers import readme_blocks, readme_example

import usage_async as ua
from usage_async.testing import FakeUsageServer, Faults

NOW = 1_736_944_200  # 2025-01-15T12:30:00Z
DAY = 86_400


def test_every_python_block_compiles() -> None:
    blocks = readme_blocks("python")
    assert len(blocks) >= 4
    for block in blocks:
        compile(block, "README.md", "exec")


async def test_the_quickstart_runs_against_the_simulator(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = readme_example("main")
    async with FakeUsageServer(seed=0) as srv:
        # The example builds UsageClient() from the environment; point it at the simulator.
        namespace["UsageClient"] = functools.partial(
            ua.UsageClient, srv.api_key, base_url=srv.base_url
        )
        await namespace["main"]()
    out = capsys.readouterr().out
    assert "buckets, more:" in out
    assert re.search(r"spend: \d+\.\d+", out)
    assert "days of embeddings" in out


async def test_the_web_handler_serves_spend_by_project() -> None:
    namespace = readme_example("make_app")
    async with FakeUsageServer(seed=0) as srv:
        client = ua.UsageClient(srv.api_key, base_url=srv.base_url)
        app = namespace["make_app"](client)
        async with TestClient(TestServer(app)) as http:
            resp = await http.get("/spend", params={"days": "7"})
            assert resp.status == 200
            body = await resp.json()
        assert body
        assert all(key.startswith("proj_") for key in body)
        assert all(re.fullmatch(r"\d+\.\d+", value) for value in body.values())
        assert client._transport._session is None  # closed by the app's cleanup


async def test_the_streaming_collector_resumes_after_a_failure(tmp_path: Path) -> None:
    namespace = readme_example("export_hourly")
    start, end = NOW - 10 * DAY, NOW - 2 * DAY
    path = tmp_path / "hourly.jsonl"
    async with FakeUsageServer(seed=0, now=NOW) as srv:
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as client:
            expected = await namespace["export_hourly"](client, str(tmp_path / "ref"), start, end)
        # Page 2 fails beyond the retries (2 attempts): the example resumes from there.
        srv.faults = Faults(script=[200, 500, 500])
        policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.01)
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=policy) as client:
            rows = await namespace["export_hourly"](client, str(path), start, end)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert rows == expected == len(lines)
    keys = [(r["start"], r["model"], r["project"]) for r in lines]
    assert len(keys) == len(set(keys))  # nothing written twice
    assert min(r["start"] for r in lines) < start + 86_400
    assert max(r["start"] for r in lines) >= end - 7 * 86_400


async def test_the_fan_out_over_projects_matches_the_ungrouped_total() -> None:
    namespace = readme_example("tokens_by_project")
    start = NOW - 7 * DAY
    async with FakeUsageServer(seed=0, now=NOW) as srv:
        projects = list(srv.organization.projects)
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as client:
            by_project = await namespace["tokens_by_project"](client, projects, start)
            everything = await client.completions.collect(start_time=start, limit=31)
    total = sum(
        r.input_tokens + r.output_tokens
        for b in everything
        for r in b.results
        if isinstance(r, ua.CompletionsResult)
    )
    assert set(by_project) == set(projects)
    assert sum(by_project.values()) == total > 0


async def test_the_rows_example_prints_one_row_per_result(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await readme_example("print_costs")["print_costs"]()
    lines = capsys.readouterr().out.splitlines()
    assert lines
    assert all(re.fullmatch(r"2025-01-0[12] proj_\w+ \d+\.\d+", line) for line in lines)


async def test_the_simulator_example_prints_a_week_of_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await readme_example("requests_per_day")["requests_per_day"]()
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 9  # 8 daily buckets, then the recorded queries
    assert all(re.fullmatch(r"\d{10} \d+", line) for line in out[:8])
    assert "group_by" in out[8]


def test_the_pytest_fixture_example_passes_as_a_users_test_file_in_a_new_project(
    tmp_path: Path,
) -> None:
    # A new project: its own (empty) pytest settings, none of this repository's (such as
    # asyncio_mode = "auto"), and only what the README says to install.
    block = next(b for b in readme_blocks("python") if "def test_" in b)
    (tmp_path / "test_users_code.py").write_text(block)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_users_code.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
    assert "asyncio_mode" not in (tmp_path / "pytest.ini").read_text()


async def test_the_collector_example_syncs_and_reads_back_spend(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    namespace = readme_example("collect")
    monkeypatch.chdir(tmp_path)
    async with FakeUsageServer(seed=0) as srv:
        namespace["UsageClient"] = functools.partial(
            ua.UsageClient, srv.api_key, base_url=srv.base_url
        )
        await namespace["collect"]()
    lines = capsys.readouterr().out.splitlines()
    synced = [line.split() for line in lines if not line.startswith("proj_")]
    assert {parts[0] for parts in synced} == set(ua.ENDPOINTS)
    spend_rows = [line.split() for line in lines if line.startswith("proj_")]
    assert spend_rows
    assert all(re.fullmatch(r"\d+(\.\d+)?", parts[2]) for parts in spend_rows)
    assert all(parts[4:] != ["None"] for parts in spend_rows)  # synced with names: named


def _fake_commands() -> list[tuple[str, int]]:
    """Each ``--fake`` command line of the sh blocks, and the exit code it should give: 0,
    or the N of a ``# exits N`` comment."""
    commands = []
    for block in readme_blocks("sh"):
        for full in block.splitlines():
            line, _, comment = (part.strip() for part in full.partition("#"))
            if line.startswith("usage-async ") and "--fake" in line and "|" not in line:
                exits = re.match(r"exits (\d+)", comment)
                commands.append((line, int(exits[1]) if exits else 0))
    return commands


@pytest.mark.parametrize(("command", "code"), _fake_commands())
def test_each_fake_command_line_runs(command: str, code: int, tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "usage-async"
    argv = [str(script), *shlex.split(command)[1:]]
    done = subprocess.run(  # noqa: S603 - our own console script
        argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == code, done.stderr
    args = shlex.split(command)
    if "-o" in args:
        assert (tmp_path / args[args.index("-o") + 1]).read_text().strip()
    else:
        assert done.stdout.strip()


async def test_the_directory_example_names_every_key_but_the_deleted_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await readme_example("spend_by_key")["spend_by_key"]()
    lines = capsys.readouterr().out.splitlines()
    *rows, summary = lines
    assert summary == "14 requests, complete: True"  # the cost the README quotes
    unknown = [line for line in rows if line.endswith("(unknown)")]
    assert len(unknown) == 1
    assert re.fullmatch(r"\s*\d+\.\d{4}  .+ key_\w+ \(unknown\)", unknown[0])
    assert not [line for line in rows if " key_" in line and line not in unknown]
    assert any("Legacy chatbot" in line for line in rows)  # the archived project, by name


def test_the_readme_shows_each_names_command_and_the_limited_key_check_exits_1() -> None:
    commands = dict(_fake_commands())
    assert commands["usage-async summary --fake"] == 0
    assert commands["usage-async check --fake"] == 0
    assert commands["usage-async check --fake --fake-key limited"] == 1
    assert "usage-async costs --fake --since 7d --group-by project_id,api_key_id --format csv" in (
        commands
    )
    assert "usage-async sync --fake" in commands


def test_the_sql_join_of_names_runs_on_a_synced_database(tmp_path: Path) -> None:
    import sqlite3

    # The join of names; the views' queries are run by tests/sync/test_readme_store.py.
    (sql,) = [b for b in readme_blocks("sql") if "LEFT JOIN usage_async_projects" in b]
    script = Path(sys.executable).parent / "usage-async"
    synced = subprocess.run(  # noqa: S603 - our own console script
        [str(script), "sync", "--fake", "--since", "3d", "--endpoints", "costs"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert synced.returncode == 0, synced.stderr
    with sqlite3.connect(tmp_path / "usage-fake.db") as conn:
        rows = conn.execute(sql).fetchall()
    assert rows
    assert all(project_id.startswith("proj_") for project_id, *_ in rows)
    names = {name for _, name, *_ in rows}
    assert {"Billing, EU", "Search"} <= names
    assert all(deleted_at is None for _, _, deleted_at, *_ in rows)


async def test_the_borrowed_session_example_reads_through_a_pacing_connector() -> None:
    namespace = readme_example("days_of_usage")
    async with FakeUsageServer(seed=0) as srv:
        days = await namespace["days_of_usage"](srv.api_key, srv.base_url)
    assert days >= 1
