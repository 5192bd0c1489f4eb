"""Faults and quirks as data, and the seeded decisions they lead to. No HTTP.

:class:`Faults` are failures a test or benchmark asks for (all off by default); :class:`Quirks`
are things the real API has been seen doing (API-NOTES), each off by default. Both are frozen
values: to change them on a running server, assign a new one (``srv.faults = Faults(...)``).
"""

from __future__ import annotations

import datetime as _dt
import math
import random
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import attrs

__all__ = [
    "Decision",
    "FaultInjector",
    "Faults",
    "Quirks",
    "Scripted",
    "ScriptedResponse",
    "openai_duration",
    "openai_rate_limit_headers",
]

_UTC = _dt.timezone.utc
DROP = "drop"
TRUNCATE = "truncate"
ACTIONS = (DROP, TRUNCATE)


@attrs.frozen
class ScriptedResponse:
    """One scripted answer to the next request.

    ``status`` 200 answers normally (through auth, rate limit and the endpoint); any other
    status answers at once with OpenAI's error body for it (or ``body`` when given) and
    ``headers``. ``action`` ``"drop"`` closes the connection halfway through the response,
    ``"truncate"`` cuts its body in half (both apply to the normal answer when status is 200).
    """

    status: int = 200
    body: bytes | None = None
    headers: dict[str, str] = attrs.field(factory=dict)
    action: str | None = attrs.field(default=None)

    @action.validator
    def _check_action(self, _: attrs.Attribute[str | None], value: str | None) -> None:
        if value is not None and value not in ACTIONS:
            raise ValueError(f"action must be one of {ACTIONS} or None, got {value!r}")


Scripted = ScriptedResponse | int | str
"""A script entry: a :class:`ScriptedResponse`, a bare status, or ``"drop"``/``"truncate"``."""


def as_scripted(entry: Scripted) -> ScriptedResponse:
    """The :class:`ScriptedResponse` a script entry stands for."""
    if isinstance(entry, ScriptedResponse):
        return entry
    if isinstance(entry, str):
        return ScriptedResponse(action=entry)
    if isinstance(entry, bool) or not isinstance(entry, int) or not 100 <= entry <= 599:
        raise ValueError(
            f"a script entry is a status, 'drop', 'truncate' or a ScriptedResponse, got {entry!r}"
        )
    return ScriptedResponse(status=entry)


def _script(entries: Iterable[Scripted]) -> tuple[Scripted, ...]:
    script = tuple(entries)
    for entry in script:
        as_scripted(entry)  # refuse a bad entry when the Faults are made, not when used
    return script


def _probability(_: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Faults.{attribute.name} must be between 0 and 1, got {value!r}")


def _instant(value: object) -> int:
    """Unix seconds of an int, an aware datetime, or a date (its UTC midnight)."""
    if isinstance(value, _dt.datetime):
        if value.utcoffset() is None:
            raise ValueError(f"expected an aware datetime, got {value!r}")
        return int(value.timestamp())
    if isinstance(value, _dt.date):
        return int(_dt.datetime(value.year, value.month, value.day, tzinfo=_UTC).timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a date or int Unix seconds, got {value!r}")
    return value


def _utc_days(values: Iterable[object]) -> frozenset[int]:
    days = frozenset(_instant(v) for v in values)
    for day in days:
        if day % 86400:
            raise ValueError(f"costs_mismatch_days: {day} is not a UTC midnight")
    return days


def _optional_instant(value: object) -> int | None:
    return None if value is None else _instant(value)


def _not_negative(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if value < 0:
        raise ValueError(f"Faults.{attribute.name} must be >= 0, got {value!r}")


@attrs.frozen
class Faults:
    """Failures to inject, as data; everything off by default.

    - ``rate_limit``: requests per second per API key (a token bucket holding ``burst``
      requests); a request over it gets 429 with ``Retry-After``: whole seconds until a
      token is back (at least 1), or ``retry_after`` when set (also for scripted 429s,
      which otherwise say 1; 0 makes retrying tests fast).
    - ``rate_limit_headers``: with ``rate_limit``, every answer to a key (200 and 429) also
      carries OpenAI's ``x-ratelimit-limit-requests`` (``burst``),
      ``x-ratelimit-remaining-requests`` (whole tokens left) and
      ``x-ratelimit-reset-requests`` (until the bucket is full again, as ``"1.5s"``,
      ``"6m0s"``, ``"20ms"``).
    - ``error_rate``: probability of answering with a random status from ``error_statuses``.
    - ``latency``: seconds added before every response.
    - ``drop_rate``: probability of closing the connection halfway through the body.
    - ``truncate_rate``: probability of a 200 whose JSON body is cut in half.
    - ``script``: answers for the next requests, in order, before anything else
      (``[503, 429, 200]``); see :class:`ScriptedResponse`.
    - ``seed``: the random draws above are reproducible for a seed and a request order.
    """

    rate_limit: float | None = attrs.field(default=None)
    burst: int = 1
    retry_after: int | None = None
    rate_limit_headers: bool = False
    error_rate: float = attrs.field(default=0.0, validator=_probability)
    error_statuses: tuple[int, ...] = (500, 502, 503)
    latency: float = attrs.field(default=0.0, validator=_not_negative)
    drop_rate: float = attrs.field(default=0.0, validator=_probability)
    truncate_rate: float = attrs.field(default=0.0, validator=_probability)
    script: tuple[Scripted, ...] = attrs.field(default=(), converter=_script)
    seed: int = 0

    @rate_limit.validator
    def _check_rate(self, _: attrs.Attribute[float | None], value: float | None) -> None:
        if value is not None and not value > 0:
            raise ValueError(f"Faults.rate_limit must be > 0 requests per second, got {value!r}")


@attrs.frozen
class Quirks:
    """The real API's known quirks (API-NOTES), each off by default.

    - ``amount_as_string``: Costs' ``amount.value`` is a JSON string (``"0.510000000"``) [#6].
    - ``costs_cursor_after_empty_tail``: a Costs page followed only by empty buckets still
      has ``has_more: true`` and a ``next_page``, and that cursor is then refused with 400
      "The page token is invalid, have you modified the query parameters?" [#2].
    - ``rate_limit_without_retry_after``: 429s carry no ``Retry-After`` [#4].
    - ``late_data``: seconds (0 = off); each event becomes visible only after its own delay,
      up to this long after it happened, so the last hours' buckets grow between two reads
      as the clock moves (``srv.advance(seconds)``) [#5]. Vector store sizes are not delayed.
    - ``costs_mismatch_days``: UTC days (dates, or Unix seconds of their midnight) on which
      Costs charge more than usage says [#8]: the ``"<model>, output"`` line item of one model,
      the model of the day's first completions event, is billed 25 % more tokens and money
      (each event's quantity and cost times 5/4, rounded down).
      ``srv.state.planted_mismatch(day)`` names the model. Usage is unchanged.
    - ``costs_quantity_since``: Costs results carry ``quantity``/``quantity_unit`` only in
      buckets from this instant (a date, or Unix seconds) on; earlier ones have them null, as
      data from before the API added the field [#11]. None: always (the default).
    """

    amount_as_string: bool = False
    costs_cursor_after_empty_tail: bool = False
    rate_limit_without_retry_after: bool = False
    late_data: int = attrs.field(default=0, validator=_not_negative)
    costs_mismatch_days: frozenset[int] = attrs.field(default=(), converter=_utc_days)
    costs_quantity_since: int | None = attrs.field(default=None, converter=_optional_instant)


def openai_duration(seconds: float) -> str:
    """A duration as OpenAI's reset headers write it (Go's format, to the millisecond):
    ``"20ms"``, ``"1.5s"``, ``"6m0s"``, ``"1h0m0s"``."""
    ms = max(0, round(seconds * 1000))
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{hours}h{minutes}m{secs}"
    return f"{minutes}m{secs}" if minutes else secs


# A refill summed step by step falls a hair short of a whole token (at 10/min, 1/6 + 5/6 of
# a token over 1 s and 5 s is 0.99999...): that much short is a token. On a virtual clock a
# request can reach the bucket at the very instant its token is due, and was refused.
TOKEN_TIE = 1e-9


def take_token(tokens: float) -> float | None:
    """What a token bucket holding ``tokens`` holds after admitting one request, or None
    when it holds less than one (within ``TOKEN_TIE``) and must refuse it."""
    return max(0.0, tokens - 1.0) if tokens >= 1.0 - TOKEN_TIE else None


def openai_rate_limit_headers(limit: int, tokens: float, reset: float) -> dict[str, str]:
    """The three ``x-ratelimit-*-requests`` headers of a token bucket holding ``limit``
    with ``tokens`` in it now, full again in ``reset`` seconds."""
    return {
        "x-ratelimit-limit-requests": str(limit),
        "x-ratelimit-remaining-requests": str(max(0, math.floor(tokens))),
        "x-ratelimit-reset-requests": openai_duration(reset),
    }


@attrs.frozen
class Decision:
    """What the random faults do to one request."""

    error_status: int | None = None
    drop: bool = False
    truncate: bool = False


class FaultInjector:
    """The state behind :class:`Faults`: the script queue, token buckets and a seeded RNG."""

    def __init__(self, faults: Faults, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.faults = faults
        self._clock = clock
        self._rng = random.Random(faults.seed)  # noqa: S311 - reproducible, not secret
        self._script: deque[ScriptedResponse] = deque(as_scripted(e) for e in faults.script)
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when)

    def extend_script(self, entries: Iterable[Scripted]) -> None:
        """Append answers to the script queue."""
        self._script.extend(as_scripted(e) for e in entries)

    @property
    def scripted_left(self) -> int:
        """How many scripted answers are still queued."""
        return len(self._script)

    def next_scripted(self) -> ScriptedResponse | None:
        """The next scripted answer, taken off the queue, or None when the queue is empty."""
        return self._script.popleft() if self._script else None

    def _refilled(self, key: str, rate: float, now: float) -> float:
        """The tokens in ``key``'s bucket at ``now``: full (``burst``) when new, else what it
        held plus ``rate`` a second since, capped at ``burst``. Stores nothing."""
        burst = float(self.faults.burst)
        tokens, when = self._buckets.get(key, (burst, now))
        return min(burst, tokens + (now - when) * rate)

    def rate_limited(self, key: str) -> int | None:
        """None if ``key`` may make a request now (taking a token), else the seconds to wait."""
        rate = self.faults.rate_limit
        if rate is None:
            return None
        now = self._clock()
        tokens = self._refilled(key, rate, now)
        left = take_token(tokens)
        if left is not None:
            self._buckets[key] = (left, now)
            return None
        self._buckets[key] = (tokens, now)
        # What is missing, less the tie (5/6 of a token at 1/6 a second is 5 s, not 6)
        return max(1, math.ceil((1.0 - tokens - TOKEN_TIE) / rate))

    def rate_limit_headers(self, key: str) -> dict[str, str]:
        """OpenAI's ``x-ratelimit-*-requests`` headers for ``key``'s bucket as it is now
        (empty unless ``rate_limit_headers`` and ``rate_limit`` are set)."""
        rate = self.faults.rate_limit
        if rate is None or not self.faults.rate_limit_headers:
            return {}
        now, burst = self._clock(), float(self.faults.burst)
        tokens = self._refilled(key, rate, now)
        return openai_rate_limit_headers(self.faults.burst, tokens, (burst - tokens) / rate)

    def draw(self) -> Decision:
        """The random faults of one request; always four draws, so runs stay reproducible."""
        faults, rng = self.faults, self._rng
        error, drop, truncate, pick = rng.random(), rng.random(), rng.random(), rng.random()
        status = None
        if error < faults.error_rate and faults.error_statuses:
            status = faults.error_statuses[int(pick * len(faults.error_statuses))]
        return Decision(status, drop < faults.drop_rate, truncate < faults.truncate_rate)
