"""The server's own account of its limit: x-ratelimit-*-requests headers set the pace."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from pacing_sim import TokenBucketServer, bound, fan_out, run_virtual

from usage_async import UsageClient
from usage_async._pacing import (
    AdaptiveRate,
    Pacer,
    RateLimitHeaders,
    parse_duration,
    parse_rate_limit_headers,
)
from usage_async.testing import FakeUsageServer, Faults
from usage_async.testing._faults import openai_duration

NOW = 1_736_944_200


def _headers(limit: int, remaining: int, reset: str) -> dict[str, str]:
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(remaining),
        "x-ratelimit-reset-requests": reset,
    }


# -- parsing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("20ms", 0.02),
        ("1m30.5s", 90.5),
        ("1h2m3s", 3723.0),
        ("0s", 0.0),
        ("17.28s", 17.28),
        ("250us", 0.00025),
        ("2.5", 2.5),
        (" 3s ", 3.0),
    ],
)
def test_openai_reset_durations_are_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "s", "1x", "1s2", "-1s", "1 s", "m1s", "nan", "inf"])
def test_an_unreadable_duration_is_none(text: str) -> None:
    assert parse_duration(text) is None


@pytest.mark.parametrize("seconds", [0.0, 0.02, 0.2, 1.0, 1.5, 59.999, 60.0, 90.5, 360.0, 3723.0])
def test_the_simulators_durations_read_back(seconds: float) -> None:
    assert parse_duration(openai_duration(seconds)) == pytest.approx(seconds)


def test_the_simulator_writes_durations_as_openai_does() -> None:
    assert [openai_duration(s) for s in (0.02, 1.0, 90.5, 360.0, 3600.0)] == [
        "20ms",
        "1s",
        "1m30.5s",
        "6m0s",
        "1h0m0s",
    ]


def test_the_three_headers_are_read_together() -> None:
    info = parse_rate_limit_headers(_headers(60, 59, "1s"))
    assert info == RateLimitHeaders(limit=60, remaining=59, reset=1.0)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "59"},
        _headers(60, 61, "1s"),
        _headers(0, 0, "1s"),
        _headers(60, 59, "soon"),
        {**_headers(60, 59, "1s"), "x-ratelimit-limit-requests": "sixty"},
        {**_headers(60, 59, "1s"), "x-ratelimit-remaining-requests": "-1"},
    ],
)
def test_missing_or_inconsistent_headers_are_none(headers: dict[str, str]) -> None:
    assert parse_rate_limit_headers(headers) is None


# -- the decisions ---------------------------------------------------------------------------


def test_one_response_pins_the_rate_and_the_servers_level() -> None:
    rate = AdaptiveRate()
    # 10 a bucket, 3 used, full again in 6 s: 2 to 3 tokens refill in 6 s.
    level = rate.on_headers(RateLimitHeaders(10, 7, 6.0), 0.0)
    assert rate.server_rate == pytest.approx(0.5)
    assert rate.burst == 10
    assert rate.rate_at(0.0) == pytest.approx(0.5 * 0.99)  # paced a little under it
    assert level == pytest.approx(7.0)
    assert rate.window is None  # no slow start: the server said what it allows


def test_more_responses_narrow_the_rate_to_the_least_upper_bound() -> None:
    rate = AdaptiveRate()
    rate.on_headers(RateLimitHeaders(5, 0, 0.11), 0.0)  # 5 tokens in 0.11 s: at most 45/s
    rate.on_headers(RateLimitHeaders(5, 0, 0.1), 0.0)  # at most 50/s
    rate.on_headers(RateLimitHeaders(5, 3, 0.04), 0.0)  # at most 50/s, at least 25/s
    assert rate.server_rate == pytest.approx(5 / 0.11)


def test_a_response_far_outside_what_is_known_starts_again_from_it() -> None:
    rate = AdaptiveRate()
    rate.on_headers(RateLimitHeaders(5, 0, 0.1), 0.0)  # 40-50/s
    rate.on_headers(RateLimitHeaders(5, 2, 0.06), 0.0)  # 33-50/s: agrees
    assert rate.server_rate == pytest.approx(50)
    rate.on_headers(RateLimitHeaders(5, 0, 1.0), 0.0)  # 4-5/s: the server lowered its limit
    assert rate.server_rate == pytest.approx(5)


def test_an_answer_the_server_gave_earlier_that_comes_back_later_is_not_mirrored() -> None:
    # Sent together, they reach the server in any order: the later admission has the
    # later "full again" time, whatever order the answers come back in.
    rate = AdaptiveRate()
    assert rate.on_headers(RateLimitHeaders(20, 17, 0.06), 1.0) == pytest.approx(17)
    assert rate.on_headers(RateLimitHeaders(20, 18, 0.04), 1.0) is None
    assert rate.server_rate == pytest.approx(50)  # its rate still counts


def test_a_new_limit_forgets_the_old_rate() -> None:
    rate = AdaptiveRate()
    rate.on_headers(RateLimitHeaders(5, 0, 0.1), 0.0)
    rate.on_headers(RateLimitHeaders(20, 19, 2.0), 0.0)
    assert rate.burst == 20
    assert rate.server_rate == pytest.approx(0.5)


def test_headers_that_pin_no_rate_leave_the_adaptive_estimate_in_charge() -> None:
    rate = AdaptiveRate()
    assert rate.on_headers(RateLimitHeaders(5, 5, 0.0), 0.0) is None
    assert rate.server_rate is None
    assert rate.rate_at(0.0) is None


# -- the gate --------------------------------------------------------------------------------


def test_remaining_zero_waits_for_the_servers_next_token() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 200, _headers(1, 0, "200ms"))  # one token every 200 ms
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert 0.2 <= run_virtual(main) <= 0.21  # a little after, never before


def test_what_remains_goes_at_once_and_the_rest_at_the_servers_rate() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 200, _headers(10, 9, "6s"))  # 9 left, one back every 6 s
        started = loop.time()
        sent = []
        for _ in range(10):
            await pacer.acquire()
            sent.append(loop.time() - started)
        return sent

    assert run_virtual(main) == pytest.approx([0.0] * 9 + [6.0 / 0.99], abs=0.01)


def test_requests_overtaken_by_a_later_one_are_still_counted_as_coming() -> None:
    """Reproduced over real sockets (5/s, a bucket of 20, pages 200 ms slower): 16 requests
    sent together waited for new connections, one sent 2 ms later on an open one reached the
    server first and said 15 remained; the pacer took the 16 as arrived, let 15 more go at
    once, and 14 of them met 429s."""

    async def main() -> int:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        first = [await pacer.acquire() for _ in range(4)]
        await asyncio.sleep(0.2)  # pages are 200 ms slower than 429s
        for i, ticket in enumerate(first):  # a bucket of 20, 5/s: 19, 18, 17, 16 left
            pacer.release(ticket, 200, _headers(20, 19 - i, f"{200 * (i + 1)}ms"))
        batch = []
        while pacer._earliest(loop.time()) <= loop.time():
            batch.append(await pacer.acquire())
        assert len(batch) == 16  # what remained (the token refilled since is kept in hand)
        await asyncio.sleep(0.002)
        later = await pacer.acquire()  # on an open connection: it overtakes the batch
        await asyncio.sleep(0.2)
        pacer.release(later, 200, _headers(20, 15, "995ms"))  # the batch has not arrived
        let_through = 0
        while pacer._earliest(loop.time()) <= loop.time():
            await pacer.acquire()
            let_through += 1
        return let_through

    # The 16 still out are coming: none may go now.
    assert run_virtual(main) == 0


def test_a_429_with_headers_waits_for_the_token_without_cutting_the_rate() -> None:
    async def main() -> tuple[float, float | None]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 429, _headers(5, 0, "100ms"))  # 50/s, a token in 20 ms at most
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started, pacer._rate(loop.time())

    waited, rate = run_virtual(main)
    assert waited <= 0.026  # 20 ms at most, and a little in hand
    assert rate == pytest.approx(50 * 0.99)


def test_a_fixed_rate_ignores_the_headers() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer(10.0, burst=1)
        ticket = await pacer.acquire()
        pacer.release(ticket, 200, _headers(1, 0, "10s"))
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert run_virtual(main) == pytest.approx(0.1)


@pytest.mark.parametrize(("rate", "burst"), [(50, 1), (50, 5), (50, 20), (5, 1), (5, 20)])
def test_with_headers_a_fan_out_runs_at_the_servers_rate_with_few_429s(
    rate: float, burst: int
) -> None:
    server = TokenBucketServer(rate=rate, burst=burst, headers=True)
    outcome = fan_out(server, streams=30, pages=3)
    assert outcome.failed == 0
    assert outcome.throttled_share <= 0.05
    assert outcome.wall <= 1.1 * bound(server, 90) + 0.05


# -- the simulator ---------------------------------------------------------------------------


async def test_the_simulator_sends_the_headers_on_200s_and_429s() -> None:
    faults = Faults(rate_limit=0.5, burst=2, rate_limit_headers=True)
    async with FakeUsageServer(now=NOW, faults=faults) as srv, aiohttp.ClientSession() as s:
        seen = []
        for _ in range(3):
            async with s.get(
                srv.base_url + "/organization/costs?start_time=1736000000&limit=1",
                headers={"Authorization": f"Bearer {srv.api_key}"},
            ) as resp:
                await resp.read()
                info = parse_rate_limit_headers(resp.headers)
                seen.append((resp.status, info))
    assert [status for status, _ in seen] == [200, 200, 429]
    infos = [info for _, info in seen]
    assert all(info is not None and info.limit == 2 for info in infos)
    assert [info.remaining for info in infos if info] == [1, 0, 0]
    first = infos[0]
    assert first is not None
    assert 1.9 <= first.reset <= 2.0  # one token back at 0.5 a second


async def test_without_the_option_the_simulator_sends_no_headers() -> None:
    faults = Faults(rate_limit=0.5, burst=2)
    async with FakeUsageServer(now=NOW, faults=faults) as srv, aiohttp.ClientSession() as s:
        resp = await s.get(
            srv.base_url + "/organization/costs?start_time=1736000000&limit=1",
            headers={"Authorization": f"Bearer {srv.api_key}"},
        )
        await resp.read()
        resp.release()
    assert "x-ratelimit-limit-requests" not in resp.headers


async def test_a_client_paced_by_the_simulators_headers_gets_three_429s_at_most() -> None:
    # The first wave (4 requests, the slow start) fits the bucket; the headers do the rest.
    # The simulator shares the client's event loop and answers a wave one request after
    # another, so their arrival at its bucket spreads over tens of ms: one to three 429s.
    # (It spends about 10 ms on each page: at 20/s that lag was a fifth of a token per
    # request, which the client, taking each decision as made at the send, cannot see:
    # 15 or 16 requests in 9 of 120 runs. At 10/s: 14 in 85 of 85 alone, and once 15 in a
    # whole test run, the loop busier than alone. Without the headers the same fan-out
    # takes 21.)
    faults = Faults(rate_limit=10.0, burst=4, rate_limit_headers=True)
    async with (
        FakeUsageServer(now=NOW, faults=faults) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url) as client,
    ):
        pages = await asyncio.gather(
            *(client.costs(start_time=NOW - 86400 * (i + 1), limit=1) for i in range(12))
        )
    assert all(page.data for page in pages)
    assert len(srv.requests) <= 15  # 12 pages, and three retries at most


def test_a_429_the_headers_did_not_foresee_keeps_more_in_hand() -> None:
    # Requests that reach the server less evenly than the slack allows for (a busy machine)
    # meet a token not quite back: each such 429 widens the slack, successes narrow it.
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 200, _headers(1, 0, "200ms"))
        started = loop.time()
        ticket = await pacer.acquire()
        before = loop.time() - started
        pacer.release(ticket, 429, _headers(1, 0, "200ms"))
        started = loop.time()
        await pacer.acquire()
        return before, loop.time() - started

    before, after = run_virtual(main)
    assert after > before + 0.005
    assert after < 0.2 / 0.99 * 1.25  # a quarter of a token at most
