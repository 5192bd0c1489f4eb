"""The README's "Collecting into a database" examples run: its command lines in order, its
Python example, and the Grafana queries on the views (SQLite always; PostgreSQL when
``USAGE_ASYNC_TEST_POSTGRES_URL`` is set, skipped with the reason otherwise)."""

from __future__ import annotations

import datetime as _dt
import re
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sync_support import DAY, FAST_RETRY

from usage_async import UsageClient
from usage_async.sync import open_store, spend, sync, usage
from usage_async.testing import FakeUsageServer

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
SECTION = README[README.index("## Collecting into a database") : README.index("## Performance")]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SECTION, flags=re.DOTALL)


def command_lines() -> list[tuple[str, int]]:
    """Every ``usage-async`` line of the section's sh blocks, in order, and the exit code it
    should give (0, or the N of ``# exits N``)."""
    out = []
    for block in blocks("sh"):
        for full in block.splitlines():
            line, _, comment = (part.strip() for part in full.partition("#"))
            if line.startswith("usage-async "):
                exits = re.match(r"exits (\d+)", comment)
                out.append((line, int(exits[1]) if exits else 0))
    return out


def test_the_section_shows_each_new_command() -> None:
    lines = [line for line, _ in command_lines()]
    assert any("spend --by project,day,model" in line for line in lines)
    assert any("usage --tz Europe/Berlin" in line for line in lines)
    assert any("--bucket-width completions=1h" in line for line in lines)
    for view in (
        "usage_async_daily_spend_by_project",
        "usage_async_daily_spend_by_model",
        "usage_async_month_to_date_spend",
    ):
        assert view in SECTION
    assert "### Grafana (PostgreSQL data source)" in SECTION


def test_the_command_lines_run_in_order_with_the_exit_codes_shown(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "usage-async"
    refused = []
    for line, code in command_lines():
        done = subprocess.run(  # noqa: S603 - our own console script
            [str(script), *shlex.split(line)[1:]],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (line, done.stderr)
        if code == 0:
            assert done.stdout.strip(), line
        else:
            assert done.stderr.count("\n") == 1, done.stderr
            refused.append(done.stderr)
    # The refused dimension's line says what the README's comment says.
    (message,) = refused
    assert "unknown dimension 'hue'; dimensions: project, line_item, model" in message


@pytest.fixture
async def now_server() -> AsyncIterator[tuple[UsageClient, FakeUsageServer]]:
    """The simulator on the real clock: the month-to-date view is the database's month."""
    async with (
        FakeUsageServer(seed=0, now=int(time.time())) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST_RETRY) as client,
    ):
        yield client, srv


async def fill(client: UsageClient, server: FakeUsageServer, url: str) -> None:
    await sync(
        client,
        url,
        endpoints=["costs", "completions"],
        bucket_width={"completions": "1h", "costs": "1d"},
        since=server.now() - 35 * DAY,
        clock=server.now,
        names=True,
    )


async def test_the_python_example_prints_spend_by_model_and_local_days(
    now_server: tuple[UsageClient, FakeUsageServer], tmp_path: Path, capsys: Any
) -> None:
    client, server = now_server
    url = f"sqlite:///{tmp_path}/usage.db"
    await fill(client, server, url)
    (block,) = [b for b in blocks("python") if "def by_model_and_local_day" in b]
    namespace: dict[str, Any] = {"__name__": "readme_example"}
    exec(compile(block, "README.md:by_model_and_local_day", "exec"), namespace)  # noqa: S102
    await namespace["by_model_and_local_day"](url)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("summed costs 1d by line_item,project_id")
    answer = await spend(url, by=("project", "model"))
    days = await usage(url, tz="Europe/Berlin")
    assert len(lines) == 1 + len(answer) + len(days)
    assert lines[1].split()[-1] == str(answer[0].amount)
    assert {line.split()[1] for line in lines[1 + len(answer) :]} <= {"23.0", "24.0", "25.0"}


def grafana_statements() -> list[str]:
    found = [b for b in blocks("sql") if b.startswith("-- Grafana")]
    assert len(found) == 2
    return [s.strip() for block in found for s in block.split(";") if s.strip()]


async def test_the_grafana_queries_run_on_the_views_and_agree_with_query_spend(
    now_server: tuple[UsageClient, FakeUsageServer], store_url: str
) -> None:
    client, server = now_server
    await fill(client, server, store_url)
    async with open_store(store_url) as store:
        results = []
        for sql in grafana_statements():
            if store.dialect.name == "sqlite":  # the README's two changes for TEXT amounts
                sql = sql.replace("SUM(amount)", "decimal_sum(amount)")
                sql = re.sub(r"ORDER BY (amount|spend)", r"ORDER BY CAST(\1 AS REAL)", sql)
            results.append(await store.fetch(sql))
    daily, month_to_date, top_models = results
    by_day = await spend(store_url, by="day,project")
    assert sum(Decimal(str(r[2])) for r in daily) == sum(
        (r.amount for r in by_day if r.currency == "usd"), Decimal(0)
    )
    assert {r[1] for r in daily} >= {n for r in by_day for n in r.names if n}
    month = _dt.datetime.fromtimestamp(server.now(), _dt.timezone.utc).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    this_month = await spend(store_url, by="project", since=int(month.timestamp()))
    assert sorted(Decimal(str(r[1])) for r in month_to_date) == sorted(r.amount for r in this_month)
    assert 0 < len(top_models) <= 10
    amounts = [Decimal(str(r[1])) for r in top_models]
    assert amounts == sorted(amounts, reverse=True)
