"""One request pace per client, shared by all its streams.

Every attempt awaits :meth:`Pacer.acquire` before it takes a concurrency slot, and reports
its response to :meth:`Pacer.observe`. A paced wait is not a retry: it holds no slot and
uses up no attempt.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from .errors import ConfigurationError, parse_retry_after

__all__ = ["AdaptivePacer", "FixedRatePacer", "NoPacer", "Pacer", "make_pacer"]

log = logging.getLogger("usage_async")

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class Pacer:
    """No pacing, except that a 429's server wait pauses every request of the client."""

    def __init__(self, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.paused_until = 0.0

    async def acquire(self) -> None:
        """Wait until this client may send its next request."""
        while True:
            wait = self.paused_until - self.clock()
            if wait <= 0:
                return
            await self.sleep(wait)

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        """Learn from a response: 429 pauses the client for the server's wait, if it gave one."""
        if status == 429:
            wait = parse_retry_after(headers)
            if wait is not None:
                self.paused_until = max(self.paused_until, self.clock() + wait)


NoPacer = Pacer


class FixedRatePacer(Pacer):
    """At most ``rate`` requests per second (a token bucket holding ``burst`` tokens)."""

    def __init__(
        self,
        rate: float,
        *,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(clock=clock, sleep=sleep)
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._stamp = clock()

    async def acquire(self) -> None:
        while True:
            await super().acquire()
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return
            await self.sleep((1.0 - self._tokens) / self.rate)


AdaptivePacer = Pacer


def make_pacer(rate_limit: float | str | None) -> Pacer:
    """The pacer for a client's ``rate_limit`` setting."""
    if rate_limit is None:
        return NoPacer()
    if rate_limit == "adaptive":
        return AdaptivePacer()
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
        raise ConfigurationError(
            f"rate_limit must be 'adaptive', a number of requests per second, or None; "
            f"got {rate_limit!r}"
        )
    if not rate_limit > 0:
        raise ConfigurationError(f"rate_limit must be > 0 requests per second, got {rate_limit}")
    return FixedRatePacer(float(rate_limit))
