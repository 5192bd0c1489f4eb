"""The retry policy, declared: which failures are retried, how long to wait, when to stop.

Each decision is a small function of values (an exception, a ``RetryCallState``), and
:func:`build_retrying` assembles them into a tenacity ``AsyncRetrying``, so a test can call
any piece on its own and inject ``sleep``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import tenacity
from tenacity.wait import wait_base, wait_random_exponential

from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    RateLimitError,
    parse_retry_after,
)

__all__ = [
    "RETRY_STATUSES",
    "RetryEvent",
    "RetryPolicy",
    "build_retrying",
    "parse_retry_after",
    "retry_cause",
    "retry_event",
    "server_wait",
    "should_retry",
]

log = logging.getLogger("usage_async")

# Retried statuses, as openai-python's `_should_retry`: request timeout, lock conflict,
# rate limit, and every server error.
RETRY_STATUSES = frozenset({408, 409, 429})


def _positive(_: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"RetryPolicy.{attribute.name} must be > 0, got {value!r}")


@attrs.frozen
class RetryPolicy:
    """How a client retries connection errors, timeouts, 408, 409, 429, 5xx and bad 2xx bodies.

    ``max_attempts`` counts every request, the first included (1 turns retries off).
    On a client that paces adaptively (the default) a request answered 429 may go on up to
    ``max_throttled_attempts`` attempts (at least ``max_attempts``): each 429 slows the
    whole client's pace, so against a server of a few requests a minute one request can meet
    several in a row while the pace settles, and giving up its page then would lose it for
    nothing. Any other failure stops at ``max_attempts``.
    The wait is the server's when it gives one (``retry-after-ms``, then ``Retry-After``)
    used as given; a server wait above ``max_retry_after`` is not waited: the error is
    raised at once with ``.retry_after``. Otherwise the wait grows exponentially from
    ``initial_delay`` with full jitter (at least half of ``initial_delay``), capped at
    ``max_delay``.
    """

    max_attempts: int = attrs.field(default=5)
    initial_delay: float = attrs.field(default=0.5, validator=_positive)
    max_delay: float = attrs.field(default=30.0, validator=_positive)
    max_retry_after: float = attrs.field(default=120.0, validator=_positive)
    max_throttled_attempts: int = attrs.field(default=10)

    @max_attempts.validator
    @max_throttled_attempts.validator
    def _check_attempts(self, attribute: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"RetryPolicy.{attribute.name} must be an int >= 1, got {value!r}")

    def throttled_limit(self, *, paced: bool) -> int:
        """How many attempts a request answered 429 may make (``max_attempts`` unpaced, or
        when retries are off)."""
        if not paced or self.max_attempts == 1:
            return self.max_attempts
        return max(self.max_attempts, self.max_throttled_attempts)


def should_retry(exc: BaseException) -> bool:
    """Whether a failed attempt may be retried, before any wait limit is considered.

    Connection errors and timeouts, 408, 409, 429 and 5xx, and a 2xx whose body is not a
    page (not JSON, or a key that carries data missing), are retried; an
    ``x-should-retry: true|false`` response header overrides that rule either way.
    """
    if isinstance(exc, (APIStatusError, APIResponseValidationError)):
        override = exc.headers.get("x-should-retry")
        if override == "true":
            return True
        if override == "false":
            return False
    if isinstance(exc, APIStatusError):
        return exc.status_code in RETRY_STATUSES or exc.status_code >= 500
    return isinstance(exc, (APIResponseValidationError, APIConnectionError))


def server_wait(exc: BaseException | None) -> float | None:
    """The wait the server asked for with this failure, in seconds, or None."""
    if isinstance(exc, APIStatusError):
        return exc.retry_after
    return None


class wait_server_or_backoff(wait_base):  # noqa: N801 - named like tenacity's strategies
    """The server's wait when it sent one, used as given; else ``backoff``.

    With ``paced_429=True`` (a client with adaptive pacing) a 429 without a server wait is
    retried at once: the client-wide pace, just cut by that 429, spaces the retry, so an own
    backoff on top would only leave the shared budget unused.
    """

    def __init__(self, backoff: wait_base, *, paced_429: bool = False) -> None:
        self.backoff = backoff
        self.paced_429 = paced_429

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        wait = server_wait(exc)
        if wait is not None:
            return wait
        if self.paced_429 and isinstance(exc, RateLimitError):
            return 0.0
        return float(self.backoff(retry_state))


class stop_after_attempts(tenacity.stop.stop_base):  # noqa: N801
    """Stop after ``attempts`` attempts, or ``throttled`` when the last one was a 429."""

    def __init__(self, attempts: int, throttled: int) -> None:
        self.attempts = attempts
        self.throttled = throttled

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        limit = self.throttled if isinstance(exc, RateLimitError) else self.attempts
        return retry_state.attempt_number >= limit


class retry_unless_wait_too_long(tenacity.retry_base):  # noqa: N801
    """Retry what :func:`should_retry` allows, unless the server asks for a wait above the cap."""

    def __init__(self, max_retry_after: float) -> None:
        self.max_retry_after = max_retry_after

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None or not outcome.failed:
            return False
        exc = outcome.exception()
        if exc is None or not should_retry(exc):
            return False
        wait = server_wait(exc)
        return wait is None or wait <= self.max_retry_after


@attrs.frozen
class RetryEvent:
    """One retry about to be made: what failed, and how long the client waits before retrying.

    Given to a client's ``on_retry`` hook once per retry. It carries no header and no part
    of the key: only what is safe to log or export as a metric.
    """

    path: str
    """The request's path below the base URL (``/organization/costs``), without its query."""
    attempt: int
    """The attempt that failed (1 for the first request); the retry is ``attempt + 1``."""
    cause: str
    """Why: ``"429"``, ``"5xx"``, ``"4xx"`` (408, 409), ``"timeout"``, ``"connection"``, or
    ``"bad_body"`` (a 2xx whose body is not JSON or not a page)."""
    status: int | None
    """The failed attempt's HTTP status, or None when no response came."""
    error: str
    """The class name of the failure (``"RateLimitError"``, ``"APITimeoutError"``)."""
    wait: float
    """Seconds before the retry is sent (the client's pace may hold it longer)."""
    server_wait: bool
    """Whether ``wait`` is the server's (``retry-after-ms``/``Retry-After``)."""
    request_id: str | None
    """The failed attempt's ``x-request-id``, when it had one."""


def retry_cause(exc: BaseException | None) -> str:
    """The :attr:`RetryEvent.cause` of a failure: a status class, or the kind of failure."""
    if isinstance(exc, APIResponseValidationError):
        return "bad_body"
    if isinstance(exc, APIStatusError):
        return "429" if exc.status_code == 429 else f"{exc.status_code // 100}xx"
    if isinstance(exc, APITimeoutError):
        return "timeout"
    if isinstance(exc, APIConnectionError):
        return "connection"
    return type(exc).__name__ if exc is not None else "unknown"


def retry_event(retry_state: tenacity.RetryCallState) -> RetryEvent:
    """The :class:`RetryEvent` of a tenacity retry state, in its ``before_sleep``."""
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    status = (
        exc.status_code if isinstance(exc, (APIStatusError, APIResponseValidationError)) else None
    )
    return RetryEvent(
        path=str(retry_state.args[0]) if retry_state.args else "request",
        attempt=retry_state.attempt_number,
        cause=retry_cause(exc),
        status=status,
        error=type(exc).__name__ if exc is not None else "None",
        wait=float(retry_state.upcoming_sleep),
        server_wait=server_wait(exc) is not None,
        request_id=exc.request_id if isinstance(exc, APIError) else None,
    )


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"status {exc.status_code}"
    if isinstance(exc, APIResponseValidationError):
        what = "not JSON" if exc.json_error else "not a page"
        return f"status {exc.status_code} with a body that is {what}"
    return type(exc).__name__ if exc is not None else "no outcome"


def _log_retry(retry_state: tenacity.RetryCallState, event: RetryEvent) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    # The event rides along on the record (`record.retry_event`), so a handler can tell a
    # retry from other warnings without reading the message.
    log.warning(
        "retrying %s after %.2fs (attempt %d failed: %s%s)",
        event.path,
        event.wait,
        event.attempt,
        _describe(exc),
        f", x-request-id {event.request_id}" if event.request_id else "",
        extra={"retry_event": event},
    )


def build_retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    paced_429: bool = False,
    on_retry: Callable[[RetryEvent], None] | None = None,
) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for ``policy``; ``.copy()`` it for each request.

    It re-raises the last error itself (never tenacity's ``RetryError``) and logs each retry
    at WARNING through the ``usage_async`` logger, with the failed attempt's request id;
    then calls ``on_retry`` with the retry's :class:`RetryEvent` (its exceptions are the
    caller's to handle) and ``before_sleep`` with tenacity's state. ``sleep`` defaults to
    ``asyncio.sleep``. ``paced_429`` (a client that paces adaptively): see
    :class:`wait_server_or_backoff`; a 429 may then be retried up to the policy's
    ``max_throttled_attempts``.
    """
    backoff = wait_random_exponential(
        multiplier=policy.initial_delay, max=policy.max_delay, min=policy.initial_delay / 2
    )

    def log_and_notify(retry_state: tenacity.RetryCallState) -> None:
        event = retry_event(retry_state)
        _log_retry(retry_state, event)
        if on_retry is not None:
            on_retry(event)
        if before_sleep is not None:
            before_sleep(retry_state)

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.AsyncRetrying(
        stop=stop_after_attempts(policy.max_attempts, policy.throttled_limit(paced=paced_429)),
        wait=wait_server_or_backoff(backoff, paced_429=paced_429),
        retry=retry_unless_wait_too_long(policy.max_retry_after),
        before_sleep=log_and_notify,
        reraise=True,
        **kwargs,
    )
