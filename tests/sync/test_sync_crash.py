"""Crash safety, for real: a sync process killed with SIGKILL mid-run, then rerun, ends with
exactly the contents of an uninterrupted run (``fetched_at`` aside), on every store.

The process runs ``python -m usage_async.sync sync --fake --fake-now ...``: its own simulator
with a fixed clock, so every run reads the same data. ``--progress lines`` prints a line
after each committed page; the test reads those lines (blocking reads, no sleeps) and kills
the process after the n-th, while other pages are being read and written.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sync_support import NOW, dump

ARGS = [
    "sync", "--fake", "--fake-now", str(NOW), "--seed", "3", "--since", "3d",
    "--endpoints", "completions", "vector_stores", "costs",
    "--bucket-width", "completions=1h", "--bucket-width", "vector_stores=1h",
    "--limit", "4", "--progress", "lines",
]  # fmt: skip


def start(url: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "usage_async", *ARGS, "--db", url],
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def run_to_end(url: str, cwd: Path) -> None:
    proc = start(url, cwd)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err


def kill_after(url: str, cwd: Path, pages: int) -> int:
    """Start a sync and SIGKILL it right after its ``pages``-th committed page."""
    proc = start(url, cwd)
    assert proc.stderr is not None
    seen = 0
    try:
        while seen < pages:
            line = proc.stderr.readline()
            assert line, f"the sync ended after {seen} pages"
            seen += line.startswith("page ")
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate(timeout=60)
    return proc.returncode


def contained(partial: dict[str, Any], whole: dict[str, Any]) -> bool:
    """Every row a killed run left is a row of the whole run, with the same values."""
    return all(
        all(row in whole[name] for row in rows) for name, rows in partial.items() if name != "state"
    )


def test_a_sync_killed_at_any_point_then_rerun_equals_an_uninterrupted_run(
    make_store_url: Any, tmp_path: Path
) -> None:
    reference = make_store_url()
    run_to_end(reference, tmp_path)
    whole = asyncio.run(dump(reference))
    assert len(whole["state"]) == 3
    assert len(whole["completions"]) > 100
    for kill_at in (1, 9, 25):
        url = make_store_url()
        assert kill_after(url, tmp_path, kill_at) == -signal.SIGKILL
        partial = asyncio.run(dump(url))
        assert contained(partial, whole)
        assert sum(len(v) for k, v in partial.items() if k != "state") < sum(
            len(v) for k, v in whole.items() if k != "state"
        )
        run_to_end(url, tmp_path)
        assert asyncio.run(dump(url)) == whole, f"killed after {kill_at} pages"


@pytest.mark.parametrize("store_kind", ["sqlite"], indirect=True)
def test_a_killed_sqlite_sync_leaves_a_database_other_readers_can_open(
    make_store_url: Any, tmp_path: Path
) -> None:
    url = make_store_url()
    assert kill_after(url, tmp_path, 3) == -signal.SIGKILL
    import sqlite3

    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
