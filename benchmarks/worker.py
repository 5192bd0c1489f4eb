"""One client process: ``python -m benchmarks.worker CLIENT``, driven by JSON lines on stdin.

The worker imports the client at once (so workers can start while the page server renders
its pages), then reads ``{"size", "port", "prefix"}`` and answers ``{"ready": true,
"rss_start", "rss_import", ...}``. Then
each ``{"run": "S1", "label": "warm"}`` runs one scenario once and answers its record,
``{"memory": "S4"}`` runs the memory measurement, and end of input ends the process.
The runner keeps one worker per client for the timed scenarios and asks them in turn,
repeat by repeat, so a drift of the machine falls on every client alike.

Only the standard library is imported before the client module, so ``rss_import`` is the
RSS after importing that client and nothing else of ours. For ``usage-async (json)``,
``sys.modules["orjson"] = None`` comes first, so usage-async's ``import orjson`` fails and
it falls back to ``json`` exactly as when the ``speed`` extra is not installed.

Each run uses a fresh client and event loop and times ``time.process_time()`` (this process
only: the server is another one) and ``time.perf_counter()`` around the client's whole
life: construction, every stream, close. The memory run reads S1 once and reports the peak
RSS above the one-page steady state (Linux: ``/proc/self/clear_refs``, then ``VmHWM``).
Run keys (the ``<run>`` of the base URL) are ``<prefix>-<scenario>-<label>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import Any

from .clients import Tally, Workload
from .scenarios import FLOOR, OPENAI, UA_JSON, UA_ORJSON, Dataset, Scenario, base_url, scenarios

__all__ = ["Worker", "main"]

MODULES = {
    FLOOR: "benchmarks.clients.floor",
    UA_JSON: "benchmarks.clients.usage_async_client",
    UA_ORJSON: "benchmarks.clients.usage_async_client",
    OPENAI: "benchmarks.clients.openai_sdk",
}
DISTRIBUTIONS = ("aiohttp", "usage-async", "openai", "orjson", "httpx", "httpx2", "pydantic")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")

Run = Callable[[Workload], Awaitable[list[Tally]]]


def _status() -> dict[str, int]:
    """``VmRSS`` and ``VmHWM`` of ``/proc/self/status`` in bytes (empty without procfs)."""
    try:
        with open("/proc/self/status") as f:
            lines = f.read().splitlines()
    except OSError:
        return {}
    found = {}
    for line in lines:
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) * 1024
    return found


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _versions() -> dict[str, str]:
    found = {}
    for name in DISTRIBUTIONS:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def _streams(dataset: Dataset, tallies: list[Tally]) -> list[dict[str, Any]]:
    expected = list(dataset.expected_starts())
    return [
        {
            "buckets": len(t.starts),
            "starts_ok": t.starts == expected,
            "results": t.results,
            "input_tokens": t.input_tokens,
            "error": t.error,
        }
        for t in tallies
    ]


async def _timed(run: Run, workload: Workload) -> tuple[float, float, list[Tally]]:
    cpu, wall = time.process_time(), time.perf_counter()
    tallies = await run(workload)
    return time.perf_counter() - wall, time.process_time() - cpu, tallies


class Worker:
    """The client under test, imported once, and its runs (see the module docstring)."""

    def __init__(self, client: str) -> None:
        for name in PROXY_VARS:  # loopback only, whatever the environment says
            os.environ.pop(name, None)
        os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
        if client == UA_JSON:
            sys.modules["orjson"] = None  # type: ignore[assignment]
        self.rss_start = _status().get("VmRSS")
        module = importlib.import_module(MODULES[client])
        self.rss_import = _status().get("VmRSS")
        self.json_backend = None
        if client in (UA_JSON, UA_ORJSON):
            self.json_backend = "json" if sys.modules.get("orjson") is None else "orjson"
            wanted = "json" if client == UA_JSON else "orjson"
            if self.json_backend != wanted:
                raise RuntimeError(f"{client}: usage-async would parse with {self.json_backend}")
        self.client = client
        self.run: Run = module.run
        self.port = 0
        self.prefix = client
        self.scenarios: dict[str, Scenario] = {}

    def configure(self, size: str, port: int, prefix: str) -> None:
        """Where the page server is, the size preset, and the prefix of run keys."""
        self.scenarios = scenarios(size)
        self.port = port
        self.prefix = prefix

    def hello(self) -> dict[str, Any]:
        """The worker's figures from before any run."""
        return {
            "ready": True,
            "client": self.client,
            "json_backend": self.json_backend,
            "python": platform.python_version(),
            "versions": _versions(),
            "rss_start": self.rss_start,
            "rss_import": self.rss_import,
        }

    def _workload(self, scenario: Scenario, dataset: Dataset, key: str) -> Workload:
        return Workload(
            base_url=base_url(self.port, dataset.name, key),
            streams=[dataset.stream_params(i) for i in range(dataset.streams)],
            concurrency=scenario.concurrency,
            openai_retries=scenario.openai_retries,
        )

    def timed(self, scenario_id: str, label: str) -> dict[str, Any]:
        """One run of a scenario (its warm-up dataset when ``label`` is ``warm``)."""
        scenario = self.scenarios[scenario_id]
        dataset = scenario.warmup_dataset if label == "warm" else scenario.dataset
        key = f"{self.prefix}-{scenario.id}-{label}"
        workload = self._workload(scenario, dataset, key)
        gc.collect()
        wall, cpu, tallies = asyncio.run(_timed(self.run, workload))
        return {
            "scenario": scenario.id,
            "run": key,
            "dataset": dataset.name,
            "warmup": label == "warm",
            "wall_s": wall,
            "cpu_s": cpu,
            "streams": _streams(dataset, tallies),
        }

    def memory(self, scenario_id: str) -> dict[str, Any]:
        """One run of the scenario's dataset, with the peak RSS above one page's."""
        scenario = self.scenarios[scenario_id]
        dataset = scenario.dataset
        key = f"{self.prefix}-{scenario.id}-mem"
        workload = self._workload(scenario, dataset, key)
        marks: dict[str, Any] = {}

        def mark() -> None:
            marks["reset"] = _reset_peak()
            marks["base"] = _status().get("VmRSS")

        # At the first bucket of page 2: page 1 has been read, parsed and handed out.
        workload.mark_at = dataset.buckets + 1 if dataset.pages > 1 else 1
        workload.mark = mark
        wall, cpu, tallies = asyncio.run(_timed(self.run, workload))
        peak = _status().get("VmHWM")
        base = marks.get("base")
        supported = bool(marks.get("reset")) and peak is not None and base is not None
        return {
            "scenario": scenario.id,
            "run": key,
            "dataset": dataset.name,
            "warmup": False,
            "wall_s": wall,
            "cpu_s": cpu,
            "streams": _streams(dataset, tallies),
            "memory_supported": supported,
            "rss_import": self.rss_import,
            "rss_steady": base,
            "rss_peak": peak,
            "growth": peak - base if supported and peak is not None and base else None,
        }


def main() -> None:
    """Serve the runner's requests on stdin/stdout until end of input."""
    stdin, stdout = sys.stdin, sys.stdout

    def answer(message: dict[str, Any]) -> None:
        stdout.write(json.dumps(message) + "\n")
        stdout.flush()

    worker = Worker(sys.argv[1])
    config = json.loads(stdin.readline())
    worker.configure(config["size"], config["port"], config["prefix"])
    answer(worker.hello())
    for line in stdin:
        request = json.loads(line)
        if "memory" in request:
            answer(worker.memory(request["memory"]))
        else:
            answer(worker.timed(request["run"], request["label"]))


if __name__ == "__main__":
    main()
