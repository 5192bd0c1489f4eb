"""SYNC: ``usage_async.sync`` into SQLite against ``.buckets()`` over the same queries.

``python -m benchmarks.sync_scenario [--quick|--tiny] [--repeat N]`` (also run by
``python -m benchmarks``, or alone with ``--only SYNC``).

The simulator (``usage_async.testing.FakeUsageServer``, fixed clock) runs in a process of its
own, so this process's CPU is the client's and the store's. The queries: every endpoint over
90 days (``full``; 30 ``quick``, 2 ``tiny``) at its largest page, 1h buckets for the ten usage
endpoints and 1d for costs, each grouped as the collector's defaults. Two ways to read them,
through one client each run:

* ``buckets``: ``client.endpoint(name).buckets(**query)`` for all eleven at once, counting
  results: the client alone, nothing stored (the baseline);
* ``sync``: ``Collector`` with the same queries into a fresh SQLite file: rows built,
  upserted page by page in one transaction each, watermark advanced.

A warm-up run of each fills the simulator's caches; then the runs alternate (a different
one first each repeat). Each run is checked: the sync stored exactly the results that
``buckets`` read. The target: sync rows per second >= 0.5x ``buckets``' (medians).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from . import child

NOW = 1_740_787_200  # 2025-03-01T00:00:00Z
SEED = 1
DAYS = {"full": 90, "quick": 30, "tiny": 2}
TARGET = 0.5
API_KEY = "sk-admin-bench"

__all__ = ["main", "run"]


async def _serve() -> None:
    from usage_async.testing import FakeUsageServer

    srv = FakeUsageServer(seed=SEED, now=NOW, api_key=API_KEY)
    await srv.start()
    print(srv.port, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)  # until the runner closes our stdin
    await srv.stop()


@contextlib.contextmanager
def _server() -> Any:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.sync_scenario", "--serve"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        child.end(proc)


def _options(days: int) -> dict[str, Any]:
    from usage_async import ENDPOINTS

    return {
        "endpoints": list(ENDPOINTS),
        "bucket_width": {name: "1d" if name == "costs" else "1h" for name in ENDPOINTS},
        "since": NOW - days * 86400,
        "clock": lambda: NOW,
    }


async def _buckets(base_url: str, days: int) -> dict[str, Any]:
    from usage_async import UsageClient
    from usage_async.sync._targets import plan_targets

    options = _options(days)
    targets = plan_targets(options["endpoints"], options["bucket_width"], None, None)
    cpu, wall = time.process_time(), time.perf_counter()
    async with UsageClient(API_KEY, base_url=base_url) as client:

        async def one(target: Any) -> int:
            query: dict[str, Any] = {
                "start_time": options["since"] - options["since"] % 3600,
                "end_time": NOW,
                "bucket_width": target.bucket_width,
                "limit": target.limit,
            }
            if target.bucket_width == "1d":
                query["start_time"] = options["since"] - options["since"] % 86400
            if target.group_by:
                query["group_by"] = list(target.group_by)
            n = 0
            async for bucket in client.endpoint(target.endpoint).buckets(**query):
                n += len(bucket.results)
            return n

        counts = await asyncio.gather(*(one(t) for t in targets))
    return {
        "rows": sum(counts),
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
    }


async def _sync(base_url: str, days: int, folder: str, label: str) -> dict[str, Any]:
    from usage_async import UsageClient
    from usage_async.sync import sync

    db = f"sqlite:///{folder}/{label}.db"
    cpu, wall = time.process_time(), time.perf_counter()
    async with UsageClient(API_KEY, base_url=base_url) as client:
        report = await sync(client, db, **_options(days))
    out = {
        "rows": report.total("inserted"),
        "pages": report.total("pages"),
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "ok": report.ok,
    }
    return out


def _drop(folder: str, label: str) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(folder, f"{label}.db{suffix}").unlink(missing_ok=True)


def run(size: str = "full", repeat: int = 3, out: TextIO = sys.stdout) -> dict[str, Any]:
    """Run the scenario; print its table and target; return its figures and problems."""
    days = DAYS[size]
    runs: dict[str, list[dict[str, Any]]] = {"buckets": [], "sync": []}
    problems: list[str] = []
    with _server() as base_url, tempfile.TemporaryDirectory() as folder:
        warm = (
            asyncio.run(_buckets(base_url, days)),
            asyncio.run(_sync(base_url, days, folder, "warm")),
        )
        expected = warm[0]["rows"]
        for turn in range(repeat):
            order = ["buckets", "sync"] if turn % 2 == 0 else ["sync", "buckets"]
            for kind in order:
                if kind == "buckets":
                    result = asyncio.run(_buckets(base_url, days))
                else:
                    result = asyncio.run(_sync(base_url, days, folder, f"r{turn}"))
                    _drop(folder, f"r{turn}")
                result["rows_per_s"] = result["rows"] / result["wall_s"]
                runs[kind].append(result)
                if result["rows"] != expected or not result.get("ok", True):
                    problems.append(f"{kind} run {turn}: {result['rows']} rows, not {expected}")
    if warm[1]["rows"] != expected:
        problems.append(f"sync warm-up stored {warm[1]['rows']} rows, buckets read {expected}")
    medians = {
        kind: {k: statistics.median(r[k] for r in rs) for k in ("rows_per_s", "wall_s", "cpu_s")}
        for kind, rs in runs.items()
    }
    ratio = medians["sync"]["rows_per_s"] / medians["buckets"]["rows_per_s"]
    verdict = "PASS" if ratio >= TARGET else "FAIL"
    print(
        f"SYNC  {days} days, 11 endpoints (1h usage, 1d costs), {expected:,} rows, "
        f"simulator in its own process, {repeat} runs each (medians)",
        file=out,
    )
    print(f"  {'':<9}{'rows/s':>10}{'wall s':>9}{'CPU s':>8}", file=out)
    for kind in ("buckets", "sync"):
        m = medians[kind]
        print(
            f"  {kind:<9}{m['rows_per_s']:>10,.0f}{m['wall_s']:>9.2f}{m['cpu_s']:>8.2f}",
            file=out,
        )
    print(f"  {verdict}  sync rows/s = {ratio:.2f}x buckets' (target >= {TARGET}x)", file=out)
    for problem in problems:
        print(f"  CHECK FAILED: {problem}", file=out)
    return {
        "days": days,
        "rows": expected,
        "repeat": repeat,
        "runs": runs,
        "medians": medians,
        "ratio": ratio,
        "target": {"scenario": "SYNC", "result": verdict, "ratio": ratio, "min": TARGET},
        "problems": problems,
    }


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks.sync_scenario``: 1 when a run failed its checks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_scenario")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--quick", action="store_true", help="30 days instead of 90")
    sizes.add_argument("--tiny", action="store_true", help="2 days: the smoke test's size")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        asyncio.run(_serve())
        return 0
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    result = run(size, args.repeat)
    return 1 if result["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
