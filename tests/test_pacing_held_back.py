"""A request whose turn a 429 overtook before it was written waits for a new turn.

A turn is handed out, then the request waits for a concurrency slot or a new connection;
a 429 read meanwhile cuts the pace (or pauses the client). Going on the old turn, the
request reaches a bucket the 429 just showed empty: a 429 of its own. With the client's
connector (``PacingConnector``) it is held back once its connection is ready, and waits
for a turn at the new pace. Loopback servers; the slot wait (``max_concurrency=1``) stands
in for a connection's handshake, which is checked at the same point.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import KEY, Reply, ScriptedServer, bucket, completions_result, page

import usage_async as ua

OK = Reply(body=page([bucket(0, results=[completions_result()])]))
FAST = ua.RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)
CLOSED_FOR = 0.05  # seconds after its first 429 the server refuses everything


class Gate:
    """A server's answers: the first request waits a little and is refused (with
    ``headers``), and so is every request that arrives within CLOSED_FOR seconds of that
    429; the rest succeed. Records when each arrived and its status."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.headers = headers or {}
        self.refused_at: float | None = None
        self.log: list[tuple[float, int]] = []

    async def __call__(self, request: web.Request, n: int) -> Reply:
        now = asyncio.get_running_loop().time()
        if n == 0:
            await asyncio.sleep(0.02)  # the other request is waiting for the slot by now
            self.refused_at = asyncio.get_running_loop().time()
            self.log.append((now, 429))
            return Reply(429, headers=self.headers)
        if self.refused_at is not None and now < self.refused_at + CLOSED_FOR:
            self.log.append((now, 429))
            return Reply(429, headers=self.headers)
        self.log.append((now, 200))
        return OK

    @property
    def throttled(self) -> int:
        return sum(1 for _, status in self.log if status == 429)


async def _two_requests(srv: ScriptedServer, **options: Any) -> ua.PaceStats:
    options.setdefault("retry", FAST)
    async with ua.UsageClient(KEY, base_url=srv.base_url, max_concurrency=1, **options) as client:
        await asyncio.gather(client.completions(start_time=0), client.completions(start_time=0))
        return client.pace_stats()


@pytest.mark.parametrize("connector", ["own", "borrowed PacingConnector"])
async def test_a_request_waiting_for_its_slot_when_a_429_cuts_the_pace_waits_for_a_new_turn(
    connector: str,
) -> None:
    gate = Gate()
    async with ScriptedServer(handler=gate) as srv:
        if connector == "own":
            stats = await _two_requests(srv)
        else:
            async with aiohttp.ClientSession(connector=ua.PacingConnector(limit=1)) as session:
                stats = await _two_requests(srv, session=session)
    # Only the first request met a 429: the other, given its turn before that 429 came
    # back, went only at the new pace (10/s after a first 429 that says nothing).
    assert gate.throttled == 1
    assert stats.rate_limited == 1
    assert len(srv.requests) == 3  # the first, its retry, and the other
    assert gate.refused_at is not None
    assert all(at >= gate.refused_at + CLOSED_FOR for at, _ in gate.log[1:])
    assert stats.requests == 3  # the held-back turn is not counted as a request


async def test_a_borrowed_session_on_another_connector_sends_that_request_anyway() -> None:
    # The documented limit: aiohttp asks no one else before it writes a request.
    gate = Gate()
    async with ScriptedServer(handler=gate) as srv, aiohttp.ClientSession() as session:
        stats = await _two_requests(srv, session=session)
    assert gate.throttled == 2
    assert stats.rate_limited == 2


async def test_a_request_waiting_for_its_slot_when_a_server_wait_begins_waits_it_out() -> None:
    # A fixed pace has no cut to go by: the server's wait (it pauses the whole client) is
    # what overtook the turn.
    gate = Gate({"retry-after-ms": str(int(CLOSED_FOR * 1000))})
    async with ScriptedServer(handler=gate) as srv:
        stats = await _two_requests(srv, rate_limit=100.0)
    assert gate.throttled == 1
    assert stats.rate_limited == 1
    assert gate.refused_at is not None
    assert all(at >= gate.refused_at + CLOSED_FOR for at, _ in gate.log[1:])


async def test_without_pacing_nothing_is_held_back() -> None:
    # rate_limit=None: the client sends as it is told, 429s and all.
    gate = Gate()
    async with ScriptedServer(handler=gate) as srv:
        patient = ua.RetryPolicy(initial_delay=CLOSED_FOR, max_delay=2 * CLOSED_FOR)
        stats = await _two_requests(srv, rate_limit=None, retry=patient)
    assert gate.throttled >= 2
    assert stats.rate_limited == gate.throttled


async def test_the_connector_sends_requests_of_anyone_else_as_usual() -> None:
    async with (
        ScriptedServer([OK]) as srv,
        aiohttp.ClientSession(connector=ua.PacingConnector(limit=1)) as session,
        session.get(srv.base_url + "/organization/usage/completions") as response,
    ):
        assert response.status == 200
        assert (await response.json())["object"] == "page"
