"""The first wave: why a fan-out's 429s before it knows the bucket cannot all be avoided.

Until a server's first 429 comes back, a client told nothing sees the same answers from a
server without a limit and from a token bucket of ``B`` requests: the bucket's first 429 is
the answer to the request after the ``B``-th. Every request that reaches the server in
the round trip that starts there was sent before that 429 could be read, so each is a 429
too (less what the bucket refilled meanwhile). Pick ``B`` as the requests before the
client's busiest round trip against a server without a limit, and that whole round trip
is 429s. So a client that keeps its first wave within ``m`` for every bucket size sends at
most ``m`` requests a round trip, limit or not, and a fan-out that gets through
quickly without a limit meets a first wave as big as its busiest round trip from some
bucket. On the virtual clock of pacing_sim, with the workloads of the pacing matrix and S2.
"""

from __future__ import annotations

import bisect
import math

import pytest
from pacing_sim import TokenBucketServer, fan_out

UNLIMITED = 1e12  # a bucket no workload here empties

# (id, streams, pages, round trip s, the bucket's rate /s, the busiest round trip of
# usage-async's slow start without a limit, at least)
WORKLOADS = [
    ("5/s-fan-out-100x3", 100, 3, 0.001, 5.0, 100),
    ("5/s-fan-out-30x3", 30, 3, 0.001, 5.0, 30),  # --size short
    ("50/s-fan-out-100x3", 100, 3, 0.001, 50.0, 100),
    ("10/min-fan-out-6x5", 6, 5, 0.001, 10 / 60, 6),
    ("S2-40x10-at-20ms", 40, 10, 0.020, 10 / 60, 40),
]


def _arrivals(server: TokenBucketServer) -> list[float]:
    return sorted(server.admitted_at + server.throttled_at)


def _busiest_round_trip(arrivals: list[float], rtt: float) -> tuple[int, int]:
    """How many requests reached the server before the round trip that holds the most of
    them, and how many it holds."""
    best = (0, 0)
    for i, t in enumerate(arrivals):
        held = bisect.bisect_left(arrivals, t + rtt - 1e-9) - i
        if held > best[1]:
            best = (i, held)
    return best


def _first_wave(server: TokenBucketServer, rtt: float) -> int:
    """The 429s of requests that reached the server before its first 429 could be read."""
    if not server.throttled_at:
        return 0
    first = server.throttled_at[0]
    return sum(1 for t in server.throttled_at if t < first + rtt - 1e-9)


@pytest.mark.parametrize(
    ("streams", "pages", "rtt", "rate", "busiest"),
    [w[1:] for w in WORKLOADS],
    ids=[w[0] for w in WORKLOADS],
)
def test_a_bucket_sized_to_the_busiest_round_trip_without_a_limit_meets_all_of_it_as_429s(
    streams: int, pages: int, rtt: float, rate: float, busiest: int
) -> None:
    free = TokenBucketServer(rate=UNLIMITED, burst=UNLIMITED, rtt=rtt)
    unlimited = fan_out(free, streams=streams, pages=pages, max_concurrency=streams)
    sent = _arrivals(free)
    before, held = _busiest_round_trip(sent, rtt)
    # Pigeonhole: some round trip holds at least the requests over the round trips taken.
    assert held >= streams * pages / math.ceil(unlimited.wall / rtt - 1e-9)
    assert held >= busiest

    bucket = TokenBucketServer(rate=rate, burst=before, rtt=rtt)
    outcome = fan_out(bucket, streams=streams, pages=pages, max_concurrency=streams)
    assert outcome.failed == 0
    # Until that bucket's first 429 could be read, the client sent exactly what it sent
    # to the server without a limit ...
    first = bucket.throttled_at[0]
    assert first == pytest.approx(sent[before])
    seen = [t for t in _arrivals(bucket) if t < first + rtt - 1e-9]
    assert seen == pytest.approx(sent[: len(seen)])
    # ... and the whole busiest round trip is 429s, less what the bucket refilled.
    refilled = math.ceil(rate * (sent[before] + rtt))
    assert _first_wave(bucket, rtt) >= held - refilled


@pytest.mark.parametrize(("streams", "pages", "allowed"), [(30, 3, 4), (100, 3, 15)])
def test_a_client_with_few_requests_out_keeps_every_first_wave_small_and_is_slow_without_a_limit(
    streams: int, pages: int, allowed: int
) -> None:
    # The other side: 5 % of a fan-out's 300 requests is 15 429s (4 of the 90 the short
    # matrix sends at 5/s). A client with never more than that many requests out meets at
    # most that many in any first wave, whatever the bucket; without a limit it takes
    # (streams x pages) / allowed round trips instead of `pages`.
    rtt = 0.001
    out = allowed
    free = TokenBucketServer(rate=UNLIMITED, burst=UNLIMITED, rtt=rtt)
    unlimited = fan_out(free, streams=streams, pages=pages, max_concurrency=out)
    assert unlimited.wall >= (streams * pages / out - 1e-9) * rtt
    assert unlimited.wall / (pages * rtt) >= 6.6  # 7.67x (30 x 3) and 7.33x (100 x 3) the floor
    for burst in range(1, 2 * out + 1):
        bucket = TokenBucketServer(rate=5.0, burst=burst, rtt=rtt)
        fan_out(bucket, streams=streams, pages=pages, max_concurrency=out)
        assert _first_wave(bucket, rtt) <= allowed
