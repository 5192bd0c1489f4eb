"""The page server: a separate process serving pre-rendered pages on 127.0.0.1.

State (``PageStore``: rendered datasets, counts and token buckets per run, no HTTP), the
aiohttp handlers, and the route table are kept apart, as in aiohttp's ``fake_server.py``
and moto. Every scenario lives under its own base URL,
``http://127.0.0.1:<port>/<dataset>/<run>/v1``, so clients are pointed at it with
``base_url=`` only and the server counts each run's requests on their own. The runner
starts it as ``python -m benchmarks.server`` and talks JSON lines on its stdin and stdout:
the datasets first (the answer is the port), then ``["stats", [[dataset, run], ...]]``,
``["cpu"]`` and ``["stop"]``; the server also stops when its stdin closes.

aiohttp.web keeps up: a page costs the server a dict look-up and a write of ready bytes
(its CPU per request is printed with every scenario; see ``runner``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from usage_async.testing._faults import openai_rate_limit_headers, take_token

from . import child
from .pages import RATE_LIMITED_BODY, RenderedDataset, render
from .scenarios import PATH, Dataset, base_url

__all__ = ["PageServer", "PageStore", "RunStats", "main", "make_app"]

ROOT = Path(__file__).resolve().parent.parent
# A run's first wave: the 429s of requests that reached the server within this many seconds
# of its first 429 (real time; 0 on a virtual clock, where a loopback round trip takes no
# time). A client could not have read that 429 before sending them: what they cost is what
# not knowing the bucket costs (1 ms: a loopback answer is read in well under that).
FIRST_WAVE = 0.001

BAD_CURSOR_BODY = (
    b'{"error":{"message":"The page token is invalid.","type":"invalid_request_error",'
    b'"param":"page","code":null}}'
)
UNKNOWN_BODY = (
    b'{"error":{"message":"Unknown dataset or project.","type":"invalid_request_error",'
    b'"param":null,"code":null}}'
)


@dataclass
class RunStats:
    """What the server answered one run: responses by status, and its token bucket."""

    status: dict[int, int] = field(default_factory=dict)
    tokens: float = 0.0
    stamp: float = 0.0
    first_429: float | None = None  # when the run's first request met a 429
    first_wave: int = 0  # 429s of requests that reached the server by then (see PageStore)

    def as_dict(self) -> dict[str, Any]:
        """Requests and responses by status, as plain values."""
        return {
            "requests": sum(self.status.values()),
            "status": {str(k): v for k, v in sorted(self.status.items())},
            "first_wave_429": self.first_wave,
        }


class PageStore:
    """The server's state: rendered datasets and each run's counts; no HTTP in here."""

    def __init__(
        self,
        rendered: Sequence[RenderedDataset],
        clock: Any = time.monotonic,
        wave: float = FIRST_WAVE,
    ) -> None:
        self.datasets = {r.dataset.name: r for r in rendered}
        self.runs: dict[tuple[str, str], RunStats] = {}
        self.clock = clock
        self.wave = wave

    def run(self, dataset: Dataset, run: str) -> RunStats:
        """The stats of one run, created (with a full token bucket) on its first request."""
        key = (dataset.name, run)
        stats = self.runs.get(key)
        if stats is None:
            stats = self.runs[key] = RunStats(tokens=float(dataset.burst), stamp=self.clock())
        return stats

    def admit(self, dataset: Dataset, stats: RunStats) -> bool:
        """Whether the run's token bucket admits one more request now (always, unlimited)."""
        if dataset.rate is None:
            return True
        now = self.clock()
        stats.tokens = min(dataset.burst, stats.tokens + (now - stats.stamp) * dataset.rate)
        stats.stamp = now
        left = take_token(stats.tokens)
        if left is not None:
            stats.tokens = left
            return True
        if stats.first_429 is None:
            stats.first_429 = now
        if now - stats.first_429 <= self.wave:
            stats.first_wave += 1
        return False

    def limit_headers(self, dataset: Dataset, stats: RunStats) -> dict[str, str]:
        """OpenAI's x-ratelimit headers of the run's bucket as it is now (none unless the
        dataset asks for them)."""
        if dataset.rate is None or not dataset.ratelimit_headers:
            return {}
        reset = (dataset.burst - stats.tokens) / dataset.rate
        return openai_rate_limit_headers(dataset.burst, stats.tokens, reset)

    def answer(
        self, rendered: RenderedDataset, stats: RunStats, project: str | None, token: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        """Status, extra headers and body for one request (after its latency), counted."""
        status, headers, body = self._answer(rendered, stats, project, token)
        stats.status[status] = stats.status.get(status, 0) + 1
        return status, headers, body

    def _answer(
        self, rendered: RenderedDataset, stats: RunStats, project: str | None, token: str | None
    ) -> tuple[int, dict[str, str], bytes]:
        dataset = rendered.dataset
        admitted = self.admit(dataset, stats)
        headers = self.limit_headers(dataset, stats)
        if not admitted:
            if dataset.retry_after is not None:
                headers["Retry-After"] = str(dataset.retry_after)
            if dataset.exact_wait and dataset.rate is not None:
                wait = (1.0 - stats.tokens) / dataset.rate
                headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000 - 1e-6)))
                headers["Retry-After"] = str(max(1, math.ceil(wait)))
            return 429, headers, RATE_LIMITED_BODY
        if token is not None:
            where = rendered.cursors.get(token)
            if where is None:
                return 400, {}, BAD_CURSOR_BODY
            stream, index = where
        elif project is not None or dataset.streams > 1:
            found = rendered.projects.get(project or "")
            if found is None:
                return 400, {}, UNKNOWN_BODY
            stream, index = found, 0
        else:
            stream, index = 0, 0
        return 200, headers, rendered.pages[stream][index]

    def stats(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Counts of the given ``(dataset, run)`` keys (zeros for a run never seen)."""
        return [self.runs.get((key[0], key[1]), RunStats()).as_dict() for key in keys]


def make_app(store: PageStore) -> Any:
    """The aiohttp application: one route, ``/<dataset>/<run>/v1`` + the completions path."""
    from aiohttp import web

    async def completions(request: web.Request) -> web.Response:
        rendered = store.datasets.get(request.match_info["dataset"])
        if rendered is None:
            return web.Response(status=404, body=UNKNOWN_BODY, content_type="application/json")
        stats = store.run(rendered.dataset, request.match_info["run"])
        if rendered.dataset.latency:
            await asyncio.sleep(rendered.dataset.latency)
        query = request.query
        # Arrays arrive repeated (usage-async, aiohttp) or with brackets (the openai SDK).
        project = query.get("project_ids") or query.get("project_ids[]")
        status, headers, body = store.answer(rendered, stats, project, query.get("page"))
        if status == 200 and rendered.dataset.success_delay:
            await asyncio.sleep(rendered.dataset.success_delay)
        return web.Response(
            status=status, body=body, headers=headers, content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/{dataset}/{run}/v1" + PATH, completions)
    return app


async def _serve(datasets: Sequence[Dataset]) -> None:
    from aiohttp import web

    store = PageStore([render(d) for d in datasets])
    runner = web.AppRunner(make_app(store), access_log=None)
    await runner.setup()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    stdin = sys.stdin.fileno()
    pending = bytearray()

    def answer(message: object) -> None:
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    def on_input() -> None:
        data = os.read(stdin, 65536)
        if not data:  # the runner is gone: stop serving
            stopped.set()
            return
        pending.extend(data)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            message = json.loads(line)
            if message[0] == "stats":
                answer(store.stats(message[1]))
            elif message[0] == "cpu":
                answer(time.process_time())
            else:
                stopped.set()

    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        loop.add_reader(stdin, on_input)
        info = {r.dataset.name: r.info() for r in store.datasets.values()}
        answer({"port": runner.addresses[0][1], "datasets": info})
        await stopped.wait()
    finally:
        with contextlib.suppress(Exception):
            loop.remove_reader(stdin)
        await runner.cleanup()


def main() -> None:
    """``python -m benchmarks.server``: datasets (a JSON list) on the first line of stdin."""
    datasets = [Dataset(**d) for d in json.loads(sys.stdin.buffer.readline())]
    asyncio.run(_serve(datasets))


class PageServer:
    """Starts the page server process and stops it on exit, also on error.

    ``with PageServer(datasets) as server:`` gives ``server.port``, ``server.datasets``
    (sizes and expected totals per dataset), ``server.stats(keys)`` and ``server.cpu()``.
    The process is ``python -m benchmarks.server``; it talks JSON lines on its stdin and
    stdout, and stops at ``["stop"]`` or when its stdin closes.
    """

    def __init__(self, datasets: Sequence[Dataset], *, start_timeout: float = 120.0) -> None:
        self._datasets = list({d.name: d for d in datasets}.values())
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[str] | None = None
        self.port = 0
        self.datasets: dict[str, dict[str, Any]] = {}

    def base_url(self, dataset: str, run: str) -> str:
        """The ``base_url`` a client uses for one run of one dataset."""
        return base_url(self.port, dataset, run)

    def __enter__(self) -> PageServer:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.server"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        try:
            hello = self._ask([dataclasses.asdict(d) for d in self._datasets], self._start_timeout)
        except BaseException:
            self.close()
            raise
        self.port = hello["port"]
        self.datasets = hello["datasets"]
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _ask(self, message: object, timeout: float = 30.0) -> Any:
        proc = self._proc
        if proc is None:
            raise RuntimeError("the page server is not running")
        try:
            return child.ask(proc, message, timeout)
        except child.ChildGoneError as gone:
            raise RuntimeError(f"the page server {gone.what} (exit code {proc.poll()})") from None

    def stats(self, keys: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
        """Requests and responses by status of each ``(dataset, run)``."""
        answer: list[dict[str, Any]] = self._ask(["stats", [list(k) for k in keys]])
        return answer

    def cpu(self) -> float:
        """The server process's CPU seconds so far (``time.process_time`` there)."""
        return float(self._ask(["cpu"]))

    def close(self) -> None:
        """Stop the process: ask, then close its input, then terminate, then kill."""
        proc, self._proc = self._proc, None
        if proc is not None:
            child.end(proc, goodbye=["stop"])


if __name__ == "__main__":
    main()
