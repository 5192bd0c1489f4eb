"""The ``sync`` and ``query`` commands as a user meets them (issue 10, items 15, 17, 18;
issue 11, items 7 and 10): one line per error, the right exit code, no password ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sync_support import NOW

from usage_async.cli import main
from usage_async.sync import StoreError, open_store
from usage_async.testing import FakeUsageServer

FAKE = ["--fake", "--fake-now", str(NOW)]


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m usage_async ARGS`` in a fresh process."""
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "usage_async", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.fake_usage_server(seed=1, now=NOW)
def test_sync_with_a_refused_key_stops_at_the_first_401_with_one_line(
    fake_usage_server: FakeUsageServer, tmp_path: Path
) -> None:
    args = ["sync", "--db", "sqlite:///u.db", "--base-url", fake_usage_server.base_url]
    done = run(args, tmp_path, {"OPENAI_ADMIN_KEY": "sk-admin-wrong"})
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("usage-async sync: error: ")
    assert "401" in done.stderr
    assert "sk-admin-wrong" not in done.stderr
    # Stopped at once: no endpoint went on asking after the key was refused.
    assert len(fake_usage_server.requests) <= 11


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://me:Pw0rd%zz@localhost/db", "Pw0rd%zz"),
        ("postgresql://me:Pw0rd%zz@localhost/db", "Pw0rd"),
        # an unencoded '@': libpq takes "ss" for a host and quotes it ("host 'ss'")
        ("postgresql://me:p@ss:w0rd@localhost:1/db", "'ss'"),
        ("postgresql://me:pw/x?yz@localhost:1/db", "yz"),
        ("postgresql://me:local@localhost:1/db", "local"),
        ("postgresql://me:s%40cr%3At@localhost:1/db", "s@cr:t"),
    ],
)
@pytest.mark.parametrize("command", ["sync", "query"])
def test_a_password_in_db_never_shows_whatever_the_driver_says(
    tmp_path: Path, url: str, secret: str, command: str
) -> None:
    args = ["sync", "--db", url, *FAKE] if command == "sync" else ["query", "--db", url, "spend"]
    done = run(args, tmp_path)
    assert done.returncode in (1, 2)
    assert len(done.stderr.splitlines()) == 1
    assert secret not in done.stderr
    assert secret not in done.stdout
    assert "***" in done.stderr


@pytest.mark.parametrize(
    ("url", "secret"),
    [
        ("postgresql://me:Pw0rd%zz@localhost/db", "Pw0rd"),
        ("postgresql://me:p@ss:w0rd@localhost:1/db", "'ss'"),
        ("postgresql://me:local@localhost:1/db", "local"),
    ],
)
async def test_a_password_never_shows_in_a_store_errors_text_or_repr(url: str, secret: str) -> None:
    store = open_store(url)
    with pytest.raises(StoreError) as caught:
        async with store:
            pass
    assert secret not in str(caught.value)
    assert secret not in repr(caught.value)
    assert secret not in repr(store)
    assert caught.value.__cause__ is None  # the driver's own error is not chained


def _synced(tmp_path: Path) -> str:
    db = f"sqlite:///{tmp_path}/q.db"
    assert main(["sync", "--db", db, *FAKE, "--since", "3d", "--endpoints", "costs"]) == 0
    return db


def test_query_says_which_collection_and_range_it_summed(tmp_path: Path, capsys: Any) -> None:
    db = _synced(tmp_path)
    capsys.readouterr()
    assert main(["query", "--db", db, "spend"]) == 0
    err = capsys.readouterr().err
    assert err == (
        "usage-async query: summed costs 1d by line_item,project_id, buckets from "
        "2025-02-26T00:00:00Z to 2025-03-01T12:00:00Z\n"
    )


def test_query_refuses_a_range_the_database_does_not_hold_in_one_line(
    tmp_path: Path, capsys: Any
) -> None:
    db = _synced(tmp_path)
    capsys.readouterr()
    assert main(["query", "--db", db, "spend", "--since", "2025-01-01"]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1
    assert "holds costs 1d by line_item,project_id from 2025-02-26T00:00:00Z" in out.err


def test_query_takes_db_after_the_question_too(tmp_path: Path, capsys: Any) -> None:
    db = _synced(tmp_path)
    capsys.readouterr()
    assert main(["query", "--db", db, "spend", "--by", "day"]) == 0
    before = capsys.readouterr().out
    assert main(["query", "spend", "--by", "day", "--db", db]) == 0
    assert capsys.readouterr().out == before != ""


@pytest.mark.fake_usage_server(seed=1, now=NOW)
def test_usage_async_db_is_the_default_db_of_sync_and_query(
    fake_usage_server: FakeUsageServer, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("USAGE_ASYNC_DB", f"sqlite:///{tmp_path}/env.db")
    monkeypatch.setenv("OPENAI_ADMIN_KEY", fake_usage_server.api_key)
    sync = ["sync", "--base-url", fake_usage_server.base_url, "--endpoints", "costs"]
    assert main([*sync, "--since", "3d"]) == 0
    assert main(["query", "spend"]) == 0
    assert [p.name for p in tmp_path.iterdir() if p.suffix == ".db"] == ["env.db"]
    assert capsys.readouterr().out.count("\n") > 1


def test_an_interrupted_sync_says_what_was_committed_and_exits_130(tmp_path: Path) -> None:
    args = ["sync", *FAKE, "--since", "60d", "--endpoints", "completions", "--bucket-width",
            "1h", "--limit", "1", "--progress", "lines"]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "usage_async", *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    try:
        pages = 0
        while pages < 3:  # blocking reads: the third committed page has been reported
            line = proc.stderr.readline()
            assert line, "the sync ended before it could be interrupted"
            pages += line.startswith("page ")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "Traceback" not in err
    (said,) = [line for line in err.splitlines() if "interrupted" in line]
    assert said.startswith("usage-async sync: interrupted; committed (kept, a rerun resumes): ")
    assert "completions 1h: " in said
    assert " pages, up to 2024-" in said
    assert out == ""
