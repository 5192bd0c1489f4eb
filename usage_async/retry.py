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
    parse_retry_after,
)

__all__ = [
    "RETRY_STATUSES",
    "RetryPolicy",
    "build_retrying",
    "parse_retry_after",
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

    @max_attempts.validator
    def _check_attempts(self, _: attrs.Attribute[int], value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be an int >= 1, got {value!r}")


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
        if self.paced_429 and isinstance(exc, APIStatusError) and exc.status_code == 429:
            return 0.0
        return float(self.backoff(retry_state))


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


def _describe(exc: BaseException | None) -> str:
    if isinstance(exc, APIStatusError):
        return f"status {exc.status_code}"
    if isinstance(exc, APIResponseValidationError):
        what = "not JSON" if exc.json_error else "not a page"
        return f"status {exc.status_code} with a body that is {what}"
    return type(exc).__name__ if exc is not None else "no outcome"


def _log_retry(retry_state: tenacity.RetryCallState) -> None:
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    wait = retry_state.upcoming_sleep
    what = retry_state.args[0] if retry_state.args else "request"
    request_id = exc.request_id if isinstance(exc, APIError) else None
    # The CLI counts retries by this message's "retrying " prefix: keep it.
    log.warning(
        "retrying %s after %.2fs (attempt %d failed: %s%s)",
        what,
        wait,
        retry_state.attempt_number,
        _describe(exc),
        f", x-request-id {request_id}" if request_id else "",
    )


def build_retrying(
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]] | None = None,
    before_sleep: Callable[[tenacity.RetryCallState], None] | None = None,
    paced_429: bool = False,
) -> tenacity.AsyncRetrying:
    """A tenacity ``AsyncRetrying`` for ``policy``; ``.copy()`` it for each request.

    It re-raises the last error itself (never tenacity's ``RetryError``) and logs each retry
    at WARNING through the ``usage_async`` logger, with the failed attempt's request id.
    ``sleep`` defaults to ``asyncio.sleep``. ``paced_429``: see
    :class:`wait_server_or_backoff`.
    """
    backoff = wait_random_exponential(
        multiplier=policy.initial_delay, max=policy.max_delay, min=policy.initial_delay / 2
    )

    def log_and_notify(retry_state: tenacity.RetryCallState) -> None:
        _log_retry(retry_state)
        if before_sleep is not None:
            before_sleep(retry_state)

    kwargs: dict[str, Any] = {}
    if sleep is not None:
        kwargs["sleep"] = sleep
    return tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=wait_server_or_backoff(backoff, paced_429=paced_429),
        retry=retry_unless_wait_too_long(policy.max_retry_after),
        before_sleep=log_and_notify,
        reraise=True,
        **kwargs,
    )
