"""What a bucket admits after a server's pause bounds its burst.

With pages slower than 429s, a fan-out's first wave goes out over several round trips, and
a 50/s bucket of 20 admits what a 20/s bucket of 30 would: nothing in it tells the burst
from the rate. The pause a `Retry-After` asks for does: the bucket was empty at the 429
that began it, so at its end it holds ``min(burst, 1 + rate * pause)``; if it then admits
20 and refuses the next, and successes later prove a rate that refills more than 22 in the
pause, it holds 22 at most (one more for the refusal, one for the order requests sent
together reach it in). Step by step; the fan-out itself is pinned on the virtual clock in
test_pacing.py (``BEYOND``).
"""

from __future__ import annotations

from usage_async._pacing import AdaptiveRate, Ticket

PAGE = 0.2  # a page comes back this much later than a 429


def _ok(rate: AdaptiveRate, sent: float, n: int = 1) -> list[tuple[Ticket, float]]:
    """``n`` requests sent at ``sent`` in the current epoch, admitted: their answers."""
    return [(Ticket(sent, rate.epoch), sent + PAGE) for _ in range(n)]


def _back(rate: AdaptiveRate, answers: list[tuple[Ticket, float]]) -> None:
    for ticket, at in sorted(answers, key=lambda answer: answer[1]):
        rate.on_success(ticket, at)


def _slow_first_wave_and_a_pause() -> AdaptiveRate:
    """A 50/s bucket of 20, pages 200 ms slower than 429s: the slow start's first wave
    (4, 8, 16, then 14 admitted of 32), the 429 that pauses the client for a second, and
    what the bucket admits of the 27 sent at the pause's end: 20."""
    rate = AdaptiveRate()
    rate.started = 0.0
    at = 0.0
    for n in (4, 8, 16):
        _back(rate, _ok(rate, at, n))
        at += PAGE
    wave = _ok(rate, at, 14)  # 0.6: the bucket had refilled 14
    assert rate.on_throttle(Ticket(at, 0), at + 0.001, at + 1.001)  # Retry-After: 1
    _back(rate, wave)
    end = at + 1.001
    after = _ok(rate, end, 20)
    assert rate.on_throttle(Ticket(end, rate.epoch), end + 0.001, end + 1.001)
    _back(rate, after)
    return rate


PROBE = [2.677, 2.693, 2.730, 2.763, 2.798, 2.816, 2.832, 2.845, 2.858, 2.869, 2.879, 2.890]
PROBE += [2.899, 2.908, 2.916, 2.924, 2.931, 2.939, 2.945, 2.952, 2.958, 2.964, 2.970, 2.975]


def test_what_a_full_bucket_admits_after_a_pause_bounds_the_burst_once_the_rate_is_proven() -> None:
    rate = _slow_first_wave_and_a_pause()
    # The first wave alone leaves room for a bucket of 42 filled at no rate at all.
    assert rate.burst_bound > 30
    # After the second pause: 15 back to back, then a probe of 24 in 0.3 s, then a 429
    # (the virtual clock's sends, as in the fan-out below).
    answers = _ok(rate, 2.603, 15) + [answer for t in PROBE for answer in _ok(rate, t)]
    throttled = 2.9795
    _back(rate, [answer for answer in answers if answer[1] < throttled])
    assert rate.on_throttle(Ticket(throttled, rate.epoch), throttled + 0.001, throttled + 1.001)
    late = [answer for answer in answers if answer[1] >= throttled]
    bounds = []
    for ticket, at in late:
        rate.on_success(ticket, at)
        bounds.append((rate.known or 0.0, rate.burst_bound))
    # The pause refilled 1 + rate * 0.996 s at most, and the bucket admitted 20 of 27 at its
    # end: once the pages back prove more than 22/s (the bucket was then full), it holds 22
    # at most (20 and one more for the order requests sent together reach it in). Before,
    # the proofs and the first wave's bound narrowed each other a token at a time, at 28
    # still when 26/s was proven (and 33 where the virtual clock's pages came back).
    assert [bound for known, bound in bounds if known >= 23.0]
    assert all(bound <= 22.0 for known, bound in bounds if known >= 23.0)
    # Back to back: one fewer than the full bucket admitted (with all of them, a request
    # a little late to the server met a 429 and a second's pause on loopback).
    assert rate.burst == 19.0
    assert rate.known is not None
    assert rate.known >= 45.0  # of 50/s


def test_a_429_of_the_burst_at_a_pause_end_does_not_end_the_probe() -> None:
    # The 429 among the 27 sent at the pause's end met the bucket, not the pace. On
    # loopback, pages back after it proved 23/s, above the cap of the probe that 429 had
    # set, which ended it: the client kept to 25/s of a 50/s server for the rest of the
    # run (2.05x its bound). Once the bound says the bucket was what it met, it probes on.
    rate = _slow_first_wave_and_a_pause()
    rate.known, rate.probing = 30.0, False  # as after those pages
    rate.rate = 29.0
    steady = rate.rate_at(2.4)
    assert steady is not None
    for t in (2.3, 2.35, 2.4):  # pages back after the 20 sent at the pause's end
        _back(rate, _ok(rate, t))
    assert rate.burst_bound <= 22.0
    assert rate.probing
    probed = rate.rate_at(2.7)
    assert probed is not None
    assert probed >= 1.9 * steady  # a probe doubles every 0.1 s; steady growth is 1 % a second


def test_a_bound_from_a_pause_waits_until_the_rate_is_proven() -> None:
    # Until then the bucket may be a slow one that a second refills only partly: 20 of 27
    # after a pause says the bucket or the refill is about 20, not which.
    rate = _slow_first_wave_and_a_pause()
    rate.on_success(Ticket(2.603, rate.epoch), 2.803)
    assert rate.burst_bound > 30


def test_a_bound_from_a_pause_waits_for_the_pages_still_out() -> None:
    # The 429 after the pause comes back before the 20 pages sent with it: counted then,
    # the bucket would seem to hold 2.
    rate = _slow_first_wave_and_a_pause()
    rate.known = 50.0
    rate.on_success(Ticket(1.7, rate.epoch), 1.701)  # a page back before they are
    assert rate.burst_bound > 30
    _back(rate, _ok(rate, 2.3))  # the next page back after them, long after
    assert 20.0 <= rate.burst_bound <= 22.0
