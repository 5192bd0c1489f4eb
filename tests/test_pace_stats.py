"""``client.pace_stats()``: the pace, the 429s, retries and waits, against loopback servers."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web
from helpers import KEY, Reply, ScriptedServer, bucket, completions_result, page

import usage_async as ua

FAST = ua.RetryPolicy(max_attempts=6, initial_delay=0.01, max_delay=0.05)
OK = Reply(body=page([bucket(0, results=[completions_result()])]))


def client(srv: ScriptedServer, **kwargs: Any) -> ua.UsageClient:
    kwargs.setdefault("retry", FAST)
    return ua.UsageClient(KEY, base_url=srv.base_url, **kwargs)


def wait_ms(status: int, ms: int) -> Reply:
    return Reply(status, {"error": {"message": "slow down"}}, {"retry-after-ms": str(ms)})


async def test_a_new_client_has_sent_nothing_and_is_not_paced() -> None:
    async with ScriptedServer([OK]) as srv, client(srv) as c:
        stats = c.pace_stats()

    assert stats == ua.PaceStats(
        rate=None,
        window=4,  # adaptive pacing's slow start
        in_flight=0,
        waiting=0,
        requests=0,
        rate_limited=0,
        retries=0,
        retries_by_cause={},
        wait_seconds=0.0,
        pause_seconds=0.0,
        paused_until=None,
    )
    assert not stats.paused


async def test_429s_and_retries_are_counted_exactly_by_cause() -> None:
    replies = [Reply(429), Reply(503), Reply(429), Reply(500), OK, OK]
    async with ScriptedServer(replies) as srv, client(srv, rate_limit=1000.0) as c:
        await c.completions(start_time=0)  # 429, 503, 429, 500, 200
        await c.completions(start_time=0)  # 200

        stats = c.pace_stats()

    assert len(srv.requests) == 6
    assert stats.requests == 6
    assert stats.rate_limited == 2
    assert stats.retries == 4
    assert stats.retries_by_cause == {"429": 2, "5xx": 2}
    assert stats.rate == 1000.0  # a fixed rate_limit is the pace
    assert stats.window is None
    assert stats.in_flight == 0
    assert stats.waiting == 0


async def test_a_failure_that_is_not_retried_is_no_retry() -> None:
    async with ScriptedServer([Reply(404)]) as srv, client(srv) as c:
        with pytest.raises(ua.NotFoundError):
            await c.completions(start_time=0)

    stats = c.pace_stats()
    assert (stats.requests, stats.retries, stats.rate_limited) == (1, 0, 0)


async def test_the_first_429_switches_the_adaptive_pace_on() -> None:
    async with ScriptedServer([wait_ms(429, 10), OK]) as srv, client(srv) as c:
        assert c.pace_stats().rate is None
        await c.completions(start_time=0)
        stats = c.pace_stats()

    assert stats.rate is not None
    assert stats.rate > 0
    assert stats.window is None  # slow start is over
    assert stats.rate_limited == 1
    assert stats.retries_by_cause == {"429": 1}


async def test_without_pacing_there_is_no_rate_and_requests_are_still_counted() -> None:
    async with ScriptedServer([Reply(502), OK]) as srv, client(srv, rate_limit=None) as c:
        await c.completions(start_time=0)
        stats = c.pace_stats()

    assert (stats.rate, stats.window) == (None, None)
    assert (stats.requests, stats.retries, stats.retries_by_cause) == (2, 1, {"5xx": 1})


async def test_requests_held_by_the_pace_are_waiting_and_their_wait_is_summed() -> None:
    seen: list[ua.PaceStats] = []

    def handler(request: web.Request, n: int) -> Reply:
        if n == 0:
            seen.append(c.pace_stats())
        return OK

    # A burst of 2 at 4 requests/s: the third request waits about 1/4 s for its turn.
    async with ScriptedServer(handler=handler) as srv, client(srv, rate_limit=4.0) as c:
        await asyncio.gather(*(c.completions(start_time=0) for _ in range(3)))
        stats = c.pace_stats()

    [first] = seen  # while the first request was at the server
    assert first.waiting == 1
    assert first.in_flight == 2
    assert first.requests == 2
    assert stats.waiting == 0
    assert stats.requests == 3
    assert 0.2 <= stats.wait_seconds < 2.0


async def test_a_server_wait_pauses_the_client_and_the_pause_is_timed() -> None:
    during: list[ua.PaceStats] = []
    async with (
        ScriptedServer([wait_ms(429, 300), OK]) as srv,
        client(srv, on_retry=lambda event: during.append(c.pace_stats())) as c,
    ):
        before = time.time()
        await c.completions(start_time=0)
        after = c.pace_stats()

    [paused] = during  # read in the hook, before the retry's wait
    assert paused.paused
    assert paused.paused_until is not None
    assert before + 0.2 < paused.paused_until < time.time() + 0.3
    assert not after.paused
    assert after.paused_until is None
    assert 0.28 <= after.pause_seconds < 2.0


async def test_overlapping_server_pauses_count_once() -> None:
    replies = [wait_ms(429, 400), wait_ms(429, 400), OK]
    async with ScriptedServer(replies) as srv, client(srv, rate_limit=1000.0) as c:
        await asyncio.gather(c.completions(start_time=0), c.completions(start_time=0))
        stats = c.pace_stats()

    assert stats.rate_limited == 2
    assert 0.38 <= stats.pause_seconds < 0.75  # not the 0.8 s of both pauses added up


async def test_stats_can_be_read_from_another_thread() -> None:
    async with ScriptedServer([Reply(500), OK]) as srv, client(srv, rate_limit=50.0) as c:
        await c.completions(start_time=0)
        stats = await asyncio.to_thread(c.pace_stats)  # a metrics exporter's thread, say

    assert (stats.requests, stats.retries, stats.rate) == (2, 1, 50.0)


async def test_the_list_endpoints_are_counted_too() -> None:
    users = Reply(body={"object": "list", "data": [], "has_more": False})
    async with ScriptedServer([Reply(429), users]) as srv, client(srv, rate_limit=1000.0) as c:
        await c.users()
        stats = c.pace_stats()

    assert (stats.requests, stats.rate_limited, stats.retries) == (2, 1, 1)


def test_pace_stats_are_exported_and_hashable() -> None:
    assert "PaceStats" in ua.__all__
    stats = ua.PaceStats(
        rate=1.0,
        window=None,
        in_flight=0,
        waiting=0,
        requests=3,
        rate_limited=1,
        retries=1,
        retries_by_cause={"429": 1},
        wait_seconds=0.5,
        pause_seconds=0.0,
        paused_until=None,
    )
    assert isinstance(hash(stats), int)
