"""A virtual-time simulation of a client's pacer against a token-bucket server.

The event loop's clock is virtual: when every task is waiting, time jumps to the next timer,
so minutes of rate-limited traffic run in milliseconds and every run is deterministic. The
"server" admits ``rate`` requests per second with a bucket of ``burst`` and answers the rest
429 (with ``Retry-After`` if ``retry_after`` is set), after ``rtt`` seconds (plus
``success_delay`` for a 200: a page takes longer to send than an error); it can be down
for a while (``outage``: only 429s) or have its limit lowered for good (``lowered``).
Each way of a round trip can take up to ``jitter`` seconds longer, at random but the same
in every run of a ``seed``: requests sent together then reach the bucket in any order.
With ``headers`` every answer carries OpenAI's ``x-ratelimit-*-requests`` headers, as the
simulator writes them (``usage_async.testing``'s ``Faults(rate_limit_headers=True)``).
"""

from __future__ import annotations

import asyncio
import functools
import math
import random
import selectors
from collections.abc import Callable, Coroutine
from typing import Any

import attrs

from benchmarks import pacing
from benchmarks.scenarios import Dataset
from usage_async._pacing import Pacer
from usage_async.errors import parse_retry_after
from usage_async.retry import RetryPolicy
from usage_async.testing._faults import openai_rate_limit_headers, take_token


class _InstantSelector(selectors.DefaultSelector):
    """A selector whose waits advance the virtual clock instead of sleeping."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self._loop = loop

    def select(self, timeout: float | None = None) -> list[Any]:
        ready = super().select(0)
        if not ready and timeout is not None and timeout > 0:
            self._loop.now += timeout
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose ``time()`` only moves when everything is waiting."""

    def __init__(self) -> None:
        self.now = 0.0
        super().__init__(_InstantSelector(self))

    def time(self) -> float:
        return self.now


def run_virtual(main: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    """Run ``main()`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


@attrs.define
class TokenBucketServer:
    """The server's side: a token bucket, and counters."""

    rate: float
    burst: float
    retry_after: float | None = None
    rtt: float = 0.002
    success_delay: float = 0.0  # a 200 (a page) takes this much longer to come back than a 429
    outage: tuple[float, float] | None = None  # [from, until): every request is a 429
    lowered: tuple[float, float] | None = None  # (from, rate): the limit is lowered for good
    headers: bool = False  # answers carry x-ratelimit-*-requests headers
    exact_wait: bool = False  # a 429 names the wait for the next token (retry-after-ms)
    retry_after_ms: str | None = None  # a 429's retry-after-ms, whatever the bucket says
    jitter: float = 0.0  # each way of a round trip takes up to this much longer, at random
    seed: int = 0  # of that randomness: a run is still the same every time
    tokens: float = attrs.field(init=False)
    stamp: float = 0.0
    admitted: int = 0
    throttled: int = 0
    admitted_at: list[float] = attrs.field(factory=list)
    throttled_at: list[float] = attrs.field(factory=list)

    _random: random.Random = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.tokens = self.burst
        self._random = random.Random(self.seed)  # noqa: S311 (a simulation, not secrets)

    def way(self) -> float:
        """How long one way of a round trip takes this time."""
        extra = self._random.uniform(0.0, self.jitter) if self.jitter else 0.0
        return self.rtt / 2 + extra

    def admit(self, now: float) -> bool:
        if self.lowered is not None and now >= self.lowered[0]:
            self.rate, self.lowered = self.lowered[1], None
            self.tokens = min(self.tokens, 1.0)
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        down = self.outage is not None and self.outage[0] <= now < self.outage[1]
        left = None if down else take_token(self.tokens)
        if left is not None:
            self.tokens = left
            self.admitted += 1
            self.admitted_at.append(now)
            return True
        self.throttled += 1
        self.throttled_at.append(now)
        return False

    def rate_headers(self) -> dict[str, str]:
        """The x-ratelimit headers of the bucket as the last request left it (or none)."""
        if not self.headers:
            return {}
        reset = (self.burst - self.tokens) / self.rate
        return openai_rate_limit_headers(int(self.burst), self.tokens, reset)

    def admitted_between(self, start: float, end: float) -> int:
        """How many requests the server admitted in ``[start, end)``."""
        return sum(1 for t in self.admitted_at if start <= t < end)


@attrs.define
class Outcome:
    """What a simulated fan-out achieved."""

    wall: float
    requests: int
    throttled: int
    failed: int

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests


async def _attempt(
    pacer: Pacer, slots: asyncio.Semaphore, server: TokenBucketServer
) -> tuple[bool, float | None]:
    """One attempt, as the client makes it: its pace first, then a concurrency slot.
    Whether it got through, and the server's wait if it did not and named one."""
    loop = asyncio.get_running_loop()
    ticket = await pacer.acquire()
    async with slots:
        await asyncio.sleep(server.way())
        ok = server.admit(loop.time())
        headers = server.rate_headers()
        if not ok and server.exact_wait:
            wait = (1.0 - server.tokens) / server.rate
            headers["retry-after-ms"] = str(max(1, math.ceil(wait * 1000 - 1e-6)))
        await asyncio.sleep(server.way() + (server.success_delay if ok else 0.0))
    if not ok and server.retry_after is not None:
        headers["retry-after"] = str(server.retry_after)
    if not ok and server.retry_after_ms is not None:
        headers["retry-after-ms"] = server.retry_after_ms
    pacer.release(ticket, 200 if ok else 429, headers)
    return ok, None if ok else parse_retry_after(headers)


def fan_out(
    server: TokenBucketServer,
    *,
    streams: int,
    pages: int,
    max_attempts: int = 5,
    max_concurrency: int = 100,
    rate_limit: float | str | None = "adaptive",
) -> Outcome:
    """``streams`` concurrent streams of ``pages`` requests each, with retries as the client
    does them: the server's wait when it gives one, else backoff from 0.5 s; a paced client's
    429s may use the policy's ``max_throttled_attempts``."""
    limit = RetryPolicy(max_attempts=max_attempts).throttled_limit(paced=rate_limit == "adaptive")

    async def main() -> Outcome:
        pacer = Pacer(rate_limit)
        slots = asyncio.Semaphore(max_concurrency)
        failed = 0

        async def stream(index: int) -> None:
            nonlocal failed
            for _ in range(pages):
                for attempt in range(1, limit + 1):
                    ok, wait = await _attempt(pacer, slots, server)
                    if ok:
                        break
                    if attempt == limit:
                        failed += 1
                        return
                    if wait is None and rate_limit != "adaptive":
                        # the midpoint of the client's jittered backoff
                        wait = min(30.0, 0.5 * 2 ** (attempt - 1)) * 0.75
                    elif wait is None:  # the adaptive pace is the wait
                        wait = 0.0
                    await asyncio.sleep(wait)

        start = asyncio.get_running_loop().time()
        await asyncio.gather(*(stream(i) for i in range(streams)))
        wall = asyncio.get_running_loop().time() - start
        return Outcome(wall, server.admitted + server.throttled, server.throttled, failed)

    outcome: Outcome = run_virtual(main)
    return outcome


def steady_load(
    server: TokenBucketServer,
    *,
    workers: int,
    until: float,
    max_attempts: int = 5,
    max_concurrency: int = 100,
) -> None:
    """A long-lived client (a web app): ``workers`` tasks each making one request after
    another until ``until`` (virtual seconds), with the client's retries; a request that
    runs out of attempts is given up and the next one made."""
    limit = RetryPolicy(max_attempts=max_attempts).throttled_limit(paced=True)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        slots = asyncio.Semaphore(max_concurrency)

        async def worker() -> None:
            while loop.time() < until:
                for _ in range(limit):
                    ok, wait = await _attempt(pacer, slots, server)
                    if ok:
                        break
                    if wait is not None:
                        await asyncio.sleep(wait)

        await asyncio.gather(*(worker() for _ in range(workers)))

    run_virtual(main)


def bound(server: TokenBucketServer, requests: int) -> float:
    """The least time the server needs to admit ``requests``."""
    return max(0.0, (requests - server.burst) / server.rate) if math.isfinite(server.rate) else 0


def least_time(server: TokenBucketServer, streams: int, pages: int) -> float:
    """The least time the server's bucket allows ``streams`` streams of ``pages`` requests:
    the pacing matrix's bound (:func:`benchmarks.pacing.least_time`) for this bucket."""
    return pacing.least_time(
        Dataset(
            "sim",
            streams,
            pages,
            1,
            1,
            rate=server.rate,
            burst=int(server.burst),
            success_delay=server.success_delay,
        )
    )


Shape = tuple[str, int, str, bool, str]
"""A shape of the pacing matrix: rate, burst, what a 429 says, pages 200 ms slower, workload."""

SHAPES: list[Shape] = [(c.rate, c.burst, c.mode, c.slow, c.workload) for c in pacing.cells("full")]
"""Every cell of ``python -m benchmarks --only pacing``, in its order."""


@functools.cache
def ride(
    shape: Shape, *, jitter: float = 0.0, seed: int = 0
) -> tuple[TokenBucketServer, Outcome, float]:
    """A default client against one shape of the pacing matrix, on the virtual clock (the
    same bucket and workload as the benchmark's cell), each way of a round trip up to
    ``jitter`` seconds longer at random (``seed``): the server after it, the outcome and
    the bound."""
    dataset = pacing.Cell(*shape).dataset("full")
    assert dataset.rate is not None
    server = TokenBucketServer(
        rate=dataset.rate,
        burst=dataset.burst,
        retry_after=dataset.retry_after,
        exact_wait=dataset.exact_wait,
        headers=dataset.ratelimit_headers,
        success_delay=dataset.success_delay,
        rtt=0.001,
        jitter=jitter,
        seed=seed,
    )
    least = least_time(server, dataset.streams, dataset.pages)
    return server, fan_out(server, streams=dataset.streams, pages=dataset.pages), least
