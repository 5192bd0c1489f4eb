"""The retry policy's pieces, called on their own: which failures retry, how long to wait."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import tenacity

import usage_async as ua
from usage_async.retry import build_retrying, should_retry, wait_server_or_backoff


def status(code: int, headers: dict[str, str] | None = None) -> ua.APIStatusError:
    from usage_async.errors import error_from_response

    return error_from_response(code, headers or {}, b"")


@pytest.mark.parametrize("code", [408, 409, 429, 500, 502, 503, 504, 599])
def test_these_statuses_are_retried(code: int) -> None:
    assert should_retry(status(code))


@pytest.mark.parametrize("code", [400, 401, 403, 404, 422, 301])
def test_these_statuses_are_not_retried(code: int) -> None:
    assert not should_retry(status(code))


def test_connection_errors_and_timeouts_are_retried() -> None:
    assert should_retry(ua.APIConnectionError("reset"))
    assert should_retry(ua.APITimeoutError("slow"))


def test_a_2xx_whose_body_is_not_json_or_not_a_page_is_retried() -> None:
    not_json = ua.APIResponseValidationError("x", status_code=200, body=b"{", json_error=True)
    not_page = ua.APIResponseValidationError("x", status_code=200, body=b"[]")
    assert should_retry(not_json)
    assert should_retry(not_page)


def test_x_should_retry_false_wins_over_a_bad_2xx_body() -> None:
    not_page = ua.APIResponseValidationError(
        "x", status_code=200, body=b"[]", headers={"x-should-retry": "false"}
    )
    assert not should_retry(not_page)


def test_x_should_retry_overrides_the_rule_both_ways() -> None:
    assert should_retry(status(400, {"x-should-retry": "true"}))
    assert not should_retry(status(503, {"x-should-retry": "false"}))


def test_invalid_parameter_and_pagination_errors_are_not_retried() -> None:
    assert not should_retry(ua.InvalidParameterError("x"))
    assert not should_retry(ua.PaginationError("x"))


def _state(exc: BaseException, attempt: int = 1) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(tenacity.AsyncRetrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_the_server_wait_is_used_as_given() -> None:
    wait = wait_server_or_backoff(tenacity.wait_fixed(99))
    assert wait(_state(status(429, {"retry-after": "2"}))) == 2.0
    assert wait(_state(status(503, {"retry-after-ms": "1500"}))) == 1.5


def test_without_a_server_wait_backoff_grows_with_jitter_within_the_cap() -> None:
    policy = ua.RetryPolicy(initial_delay=0.5, max_delay=4.0)
    retrying = build_retrying(policy)
    waits = {n: [retrying.wait(_state(status(503), n)) for _ in range(200)] for n in (1, 2, 6)}
    assert all(0.25 <= w <= 0.5 for w in waits[1])
    assert all(0.25 <= w <= 1.0 for w in waits[2])
    assert max(waits[2]) > 0.6  # grew
    assert all(w <= 4.0 for w in waits[6])
    assert len(set(waits[6])) > 100  # jittered


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        ua.RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="initial_delay"):
        ua.RetryPolicy(initial_delay=0)
    with pytest.raises(ValueError, match="max_throttled_attempts"):
        ua.RetryPolicy(max_throttled_attempts=0)


async def _run(retrying: tenacity.AsyncRetrying, failures: list[BaseException]) -> Any:
    calls = 0

    async def attempt(path: str) -> str:
        nonlocal calls
        calls += 1
        if failures:
            raise failures.pop(0)
        return "ok"

    try:
        return await retrying(attempt, "/organization/costs"), calls
    except ua.UsageError as exc:
        return exc, calls


async def test_max_attempts_counts_every_request_and_the_last_error_is_raised_as_is() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retrying = build_retrying(ua.RetryPolicy(max_attempts=3), sleep=sleep)
    result, calls = await _run(retrying, [status(503), status(502), status(500), status(500)])
    assert calls == 3
    assert type(result) is ua.InternalServerError
    assert result.status_code == 500
    assert len(slept) == 2


async def test_a_server_wait_above_max_retry_after_is_raised_at_once() -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retrying = build_retrying(ua.RetryPolicy(max_retry_after=10), sleep=sleep)
    result, calls = await _run(retrying, [status(429, {"retry-after": "60"})])
    assert calls == 1
    assert isinstance(result, ua.RateLimitError)
    assert result.retry_after == 60.0
    assert slept == []


async def test_each_retry_is_logged_with_status_and_wait(caplog: pytest.LogCaptureFixture) -> None:
    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    retrying = build_retrying(ua.RetryPolicy(), sleep=sleep)
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        result, calls = await _run(retrying, [status(429, {"retry-after": "1.25"})])
    assert result == "ok"
    assert calls == 2
    [record] = caplog.records
    assert "429" in record.getMessage()
    assert "1.25s" in record.getMessage()
    assert "/organization/costs" in record.getMessage()


async def test_a_paced_client_retries_a_429_up_to_max_throttled_attempts() -> None:
    async def sleep(seconds: float) -> None:
        pass

    policy = ua.RetryPolicy(max_attempts=3, max_throttled_attempts=6)
    paced = build_retrying(policy, sleep=sleep, paced_429=True)
    result, calls = await _run(paced, [status(429)] * 5)
    assert (result, calls) == ("ok", 6)
    result, calls = await _run(paced.copy(), [status(429)] * 6)
    assert calls == 6
    assert isinstance(result, ua.RateLimitError)


async def test_other_failures_and_unpaced_429s_stop_at_max_attempts() -> None:
    async def sleep(seconds: float) -> None:
        pass

    policy = ua.RetryPolicy(max_attempts=3, max_throttled_attempts=6)
    paced = build_retrying(policy, sleep=sleep, paced_429=True)
    result, calls = await _run(paced, [status(429), status(503), status(503), status(429)])
    assert calls == 3  # a 5xx is the third attempt: the ordinary limit
    assert isinstance(result, ua.InternalServerError)
    unpaced = build_retrying(policy, sleep=sleep)
    result, calls = await _run(unpaced, [status(429)] * 5)
    assert calls == 3
    assert isinstance(result, ua.RateLimitError)


def test_retries_off_means_no_429_retry_either() -> None:
    off = ua.RetryPolicy(max_attempts=1, max_throttled_attempts=10)
    assert off.throttled_limit(paced=True) == 1
    assert ua.RetryPolicy(max_attempts=7, max_throttled_attempts=3).throttled_limit(paced=True) == 7
