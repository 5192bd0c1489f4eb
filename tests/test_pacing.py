"""The shared rate pace: counted on a virtual clock against a token-bucket server, and once
for real over loopback."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import pytest
from aiohttp import web
from helpers import KEY, Reply, ScriptedServer, bucket, page
from pacing_sim import (
    SHAPES,
    Outcome,
    Shape,
    TokenBucketServer,
    bound,
    fan_out,
    ride,
    run_virtual,
    steady_load,
)

import usage_async as ua
from usage_async._pacing import AdaptiveRate, Pacer, RateLimitHeaders, Ticket, make_pacer

# -- the adaptive rate, against simulated servers --------------------------------------------


def test_without_429s_nothing_is_paced() -> None:
    server = TokenBucketServer(rate=float("inf"), burst=float("inf"))
    outcome = fan_out(server, streams=50, pages=10)
    assert outcome.throttled == 0
    assert outcome.requests == 500
    assert outcome.wall < 0.1  # 10 round trips of 2 ms, plus the slow start


def test_a_fan_out_rides_a_rate_limit_without_retry_after() -> None:
    server = TokenBucketServer(rate=50, burst=5)
    outcome = fan_out(server, streams=100, pages=3)
    assert outcome.failed == 0
    assert outcome.throttled_share <= 0.05
    assert outcome.wall <= 1.15 * 300 / 50


def test_a_fan_out_rides_a_rate_limit_with_retry_after() -> None:
    server = TokenBucketServer(rate=50, burst=5, retry_after=1)
    outcome = fan_out(server, streams=100, pages=3)
    assert outcome.failed == 0
    assert outcome.throttled_share <= 0.05
    assert outcome.wall <= 1.4 * 300 / 50  # at least two pauses of a second are needed


@pytest.mark.parametrize(
    ("rate", "burst", "retry_after"),
    [(2, 2, None), (2, 1, None), (7 / 60, 7, None), (10 / 60, 10, 20), (20, 20, None)],
)
def test_slow_servers_are_ridden_without_running_out_of_attempts(
    rate: float, burst: int, retry_after: int | None
) -> None:
    server = TokenBucketServer(rate=rate, burst=burst, retry_after=retry_after)
    outcome = fan_out(server, streams=10, pages=4)
    assert outcome.failed == 0
    assert outcome.wall <= 1.6 * bound(TokenBucketServer(rate=rate, burst=burst), 40) + 25


def test_without_pacing_the_same_fan_out_hammers_the_server() -> None:
    """The baseline the adaptive pace is measured against: per-request backoff only."""
    server = TokenBucketServer(rate=50, burst=5)
    outcome = fan_out(server, streams=100, pages=3, rate_limit=None)
    assert outcome.throttled_share > 0.3


def test_a_fixed_rate_is_never_exceeded() -> None:
    server = TokenBucketServer(rate=10, burst=2)
    outcome = fan_out(server, streams=20, pages=3, rate_limit=10.0)
    assert outcome.throttled == 0
    assert outcome.wall >= (60 - 2) / 10


def test_the_simulators_bucket_admits_a_request_when_its_token_is_due() -> None:
    # (1/6 + 5/6 of a token, refilled over 1 s and 5 s at 10 a minute, is 0.99999...)
    server = TokenBucketServer(rate=10 / 60, burst=1)
    assert [server.admit(at) for at in (0.0, 1.0, 6.0, 6.0)] == [True, False, True, False]


# -- every server shape of the benchmark matrix (benchmarks/pacing.py), on the virtual clock ---

# Where a default client cannot get within 1.2x of the bound: the most it takes here (the
# README's pacing table says why, with the real-time figures). Each group, with its cause:
BEYOND: dict[Shape, float] = {
    # Retry-After: 1 from a server that refills in 20-200 ms: every 429 (the first is
    # unavoidable: nothing says the burst) pauses the whole client for the second it asks.
    # (In brackets: before a proof the pauses took up stopped ending the probe, before
    # requests sent with a 429 stopped counting as admitted after it, and before pages back
    # after a probe's 429 raised the probe: it stopped at 22/s, under the 26/s they proved;
    # and before those pages bounded the first wave's burst by the rate they prove.)
    ("50/s", 1, "ra1", False, "fan-out"): 1.83,
    ("50/s", 1, "ra1", False, "stream"): 3.62,
    ("50/s", 1, "ra1", True, "fan-out"): 1.88,  # (1.88; 1.75 with a proof taken whole)
    ("50/s", 5, "ra1", False, "fan-out"): 1.37,
    ("50/s", 5, "ra1", False, "stream"): 3.13,
    ("50/s", 5, "ra1", True, "fan-out"): 1.36,  # (5.69, 2.09)
    ("50/s", 20, "ra1", False, "fan-out"): 1.23,
    # (2.03 while the probe after a first 429 started at the burst's size per second, 21/s
    # here: from 10/s it reaches 50/s a doubling later. The fan-outs gained more.)
    ("50/s", 20, "ra1", False, "stream"): 2.33,
    # (3.33, 1.90, 1.61 until what the bucket admitted after a pause bounded its burst,
    # 1.45 until the probe after a first 429 stopped starting at the burst's size per
    # second: 33-42/s, the first wave's loose bound; 27 went out at the pause's end)
    ("50/s", 20, "ra1", True, "fan-out"): 1.32,
    ("5/s", 1, "ra1", False, "fan-out"): 1.35,  # (3.78)
    ("5/s", 1, "ra1", False, "stream"): 1.81,  # (4.54)
    ("5/s", 1, "ra1", True, "fan-out"): 1.46,  # (3.07)
    # (5/s-b20-ra1-slow-fan-out took 1.18x, then 1.26x while the probe after a first 429
    # started at the burst's size per second, three times the rate: now 1.03x.)
    # (10/min-b20-ra1 fan-outs: 1.39 and 2.40 when each 429 after a too-short server wait
    # halved the rate again, then 1.31 and 1.35; now within 1.2x.)
    # A bucket of one and nothing said: a request a little early is a 429, and the rate
    # is found only by overshooting it, one 429 (and round trip) at a time.
    ("50/s", 1, "none", False, "stream"): 1.23,
    # (50/s-b1-none-slow-fan-out took 1.38x while pages back after a probe's 429 ended the
    # probe at the cap the cut set from the few that were back: now 1.13x.)
    # (The "exact" shapes of a bucket of one were here, at 1.31-1.60x, until their waits
    # bounded the rate: now 1.01x, 50/s-b1-exact-fast-stream 1.14x.)
    # (5/s-b1-none-fast-stream took 1.22x and the 10/min-b1-none shapes 1.21-1.23x, 1.59-1.61x
    # before a probe's 429 at a few requests a minute probed on halfway, until a 429 counted
    # the refill since the last admission: each cost a whole request interval.)
}


def _shape_id(shape: Shape) -> str:
    rate, burst, mode, slow, workload = shape
    return f"{rate}-b{burst}-{mode}-{'slow' if slow else 'fast'}-{workload}"


def _ride(shape: Shape) -> tuple[Outcome, float]:
    """A default client against one server shape: the outcome and the bound."""
    _, outcome, least = ride(shape)
    return outcome, least


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_no_server_shape_costs_a_default_client_a_page(shape: Shape) -> None:
    outcome, _ = _ride(shape)
    assert outcome.failed == 0


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_every_server_shape_is_ridden_within_1_2x_of_its_bound_or_as_close_as_it_allows(
    shape: Shape,
) -> None:
    outcome, least = _ride(shape)
    assert outcome.wall <= (BEYOND[shape] + 0.01 if shape in BEYOND else 1.2) * least


@pytest.mark.parametrize("shape", SHAPES, ids=_shape_id)
def test_with_network_jitter_no_server_shape_costs_a_page_or_runs_away(shape: Shape) -> None:
    # Each way of a round trip up to 3 ms longer at random: requests sent together reach
    # the bucket in any order, a request a little early meets a 429.
    _, outcome, least = ride(shape, jitter=0.003, seed=1)
    assert outcome.failed == 0
    assert outcome.wall <= 4.0 * least  # (8.8x, one seed of 50/s-b1-ra1-slow, 5 ms)


@pytest.mark.parametrize("seed", range(10))
def test_network_jitter_does_not_hold_a_fast_server_at_a_fraction_of_its_rate(seed: int) -> None:
    # 50/s, a bucket of one, Retry-After: 1, slow pages, up to 5 ms more each way. A 429
    # whose window was mostly the server's pause proved a few requests a second, taken as
    # the rate for the rest of the run: up to 8.2x the bound (5.75x at the start of this
    # round); now a 429 halves what was proven before at most.
    _, outcome, least = ride(("50/s", 1, "ra1", True, "fan-out"), jitter=0.005, seed=seed)
    assert outcome.failed == 0
    assert outcome.wall <= 3.0 * least


@pytest.mark.parametrize(
    "shape", [s for s in SHAPES if s[2] == "headers" and s[1] > 1], ids=_shape_id
)
def test_with_the_servers_headers_429s_stay_under_5_percent_and_near_the_bound(
    shape: Shape,
) -> None:
    # With a bucket of one, the first wave (4 requests before any answer) meets 3 429s.
    outcome, least = _ride(shape)
    assert outcome.throttled_share <= 0.05
    assert outcome.wall <= 1.05 * least


@pytest.mark.parametrize(
    "shape",
    # (At 10/min a fan-out's first wave alone is 3 429s in 33 requests.)
    [s for s in SHAPES if s[2] == "headers" and s[1] == 1 and s[0] != "10/min"],
    ids=_shape_id,
)
@pytest.mark.parametrize("seed", range(3))
def test_a_bucket_of_one_told_by_headers_keeps_its_slack_between_requests_under_jitter(
    shape: Shape, seed: int
) -> None:
    # Up to 3 ms more each way: a request a little early finds the only token not quite
    # back. The slack those 429s grow was kept as tokens in hand at each answer's headers,
    # but a bucket of one holds none, and slow pages' headers come back stale: between two
    # 429s requests went a token interval apart (50/s, slow pages: 2.3x the bound, a third
    # of the requests 429s). Now each request waits the slack longer after the one before.
    _, outcome, least = ride(shape, jitter=0.003, seed=seed)
    assert outcome.failed == 0
    assert outcome.throttled_share <= 0.06
    assert outcome.wall <= 1.2 * least


# The 429 share (%) of each 5/s shape without the server's headers, at most. A fan-out's
# first wave (slow start, before the first 429 says anything) alone meets 2-14 of its 90;
# the rest is the probe for the rate. A probe after a 429 that proved nothing goes only
# halfway back to the rate that met it: before, 5/s-b1-none-fast-stream met 18.9 %,
# -fast-fan-out 11.8, -b1-none-slow-fan-out 10.9, -b5- 13.5 and -b20-none-slow-fan-out 15.9.
# Requests sent at the same instant as a 429 no longer count as admitted after it (they
# reached the server in any order): at 5/s with a bucket of 20, 8 of them "proved" 104/s.
# With exact waits (retry-after-ms) nothing is probed: the first wave's 429s and at most one
# more (tests/test_pacing_exact_wait.py); "before" is the share while the waits were ignored.
# (*) While the probe after a first 429 started at the burst's size per second (20/s, four
# times the rate, rather than 10/s), the buckets of 20 met one or two 429s fewer.
# (+) Before a probe's 429 settled when its successes were all its window could hold.
# (=) Before a turn handed out before a cut, and taken up after it, waited for the new pace.
SHARE_5S: dict[Shape, float] = {
    ("5/s", 1, "none", False, "fan-out"): 9.1,  # 10.0 (=)
    ("5/s", 1, "none", False, "stream"): 14.3,
    ("5/s", 1, "none", True, "fan-out"): 10.0,
    ("5/s", 1, "none", True, "stream"): 0.0,
    ("5/s", 1, "ra1", False, "fan-out"): 7.2,  # 8.2 at 3.78x the bound; 9.1 (=)
    ("5/s", 1, "ra1", False, "stream"): 11.8,
    ("5/s", 1, "ra1", True, "fan-out"): 7.2,
    ("5/s", 1, "ra1", True, "stream"): 0.0,
    ("5/s", 1, "exact", False, "fan-out"): 3.2,  # 10.0 before; 5.3 (=)
    ("5/s", 1, "exact", False, "stream"): 3.2,  # 14.3 before
    ("5/s", 1, "exact", True, "fan-out"): 3.2,  # 8.2 before
    ("5/s", 1, "exact", True, "stream"): 0.0,
    ("5/s", 5, "none", False, "fan-out"): 13.5,  # 14.3 (=)
    ("5/s", 5, "none", False, "stream"): 14.3,  # 16.7 (+)
    ("5/s", 5, "none", True, "fan-out"): 12.6,
    ("5/s", 5, "none", True, "stream"): 0.0,
    ("5/s", 5, "ra1", False, "fan-out"): 10.0,  # 10.9 before; 11.8 (=)
    ("5/s", 5, "ra1", False, "stream"): 6.2,
    ("5/s", 5, "ra1", True, "fan-out"): 10.0,
    ("5/s", 5, "ra1", True, "stream"): 0.0,
    ("5/s", 5, "exact", False, "fan-out"): 7.2,  # 15.9 before; 9.1 (=)
    ("5/s", 5, "exact", False, "stream"): 6.2,  # 11.8 before
    ("5/s", 5, "exact", True, "fan-out"): 6.2,  # 10.9 before
    ("5/s", 5, "exact", True, "stream"): 0.0,
    # 17.4 with a bogus proof (below); 18.9 (*); 19.6 (=)
    ("5/s", 20, "none", False, "fan-out"): 15.9,
    ("5/s", 20, "none", False, "stream"): 11.8,  # 16.7 (+)
    ("5/s", 20, "none", True, "fan-out"): 14.3,  # 12.6 (*)
    ("5/s", 20, "none", True, "stream"): 0.0,
    ("5/s", 20, "ra1", False, "fan-out"): 16.7,  # 21.1 at 1.18x the bound; 21.7 (=)
    ("5/s", 20, "ra1", False, "stream"): 6.2,
    ("5/s", 20, "ra1", True, "fan-out"): 14.3,  # 12.6 (*), at 1.26x the bound, now 1.03x
    ("5/s", 20, "ra1", True, "stream"): 0.0,
    ("5/s", 20, "exact", False, "fan-out"): 8.2,  # 21.1 before; 13.5 (=)
    ("5/s", 20, "exact", False, "stream"): 6.2,  # 11.8 before
    ("5/s", 20, "exact", True, "fan-out"): 6.2,  # 10.9 before
    ("5/s", 20, "exact", True, "stream"): 0.0,
}


@pytest.mark.parametrize("shape", list(SHARE_5S), ids=_shape_id)
def test_at_5_per_second_without_headers_429s_stay_within_their_pinned_share(
    shape: Shape,
) -> None:
    outcome, _ = _ride(shape)
    assert 100 * outcome.throttled_share <= SHARE_5S[shape] + 0.05


# 50/s without the server's headers, nothing said: 429s at most (as a share, %), while a
# probe's 429 probed on whatever its window held (in brackets).
SHARE_50S_NONE: dict[Shape, float] = {
    ("50/s", 5, "none", False, "stream"): 3.8,  # (7.4)
    ("50/s", 5, "none", False, "fan-out"): 3.5,  # (4.8); 4.2 (=)
    ("50/s", 20, "none", False, "fan-out"): 4.2,  # (6.2); 6.0 (=)
}


@pytest.mark.parametrize("shape", list(SHARE_50S_NONE), ids=_shape_id)
def test_at_50_per_second_a_probe_that_found_the_rate_meets_no_more_429s(shape: Shape) -> None:
    outcome, least = _ride(shape)
    assert 100 * outcome.throttled_share <= SHARE_50S_NONE[shape] + 0.05
    assert outcome.wall <= 1.1 * least


def test_pages_slower_than_429s_no_longer_hold_the_pace_at_a_fraction_of_the_rate() -> None:
    # 2.98x the bound before successes counted by when they were sent.
    outcome, least = _ride(("50/s", 5, "none", True, "fan-out"))
    assert outcome.wall <= 1.2 * least


def test_a_page_sent_before_a_429_and_back_after_it_raises_the_rate() -> None:
    rate = AdaptiveRate()
    for _ in range(5):
        rate.on_success(Ticket(0.0, 0), 0.0)
    assert rate.on_throttle(Ticket(0.001, 0), 0.002, 0.002)  # the first 429: probing
    sent = [0.01 + i / 40 for i in range(40)]  # 40/s for a second, pages back 0.2 s later
    for t in sent[:32]:
        rate.on_success(Ticket(t, rate.epoch), t + 0.2)
    assert rate.on_throttle(Ticket(1.0, rate.epoch), 1.001, 1.001)  # a probe's 429
    known_at_cut = rate.known
    assert known_at_cut is not None
    for t in sent[32:]:  # sent before that 429, back after it
        rate.on_success(Ticket(t, rate.epoch - 1), t + 0.2)
    assert rate.known is not None
    assert rate.known > known_at_cut * 1.1


def _probe_met_at_48_per_second(out: int | None) -> AdaptiveRate:
    """A bucket of 5 (the first wave), then a probe whose successes went at 48/s for a
    second before its 429; ``out``: requests still out at that 429."""
    rate = AdaptiveRate()
    for _ in range(5):
        rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.001, 0), 0.002, 0.002, out=0)  # the first wave's 429
    for i in range(1, 49):
        rate.on_success(Ticket(0.001 + i / 48, rate.epoch), 0.002 + i / 48)
    assert rate.probing
    assert rate.on_throttle(Ticket(1.01, rate.epoch), 1.011, 1.011, out=out)  # the probe's
    return rate


def test_a_probes_429_settles_when_its_successes_are_all_the_window_could_hold() -> None:
    # 50/s, a bucket of 5, nothing said: the probe's successes proved 48/s, and the window
    # since the first 429 could have held no more than 50/s had the bucket not filled up
    # (it was empty at both 429s). Probing on halfway to the pace that met the 429
    # (hundreds a second here) met a 429 at each halving: a lone stream 4 429s in 54
    # requests, now 2.
    settled = _probe_met_at_48_per_second(out=0)
    assert settled.known is not None
    assert 46 < settled.known < 50
    assert not settled.probing
    assert settled.rate_at(1.011) == pytest.approx(settled.known * 0.985)
    # Requests still out may have been admitted too (pages slower than 429s): probe on.
    for out in (None, 10):
        probing = _probe_met_at_48_per_second(out=out)
        assert probing.known == settled.known
        assert probing.probing
        assert probing.rate_at(1.2) > 1.3 * settled.known


def test_a_probes_429_with_a_bucket_of_one_probes_on_whatever_its_window() -> None:
    # A bucket of one fills up whenever the client falls behind the rate (as the probe
    # does at its start): its window says little, and settling took a 50/s fan-out from
    # 1.06x to 1.32x the bound.
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.001, 0), 0.002, 0.002, out=0)
    assert rate.burst_bound < 2
    for i in range(1, 49):
        rate.on_success(Ticket(0.001 + i / 48, rate.epoch), 0.002 + i / 48)
    assert rate.on_throttle(Ticket(1.01, rate.epoch), 1.011, 1.011, out=0)
    assert rate.probing


def test_pages_back_after_a_probes_429_move_its_cap_halfway_from_what_they_prove() -> None:
    # 50/s, a bucket of one, pages 200 ms slower than 429s. The probe's 429 came while most
    # of its pages were still out: the cut proved 8/s and set the probe's cap halfway from
    # there to the 56/s that met the 429 (32/s). The pages back after it prove 32/s; taken
    # as the probe's end, the client kept near there for the rest of the run (1.38x the
    # bound). The cut's rule, with what they prove: probe on, halfway to 56/s.
    rate = AdaptiveRate()
    assert rate.on_throttle(Ticket(0.0, 0), 0.001, 0.001)  # the first wave's 429
    rate.on_success(Ticket(0.0, 0), 0.2)
    rate.on_success(Ticket(0.1, 1), 0.3)
    rate.on_success(Ticket(0.15, 1), 0.35)
    assert rate.on_throttle(Ticket(0.36, 1), 0.361, 0.361)  # the probe's 429, at 80/s
    rate.on_success(Ticket(0.2, 1), 0.4)
    met = rate.rate_at(0.41)
    assert met is not None
    assert rate.on_throttle(Ticket(0.41, 2), 0.411, 0.411)  # the probe's next 429
    at_cut = rate.known
    for sent in (0.25, 0.3, 0.325, 0.35):
        rate.on_success(Ticket(sent, 1), sent + 0.2)
    rate.on_success(Ticket(0.39, 2), 0.59)  # sent before that 429, back after it
    proven = rate.known
    assert at_cut is not None
    assert proven is not None
    assert proven > 3 * at_cut
    assert rate.probing
    assert rate.rate_at(10.0) == pytest.approx((proven * 0.985 + met) / 2)


def test_a_429_whose_pause_costs_many_requests_cuts_below_the_pace_they_went_at() -> None:
    # 5/s, a bucket of one, Retry-After: 1. After the first wave's pause the probe sends
    # a request as the pause ends (the refilled token) and the next 0.1 s later: a 429,
    # so 10/s is too fast. The probe's rate had doubled by then (to 20/s), and halving
    # that cut nothing: three such pauses in a row (1.34x the bound, 1.46x with slow
    # pages). Now the pace the requests went at is halved, with a margin, since each
    # pause costs 5 requests' worth of the bucket's refill.
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.0, 0), 0.001, 1.001)  # the first wave: a second's wait
    assert rate.burst_bound == 1.0
    rate.on_success(Ticket(1.001, rate.epoch), 1.002)
    assert rate.on_throttle(Ticket(1.101, rate.epoch, paced=10.0), 1.102, 2.102)
    after = rate.rate_at(2.102)
    assert after is not None
    assert after <= 10.0 / 2 * 0.8 + 1e-9


def test_with_a_bucket_of_one_successes_a_token_interval_apart_bound_the_rate_at_a_costly_429() -> (
    None
):
    # Then two successes 0.206 s apart after the pause (a bucket of one admits no two
    # closer than its token interval, give or take the network's jitter) and a 429 at
    # 7/s: the rate is at least 1 / 0.211 s, not the 1.4/s a window of pauses proves.
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.0, 0), 0.001, 1.001)
    rate.on_success(Ticket(1.001, rate.epoch), 1.002)
    assert rate.on_throttle(Ticket(1.101, rate.epoch, paced=10.0), 1.102, 2.102)
    rate.on_success(Ticket(2.102, rate.epoch), 2.103)
    rate.on_success(Ticket(2.308, rate.epoch, paced=1 / 0.206), 2.309)
    assert rate.on_throttle(Ticket(2.45, rate.epoch, paced=1 / 0.142), 2.451, 3.451)
    assert rate.known is not None
    assert rate.known >= 1 / (0.206 + 0.005) - 1e-9
    after = rate.rate_at(3.451)
    assert after is not None
    assert after >= 0.97 * rate.known - 1e-9


# The 5/s bucket of one with `Retry-After: 1`, at most over the bound (every seed, with
# 0, 3 and 5 ms of jitter each way); before a costly 429 cut from the requests' pace:
# 1.46x, 1.34-1.36x and 1.81-1.83x. (1.2x is still open for the fan-outs; the stream's
# median is out of reach: `[a faster twin]` in the README.)
COSTLY_PAUSES: dict[Shape, float] = {
    ("5/s", 1, "ra1", True, "fan-out"): 1.3,
    ("5/s", 1, "ra1", False, "fan-out"): 1.34,
    ("5/s", 1, "ra1", False, "stream"): 1.72,
}


@pytest.mark.parametrize("shape", list(COSTLY_PAUSES), ids=_shape_id)
@pytest.mark.parametrize(("jitter", "seed"), [(0.0, 0), (0.003, 0), (0.003, 1), (0.005, 2)])
def test_a_bucket_of_one_whose_pauses_cost_many_requests_is_not_paused_again_and_again(
    shape: Shape, jitter: float, seed: int
) -> None:
    _, outcome, least = ride(shape, jitter=jitter, seed=seed)
    assert outcome.failed == 0
    assert outcome.wall <= COSTLY_PAUSES[shape] * least


def test_pages_back_after_a_429_bound_the_first_waves_burst_by_the_rate_they_prove() -> None:
    # 50/s with a bucket of 5, pages 0.2 s slower than 429s, Retry-After: 1. The first
    # wave spans two rounds: 4 pages, then 5 more and the first 429 when the bucket had
    # refilled; 9 admitted "in a burst" while it holds 5. With the probe's pages back
    # after its 429 the proof rises, and so must what it says the first wave refilled:
    # taking the burst as 9 held the rest of the run at 26/s (2.09x the bound).
    rate = AdaptiveRate()
    for _ in range(4):
        rate.on_success(Ticket(0.0, 0), 0.2)
    assert rate.on_throttle(Ticket(0.2, 0), 0.201, 1.201)  # the first 429, a second's wait
    for _ in range(5):
        rate.on_success(Ticket(0.2, 0), 0.4)
    assert rate.burst_bound == 9  # nothing proven yet: no refill to take off
    sent = [1.2] * 3 + [1.3] * 2 + [1.35, 1.4, 1.43, 1.44, 1.46, 1.48]
    sent += [1.49 + i / 100 for i in range(7)]  # the probe reaching 100/s
    for t in sent:
        if t + 0.2 < 1.56:
            rate.on_success(Ticket(t, rate.epoch), t + 0.2)
    assert rate.on_throttle(Ticket(1.56, rate.epoch), 1.561, 2.561)  # the probe's 429
    for t in sent:
        if t + 0.2 >= 1.56:
            rate.on_success(Ticket(t, rate.epoch - 1), t + 0.2)
    assert rate.burst_bound <= 6
    assert rate.known is not None
    assert rate.known > 40


def test_successes_sent_just_after_the_first_429_still_count_in_the_burst() -> None:
    # Requests sent a few ms apart reach the server in any order: these two may have taken
    # what the bucket held before the 429's request came. Left out, a bucket of 20 was
    # bounded at 15 on loopback, and the proofs of the rate, taking off too little, met
    # twice as many 429s (5/s, bucket of 20, pages 200 ms slower).
    rate = AdaptiveRate()
    for _ in range(3):
        rate.on_success(Ticket(0.0, 0), 0.01)
    assert rate.on_throttle(Ticket(0.0, 0), 0.004, 0.004)
    for _ in range(2):
        rate.on_success(Ticket(0.003, 0), 0.01)
    assert rate.burst_bound == 5


def test_a_probe_that_met_a_429_with_nothing_proven_stops_short_of_that_rate() -> None:
    # It probed from half the rate that met the 429 back up past it (a 429 each time).
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.001, 0), 0.002, 0.002)  # the first 429: probing
    rate.on_success(Ticket(0.5, rate.epoch), 0.6)
    met = rate.rate_at(1.0)
    assert met is not None
    assert rate.on_throttle(Ticket(1.0, rate.epoch), 1.001, 1.001)  # nothing proven
    assert rate.rate == pytest.approx(met / 2)
    for i in range(20):  # the probe's successes
        rate.on_success(Ticket(1.1 + i / 10, rate.epoch), 1.15 + i / 10)
    # Halfway (geometrically) to the rate that met it, then the steady growth.
    assert not rate.probing
    assert rate.rate == pytest.approx(met / 2**0.5)


def test_requests_sent_with_a_429_prove_no_refill_after_it() -> None:
    # A fan-out's first wave: 20 admitted, some of them sent in the same instant as the
    # first 429 (they reached the server first, in any order). They are no proof that the
    # bucket refilled after it: counted so, 8 of them "proved" 104/s of a 5/s server.
    rate = AdaptiveRate()
    for _ in range(12):
        rate.on_success(Ticket(0.002, 0), 0.003)
    assert rate.on_throttle(Ticket(0.002, 0), 0.003, 0.003)
    for _ in range(8):
        rate.on_success(Ticket(0.002, 0), 0.003)
    assert rate.on_throttle(Ticket(0.07, rate.epoch), 0.071, 0.071)  # the probe's 429
    assert rate.known is None
    assert rate.rate is not None
    assert rate.rate < 20


def test_a_proof_the_servers_pauses_took_up_does_not_end_the_probe() -> None:
    # 5/s with a bucket of one, Retry-After: 1. After each pause one request gets through
    # and the next, a tenth of a second later, meets a 429: the successes prove about one
    # a second, all of it what the pauses refilled. Settling there (and growing 1 % a
    # second) took 3.8x the bound; the probe goes on, halfway up to the rate that met it.
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.0, 0), 0.001, 1.001)
    for start in (1.0, 2.1, 3.2):
        rate.on_success(Ticket(start, rate.epoch), start + 0.001)
        rate.on_throttle(Ticket(start + 0.1, rate.epoch), start + 0.101, start + 1.101)
    assert rate.known is not None
    assert rate.known < 1.5
    assert rate.probing
    for i in range(8):  # the server allows 5/s: a success every quarter of a second
        sent = 4.3 + i / 4
        rate.on_success(Ticket(sent, rate.epoch), sent + 0.001)
    grown = rate.rate_at(6.3)
    assert grown is not None
    assert grown > 3.0


def test_a_proof_from_more_than_the_pauses_refilled_settles_the_rate() -> None:
    # A window mostly paused, but with ten successes at 20/s in it: more than two pauses
    # could refill in a bucket of one. What it proves is taken as the rate.
    rate = AdaptiveRate()
    rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.0, 0), 0.001, 1.0)
    for i in range(10):
        sent = 1.0 + i / 20
        rate.on_success(Ticket(sent, rate.epoch), sent + 0.001)
    assert rate.on_throttle(Ticket(1.5, rate.epoch), 1.501, 2.5)
    for sent in (2.5, 2.55, 2.6):
        rate.on_success(Ticket(sent, rate.epoch), sent + 0.001)
    assert rate.on_throttle(Ticket(2.65, rate.epoch), 2.651, 3.65)
    assert rate.known is not None
    assert rate.known > 5
    assert not rate.probing


@pytest.mark.parametrize(("admitted", "pause"), [(1, 0.0), (20, 1.0)])
def test_after_a_first_429_the_probe_starts_at_10_per_second_whatever_the_burst(
    admitted: int, pause: float
) -> None:
    # It started at the burst's size per second: 1/s for a bucket of one, seconds of
    # climbing back for a fast server's client that met a lone 429. But a bucket's size
    # says nothing of its rate either way: 20 admitted at once may be a 50/s bucket or a
    # 5/s one. Started at the burst's size per second, the probe met a 5/s bucket of 20 at
    # 3x its rate, and the second's pause it asked for ended with 14 requests sent back to
    # back into the 5 tokens it had refilled.
    rate = AdaptiveRate()
    for _ in range(admitted):
        rate.on_success(Ticket(0.0, 0), 0.001)
    assert rate.on_throttle(Ticket(0.0005, 0), 0.0015, 0.0015 + pause)  # Retry-After: pause
    assert rate.burst_bound == admitted
    assert rate.rate_at(0.0015 + pause) == pytest.approx(10.0)


def test_a_lone_stream_outlasts_a_10_per_minute_server_that_says_retry_after_1() -> None:
    # Its five attempts a second apart lost the page: each 429 since the last success
    # spaces the next request out further, beyond the server's (wrong) wait.
    outcome, _ = _ride(("10/min", 5, "ra1", False, "stream"))
    assert outcome.failed == 0


def test_below_a_request_a_second_the_pace_grows_by_the_request_not_by_the_second() -> None:
    # 1 % a second is 6 % a request at 10 a minute: a 429 every few requests (30 % of them
    # here before), and a fan-out's request that met five in a row was lost.
    outcome, _ = _ride(("10/min", 5, "exact", False, "stream"))
    assert outcome.throttled_share < 0.2
    assert _ride(("10/min", 20, "none", False, "fan-out"))[0].failed == 0


def test_a_server_wait_that_was_wrong_does_not_let_a_request_through_at_its_end_again() -> None:
    async def main() -> list[float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 200, {})
        sent = []
        for _ in range(2):
            ticket = await pacer.acquire()
            sent.append(loop.time())
            pacer.release(ticket, 429, {"retry-after": "1"})
        await pacer.acquire()
        sent.append(loop.time())
        return sent

    first, second, third = run_virtual(main)
    assert second == pytest.approx(first + 1.0)  # the server's time, trusted once
    assert third > second + 1.0 + 0.5  # then paced from the end of the pause


def test_a_long_lived_pacer_keeps_no_record_of_each_request_it_let_through() -> None:
    # A web app's client sends one request after another for days: the batches the pacer
    # tracks (requests sent together, for the server's headers) must not pile up.
    async def main() -> int:
        pacer = Pacer("adaptive")
        for _ in range(500):
            ticket = await pacer.acquire()
            await asyncio.sleep(0.01)
            pacer.release(ticket, 200, {})
        return len(pacer._batches)

    assert run_virtual(main) <= 1


# -- outages ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "burst", "retry_after"), [(50, 5, None), (50, 5, 1), (2, 1, None), (2, 1, 1)]
)
def test_within_30_s_of_a_minute_long_outage_the_client_is_back_at_80_percent_of_the_rate(
    rate: float, burst: int, retry_after: int | None
) -> None:
    # A long-lived client (a web app) has settled; then a minute of nothing but 429s.
    server = TokenBucketServer(rate=rate, burst=burst, retry_after=retry_after, outage=(150, 210))
    steady_load(server, workers=20, until=270)
    assert server.admitted_between(120, 150) >= 0.8 * rate * 30  # settled before
    assert server.admitted_between(240, 260) >= 0.8 * rate * 20  # 30 s after the outage


def test_during_an_outage_a_request_still_goes_every_5_seconds() -> None:
    server = TokenBucketServer(rate=50, burst=5, outage=(30, 90))
    steady_load(server, workers=20, until=90)
    during = [t for t in server.throttled_at if 40 <= t < 90]
    gaps = [b - a for a, b in itertools.pairwise([40.0, *during, 90.0])]
    assert max(gaps) <= 5.1
    assert len(during) <= 12  # ...and not more: a 429 each 5 s while it is down


def test_a_server_whose_limit_was_lowered_is_not_probed_back_to_its_old_rate() -> None:
    server = TokenBucketServer(rate=50, burst=5, lowered=(60, 5))
    steady_load(server, workers=20, until=180)
    assert server.admitted_between(70, 100) >= 0.8 * 5 * 30  # the new rate, found at once
    assert sum(1 for t in server.throttled_at if t >= 60) <= 60  # without hammering it


# -- the gate -------------------------------------------------------------------------------


def test_before_any_429_only_the_slow_start_window_limits_requests_in_flight() -> None:
    async def main() -> list[bool]:
        pacer = Pacer("adaptive")
        tickets = [await pacer.acquire() for _ in range(4)]
        fifth = asyncio.ensure_future(pacer.acquire())
        await asyncio.sleep(1.0)
        blocked = not fifth.done()
        pacer.release(tickets[0], 200, {})  # one success: the window grows to 5, then 6
        await asyncio.sleep(0)
        return [blocked, fifth.done()]

    assert run_virtual(main) == [True, True]


@pytest.mark.parametrize("cut_first", [True, False], ids=["cut-before-it-runs", "no-cut"])
def test_a_turn_handed_out_before_a_cut_and_taken_up_after_it_waits_for_the_new_pace(
    cut_first: bool,
) -> None:
    # A success opens the slow-start window and hands the waiting request its turn; a 429
    # read in the same pass of the loop cuts the pace before that request runs. It has not
    # gone yet: it waits as one asking after the cut would (the probe's 10/s), instead of
    # going on the old, unpaced turn to meet a 429 of its own.
    async def main() -> tuple[float, int, int]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        tickets = [await pacer.acquire() for _ in range(4)]
        waiting = asyncio.ensure_future(pacer.acquire())
        await asyncio.sleep(0)
        start = loop.time()
        pacer.release(tickets[0], 200, {})  # the window opens: the turn is handed out
        if cut_first:
            pacer.release(tickets[1], 429, {})
        ticket = await waiting
        if not cut_first:
            pacer.release(tickets[1], 429, {})
        return loop.time() - start, ticket.epoch, pacer.requests

    waited, epoch, requests = run_virtual(main)
    if cut_first:
        assert waited == pytest.approx(0.1)  # one request interval at 10/s
        assert epoch == 1  # a turn of the new pace
    else:
        assert waited == 0.0
        assert epoch == 0
    assert requests == 5  # the withdrawn turn is not counted as a request sent


def test_a_429_with_retry_after_pauses_every_request_of_the_client() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 429, {"retry-after": "3"})
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert run_virtual(main) >= 3.0


@pytest.mark.parametrize("rate_limit", ["adaptive", 5.0])
def test_a_server_wait_pauses_the_client_for_at_most_max_pause(
    rate_limit: float | str,
) -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = make_pacer(rate_limit, max_pause=120.0)
        ticket = await pacer.acquire()
        pacer.release(ticket, 429, {"retry-after": "86400"})
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert run_virtual(main) == pytest.approx(120.0)


def test_a_5xx_wait_delays_only_its_own_request() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 503, {"retry-after": "30"})
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert run_virtual(main) == 0.0


def test_rate_limit_none_never_pauses() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer(None)
        ticket = await pacer.acquire()
        pacer.release(ticket, 429, {"retry-after": "30"})
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    assert run_virtual(main) == 0.0


def test_a_cancelled_waiter_gives_up_its_place_and_the_queue_moves_on() -> None:
    async def main() -> tuple[int, int]:
        pacer = Pacer(1.0, burst=1)
        await pacer.acquire()
        second = asyncio.ensure_future(pacer.acquire())
        third = asyncio.ensure_future(pacer.acquire())
        await asyncio.sleep(0.1)
        second.cancel()
        await asyncio.sleep(1.0)
        assert third.done()
        return pacer.requests, pacer.in_flight

    assert run_virtual(main) == (2, 2)


def test_waiters_are_served_first_come_first_served() -> None:
    async def main() -> list[int]:
        pacer = Pacer(10.0, burst=1)
        order: list[int] = []

        async def one(i: int) -> None:
            await pacer.acquire()
            order.append(i)

        await asyncio.gather(*(one(i) for i in range(8)))
        return order

    assert run_virtual(main) == list(range(8))


def test_the_rate_cut_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="usage_async"):
        fan_out(TokenBucketServer(rate=50, burst=5), streams=20, pages=5)
    cuts = [r for r in caplog.records if "pacing requests at" in r.getMessage()]
    assert cuts
    assert all(r.levelno == logging.INFO for r in cuts)
    grows = [r for r in caplog.records if "rate grew" in r.getMessage()]
    assert all(r.levelno == logging.DEBUG for r in grows)


def test_make_pacer_refuses_nonsense() -> None:
    for bad in ("fast", 0, -1.0, float("inf"), True):
        with pytest.raises(ua.ConfigurationError):
            make_pacer(bad, max_pause=120.0)  # type: ignore[arg-type]


# -- the estimate ----------------------------------------------------------------------------


def _probed(server_wait: float) -> AdaptiveRate:
    """A first wave of five, a 429; then a probe at 80/s against a server that refills 40/s
    from a full bucket of 5, until its 429 (which comes with ``server_wait`` seconds, from
    the time ``_probe_429``)."""
    rate = AdaptiveRate()
    for _ in range(5):
        rate.on_success(Ticket(0.0, 0), 0.0)
    assert rate.on_throttle(Ticket(0.001, 0), 0.002, 1.0)
    admitted_at, t = _probe_429()
    for sent in admitted_at:
        rate.on_success(Ticket(sent, rate.epoch), sent)
    assert rate.on_throttle(Ticket(t, rate.epoch), t, t + server_wait)
    return rate


def _probe_429() -> tuple[list[float], float]:
    """The probe of ``_probed``: when its requests were admitted, and when its 429 came."""
    t, tokens, admitted_at = 1.0, 5.0, []
    while True:
        tokens = min(5.0, tokens + 40 / 80)
        if tokens < 1:
            return admitted_at, t
        tokens -= 1
        admitted_at.append(t)
        t += 1 / 80


def test_successes_from_a_full_bucket_prove_the_rate_closely() -> None:
    rate = _probed(server_wait=0.0)
    assert rate.known is not None
    assert 36 <= rate.known <= 42
    assert rate.rate == pytest.approx(rate.known * 0.985)


def test_after_a_429_with_a_server_wait_the_pace_keeps_further_below_the_proven_rate() -> None:
    # Each further 429 would pause the whole client: a wider margin makes it rarer.
    without, with_wait = _probed(server_wait=0.0), _probed(server_wait=1.0)
    assert with_wait.known is not None
    assert with_wait.known == without.known
    assert with_wait.rate == pytest.approx(with_wait.known * 0.97)


def test_a_429_whose_window_proves_little_halves_what_was_proven_at_most() -> None:
    # Proven 36-42/s, then the server's pause of a second: the next window is mostly that
    # pause, so its successes prove a few a second. Taken as the rate, that held a 50/s
    # client at a tenth of it for the rest of a run (8.8x the bound, with 5 ms of network
    # jitter on the virtual clock); now one 429 halves what was proven, at most.
    rate = _probed(server_wait=1.0)
    before = rate.known
    assert before is not None
    resumed = _probe_429()[1] + 1.0  # when the server's pause ends
    for i in range(4):
        rate.on_success(Ticket(resumed + i * 0.05, rate.epoch), resumed + i * 0.05 + 0.2)
    assert rate.on_throttle(Ticket(resumed + 0.3, rate.epoch), resumed + 0.301, resumed + 1.3)
    assert rate.known is not None
    assert rate.known >= before / 2


def _in_a_drought() -> tuple[AdaptiveRate, int]:
    """40 pages in a second, a 429, and nothing through until another 429 a second later:
    the server refills less than one a second, so the pace is capped. Returns the rate and
    the epoch of requests sent during that second."""
    rate = AdaptiveRate()
    for i in range(40):
        rate.on_success(Ticket(i / 40, 0), i / 40)
    assert rate.on_throttle(Ticket(1.0, 0), 1.0, 1.0)
    during = rate.epoch
    assert rate.on_throttle(Ticket(2.0, during), 2.0, 2.0)
    assert rate.rate is not None
    assert rate.rate <= 0.5
    return rate, during


def test_a_drought_cap_is_lifted_when_a_request_sent_during_it_succeeds() -> None:
    # A page comes back slower than a 429: a request sent in that second got through.
    rate, during = _in_a_drought()
    rate.on_success(Ticket(1.5, during), 2.1)
    assert rate.rate is not None
    assert rate.rate >= 10


def test_a_success_sent_with_the_droughts_429_lifts_its_cap() -> None:
    # Sent 2 ms after the 429, it may have reached the server first and taken the token
    # the 429 found missing: that 429 says nothing of the refill. (10/min, a bucket of 20,
    # slow pages, 1 ms of jitter: the cap, one request in 40 s, held for the rest of the
    # run, 1.41x the bound in one seed of six.)
    rate, _ = _in_a_drought()
    rate.on_success(Ticket(2.002, rate.epoch), 2.2)
    assert rate.rate is not None
    assert rate.rate >= 10


def test_a_success_sent_after_the_drought_does_not_lift_its_cap() -> None:
    rate, _ = _in_a_drought()
    rate.on_success(Ticket(2.5, rate.epoch), 2.6)
    assert rate.rate is not None
    assert rate.rate <= 0.5


def test_429s_faster_than_pages_do_not_crush_the_pace() -> None:
    # Pages come back 100 ms after the 429s sent with them, so a 429 arrives while
    # requests sent before it are still out.
    server = TokenBucketServer(rate=50, burst=5, retry_after=1, success_delay=0.1)
    outcome = fan_out(server, streams=100, pages=3)
    assert outcome.failed == 0
    assert outcome.wall <= 10 * 300 / 50  # 40x when an overtaking 429 capped the rate


def test_a_429_of_a_request_sent_before_the_last_cut_is_ignored() -> None:
    rate = AdaptiveRate()
    first, stale = Ticket(0.0, 0), Ticket(0.0, 0)
    assert rate.on_throttle(first, 0.01, 0.01)
    cut = rate.rate
    assert not rate.on_throttle(stale, 0.02, 0.02)
    assert rate.rate == cut


def _bucket_of_one_at_one_a_second() -> AdaptiveRate:
    """Ten requests a second apart, admitted; the first 429 (sent at 9.5 s); ten more a
    second apart from 10.5 s, admitted: the rate is proven at about one a second."""
    rate = AdaptiveRate()
    for i in range(10):
        rate.on_success(Ticket(float(i), 0), i + 0.01)
    assert rate.on_throttle(Ticket(9.5, 0), 9.51, 9.51)
    assert rate.refill_since_admission(9.5) is None  # the first 429: its proof is a guess
    for i in range(10):
        rate.on_success(Ticket(10.5 + i, rate.epoch), 10.51 + i)
    return rate


def test_a_429_from_a_bucket_of_one_counts_the_refill_since_the_last_admission() -> None:
    rate = _bucket_of_one_at_one_a_second()
    assert rate.on_throttle(Ticket(20.3, rate.epoch), 20.31, 20.31)
    assert rate.burst_bound == 1.0
    assert rate.known is not None
    assert rate.rate is not None
    # Sent 0.8 s after the latest admission: the next token is due within 0.2 s or so,
    # at the rate proven.
    assert rate.refill_since_admission(20.3) == (19.5, min(rate.known, rate.rate))
    assert 0.9 <= min(rate.known, rate.rate) <= 1.0


def test_a_second_429_since_the_last_admission_counts_no_refill() -> None:
    # The refill counted was wrong (the server's limit was lowered, say): the next wait
    # is a whole request interval again, or a credit growing with each 429 would send
    # request after request into an empty bucket.
    rate = _bucket_of_one_at_one_a_second()
    assert rate.on_throttle(Ticket(20.3, rate.epoch), 20.31, 20.31)
    assert rate.on_throttle(Ticket(20.6, rate.epoch), 20.61, 20.61)
    assert rate.repeated
    assert rate.refill_since_admission(20.6) is None


def test_a_bigger_bucket_keeps_its_refill_so_a_429_counts_none_of_it() -> None:
    rate = AdaptiveRate()
    for _ in range(5):
        rate.on_success(Ticket(0.0, 0), 0.01)
    assert rate.on_throttle(Ticket(0.001, 0), 0.01, 0.01)
    for i in range(40):
        rate.on_success(Ticket(0.1 + i / 10, rate.epoch), 0.11 + i / 10)
    assert rate.on_throttle(Ticket(4.15, rate.epoch), 4.16, 4.16)
    assert rate.burst_bound == 5.0
    assert rate.known is not None
    assert rate.refill_since_admission(4.15) is None


def test_after_a_429_from_a_bucket_of_one_the_next_request_goes_when_the_token_is_due() -> None:
    # One request a second, each back in 10 ms; the first 429, then ten more; then a 429
    # of a request sent 0.8 s after the latest admission. The server's token is due 0.2 s
    # after that request, at the rate proven: the next request goes then, plus the 5 ms a
    # request may reach the server later than the one before it, not a second later.
    async def main() -> tuple[float, float]:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        for i in range(20):
            await asyncio.sleep(max(0.0, i - loop.time()))
            ticket = await pacer.acquire()
            await asyncio.sleep(0.01)
            pacer.release(ticket, 429 if i == 10 else 200, {})
        admitted = loop.time() - 0.01
        await asyncio.sleep(0.8 - 0.01)
        ticket = await pacer.acquire()
        await asyncio.sleep(0.01)
        pacer.release(ticket, 429, {})
        rate = pacer.snapshot(loop.time())[0]  # the pace, under the rate proven
        assert rate is not None
        await pacer.acquire()
        return loop.time() - admitted, rate

    waited, rate = run_virtual(main)
    assert 0.9 <= rate <= 1.0
    assert waited == pytest.approx(1.0 / rate + 0.005, abs=1e-6)


@pytest.mark.parametrize(("limit", "counted"), [(1, True), (5, False)])
def test_the_servers_limit_when_its_headers_say_it_decides_whether_a_429_counts_a_refill(
    limit: int, counted: bool
) -> None:
    # Headers that name the limit but not yet the rate (nothing used so far): the bucket's
    # size is what they say, whatever the first wave suggested.
    rate = _bucket_of_one_at_one_a_second()
    rate.on_headers(RateLimitHeaders(limit=limit, remaining=limit, reset=0.0), 20.0)
    assert rate.header_rate is None
    assert rate.on_throttle(Ticket(20.3, rate.epoch), 20.31, 20.31)
    assert rate.burst_bound == 1.0
    assert (rate.refill_since_admission(20.3) is not None) is counted


def test_with_a_bucket_of_one_a_paced_429_costs_a_fraction_of_a_request_interval() -> None:
    # 10/min, a bucket of one, no Retry-After. Once the rate is proven, a 429 means the
    # request came a little early: the next token is due soon. The next request went a
    # whole interval (6.7 s) later: 1.22x the bound, 1.21-1.23x for each such shape.
    server, outcome, least = ride(("10/min", 1, "none", False, "stream"))
    paced = [t for t in server.throttled_at if t > 60.0]
    assert paced
    for t in paced:
        assert min(a for a in server.admitted_at if a > t) - t < 1.0  # an interval is 6 s
    assert outcome.wall <= 1.2 * least


# -- for real ------------------------------------------------------------------------------


def _token_bucket(rate: float, burst: float) -> Any:
    state = {"tokens": burst, "stamp": time.monotonic()}

    def handler(request: web.Request, n: int) -> Reply:
        now = time.monotonic()
        state["tokens"] = min(burst, state["tokens"] + (now - state["stamp"]) * rate)
        state["stamp"] = now
        if state["tokens"] < 1:
            return Reply(429, {"error": {"message": "slow down", "type": "rate_limit"}})
        state["tokens"] -= 1
        cursor = request.query.get("page")
        i = int(cursor) if cursor else 0
        return Reply(body=page([bucket(i * 86400)], str(i + 1) if i < 3 else None))

    return handler


async def test_a_default_client_completes_a_fan_out_against_2_requests_per_second() -> None:
    server = ScriptedServer(handler=_token_bucket(2.0, 2.0))
    async with server as srv, ua.UsageClient(KEY, base_url=srv.base_url) as client:
        results = await asyncio.gather(
            *(client.costs.collect(start_time=0, project_ids=[f"p{i}"]) for i in range(10))
        )
    assert [len(r) for r in results] == [4] * 10
    statuses = len(srv.requests)
    assert statuses >= 40
    assert statuses - 40 <= 20  # 429s stay a minority, even while the rate is learnt


async def test_a_paced_wait_uses_up_no_attempt() -> None:
    policy = ua.RetryPolicy(max_attempts=1)
    async with ScriptedServer([Reply(body=page([]))]) as srv:
        c = ua.UsageClient(KEY, base_url=srv.base_url, rate_limit=20.0, retry=policy)
        async with c:
            started = time.monotonic()
            await asyncio.gather(*(c.costs(start_time=0) for _ in range(10)))
            elapsed = time.monotonic() - started
    assert len(srv.requests) == 10
    assert elapsed >= (10 - 2) / 20 * 0.9


async def test_a_refused_server_wait_is_raised_and_later_requests_go_on() -> None:
    policy = ua.RetryPolicy(max_retry_after=0.2)
    replies = [Reply(429, headers={"retry-after": "86400"}), Reply(body=page([bucket(0)]))]
    async with (
        ScriptedServer(replies) as srv,
        ua.UsageClient(KEY, base_url=srv.base_url, retry=policy) as client,
    ):
        with pytest.raises(ua.RateLimitError) as info:
            await client.costs(start_time=0)
        assert info.value.retry_after == 86400
        # The server's day-long wait pauses the client for max_retry_after at most.
        later = await asyncio.wait_for(client.costs(start_time=0), timeout=10)
    assert len(later.data) == 1
    assert len(srv.requests) == 2


def test_when_the_server_names_the_time_to_come_back_one_request_goes_then() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        pacer = Pacer("adaptive")
        ticket = await pacer.acquire()
        pacer.release(ticket, 429, {"retry-after-ms": "300"})
        started = loop.time()
        await pacer.acquire()
        return loop.time() - started

    # and a millisecond after, as an exact wait is rounded to the millisecond
    assert run_virtual(main) == pytest.approx(0.301)
