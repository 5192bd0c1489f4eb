"""One request pace per client, shared by all its streams.

Every attempt awaits :meth:`Pacer.acquire` before it takes a concurrency slot, and hands
its outcome to :meth:`Pacer.release`. A paced wait is not a retry: it holds no slot and uses
up no attempt. An attempt whose turn a 429 overtook before its request was written (while
it waited for a slot or a new connection: :meth:`Pacer.overtaken`) is withdrawn and waits
for a new turn.

``rate_limit="adaptive"`` (the default) works like the AWS SDKs' adaptive retry mode, with
a better estimate of the server's rate, because the admin endpoints allow only a few
requests per minute and often send no ``Retry-After`` (API-NOTES #4):

* Until the first 429 nothing is paced. Only the number of requests in flight ramps up
  like TCP's slow start (4, then one more per success), so that 100 streams started at
  once do not hit the server as one burst of 100.
* The first 429 switches pacing on. The successes before it bound the server's burst
  from above, less what it refilled while they were out at the least rate proven so far
  (each time a proof rises: with slow pages, the first wave's later requests found the
  bucket full again, and counting them in the burst held a 50/s server at half its rate).
  The rate then probes upwards (doubling with every success, from 10/s: a bucket's size
  says nothing of its rate) until the next 429.
* At each later 429 the rate is set just below the best lower bound on the server's rate
  that the successes prove (a token bucket admits at most ``burst + rate * t`` requests in
  any ``t`` seconds; but not below half of what was proven before, as a window mostly the
  server's pause or a drought proves little), or halved when they prove nothing (then
  the probe goes only halfway back, geometrically, to the least rate that met such a
  429; and only once while nothing gets through after a server's wait: its retries came
  at the server's word, too early, not at the pace). After a probe's 429 without a wait
  the probe goes on, halfway to the pace that met it (its successes, sent below the rate
  most of the time, prove too little), unless they are about all the window since the 429
  before could have held (a bucket of a few or more, nothing out). Then the rate grows
  slowly (1 % of itself per second, or per request interval below a request a second) so
  a raised limit is found again. Just below means 1.5 %, or 3 % when the 429 came with a
  server wait: then each further 429 pauses the whole client, so the probe for a raised
  limit comes later.
* Successes count by when they were sent, not when they came back: a page sent before a
  429 but back after it (pages are slower than 429s) still proves the rate the cut
  assumed, and raises it when it proves more (a probe then goes on from there; after a
  probe's 429, up to halfway from there to the pace that met it: the cap the cut would
  have set had those pages been back). Requests sent in the same instant as a 429
  prove nothing about the time after it (they reached the server in any order).
* A proof whose window the server's pauses took up, with no more successes than those
  pauses refilled (a bucket each) and a few, is only a lower bound: a pause longer than
  the bucket takes to fill wastes the rest (5/s, a bucket of one, ``Retry-After: 1``:
  about one a second). Then the probe goes on, halfway up to the rate that met the 429.
* While nothing gets through, the rate is capped at a quarter of what the time without a
  success allows (so a lone stream's retries reach far enough for a slow server), and a
  server wait that was wrong once is not trusted to let a request through at its end.
  The cap is lifted if a request sent in that time, or with its last 429, succeeds after
  all (a 429, with no page to send, can overtake the 200s of requests sent before it, and
  one sent a few ms after it may have reached the server first). It never goes
  below one request every 5 s (unless the server was proven 8 times slower than that), so
  a server that is back after an outage is noticed within seconds.
* When requests get through again after such a drought, the rate probes up again (from
  where the drought left it when nothing was proven before it), or back up to what
  the server was proven to allow before it, doubling with every success, instead of
  growing 1 % a second (which took most of an hour after a minute of 429s). The successes
  from before the drought no longer count as proof: if the server came back slower (its
  limit lowered), the probe's first 429 finds the new rate.
* When responses carry OpenAI's ``x-ratelimit-limit-requests``,
  ``x-ratelimit-remaining-requests`` and ``x-ratelimit-reset-requests``, they set the pace
  directly and the estimate above is only the fallback: read as a token bucket (OpenAI:
  the reset is "the time until the rate limit resets to its initial state", and its limits
  refill continuously), ``limit`` is the bucket, and ``reset`` the time until it is full
  again, so ``limit - remaining`` requests refill in ``reset`` seconds. Each response pins
  the rate to ``[(used - 1) / reset, used / reset]`` (``remaining`` is whole tokens); the
  pace is 99 % of the least upper bound so far. At each response the client's own bucket
  is set to the server's: its level then (``limit - rate * reset``), replayed with the
  requests sent since, so a full bucket goes out at once and an empty one waits for its
  next token. Answers to requests sent together come back in any order: only the one
  naming the latest time the bucket is full again is the server's latest state. Requests
  sent before the answered one and still out count as still to come (one waiting for a new
  connection is overtaken by one sent later on an open one), less the admissions the
  answer shows since the latest answer (each moves that time on by a token's refill).
* A 429's ``retry-after-ms`` that is not a whole number of seconds is taken as the server's
  exact wait for its next token, ``(1 - tokens) / rate``: so ``1 / wait`` bounds the rate
  from above (at a client's first 429, back sooner after its first request than the wait
  it names, or sent within a quarter of it, ``1 / (wait + span)``, ``span`` from when the
  first request came back admitted: a bucket that started full, of whole tokens, refilled
  at least that long, and less than a token, as ``k`` tokens refilled make ``wait +
  span`` ``k + 1`` token intervals, and ``k`` waits fit in ``span``; ``1 / wait`` paced
  too fast and met a second 429 whenever the bucket had refilled some of a token; and at any
  429 of a lone request, nothing else out, ``1 / (sent + wait - back)``, ``back`` when the
  success before it came back: no token went in between). Both spans count from that
  success's send instead when its round trip is within 5 % of the span: a server checks
  its limit when a request reaches it, and the 429, counted from its send, reached it as
  late (a 10/min stream of 200 ms pages paced by ``1 / wait`` met a second 429). The
  time that token is due moves on by one request interval per request admitted between
  two such 429s, which bounds it from below, and from above when the requests between
  went out at about the rate (the bucket had no time to fill). The pace is then 99 % of
  the least upper bound, not probed past until 100 successes and a minute without such a
  429 (then it grows as usual, so a raised limit is found); successes proving a faster
  server (from a 429's due token, not from the burst, a guess) drop the bound and the
  trust for good. Pages admitted between two such 429s and back after the second count
  when they are back. ``Retry-After: 1`` says nothing of the rate.
* A 429's ``Retry-After`` (or ``retry-after-ms``, and then 1 ms longer: it is rounded
  either way) pauses every request of the client, not only the one that received it, for
  at most the client's ``max_retry_after``: a longer wait is one the retry layer refuses
  (it raises at once), and the client's other requests go on after that cap; a 5xx's
  wait delays only its own request.

The decisions live in :class:`AdaptiveRate`, a pure object fed with times and outcomes;
:class:`Pacer` is the asyncio gate that enforces them: waiters are served first come,
first served, and a waiter that is cancelled gives up its place.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import logging
import math
import re
from collections.abc import Mapping, Sequence

import attrs

from .errors import ConfigurationError, parse_retry_after

__all__ = [
    "AdaptiveRate",
    "Pacer",
    "RateLimitHeaders",
    "Ticket",
    "make_pacer",
    "parse_duration",
    "parse_rate_limit_headers",
]

log = logging.getLogger("usage_async")


# Tuning, in one place. Measured with `python -m benchmarks --only S5` and `--only pacing`
# (benchmarks/README.md), and on the virtual clock of tests/pacing_sim.py (every shape).
INITIAL_WINDOW = 4  # requests in flight before anything is known (slow start)
PROBE_DOUBLING = 0.1  # seconds: while probing, the rate doubles this often at most,
# never faster than every half request interval, and at most once per success
PROBE_MAX_DOUBLINGS = 64.0  # ... and at most this many times over (a float must not overflow)
PROBE_AGAIN = 1.1  # after a probe's 429, probe on when halfway up is this much higher
STEADY_MARGIN = 0.985  # pace this far below the proven rate
WAIT_MARGIN = 0.97  # or this far, when the 429 came with a server wait
COSTLY_MARGIN = 0.8  # or this far below half the pace that met a server wait of a request
# interval or more, with a bucket of one (AdaptiveRate.on_throttle)
STEADY_GROWTH = 0.01  # afterwards, grow by this fraction of the rate per second, and
STEADY_GROWTH_PER_SUCCESS = 0.001  # by this fraction per success (at most
STEADY_GROWTH_MAX = 0.1  # this fraction per second), unless the last 429 came with a
# server wait: then each further 429 pauses the whole client, so grow slowly
NEAR_429 = 0.03  # within this fraction either side of the pace the latest steady 429 came
NEAR_429_GROWTH = 0.05  # at, grow this much as fast: that pace was just too much, so stay
# near it for long (a long job met a 429 every 3-4 s), yet find a limit raised later
SLOW_SERVER = 1.0  # requests per second: below this, steady growth goes by the request
FIRST_PROBE = 10.0  # requests per second: the probe after a first 429 starts here (from
# 1/s, a 50/s server's lone 429 cost its client seconds of climbing back; from the burst's
# size per second, a 5/s bucket of 20 was probed at 3-4x its rate, and at 50/s, with slow
# pages, the first wave's loose bound (33-42) sent 27 into a bucket of 20 after a pause)
DROUGHT_CUT = 4.0  # while nothing gets through, pace at this fraction of the most the time
# without a success allows: 4 retries then span 30x the first wait (a lone stream against a
# 10/min server must not run out of attempts)
MIN_RATE = 1 / 120  # never slower than one request per two minutes
DROUGHT_PROBE = 5.0  # seconds: while nothing gets through, still send one request this
DROUGHT_DEPTH = 8.0  # often, or 1/8 of the rate proven before (a slow server): a server
# back after an outage is noticed within seconds, at the cost of a 429 each 5 s while down
ESTIMATE_MIN_COUNT = 3  # successes beyond the burst a window needs to bound the rate
CENTRE = 0.5  # a window pins the rate to [bound, bound + 1/t): take the middle
PAUSED_PROOF = 0.5  # a proof whose window was at least this much the server's pauses, with
# no more successes than those refilled (a bucket each) and a few: only a lower bound
HISTORY = 4096  # successes remembered for the estimate
ONE_PAIRS = 64  # with a bucket of one, the latest successes whose spacing bounds the rate
SMALL_BUCKET = 2.0  # tokens: a bucket bounded below this cannot keep what refills while
# the client waits after a 429, so the client counts that refill (Pacer._after_cut)
REFILL_JITTER = 0.005  # seconds of that refill not counted: a request may reach the server
# this much later after its send than the one before it did


SAME_TIME = 0.001  # seconds: requests sent this close together reach the server in any order
HEADER_MARGIN = 0.99  # pace this far below the rate the headers say
HEADER_SLACK = 0.005  # seconds: send this much after the server's token is back, when
SLACK_MIN = 0.02  # the bucket has room; else this much of a token, doubled (plus this) at
SLACK_MAX = 0.25  # each 429 up to this, and shrunk by this factor at each success (a
SLACK_DECAY = 0.99  # bucket of one: each request waits that much of a token interval more)
HEADER_TIE = 0.001  # seconds: reset times this close are the same (headers round to 1 ms)
EXACT_MARGIN = 0.99  # pace this far below the least rate a 429's exact wait allows
FRESH_SPAN = 0.25  # of the wait: a client's first 429 sent this soon after its first
# request found a full bucket drained, even if read late (see AdaptiveRate.on_throttle)
ADMISSION_SPREAD = 0.05  # of a token interval: a success's round trip at most this long is
# taken as admitted when it reached the server, as the 429 after it was (_admitted_span)
EXACT_TICK = 0.001  # seconds: retry-after-ms is whole milliseconds (rounded either way)
EXACT_JITTER = 0.005  # seconds: a request may reach the server this much later than the
# one before it, beyond their sends (an upper bound from two waits allows for it)
EXACT_STEADY = 1.5  # request intervals: requests at most this far apart between two such
# 429s leave the server's bucket no time to fill up
EXACT_CONTRADICTED = 1.05  # successes proving this much more than that: the waits were not
# exact after all, trust none again
EXACT_FAR = 0.5  # a cut that leaves the pace under this share of the waits' bound, with a
# bucket of about one, probes back up to that bound (AdaptiveRate.on_throttle)
EXACT_EXPIRES = 100  # successes, and
EXACT_EXPIRES_AFTER = 60.0  # seconds, without a 429 naming an exact wait: the bound those
# waits set is dropped, so a limit raised later is found (at a 429 a minute at most)
HEADER_MISMATCH = 1.05  # a response's rate interval this far outside the one so far: the
# server changed its limit, start again from that response


@attrs.define(slots=True)
class Ticket:
    """One request let through: when it was sent, under which rate decision, how many
    requests the pacer had let through before it and the others sent at the same time, and
    the pace it went at."""

    sent_at: float
    epoch: int
    seq: int = 0
    paced: float | None = None  # 1 / the time since the request before it (same pause)


# -- the server's own account: x-ratelimit-* headers ------------------------------------------

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(h|ms|m|s|us|µs|ns)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def parse_duration(text: str) -> float | None:
    """Seconds of a duration as OpenAI's ``x-ratelimit-reset-*`` headers write it (Go's
    format: ``"1s"``, ``"6m0s"``, ``"20ms"``, ``"1m30.5s"``, ``"1h2m3s"``) or a bare number of
    seconds; None when it is neither."""
    text = text.strip()
    try:
        bare = float(text)
    except ValueError:
        pass
    else:
        return bare if math.isfinite(bare) and bare >= 0 else None
    total, end = 0.0, 0
    for part in _DURATION_PART.finditer(text):
        if part.start() != end:
            return None
        total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
        end = part.end()
    return total if end and end == len(text) else None


@attrs.frozen
class RateLimitHeaders:
    """The server's account of its request limit in one response.

    ``limit`` requests when the bucket is full, ``remaining`` whole requests left after this
    one, ``reset`` seconds until the bucket is full again.
    """

    limit: int
    remaining: int
    reset: float


def _whole(raw: str | None) -> int | None:
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders | None:
    """The ``x-ratelimit-{limit,remaining,reset}-requests`` headers, or None unless all three
    are there and make sense (a limit of at least 1, at most that many remaining)."""
    limit = _whole(headers.get("x-ratelimit-limit-requests"))
    if limit is None:
        return None  # the common case, decided with one look-up
    remaining = _whole(headers.get("x-ratelimit-remaining-requests"))
    raw_reset = headers.get("x-ratelimit-reset-requests")
    reset = None if raw_reset is None else parse_duration(raw_reset)
    if remaining is None or reset is None or limit < 1 or remaining > limit:
        return None
    return RateLimitHeaders(limit, remaining, reset)


def _wait_ms(headers: Mapping[str, str], wait: float | None) -> float | None:
    """The server's ``wait`` (:func:`parse_retry_after`) in milliseconds when it came from
    ``retry-after-ms`` (so it is rounded to the millisecond, either way); else None."""
    raw = headers.get("retry-after-ms")
    if wait is None or raw is None:
        return None
    try:
        ms = float(raw)
    except ValueError:
        return None
    return ms if ms / 1000.0 == wait else None  # else Retry-After decided


def _admitted_span(due: float, sent: float, back: float) -> float:
    """From when a success sent at ``sent``, back at ``back``, was admitted to ``due``,
    when a 429's exact wait said the next token is due (counted from its send). Admitted
    by ``back`` for sure, so ``due - back`` is the least span; but a server checks its
    limit when a request reaches it, and the 429, counted from its send, reached it as late
    (the same way there): so ``due - sent``, unless the success's round trip is more than
    ADMISSION_SPREAD of the span (a slow page, a busy network: then the least)."""
    least, arrived = due - back, due - sent
    return arrived if arrived <= least * (1.0 + ADMISSION_SPREAD) else least


def _steady(times: list[float], rate: float) -> bool:
    """Whether requests at ``times`` (in order) went no further apart than EXACT_STEADY
    request intervals at ``rate``: a bucket had no time to fill up between them."""
    return max(b - a for a, b in itertools.pairwise(times)) * rate <= EXACT_STEADY


def _exact_wait(headers: Mapping[str, str], wait: float | None) -> float | None:
    """``wait`` when it is a token bucket's exact wait for its next token: it came from
    ``retry-after-ms`` and is not a whole number of seconds (a server that rounds its wait
    up to seconds says little about its rate); else None."""
    ms = _wait_ms(headers, wait)
    if wait is None or ms is None or not wait > 0 or ms % 1000.0 == 0.0:
        return None
    return wait


class AdaptiveRate:
    """The adaptive rate decisions, as a pure object: feed it times and outcomes."""

    def __init__(self) -> None:
        self.rate: float | None = None  # requests per second at `_grow_from`; None = unpaced
        self.window: float | None = float(INITIAL_WINDOW)  # in-flight cap before any 429
        self.probing = False
        self.epoch = 0  # bumped at each cut; a 429 of an older ticket cannot cut again
        self.cut_epoch = 0  # the epoch the latest cut began
        self.known: float | None = None  # the best proven lower bound on the server's rate
        self._first_throttle: float | None = None
        self.started: float | None = None  # when the client sent its first request
        self._first_back: float | None = None  # when the first of those came back admitted
        # (sent, back) of the success back last, and whether no other success was out then
        self._last_ok: tuple[float, float] | None = None
        self._last_ok_alone = False
        self._early: list[float] = []  # when the successes sent in the second before the
        # first 429 were sent, in order
        self._early_rate = 0.0  # the server's rate then, at least (refills the first wave)
        self._burst_bound = 1.0  # the most the server's bucket holds (see burst_bound)
        self._refused = -math.inf  # when the latest 429 (of any epoch) was sent
        self._slowest = 0.0  # seconds: the longest a success took to come back
        # (anchor 429 sent, pause end, first 429 sent after it) of pauses not yet counted
        self._pending_groups: list[tuple[float, float, float]] = []
        # (admitted, span) after the latest pauses: see _count_groups
        self._group_caps: collections.deque[tuple[float, float]] = collections.deque(maxlen=16)
        self._group_burst = math.inf  # one fewer than a full bucket admitted after a pause
        self._grow_from = 0.0  # the rate grows (probing or steady) from here
        self._probe_successes = 0  # of requests sent since the last cut
        self._drought_from: float | None = None  # the first 429 since the last success
        self._recall: float | None = None  # the rate proven when the drought began
        self._probe_cap: float | None = None  # a recovery probe grows up to this rate
        self._too_fast: float | None = None  # the least paced rate a 429 came at, unproven
        self._band: float | None = None  # the centre of the band of slow growth, set at a
        # steady 429 (_band_centre): the pace it came at, or near the proof
        self._guessed = False  # whether the probe's cap is a guess below `_too_fast`
        self._guess_reached = False  # a probe reached that guess since the last cut
        # (drought start, its last 429, the rate without the cap) while a drought caps it
        self._unceiled: tuple[float, float, float] | None = None
        self._paused_by_server = False  # whether the last cut came with a server wait
        self._pauses: collections.deque[tuple[float, float]] = collections.deque(maxlen=16)
        self.repeated = False  # whether the last cut's 429 was not the first of a drought
        self._successes: collections.deque[float] = collections.deque(maxlen=HISTORY)
        self._last_throttle: float | None = None
        self._last_answered = -math.inf  # when that 429 came back
        # (its 429 sent, the one before, when that one came back)
        self._cut: tuple[float, float | None, float] | None = None
        self._cut_due: float | None = None  # when its exact wait said the next token is due
        self._cut_pace: float | None = None  # the pace that met a probe's 429 (its cap's top)
        self._logged_rate = 0.0
        self.limit: int | None = None  # the server's bucket, from its x-ratelimit headers
        self._header_low = 0.0  # the rate those headers pin down, so far
        self._header_high = math.inf
        self._full_at = -math.inf  # when the latest answer said the bucket is full again
        self.unseen = 0  # admissions between the latest two such answers, answers still out
        self._wait_high = math.inf  # the least upper bound on the rate from exact waits
        self._wait_seen = (-math.inf, 0)  # the latest such 429 (when), successes since
        self._trust_waits = True  # until successes prove a rate above such a bound
        # (sent, when the server's next token was due, when the 429 came back) of the latest
        # 429s with exact waits
        self._token_due: collections.deque[tuple[float, float, float]] = collections.deque(maxlen=8)
        self._refusals: collections.deque[float] = collections.deque(maxlen=HISTORY)  # 429s sent

    @property
    def burst_bound(self) -> float:
        """The most the server's bucket holds (:meth:`_bound_burst`)."""
        return self._burst_bound

    def _bound_burst(self) -> None:
        """Bound the server's burst from above by what it admitted just before its first
        429, less what it refilled meanwhile, at the least rate proven so far.

        The bucket was left with less than a token at the first 429. Had it been full just
        before the early success sent at ``t``, it admitted the successes sent from then on
        out of what it held and what it refilled since: so it holds at most those successes
        less that refill. It was full at one such ``t`` at least (it began full), so the
        bound is the most of that over every ``t``. Taking only the first overcounts once
        the refill passes what the bucket could take in (slow pages: the first wave's later
        requests found it full again). Successes sent after that 429, before it was back,
        count too: requests sent a few ms apart reach the server in any order, so they may
        have taken what it held (left out, they made the bound of a bucket of 20 15 on
        loopback, and the proofs met twice as many 429s).
        """
        early, rate = self._early, self._early_rate
        if not early:
            self._burst_bound = 1.0
            return
        last = early[-1]  # (taking the refill only up to the last keeps the bound safe)
        self._burst_bound = max(
            1.0,
            *(len(early) - i - math.floor(rate * (last - t)) for i, t in enumerate(early)),
        )
        proven = max(rate, self.known or 0.0)
        self._group_burst = math.inf
        for admitted, span in self._group_caps:
            if proven * span >= admitted + 2.0:
                self._burst_bound = min(self._burst_bound, admitted + 2.0)
                self._group_burst = min(self._group_burst, max(1.0, admitted - 1.0))

    @property
    def burst(self) -> float:
        """Requests to send back to back when the bucket is full: the server's limit when
        its headers say it, else one short of the bound, which may include a token refilled
        while the first wave was out."""
        if self.limit is not None:
            return float(self.limit)
        return max(1.0, min(self.burst_bound - 1.0, self._group_burst))

    @property
    def server_rate(self) -> float | None:
        """The rate the server's x-ratelimit headers say (their least upper bound)."""
        high = self._header_high
        return high if self.limit is not None and math.isfinite(high) else None

    @property
    def header_rate(self) -> float | None:
        """The rate the server's x-ratelimit headers pin down (their least upper bound),
        paced at 99 % of it."""
        # A little under: a request reaching a full bucket restarts its refill on arrival,
        # later than our own bucket, which counts from the send.
        rate = self.server_rate
        return None if rate is None else rate * HEADER_MARGIN

    @property
    def wait_rate(self) -> float | None:
        """The most the pace may be when 429s named the exact wait for the server's next
        token (``retry-after-ms``): 99 % of the least rate those waits allow."""
        high = self._wait_high
        return high * EXACT_MARGIN if math.isfinite(high) else None

    def rate_at(self, now: float) -> float | None:
        """The pace at ``now``: None (unpaced), or requests per second."""
        told = self.header_rate
        if told is not None:
            return told
        if self.rate is None:
            return None
        capped = self.wait_rate
        if capped is not None:
            return min(capped, self._grown_at(now))
        return self._grown_at(now)

    def _grown_at(self, now: float) -> float:
        assert self.rate is not None
        elapsed = max(0.0, now - self._grow_from)
        if self.probing:
            doubling = max(PROBE_DOUBLING, 0.5 / self.rate)
            # At most 2**PROBE_MAX_DOUBLINGS: a probe held under another cap (the waits'
            # bound) for minutes would otherwise overflow a float.
            doublings = min(elapsed / doubling, self._probe_successes + 1.0, PROBE_MAX_DOUBLINGS)
            probed = float(self.rate * 2.0**doublings)
            return probed if self._probe_cap is None else min(probed, self._probe_cap)
        # Below a request a second, grow by the request instead of by the second: 1 % a
        # second is 6 % a request at 10 a minute, a 429 every few requests.
        growth = STEADY_GROWTH * elapsed * min(1.0, self.rate / SLOW_SERVER)
        if not self._paused_by_server:
            growth += min(
                STEADY_GROWTH_PER_SUCCESS * self._probe_successes, STEADY_GROWTH_MAX * elapsed
            )
        grown = self._through_band(self.rate, self.rate * (1.0 + growth))
        if grown > self._logged_rate * 1.1:
            self._logged_rate = grown
            log.debug("request rate grew to %.3g/s", grown)
        return grown

    def _through_band(self, rate: float, grown: float) -> float:
        """Steady growth from ``rate`` to ``grown``, slowed within NEAR_429 of the band's
        centre, set at the latest steady 429 (the band then takes 1 / NEAR_429_GROWTH as long
        to cross)."""
        met = self._band
        if met is None:
            return grown
        low, high = max(rate, met * (1.0 - NEAR_429)), met * (1.0 + NEAR_429)
        if grown <= low or high <= low:
            return grown
        slowed = low + (grown - low) * NEAR_429_GROWTH
        if slowed <= high:
            return slowed
        return grown - (high - low) * (1.0 / NEAR_429_GROWTH - 1.0)  # beyond: as before

    def _band_centre(self, pace: float) -> float:
        """Where the band of slow growth goes after a steady 429 that came at ``pace``:
        there, but with a bucket that holds more than one request, from the second such
        429 on, not more than NEAR_429 above the proven rate. Such a bucket lets a pace a
        little over its rate through until it has drained (20 tokens at 5.2/s against 5/s
        take 100 s), so the pace that meets its 429 is well above the rate (5.8/s, then
        5.6, 5.4, 5.2 in a 5/s bucket of 20), and a band there would be no brake; the proof
        is near the rate by then (4.9/s), unlike the first one after the probe (4.3/s)."""
        if self._band is None or self.known is None or self._burst_bound < SMALL_BUCKET:
            return pace
        return min(pace, self.known * (1.0 + NEAR_429))

    def on_success(self, ticket: Ticket, now: float) -> None:
        """A request let through at ``ticket.sent_at`` succeeded."""
        self._successes.append(ticket.sent_at)
        if self._first_back is None and ticket.sent_at == self.started:
            self._first_back = now
        before = self._last_ok
        self._last_ok_alone = before is None or before[1] <= ticket.sent_at
        self._last_ok = (ticket.sent_at, now)
        if now - ticket.sent_at > self._slowest:
            self._slowest = now - ticket.sent_at
        if self._pending_groups:
            self._count_groups(now)
        if math.isfinite(self._wait_high):
            self._expire_waits(now)
        if self.window is not None:
            self.window += 1.0
        if ticket.epoch == self.epoch:
            self._probe_successes += 1
        drought = self._drought_from
        ended = drought is not None and ticket.sent_at >= drought
        if ended:
            self._drought_from = None
        unceiled = self._unceiled
        if unceiled is not None and unceiled[0] <= ticket.sent_at <= unceiled[1] + REFILL_JITTER:
            # A page comes back slower than a 429: this request, sent during the drought
            # (or with its last 429: it may have reached the server first), got through,
            # so the drought that capped the rate was not one.
            self._unceiled = None
            if self.rate is not None and self.rate < unceiled[2]:
                self.rate = unceiled[2]
                log.info("request rate restored to %.3g/s (a 429 overtook a success)", self.rate)
        if ended:
            self._recover(now)
        elif self._probe_cap is not None and ticket.epoch == self.epoch:
            self._probe_on(now)
        self._late_proof(ticket, now)
        first = self._first_throttle
        if ticket.epoch == 0 and first is not None and first - 1.0 <= ticket.sent_at:
            bisect.insort(self._early, ticket.sent_at)  # out before the first 429, back after
            self._bound_burst()

    def on_headers(self, info: RateLimitHeaders, answered: float) -> float | None:
        """A response the server gave at ``answered`` carried its account of its bucket:
        learn its limit and rate.

        Returns the bucket's level (tokens) when the server answered, or None while the
        headers do not pin the rate yet (then the adaptive estimate decides) and when an
        answer the server gave later has come back already: the time the bucket will be full
        again, ``reset`` from when it answered, only moves on as it admits requests, so the
        latest answer is the one that names the latest time.
        """
        if info.limit != self.limit:
            if self.limit is not None:
                log.info("the server's request limit is now %d", info.limit)
            self.limit = info.limit
            self._header_low, self._header_high = 0.0, math.inf
        used = info.limit - info.remaining
        if info.reset > 0 and used >= 1:
            # `remaining` is the level rounded down: level in [remaining, remaining + 1), so
            # the `used` to `used - 1` tokens missing refill in `reset` seconds.
            low, high = (used - 1) / info.reset, used / info.reset
            known_low, known_high = self._header_low, self._header_high
            if low > known_high * HEADER_MISMATCH or high * HEADER_MISMATCH < known_low:
                log.info("the server's request rate changed: about %.3g/s", high)
                self._header_low, self._header_high = low, high
            else:
                self._header_low = max(self._header_low, low)
                if high < self._header_high:
                    if not math.isfinite(self._header_high):
                        log.info("pacing requests at %.3g/s, as the server's headers say", high)
                    self._header_high = high
        self.window = None  # the server says what it allows: no slow start
        rate = self.server_rate
        full_at = answered + info.reset
        if rate is None or full_at < self._full_at - HEADER_TIE:
            return None
        # Each request the server admits moves that time on by a token's refill: the steps
        # between the latest answer and this one are admissions whose answers are still out.
        before = self._full_at
        self.unseen = max(0, round((full_at - before) * rate) - 1) if before > -math.inf else 0
        self._full_at = max(self._full_at, full_at)
        level = info.limit - rate * (info.reset + HEADER_TIE / 2)  # reset: to the ms
        return min(max(level, float(info.remaining)), info.remaining + 1.0)

    def _recover(self, now: float) -> None:
        """The first success after a drought: if the drought dragged the rate below half of
        what the server was proven to allow before it (an outage, say), probe back up to
        that rate (:meth:`_probe_on`) instead of growing 1 % a second."""
        recall, rate = self._recall, self.rate_at(now)
        if rate is None:
            return
        if recall is None:
            if not self.probing:
                # Nothing was proven before the drought, which dragged the rate down as far
                # as the time without a success allowed: find the rate again from here.
                self.rate, self.probing, self._probe_cap = rate, True, None
                self._guessed = False
                self._probe_successes = 0
                self._grow_from = now
            return
        margin = WAIT_MARGIN if self._paused_by_server else STEADY_MARGIN
        target = recall * margin
        capped = self.wait_rate
        if capped is not None:
            target = min(target, capped)  # not above what the server's waits allow
        if rate >= target / 2.0:
            return  # a short drought: the usual growth will do
        self.rate = rate
        self.probing = True
        self._probe_cap, self._guessed, self._cut_pace = target, False, None
        self._probe_successes = 0
        self._grow_from = now
        # What it believed before is forgotten, and the successes that proved it: if the
        # server came back slower (its limit was lowered, not down for a while), windows
        # reaching back before the drought would "prove" the old rate again and again.
        self.known = None
        self._successes.clear()
        self._token_due.clear()
        self._last_throttle = None
        self.epoch += 1  # the 429s of requests sent during the drought say nothing now
        log.info("requests get through again: probing back up to %.3g/s", target)

    def _probe_on(self, now: float) -> None:
        """A success while recovering: the probe doubles again from the rate it reached,
        within half a request interval at that rate, up to the rate before the drought."""
        rate, cap = self.rate_at(now), self._probe_cap
        if rate is None or cap is None:
            return
        if rate >= cap:
            self.rate, self.probing, self._probe_cap = cap, False, None
            self._guess_reached = self._guessed
            log.info("request rate back at %.3g/s", cap)
        else:
            self.rate, self._probe_successes = rate, 0
        self._grow_from = now
        self._logged_rate = self.rate

    def on_throttle(
        self,
        ticket: Ticket,
        now: float,
        resume_at: float,
        *,
        exact_wait: float | None = None,
        out: int | None = None,
        sends: Sequence[tuple[int, float]] | None = None,
    ) -> bool:
        """A request let through at ``ticket.sent_at`` got a 429; pacing resumes at
        ``resume_at`` (later than ``now`` when the server asked for a wait). ``exact_wait``:
        the wait it named for the server's next token, when it is exact (``retry-after-ms``).
        ``out``: how many requests were still out when it came (None: not known).
        ``sends``: (count, sent) of the latest requests let through, in order, answered or
        not (None: not known).

        Returns whether the rate was cut: a 429 of a request sent before the last cut says
        nothing new and is ignored (but its exact wait bounds the rate all the same).
        """
        self._note_group(ticket.sent_at)
        self._refusals.append(ticket.sent_at)
        if self._pending_groups:
            self._count_groups(now)
        if resume_at > now:
            self._pause(now, resume_at)
        if exact_wait is not None and self._trust_waits:
            # A token bucket's wait for its next token is (1 - tokens) / rate, at most
            # 1 / rate: so 1 / wait is at least the rate (and just that when the bucket
            # was just drained).
            high = 1.0 / exact_wait
            # The first 429, soon after the first request: a bucket that was full then
            # (of whole tokens) refilled from its first admission until this request came,
            # so its token interval is that span plus the wait, or k + 1 intervals are, if
            # it refilled k tokens meanwhile: then k waits fit in the span (1 / wait is at
            # least the rate). So with the 429 back sooner after the first request than
            # its wait (less the wait's rounding), k is 0; and, taken as likely, with it
            # sent within FRESH_SPAN of the wait (a busy loop can hold a 429 unread for
            # longer than the wait: a 5/s stream's at a load average of 15). The span is
            # at least from when the first request came back admitted (it was admitted
            # before) to when this one was sent; from its send when its round trip was
            # short (_admitted_span).
            started, back = self.started, self._first_back
            if (
                self._first_throttle is None
                and started is not None
                and back is not None
                and back < ticket.sent_at
                and (
                    now - started < exact_wait - EXACT_TICK
                    or ticket.sent_at <= started + FRESH_SPAN * exact_wait
                )
            ):
                high = 1.0 / _admitted_span(ticket.sent_at + exact_wait, started, back)
            # A lone request after the success back last, nothing else out: no token went
            # between that success and this 429, so the token due came one token interval
            # (or less: tokens were left) after that success was admitted.
            last = self._last_ok
            if last is not None and self._last_ok_alone and out == 0 and last[1] <= ticket.sent_at:
                span = _admitted_span(ticket.sent_at + exact_wait - EXACT_TICK, *last)
                if span > 0.0:
                    high = min(high, 1.0 / span)
            self._wait_seen = (now, 0)
            if high < self._wait_high:
                if not math.isfinite(self._wait_high):
                    log.info("the server's wait says at most %.3g requests/s", high)
                self._wait_high = high
        # The wait counts from when the answer came, not from the send: a 429 is answered
        # as soon as the bucket refuses it, but a burst can keep it waiting to be read by
        # the server (8 ms on loopback, in a 20 ms token interval).
        due = None if exact_wait is None else now + exact_wait
        if ticket.epoch != self.epoch:
            if due is not None and self._trust_waits:
                self._token_due.append((ticket.sent_at, due, now))
            return False
        sent = ticket.sent_at
        previous = self.rate_at(sent)
        if previous is not None and not self.probing and exact_wait is None:
            self._band = self._band_centre(previous)
        # A bucket of one, and the server's wait as long as a request interval or more at
        # the pace this request went at (since the request before it): each such 429 wastes
        # that much of the bucket's refill, so cut from what the requests did, not from
        # what the probe's rate had doubled to by then (5/s, `Retry-After: 1`: halving
        # that left the pace where it was, three pauses in a row, 1.34-1.46x the bound).
        paced, costly = ticket.paced, False
        if previous is not None and paced is not None and self._burst_bound < SMALL_BUCKET:
            costly = (resume_at - now) * paced >= 1.0
            if costly and self.probing:
                previous = min(previous, paced)
        if self._first_throttle is None:
            self._first_throttle = sent
            self._early = sorted(s for s in self._successes if s >= sent - 1.0)
            self._bound_burst()
        proof = self._settled_proof(sent)
        if costly:
            # A 429 that costs the server's pause: the spacing of the successes before it
            # bounds a bucket of one's rate closer than a window full of pauses does.
            pair = self._pair_proof(sent)
            if pair is not None and (proof is None or pair[0] > proof[0]):
                proof = pair
        proven = None if proof is None else proof[0]
        paused = proof is not None and self._rests_on_pauses(proof[1], sent)
        self._check_waits(sent)
        if due is not None and self._trust_waits:  # (_check_waits may have dropped it)
            proven = self._with_tokens(proven, self._token_rate(sent, due, now, sends))
        ceiling = self._ceiling(sent)
        starts_drought = self._drought_from is None
        self.repeated = not starts_drought
        if starts_drought:
            self._drought_from = sent
        if proven is not None and self.known is not None:
            # A window its pauses or a drought took up proves little: one 429 halves what
            # was proven before at most, as a 429 that proves nothing does (a lowered limit
            # is found in a few 429s).
            proven = max(proven, self.known / 2.0)
        if proven is not None:
            self.known = proven
            if self._too_fast is not None and proven >= self._too_fast:
                self._too_fast = None  # the server's limit was raised
        elif self.known is not None and (starts_drought or resume_at <= now):
            # (not again for a retry after a server's wait: it came at its word, no pace)
            self.known *= 0.5
        elif self._probe_cap is not None and not self._guessed and previous is not None:
            # A recovery probe found the limit below the rate before the drought: the
            # server allowed the rate it doubled from.
            self.known = previous / 2.0
        cap, guessed = None, False
        self._cut_pace = None
        if self.known is not None:
            self.rate = self.known * (STEADY_MARGIN if resume_at <= now else WAIT_MARGIN)
            if (
                (self.probing or self._guess_reached)
                and proven is not None
                and previous is not None
                and resume_at <= now
            ):
                # A probe's 429: the rate it reached is too much, but its successes, sent
                # slower than the server allowed most of the time, prove too little. Probe
                # on from what they prove to halfway: if that is too far, the 429 costs a
                # round trip (no server wait) and, at a few requests a minute, one of the
                # throttled attempts a request has (RetryPolicy.max_throttled_attempts).
                # Unless the window since the last 429 shows they prove about all there is.
                if not self._window_settles(sent, proven, out):
                    cap = (self.rate + previous) / 2.0
                    self._cut_pace = previous
            elif paused and previous is not None:
                # The successes prove too little to settle on (the server's pauses took up
                # their window): probe on, halfway (geometrically) to the rate that met it.
                cap = math.sqrt(self.rate * previous)
            self.probing = cap is not None and cap > self.rate * PROBE_AGAIN
        else:
            # Nothing proven: probe upwards again from below what just failed.
            self.rate = FIRST_PROBE if previous is None else previous / 2.0
            self.probing = True
            if previous is not None and (costly or (starts_drought and resume_at <= now)):
                if costly:
                    self.rate *= COSTLY_MARGIN  # (a pause costs more than a slower pace)
                # A paced rate met a 429: the server allows less. Probe only up to halfway
                # (geometrically) to the least such rate, so the probe does not meet it again.
                too_fast = previous if self._too_fast is None else min(self._too_fast, previous)
                self._too_fast = too_fast
                cap, guessed = math.sqrt(self.rate * too_fast), True
                self.probing = cap > self.rate * PROBE_AGAIN
        capped = self.wait_rate
        if capped is not None and (self.known is None or self.probing or self.known > capped):
            # The exact waits bound the rate from above: pace just under that bound
            # instead of probing for it, 429 by 429.
            self.rate, self.probing, cap = capped, False, None
        elif (
            capped is not None
            and due is not None
            and self.rate < capped * EXACT_FAR
            and self._burst_bound < SMALL_BUCKET
        ):
            # (Not probing: that was the branch above.) Pages still out when the 429 came
            # (slow ones) proved far less than the waits allow; with a bucket of about one
            # those waits are the rate within its rounding, so probe back up to them instead
            # of growing 1 % a second (50/s, slow pages, a busy machine: 2-3x the bound in
            # half the runs; on the virtual clock with 5 ms of jitter, 1.68x and up to 2.28x,
            # now 1.48x and up to 1.69x).
            self.probing, cap = True, capped
        self._unceiled = None
        if ceiling is not None and ceiling / DROUGHT_CUT < self.rate:
            # Kept until a request sent during the drought turns out to have succeeded.
            self._unceiled = (self._drought_from or sent, sent, max(MIN_RATE, self.rate))
            self.rate = ceiling / DROUGHT_CUT
        if starts_drought:
            self._recall = self.known
        self.rate = max(MIN_RATE, self.rate, self._drought_floor())
        self._probe_cap = cap if self.probing else None
        self._guessed = guessed and self.probing
        self._guess_reached = False
        self._probe_successes = 0
        self.window = None
        self._paused_by_server = resume_at > now
        self._grow_from = resume_at
        self._cut = (sent, self._last_throttle, self._last_answered)
        self._cut_due = due if self._trust_waits else None
        self._last_throttle, self._last_answered = sent, now
        self.epoch += 1
        self.cut_epoch = self.epoch
        log.info(
            "rate limited (429): pacing requests at %.3g/s (was %s)",
            self.rate,
            "unpaced" if previous is None else f"{previous:.3g}/s",
        )
        self._logged_rate = self.rate
        return True

    def _token_rate(
        self,
        sent: float,
        due: float,
        answered: float,
        sends: Sequence[tuple[int, float]] | None = None,
    ) -> float | None:
        """A 429 whose exact wait says its next token is ``due``: the lower bound on the
        rate from it and each such 429 before (:meth:`_token_bounds`); the upper bound
        lowers the waits' bound (also from ``sends``: :meth:`_sent_bound`), and the 429 is
        kept for the next."""
        best, high = self._token_bounds(sent, due)
        if sends is not None:
            high = min(high, self._sent_bound(sent, due, sends))
        self._tighten_waits(high)
        self._token_due.append((sent, due, answered))
        return best

    def _tighten_waits(self, high: float) -> None:
        """Two exact waits bound the rate by ``high`` from above: keep the least bound."""
        if high < self._wait_high:
            self._wait_high = high
            log.debug("the server's waits say at most %.4g requests/s", high)

    def _with_tokens(self, proven: float | None, paced: float | None) -> float | None:
        """What the successes prove, or the exact waits' lower bound when that is more
        (never above the waits' upper bound)."""
        if paced is None or (proven is not None and paced <= proven):
            return proven
        return min(paced, self._wait_high)

    def _token_bounds(self, sent: float, due: float) -> tuple[float | None, float]:
        """Bounds on the rate from the exact waits of two 429s: the bucket was short of a
        token at both, so between them the time its next token was due moved on by one
        request interval per request it admitted in between, or more when it filled up or
        other clients took tokens: ``admitted / (due - due before)`` bounds it from below.

        When the requests between went no further apart than the rate allows (so the bucket
        had no time to fill up), and none is missing (a page not back yet leaves a wider
        gap), that is the rate, give or take the waits' rounding and the network's jitter:
        it bounds it from above too. Returns (the best lower bound or None, the least upper
        bound, at most the one known so far).
        """
        times = sorted(self._successes)
        best: float | None = None
        least = self._wait_high
        for before, due_before, answered in self._token_due:
            span = due - due_before
            if before >= sent or span <= EXACT_TICK:
                continue
            lo = bisect.bisect_right(times, before + SAME_TIME)
            hi = bisect.bisect_left(times, sent - SAME_TIME)
            if hi <= lo:
                continue
            admitted = hi - lo
            # From below, only those sent after the earlier 429 was answered: it had surely
            # reached the server. One sent while it was out may have reached it first.
            sure = hi - max(lo, bisect.bisect_right(times, answered))
            if sure > 0:
                bound = sure / (span + EXACT_TICK)
                best = bound if best is None else max(best, bound)
            if _steady([before, *times[lo:hi], sent], least):
                least = min(least, admitted / (span - EXACT_TICK - EXACT_JITTER))
        return best, least

    def _sent_bound(self, sent: float, due: float, sends: Sequence[tuple[int, float]]) -> float:
        """:meth:`_token_bounds`' upper bound, counting every request sent between the two
        429s that was not refused, answered or not: the bucket admitted no more than those.
        Counting only the successes back leaves no bound while a page is still out (5/s, a
        bucket of 20, slow pages, on loopback: the pace stayed at the first wave's loose
        bound, 10 % over the rate, and met a 429, then another before those pages were
        back). At most the bound known so far.

        A request sent with the earlier 429 (within SAME_TIME) and admitted reached the
        server before it: after it, the bucket stayed short of a token for its wait. One
        sent with this 429 may have reached it first: it counts."""
        least = self._wait_high
        usable = [
            (before, due_before)
            for before, due_before, answered in self._token_due
            if before < sent and due_before - answered > SAME_TIME + EXACT_JITTER
        ]
        if not usable:
            return least
        oldest = min(before for before, _ in usable)
        window: list[float] = []
        for _, at in reversed(sends):
            if at <= oldest:
                break
            if at <= sent + SAME_TIME:
                window.append(at)
        window.reverse()
        for refused in self._refusals:
            if oldest < refused <= sent + SAME_TIME:
                i = bisect.bisect_left(window, refused)
                if i < len(window) and window[i] == refused:
                    del window[i]
        for before, due_before in usable:
            span = due - due_before - EXACT_TICK - EXACT_JITTER
            possible = window[bisect.bisect_right(window, before + SAME_TIME) :]
            if span <= 0.0 or not possible:
                continue
            if _steady([before, *possible, max(sent, possible[-1])], least):
                least = min(least, len(possible) / span)
        return least

    def _expire_waits(self, now: float) -> None:
        """A success under a bound from exact waits: after EXACT_EXPIRES successes and
        EXACT_EXPIRES_AFTER seconds without another such 429, drop the bound and grow from
        it as usual (its limit may have been raised; or the waits were about something
        else, which successes paced under the bound can never show)."""
        seen, successes = self._wait_seen
        self._wait_seen = (seen, successes + 1)
        if successes + 1 < EXACT_EXPIRES or now - seen < EXACT_EXPIRES_AFTER:
            return
        bound = self.wait_rate
        self._wait_high = math.inf
        if self.rate is not None and bound is not None:
            self.rate = min(self._grown_at(now), bound)
            self.probing, self._probe_cap = False, None
            self._probe_successes = 0
            self._grow_from = now
        log.info("no 429 for a while: looking for a limit above %.3g requests/s", bound)

    def _check_waits(self, until: float) -> None:
        """If the successes sent before ``until`` prove a rate above what the server's waits
        allow, those waits were not exact (another kind of wait in ``retry-after-ms``):
        trust none again.

        The proof must not lean on the burst (a guess): after a 429 whose wait named when
        the next token is due, the bucket admits at most ``1 + rate * t`` requests in the
        ``t`` seconds from then. Only requests sent after the 429 came back count: one sent
        before may have reached the server first (a fan-out's new connections: 5/s, a
        bucket of 20, slow pages, on loopback, such requests "proved" 1000/s, and the
        client paced as if told nothing: 1.18x and 1.21x the bound in two runs of four).
        """
        if not math.isfinite(self._wait_high):
            return
        times = sorted(s for s in self._successes if s < until)
        best = 0.0
        for sent, due, answered in self._token_due:
            # The token came due no sooner than the wait counted from the send (the server
            # decided once the request reached it): a 429 read late (a busy loop read it 20
            # ms after the send) would otherwise shorten the span, and "prove" too much.
            soonest = due - (answered - sent)
            first = bisect.bisect_right(times, answered)
            for count, at in enumerate(times[first:], 1):
                if count > ESTIMATE_MIN_COUNT and at > soonest:
                    span = at - soonest + EXACT_TICK + EXACT_JITTER
                    best = max(best, (count - 1) / span)
        if best <= self._wait_high * EXACT_CONTRADICTED:
            return
        log.info(
            "the server's waits said at most %.3g requests/s, but it allowed %.3g/s: "
            "they are not taken as its exact rate any more",
            self._wait_high,
            best,
        )
        self._wait_high, self._trust_waits = math.inf, False
        self._token_due.clear()

    def _drought_floor(self) -> float:
        """The least rate during a drought: one request every DROUGHT_PROBE seconds, so a
        server that is back is noticed soon, unless it was proven slower than that."""
        recall = self._recall
        if recall is None:
            return MIN_RATE
        return min(recall / DROUGHT_DEPTH, 1.0 / DROUGHT_PROBE)

    def _window_settles(self, sent: float, proven: float, out: int | None) -> bool:
        """Whether a probe's 429 of a request sent at ``sent`` should settle at what the
        successes prove (``proven``) instead of probing on: they are about as many as the
        window since the 429 before it could have held.

        The server's bucket was short of a token at both 429s, and nothing paused the
        client between them, so it admitted what it refilled in between, give or take a
        token, less what it could not hold when it filled up. Had it never filled up, the
        successes sent in between and the requests still out (``out``: they may have been
        admitted too) would bound the rate by ``(admitted + out + 1) / span``, the span
        less the network's jitter at both ends. When that is within PROBE_AGAIN of the
        proof, the probe's successes were not too few (pages not back yet, a pace far below
        the rate): what probing on could still find is a few per cent, or what the bucket
        could not hold while the probe started below the rate, for a 429 or two (50/s, a
        bucket of 5, nothing said: a lone stream met 4 429s in 54 requests, now 2, at 1.08x
        the bound instead of 1.07x); the steady growth finds the rest. Not with a bucket of
        about one: it fills up whenever the client falls a request interval behind the rate,
        as a probe does at its start, so its window says little (50/s, nothing said: the
        fan-out 1.06x to 1.32x the bound). Not while pages may be out (``out`` unknown).
        """
        last = self._last_throttle
        if out is None or last is None or self._burst_bound < SMALL_BUCKET:
            return False
        if self._paused_within(last, sent):
            return False
        span = sent - last - 2.0 * REFILL_JITTER
        if span <= 0.0:
            return False
        admitted = sum(1 for s in self._successes if last + SAME_TIME < s < sent - SAME_TIME)
        return (admitted + out + 1.0) / span <= proven * PROBE_AGAIN

    def _ceiling(self, until: float) -> float | None:
        """An upper bound on the server's rate while nothing gets through: its bucket was
        empty at the first 429 since the last success, and has not refilled one token in
        the time since."""
        first = self._drought_from
        if first is None or until <= first:
            return None
        return 1.0 / (until - first)

    def _late_proof(self, ticket: Ticket, now: float) -> None:
        """A success sent before the last cut came back after it (a page is slower than a
        429): the successes prove a rate by when they were sent, so count it now, and pace
        at what they prove if that is more than the cut assumed."""
        cut = self._cut
        if cut is None or ticket.epoch != self.epoch - 1 or ticket.sent_at >= cut[0]:
            return
        self._check_waits(now)
        proof = self._settled_proof(cut[0], cut[1], cut[2])
        proven = None if proof is None else proof[0]
        due = self._cut_due
        if due is not None and self._trust_waits and math.isfinite(self._wait_high):
            # The pages admitted between two exact waits count too (at a 429 that came
            # 3 ms early, only one of two was back: half the rate, for the rest of a run).
            # So do they for the waits' upper bound: with a page still out when the 429 came,
            # the requests between the two waits did not look steady (5/s, a bucket of 5,
            # slow pages, on loopback: the pace went back up to the first wait's loose
            # bound, 5.08/s, and met a 429 every 6 s).
            best, high = self._token_bounds(cut[0], due)
            self._tighten_waits(high)
            proven = self._with_tokens(proven, best)
        if proven is None or (self.known is not None and proven <= self.known):
            return
        self.known = proven
        if self._unceiled is not None:
            return
        margin = WAIT_MARGIN if self._paused_by_server else STEADY_MARGIN
        grown = self.rate_at(now)
        if grown is not None and proven * margin > grown:
            # A probe goes on from there (and is over if that is past its cap).
            self.rate, self._probe_successes = proven * margin, 0
            self._grow_from = max(now, self._grow_from)
            cap, reach = self._probe_cap, 1.0
            if self.probing and cap is not None and self._cut_pace is not None:
                # A probe's 429: the cut's rule again, with what they prove (its cap came
                # from what was back then): on, halfway to the pace that met the 429, unless
                # that is within PROBE_AGAIN of where it is.
                cap = self._probe_cap = (self.rate + self._cut_pace) / 2.0
                reach = PROBE_AGAIN
            if self.probing and cap is not None and self.rate * reach >= cap:
                self.probing, self._probe_cap = False, None
            log.info("request rate raised to %.3g/s (pages sent before a 429)", self.rate)

    def refill_since_admission(self, sent: float) -> tuple[float, float] | None:
        """After the cut for a 429 of a request sent at ``sent``: when the latest success
        sent before it was sent, and a rate the server refills at, at least (what was
        proven, no more than the pace), if the client is to count that refill; else None.

        Only with a bucket of about one: it cannot keep what refills while the client waits
        out a request interval after the 429 (10/min, a bucket of one: 6 s lost at each).
        A bigger bucket keeps it, and spending it at once only meets the next 429 sooner
        (50/s with a bucket of 5: 17 429s instead of 15 in 315 requests, the same wall).
        Not at the first 429 (the first wave's proof may rest on a burst bound too low), nor
        at a 429 that was not the first since the last success (the count was off).
        """
        first, known, rate = self._first_throttle, self.known, self.rate
        size = self._burst_bound if self.limit is None else self.limit  # (headers say it)
        if (
            known is None
            or rate is None
            or self.repeated
            or size >= SMALL_BUCKET
            or first is None
            or sent <= first
        ):
            return None
        latest = max((s for s in self._successes if s < sent - SAME_TIME), default=None)
        return None if latest is None else (latest, min(known, rate))

    def _note_group(self, sent: float) -> None:
        """A 429 of a request sent at ``sent``: if it is the first sent after a server's
        pause, count the requests admitted from the pause's end up to it (once they are all
        back, :meth:`_count_groups`)."""
        anchor, self._refused = self._refused, max(self._refused, sent)
        if not self._pauses or not math.isfinite(anchor):
            return
        ended = self._pauses[-1][1]
        # (Only the first: after it, the latest 429 was sent at the pause's end or later.)
        if anchor < ended - SAME_TIME <= sent and anchor < self._pauses[-1][0]:
            self._pending_groups.append((anchor, ended, sent))

    def _count_groups(self, now: float) -> None:
        """Bound the burst by what a bucket refused after a server's pause.

        The bucket was empty (less than a token) at the 429 sent at ``anchor``; the server
        paused the client until ``ended``; from then, ``k`` requests got through before it
        refused one, so it held less than ``k + 1`` tokens at ``ended`` (``m`` more if some
        got through between the anchor and the pause's end, and one more for the order
        requests sent with the anchor reached it in). It held ``min(burst, 1 + rate *
        span)``: once the rate is proven to refill ``k + m + 2`` in the span, the bucket
        holds less than that. (50/s with a bucket of 20 and slow pages: the first wave
        cannot tell it from 20/s with a bucket of 30, but after a pause of a second the
        bucket admitted 20 of 27.) Back to back, the client then sends one fewer than it
        admitted: a request that reaches it a little late meets a 429 and a pause.
        """
        waiting: list[tuple[float, float, float]] = []
        counted = False
        burst_429 = False  # the last cut's 429 was one of a burst at a pause's end
        for anchor, ended, refused in self._pending_groups:
            if now < refused + 2.0 * self._slowest + SAME_TIME:
                waiting.append((anchor, ended, refused))  # its successes may still be out
                continue
            # Requests sent with the anchor reached the bucket in any order, but once it
            # refused one it admitted another only after a refill (one more, at most).
            admitted = sum(
                1 for sent in self._successes if anchor + SAME_TIME < sent <= refused + SAME_TIME
            )
            self._group_caps.append((float(admitted), ended - anchor - EXACT_JITTER))
            counted = True
            cut = self._cut
            burst_429 |= cut is not None and cut[0] == refused and refused - ended < SAME_TIME
        self._pending_groups = waiting
        if not counted:
            return
        bound = self._burst_bound
        self._bound_burst()
        if burst_429 and self._burst_bound < bound and self.rate is not None:
            # The last cut's 429 met the burst sent at the pause's end, not the pace: its
            # successes, and those back since, proved a rate the cut did not probe past.
            self.probing, self._probe_cap, self._guessed = True, None, False
            self._grow_from, self._probe_successes = max(now, self._grow_from), 0
            log.info("the bucket holds %d at most: probing on", self._burst_bound)

    def _pause(self, start: float, until: float) -> None:
        """The server paused the client from ``start`` to ``until``."""
        if self._pauses and self._pauses[-1][1] >= start:
            begun, ended = self._pauses.pop()
            start, until = min(begun, start), max(ended, until)
        self._pauses.append((start, until))

    def _rests_on_pauses(self, start: float, until: float) -> bool:
        """Whether a proof from the window ``[start, until]`` is only a lower bound: the
        server's pauses took up most of it, and its successes are no more than those pauses
        refilled (a bucket each) and a few. A pause longer than the bucket takes to fill
        wastes the rest of it, so such a window proves less than the rate (5/s with a
        bucket of one and `Retry-After: 1`: about one a second)."""
        paused = sum(max(0.0, min(b, until) - max(a, start)) for a, b in self._pauses)
        if paused < PAUSED_PROOF * (until - start):
            return False
        pauses = sum(1 for _, ended in self._pauses if start <= ended <= until)
        admitted = sum(1 for sent in self._successes if start < sent < until)
        return admitted - pauses * self.burst_bound < 1 + ESTIMATE_MIN_COUNT

    def _settled_proof(
        self, until: float, last: float | None = None, answered: float = -math.inf
    ) -> tuple[float, float] | None:
        """:meth:`_proof`, with the burst and the rate each bounded by the other in turn
        (until the burst's bound stays put)."""
        proof = self._proof(until, last, answered)
        for _ in range(3):
            if proof is None:
                break
            bound = self._burst_bound
            self._early_rate = proof[0]
            self._bound_burst()
            if self._burst_bound == bound:
                break
            proof = self._proof(until, last, answered)
        return proof

    def _paused_within(self, start: float, end: float) -> bool:
        """Whether a server's pause overlapped the span from ``start`` to ``end``."""
        return any(a < end and b > start for a, b in self._pauses)

    def _pair_proof(self, until: float) -> tuple[float, float] | None:
        """With a bucket of one (the caller's to check): the rate the spacing of the latest
        successes sent before ``until`` proves, and when the pair proving it starts (None:
        no such pair). Such a bucket admits two requests a token interval apart at least,
        and they reach it at most the network's jitter further apart than they were sent; a
        pause between them refilled the token."""
        latest = itertools.islice(reversed(self._successes), ONE_PAIRS)
        recent = sorted(s for s in latest if s < until)
        best: tuple[float, float] | None = None
        for first, second in itertools.pairwise(recent):
            if self._paused_within(first, second):
                continue
            bound = 1.0 / (second - first + REFILL_JITTER)
            if best is None or bound > best[0]:
                best = (bound, first)
        return best

    def _proof(
        self, until: float, last: float | None = None, answered: float = -math.inf
    ) -> tuple[float, float] | None:
        """The highest rate the successes sent before ``until`` prove the server allows,
        and when the window proving it starts.

        A token bucket holding at most ``burst_bound`` tokens admits at most
        ``burst_bound + rate * t`` requests in any ``t`` seconds, so every window from a
        success to ``until`` bounds the rate from below: ``(admitted - burst_bound) / t``;
        a window from the last 429 starts with an empty bucket: ``(admitted - 1) / t``,
        counting only requests sent after it came back (``answered``; those sent while it
        was out may have reached the server first: a fan-out's first wave on loopback,
        queued there). Windows with only a few successes beyond the burst are too coarse and
        skipped.
        """
        times = [s for s in self._successes if s < until]
        burst = self._burst_bound
        best: tuple[float, float] | None = None
        for count, start in enumerate(reversed(times), 1):
            if count >= burst + ESTIMATE_MIN_COUNT:
                bound = (count - burst + CENTRE) / (until - start)
                if best is None or bound > best[0]:
                    best = (bound, start)
        if last is None:
            last, answered = self._last_throttle, self._last_answered
        if last is not None:
            after = max(last + SAME_TIME, answered)
            admitted = sum(1 for s in times if s > after)
            if admitted >= 1 + ESTIMATE_MIN_COUNT:
                bound = (admitted - 1.0) / (until - last)
                if best is None or bound > best[0]:
                    best = (bound, last)
        return best


class Pacer:
    """The asyncio gate of one client: pauses, a rate, and (adaptive) a slow-start window.

    ``Pacer(None)`` does nothing at all; ``Pacer(5.0)`` allows 5 requests per second with
    a burst of ``burst``; ``Pacer("adaptive")`` learns the rate from 429s. Every pacer but
    the first honours a 429's server wait for the whole client, for at most ``max_pause``
    seconds (the client's ``RetryPolicy.max_retry_after``).
    """

    def __init__(
        self,
        rate_limit: float | str | None = "adaptive",
        *,
        burst: float = 2.0,
        max_pause: float = math.inf,
    ) -> None:
        self.max_pause = max_pause
        self._adaptive = AdaptiveRate() if rate_limit == "adaptive" else None
        self._enabled = rate_limit is not None
        self._fixed_rate = None if isinstance(rate_limit, str) else rate_limit
        self._fixed_burst = burst
        self.paused_until = 0.0
        self.in_flight = 0
        self.requests = 0
        self._sent = 0  # requests let through (never given back)
        self._batch_at, self._batch_seq = -math.inf, 0  # the last requests sent together
        self._batches: dict[int, tuple[int, int]] = {}  # batch -> (sent, still out)
        self._log: collections.deque[tuple[int, float]] = collections.deque(maxlen=HISTORY)
        self._slack = SLACK_MIN  # tokens kept in hand when mirroring the server's bucket
        # (with a bucket of one: a token interval's share each request waits longer)
        self._told_at: float | None = None  # when the server's headers first set the pace
        self._tokens = 0.0  # a token bucket: `rate` tokens per second, up to `burst`
        self._last_take = -math.inf  # when the last request was let through
        self._stamp = 0.0
        self._waiters: collections.deque[asyncio.Future[Ticket]] = collections.deque()
        self._timer: asyncio.TimerHandle | None = None

    # -- the decisions -------------------------------------------------------------------

    def _now(self) -> float:
        # The loop's clock: the same one its timers (call_later) run on.
        return asyncio.get_running_loop().time()

    def _rate(self, now: float) -> float | None:
        if self._adaptive is not None:
            rate = self._adaptive.rate_at(now)
            if rate is not None and self._told_at is not None and self._burst() < SMALL_BUCKET:
                return self._spaced(rate)
            return rate
        return self._fixed_rate

    def _spaced(self, rate: float) -> float:
        """``rate``, slowed by the slack a bucket of about one needs once the server's
        headers set the pace: it holds no refill in hand, so each request waits that much of
        a token interval longer after the one before (see _mirror)."""
        return rate / (1.0 + self._slack)

    def _burst(self) -> float:
        return self._adaptive.burst if self._adaptive is not None else self._fixed_burst

    def _window(self) -> float | None:
        return self._adaptive.window if self._adaptive is not None else None

    def _refill(self, now: float) -> None:
        rate = self._rate(now)
        if rate is None:
            self._tokens = self._burst()
        elif now > self._stamp:
            self._tokens = min(self._burst(), self._tokens + (now - self._stamp) * rate)
        self._stamp = max(self._stamp, now)

    def _earliest(self, now: float) -> float:
        """When the next request may go, or ``now`` if it may go at once."""
        start = max(now, self.paused_until)
        window = self._window()
        if window is not None and self.in_flight >= window:
            return math.inf  # a completion (release) opens the window
        rate = self._rate(start)
        if rate is None:
            return start
        self._refill(start)
        if self._tokens >= 1.0:
            return start
        return start + (1.0 - self._tokens) / rate

    def _take(self, now: float) -> Ticket:
        if self._rate(now) is not None:
            self._refill(now)
            self._tokens -= 1.0
        last = self._last_take
        paced = 1.0 / (now - last) if self.paused_until <= last < now else None
        self._last_take = now
        self.in_flight += 1
        self.requests += 1
        if now > self._batch_at + SAME_TIME:
            done = self._batches.get(self._batch_seq)
            if done is not None and done[1] == 0:  # the batch before is all back: forget it
                del self._batches[self._batch_seq]
            self._batch_at, self._batch_seq = now, self._sent
        total, out = self._batches.get(self._batch_seq, (0, 0))
        self._batches[self._batch_seq] = (total + 1, out + 1)
        self._log.append((self._sent, now))
        self._sent += 1
        if self._adaptive is not None and self._adaptive.started is None:
            self._adaptive.started = now
        epoch = self._adaptive.epoch if self._adaptive is not None else 0
        return Ticket(now, epoch, self._batch_seq, paced)

    # -- the gate ------------------------------------------------------------------------

    async def acquire(self) -> Ticket:
        """Wait for this client's turn to send a request; return its ticket."""
        if not self._enabled:
            self.requests += 1
            return Ticket(0.0, 0)
        now = self._now()
        if not self._waiters and self._earliest(now) <= now:
            return self._take(now)
        waiter: asyncio.Future[Ticket] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._schedule()
        try:
            ticket = await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())  # it was our turn: pass it on
            raise
        if self.overtaken(ticket):
            # The turn was handed out before a 429 cut the pace, and taken up after it (the
            # 429's answer was read in between): the request has not gone, so it waits for a
            # turn at the new pace.
            self.withdraw(ticket)
            return await self.acquire()
        return ticket

    def overtaken(self, ticket: Ticket) -> bool:
        """Whether a 429 came back after ``ticket``'s turn was handed out and cut the pace
        or paused the client: a request not sent yet should then wait for a new turn
        (:meth:`withdraw`, then :meth:`acquire`)."""
        if not self._enabled:
            return False
        adaptive = self._adaptive
        if adaptive is not None and ticket.epoch < adaptive.cut_epoch:
            return True
        # (No turn is handed out during a pause: one still on began after the turn. A pause
        # over by the turn is not on now, and needs no look at the clock.)
        until = self.paused_until
        return until > ticket.sent_at and until > self._now()

    def fail_waiters(self, error: type[BaseException]) -> None:
        """End every wait for a turn with ``error`` (the client is closing)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        waiters, self._waiters = self._waiters, collections.deque()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_exception(error("this UsageClient was closed while the request waited"))

    def _back(self, ticket: Ticket) -> tuple[int, int]:
        """The request of ``ticket`` is no longer out: how many were sent with it (itself
        included), and how many of those are still out."""
        self.in_flight -= 1
        total, out = self._batches.pop(ticket.seq, (1, 1))
        if out > 1 or ticket.seq == self._batch_seq:
            self._batches[ticket.seq] = (total, out - 1)
        return total, out - 1

    def withdraw(self, ticket: Ticket) -> None:
        """The request of ``ticket`` was not sent after all: forget it. Its turn is not given
        back: a cut that overtook it emptied the bucket it came from (or it came from none,
        before the first 429), and a server's pause refills the bucket as it passes."""
        self._back(ticket)
        self.requests -= 1
        for entry in reversed(self._log):
            if entry[1] == ticket.sent_at:
                self._log.remove(entry)
                break

    def _give_back(self, ticket: Ticket) -> None:
        self._back(ticket)
        self.requests -= 1
        if self._rate(ticket.sent_at) is not None:
            self._tokens += 1.0
        self._schedule()

    def _schedule(self) -> None:
        """Hand turns to the waiters whose turn it is, first come first served; set a
        timer for the next one."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        while self._waiters:
            if self._waiters[0].done():  # cancelled while waiting
                self._waiters.popleft()
                continue
            now = self._now()
            at = self._earliest(now)
            if at > now:
                if at != math.inf:
                    loop = asyncio.get_running_loop()
                    self._timer = loop.call_later(at - now, self._schedule)
                return
            self._waiters.popleft().set_result(self._take(now))

    def _after_cut(self, ticket: Ticket, now: float) -> None:
        """The server's bucket was short of a token at the 429 of ``ticket``: ours is empty
        too, or, with a bucket of about one, holds what the server refilled since the
        latest request it admitted (at the rate proven) less what the requests let through
        since then took. A pause refills it as time passes, and when the server named the
        time to come back, one request may go right then, unless nothing has got through
        since the last time it named one."""
        adaptive = self._adaptive
        assert adaptive is not None  # (only the adaptive pace is cut)
        self._stamp = now
        self._tokens = 0.0
        pause = self.paused_until - now
        rate = self._rate(now)
        if pause > 0 and rate is not None:
            self._tokens = max(0.0, 1.0 - rate * pause)
            if adaptive.repeated:
                # The server's named time was wrong before: this time pace from it.
                self._tokens = -rate * pause
            return
        refill = adaptive.refill_since_admission(ticket.sent_at)
        if refill is not None:
            admitted, proven = refill
            taken = -2  # (not the admitted request itself, nor the one that met the 429)
            for _, sent_at in reversed(self._log):
                if sent_at <= admitted - SAME_TIME:
                    break
                taken += 1
            refilled = min(1.0, proven * (now - admitted - REFILL_JITTER))
            self._tokens = max(0.0, refilled - taken)

    def _mirror(
        self,
        level: float,
        remaining: int,
        ticket: Ticket,
        batch: tuple[int, int],
        answered: float,
        now: float,
    ) -> None:
        """Set our bucket to the server's: its level when it answered ``ticket``, replayed
        with the requests that reach it after that one, refilling at the rate its headers
        say, up to now.

        Those requests are every one let through since, each taken as reaching the server
        when it was sent, and those let through at the same time that are still out
        (requests sent together reach it in any order; those of them already back reached
        it before this one, or this answer would not be the latest).
        """
        server_rate = self._adaptive.server_rate if self._adaptive is not None else None
        rate, burst = server_rate or 0.0, self._burst()
        if burst < SMALL_BUCKET:
            rate = self._spaced(rate)
        total, out = batch
        # Requests sent before this one and still out may reach the server after it (one
        # waiting for a new connection is overtaken by one sent later on an open one): all
        # but the admissions its answer shows between the latest answer and it.
        earlier = sum(o for seq, (_, o) in self._batches.items() if seq < ticket.seq)
        unseen = self._adaptive.unseen if self._adaptive is not None else 0
        out += max(0, earlier - unseen)
        level -= out
        at = answered
        first = ticket.seq + total  # the first request let through after its batch
        later = []
        for seq, sent_at in reversed(self._log):
            if seq < first:
                break
            later.append(sent_at)
        for sent_at in reversed(later):
            level = min(burst, level + rate * max(0.0, sent_at - at)) - 1.0
            at = max(at, sent_at)
        level = min(burst, level + rate * max(0.0, now - at))
        # A request reaching the server a little sooner after its send than the one before
        # it would find the token not quite back: keep some refill in hand. With room in
        # the bucket that costs nothing (HEADER_SLACK seconds of it), and grows only as the
        # server's 429s show it must (see release). A bucket of one holds nothing in hand:
        # there the slack spaces every request instead (_spaced, the rate above), also
        # between answers whose headers come back too late to say anything (slow pages).
        roomy = min(rate * HEADER_SLACK, (burst - 1.0) / 2.0)
        slack = roomy if burst < SMALL_BUCKET else max(self._slack, roomy)
        whole = remaining - out - len(later)  # tokens the server said it had, for sure
        self._tokens = level - slack if whole < 1 else max(level - slack, min(level, whole))
        self._stamp = now

    def release(self, ticket: Ticket, status: int | None, headers: Mapping[str, str]) -> None:
        """Learn from the outcome of a request (``status`` None: no response)."""
        if not self._enabled:
            return
        batch = self._back(ticket)
        now = self._now()
        level, told, remaining = None, False, 0
        if self._adaptive is not None and status is not None:
            info = parse_rate_limit_headers(headers)
            if info is not None:
                # The server decided when the request reached it, some time after it was
                # sent; taken as when it was sent, as the next request will take as long
                # to reach it (a page may take much longer to come back than a 429).
                answered = ticket.sent_at
                level = self._adaptive.on_headers(info, answered)
                told = self._adaptive.header_rate is not None
                remaining = info.remaining
        if status == 429:
            wait = parse_retry_after(headers)
            exact = _exact_wait(headers, wait)
            if wait is not None:
                # A longer wait is refused by the retry layer (raised at once); it must not
                # freeze every other request of the client for a day either.
                # A wait in milliseconds (retry-after-ms, exact or whole seconds) is rounded
                # either way: a request sent right at its end may find the token not quite
                # back (it did, on a shared clock with no network between), so wait that
                # much longer.
                tick = 0.0 if _wait_ms(headers, wait) is None else EXACT_TICK
                pause = min(wait + tick, self.max_pause)
                self.paused_until = max(self.paused_until, now + pause)
            if self._adaptive is not None and not told:
                resume_at = max(now, self.paused_until)
                if self._adaptive.on_throttle(
                    ticket, now, resume_at, exact_wait=exact, out=self.in_flight, sends=self._log
                ):
                    self._after_cut(ticket, now)
        elif status is not None and 200 <= status < 300 and self._adaptive is not None:
            self._adaptive.on_success(ticket, now)
        if told and self._told_at is None:
            self._told_at = now
        if told and self._told_at is not None and ticket.sent_at > self._told_at:
            # A 429 the headers did not foresee: requests reach the server less evenly than
            # the slack allows for (a busy machine, a busy network): keep more in hand.
            if status == 429:
                self._slack = min(SLACK_MAX, 2.0 * self._slack + SLACK_MIN)
            else:
                self._slack = max(SLACK_MIN, self._slack * SLACK_DECAY)
        if level is not None:
            self._mirror(level, remaining, ticket, batch, answered, now)
        if self._waiters:
            self._schedule()

    def snapshot(self, now: float) -> tuple[float | None, float | None, float]:
        """What the gate does at ``now``, for ``UsageClient.pace_stats()``: the rate in
        requests per second (None: unpaced), the in-flight cap (None: none), and the loop
        time a server's wait pauses the client until (in the past: not paused)."""
        if not self._enabled:
            return None, None, 0.0
        return self._rate(now), self._window(), self.paused_until


def make_pacer(rate_limit: float | str | None, *, max_pause: float) -> Pacer:
    """The pacer for a client's ``rate_limit`` setting; a server wait pauses it for at most
    ``max_pause`` seconds."""
    if rate_limit is None or rate_limit == "adaptive":
        return Pacer(rate_limit, max_pause=max_pause)
    if isinstance(rate_limit, bool) or not isinstance(rate_limit, (int, float)):
        raise ConfigurationError(
            f"rate_limit must be 'adaptive', a number of requests per second, or None; "
            f"got {rate_limit!r}"
        )
    if not (rate_limit > 0 and math.isfinite(rate_limit)):
        raise ConfigurationError(f"rate_limit must be > 0 requests per second, got {rate_limit}")
    return Pacer(float(rate_limit), max_pause=max_pause)
