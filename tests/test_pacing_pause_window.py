"""What the 50/s fan-outs with ``Retry-After: 1`` take: one pause fits in 1.2x of the
bound, two do not, and after the one the pace must be within a few per cent of the rate.

A client that honours a server's wait sends nothing for it (RFC 6585: ``Retry-After`` says
how long to wait before making a new request), and a pause of a second wastes what the
bucket cannot keep: ``1 - burst / rate`` seconds. At 50/s that is 0.98 s (a bucket of one),
0.9 s (5) and 0.6 s (20), against a slack of a fifth of a 6 s bound. So a client within
1.2x meets one 429 at most (all it sends at once counting as one), and whatever it sends
after it goes at 91-100 % of the rate (a bucket of 20) or 95-100 % (1 and 5): it must have
measured the rate to that by then, from the timing of that one 429. A ``Retry-After: 1``
says nothing of the rate; a 429 that ends a ramp of the pace begun near the rate does, but
a client told nothing cannot begin there: with buckets of one and five, no schedule keeps
both a 50/s and a 45/s bucket within 1.2x, and with a bucket of 20 both a 50/s and a 60/s
one (the last two tests).

Shown with an oracle that knows everything but the rate: the bucket's size, the workload,
when pages come back. Its first 429 comes at the start (after the bucket's burst); after
that pause it sends at a pace of its choosing, and a second 429 pauses it again, after
which it knows the rate exactly. On the simulator's token bucket (pacing_sim).
"""

from __future__ import annotations

import heapq

import pytest
from pacing_sim import TokenBucketServer, least_time

RATE = 50.0
PAUSE = 1.0  # Retry-After: 1
STREAMS, PAGES = 100, 3  # the matrix's 50/s fan-out
SLOW = 0.2  # pages this much slower than 429s, in the slow cells


def _oracle(burst: int, slow: bool, pace: float, rate: float = RATE) -> tuple[float, int]:
    """The oracle's fan-out against a bucket of ``rate`` and ``burst`` that answers 429
    with ``Retry-After: 1``: its wall time and its pauses (the first wave's included).

    Its first wave is one 429 at the start, after the bucket's ``burst`` admissions; after
    that pause it sends each stream's next page as soon as the page before is back and
    its own pacer (``pace``, a bucket of ``burst`` as full as the server's) allows; a
    429 pauses it again, and from then it paces at the rate itself."""
    server = TokenBucketServer(rate=rate, burst=burst, rtt=0.0)
    delay = SLOW if slow else 0.0
    pauses, end = 1, 0.0
    ready: list[tuple[float, int, int]] = []  # (when the stream may send, stream, left)
    for stream in range(STREAMS):
        if stream < burst:
            assert server.admit(0.0)
            end = max(end, delay)
            ready.append((delay, stream, PAGES - 1))
        else:
            ready.append((0.0, stream, PAGES))
    assert not server.admit(0.0)  # the first wave's 429: everyone waits a second
    resume = PAUSE
    tokens, stamp = float(burst), resume
    heapq.heapify(ready)
    while ready:
        at, stream, left = heapq.heappop(ready)
        at = max(at, resume)
        tokens = min(float(burst), tokens + (at - stamp) * pace)
        stamp = at
        if tokens < 1.0:
            at = stamp = at + (1.0 - tokens) / pace
            tokens = 1.0
        if not server.admit(at):
            pauses += 1
            resume = at + PAUSE
            pace, tokens, stamp = rate, float(burst), resume  # it knows the rate now
            heapq.heappush(ready, (resume, stream, left))
            continue
        tokens -= 1.0
        end = max(end, at + delay)
        if left > 1:
            heapq.heappush(ready, (at + delay, stream, left - 1))
    return end, pauses


def _at_a_twin(burst: int, slow: bool, rate: float) -> list[tuple[float, float, int]]:
    """Each pace that keeps the oracle within 1.2x at 50/s, with its wall and pauses at
    ``rate`` (a twin bucket of the same size)."""
    paces = _paces_within(burst, slow)
    assert paces
    return [(pace, *_oracle(burst, slow, pace, rate)) for pace in paces]


def _bound(burst: int, slow: bool, rate: float = RATE) -> float:
    server = TokenBucketServer(rate=rate, burst=burst, success_delay=SLOW if slow else 0.0)
    return least_time(server, STREAMS, PAGES)


def _paces_within(burst: int, slow: bool, rate: float = RATE) -> list[float]:
    """The paces (per 0.1/s) after the first pause that keep the oracle within 1.2x."""
    bound = _bound(burst, slow, rate)
    paces = [p / 10 for p in range(int(rate * 5), int(rate * 20) + 1)]
    return [p for p in paces if _oracle(burst, slow, p, rate)[0] <= 1.2 * bound]


SHAPES = [(1, False), (1, True), (5, False), (5, True), (20, False), (20, True)]
_IDS = [f"b{burst}-{'slow' if slow else 'fast'}" for burst, slow in SHAPES]


@pytest.mark.parametrize(("burst", "slow"), SHAPES, ids=_IDS)
def test_a_second_pause_does_not_fit_in_the_slack(burst: int, slow: bool) -> None:
    bound = _bound(burst, slow)
    # Told the rate after its first pause, the oracle is within 1.2x ...
    wall, pauses = _oracle(burst, slow, RATE)
    assert pauses == 1
    assert wall <= 1.2 * bound
    # ... but a pace a little over it meets a second 429, and then it is not, however
    # well it paces after.
    wall, pauses = _oracle(burst, slow, RATE * 1.25)
    assert pauses == 2
    assert wall > 1.2 * bound


@pytest.mark.parametrize(("burst", "slow"), SHAPES, ids=_IDS)
def test_after_the_one_pause_only_a_pace_within_a_few_percent_of_the_rate_keeps_1_2x(
    burst: int, slow: bool
) -> None:
    paces = _paces_within(burst, slow)
    assert paces, "the oracle told the rate meets 1.2x"
    # A pace over the rate meets a second 429 (with a bucket of 20 as with one: the
    # oracle's pacer and the bucket are both full at the pause's end) ...
    assert max(paces) == RATE
    # ... and under it, the pace must be within 9 % (a bucket of 20: 45.2-45.5/s at
    # least) or 5 % (1 and 5: 47.4-48.3/s).
    assert min(paces) >= (0.9 if burst == 20 else 0.945) * RATE


# Buckets of one and of five: no client told nothing passes both 50/s and 45/s. ---------------

SLOWER = 45.0  # a server 10 % slower, the same bucket: the same answers to the first wave


@pytest.mark.parametrize(("burst", "slow"), SHAPES[:4], ids=_IDS[:4])
def test_no_schedule_keeps_both_a_50_and_a_45_per_second_bucket_within_1_2x(
    burst: int, slow: bool
) -> None:
    """The first wave is answered alike by both (its requests reach the bucket within a few
    ms: 0.15 of a token of refill at 50/s, 0.135 at 45/s), and so is every request after
    the pause until the 45/s bucket refuses one. So a client told nothing sends on one
    schedule against both until then.

    To keep 50/s within 1.2x it meets no second 429 (above), so that schedule sends all
    the workload's requests but the first wave's after the pause and before 1.2x the bound
    (less a page's delay). A 45/s bucket admits at most ``burst + 45 t`` of them in
    those ``t`` seconds: fewer, so it refuses one, and a second pause does not fit in its own
    1.2x (each pause of a second wastes ``1 - burst / rate`` of a second of the bucket's
    refill: it was empty at the 429). Any schedule, not only a steady pace: by counting.
    With a bucket of 20 the count does not close (two pauses waste 1.1 s, within the 1.24 s
    of slack of the 45/s bound)."""
    delay = SLOW if slow else 0.0
    requests = STREAMS * PAGES
    fast_bound, slow_bound = _bound(burst, slow), _bound(burst, slow, SLOWER)
    window = 1.2 * fast_bound - PAUSE - delay  # after the pause, before the last send
    # The first wave got the burst through (and at most one token refilled meanwhile); the
    # rest go after the pause, into a bucket holding the burst at most and its refill.
    after_pause = requests - burst - 1
    assert burst + SLOWER * window < after_pause  # the 45/s bucket refuses one of them
    wasted = 2 * (PAUSE - burst / SLOWER)  # by the first wave's pause and that second one
    assert wasted > 0.2 * slow_bound  # more than the 45/s bound's slack
    assert wasted / 2 <= 0.2 * slow_bound  # (one pause fits: told the rate, 45/s is met)
    # The oracle (a steady pace after the pause, told the rate at a second 429) agrees:
    # every pace that keeps it within 1.2x at 50/s meets a second pause at 45/s, and is
    # then over 1.2x there, however well it paces after.
    for pace, wall, pauses in _at_a_twin(burst, slow, SLOWER):
        assert pauses == 2, pace
        assert wall > 1.2 * slow_bound, pace


# A bucket of 20: no client told nothing passes both 50/s and 60/s. ----------------------------

FASTER = 60.0  # a server 20 % faster, the same bucket: the same answers to the first wave


@pytest.mark.parametrize(("burst", "slow"), SHAPES[4:], ids=_IDS[4:])
def test_no_schedule_keeps_both_a_50_and_a_60_per_second_bucket_of_20_within_1_2x(
    burst: int, slow: bool
) -> None:
    """With a bucket of 20 the slower twin leaves room for two pauses (above); a faster one
    does not leave room for the slow pace 50/s needs. A 60/s bucket of 20 answers the first
    wave alike (0.18 of a token of refill in its 3 ms, 0.15 at 50/s), and from the pause's
    end it holds as many tokens (both are full) and refills faster, so it admits whatever
    the 50/s bucket admits. To keep 50/s within 1.2x a client meets no second 429 there
    (two pauses waste 1.2 s of its refill: the first test), so after its pause it sends
    no faster than the 50/s bucket admits, ``burst + 50 t`` in ``t`` seconds; the 60/s
    bucket admits all of it, the same answers, and the client sends alike. Its last request
    then goes no sooner than the pause plus ``(requests - 2 * burst - 1) / 50`` s (the
    first wave got the burst through, and at most a token refilled meanwhile): 6.18 s, over
    1.2x of the 60/s bound (5.6 s; 5.84 s with slow pages, against 6.38 s). By counting,
    for any schedule of a client that sends nothing during a server's wait; so the pace
    after the pause must be the rate within 9 % and no client told nothing can set it."""
    delay = SLOW if slow else 0.0
    requests = STREAMS * PAGES
    bound, faster_bound = _bound(burst, slow), _bound(burst, slow, FASTER)
    assert 2 * (PAUSE - burst / RATE) > 0.2 * bound  # no second pause at 50/s
    after_pause = requests - burst - 1
    earliest = PAUSE + (after_pause - burst) / RATE + delay
    assert earliest <= 1.2 * bound  # (told the rate, a client meets 50/s this way)
    assert earliest > 1.2 * faster_bound
    # The oracle agrees: every pace that keeps it within 1.2x at 50/s meets no second 429
    # at 60/s, and is over 1.2x there.
    for pace, wall, pauses in _at_a_twin(burst, slow, FASTER):
        assert pauses == 1, pace
        assert wall > 1.2 * faster_bound, pace
