"""``UsageClient(on_retry=...)``: one typed event per retry, in order, never the key."""

from __future__ import annotations

import logging
import socket
import warnings
from typing import Any

import pytest
from helpers import KEY, Reply, ScriptedServer, bucket, completions_result, page

import usage_async as ua
from usage_async.errors import error_from_response
from usage_async.retry import retry_cause

FAST = ua.RetryPolicy(max_attempts=5, initial_delay=0.01, max_delay=0.02)
OK = Reply(body=page([bucket(0, results=[completions_result()])]))
PATH = "/organization/usage/completions"


def client(base_url: str, **kwargs: Any) -> ua.UsageClient:
    kwargs.setdefault("retry", FAST)
    kwargs.setdefault("rate_limit", 1000.0)  # no adaptive pace to slow the retries of a 429
    return ua.UsageClient(KEY, base_url=base_url, **kwargs)


async def test_each_retry_is_one_event_in_order() -> None:
    events: list[ua.RetryEvent] = []
    replies = [
        Reply(503, headers={"x-request-id": "req_1"}),
        Reply(429, headers={"x-request-id": "req_2", "retry-after-ms": "20"}),
        Reply(200, b"{not json", headers={"x-request-id": "req_3"}),
        OK,
    ]
    async with ScriptedServer(replies) as srv, client(srv.base_url, on_retry=events.append) as c:
        await c.completions(start_time=0)

    assert [(e.attempt, e.cause, e.status, e.error, e.request_id) for e in events] == [
        (1, "5xx", 503, "InternalServerError", "req_1"),
        (2, "429", 429, "RateLimitError", "req_2"),
        (3, "bad_body", 200, "APIResponseValidationError", "req_3"),
    ]
    assert all(e.path == PATH for e in events)
    assert [e.server_wait for e in events] == [False, True, False]
    assert events[1].wait == pytest.approx(0.02)
    assert 0 < events[0].wait <= FAST.max_delay


async def test_a_connection_failure_is_an_event_without_status() -> None:
    with socket.socket() as sock:  # a port nobody listens on: connection refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    events: list[ua.RetryEvent] = []
    policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.01)
    c = client(f"http://127.0.0.1:{port}/v1", retry=policy, on_retry=events.append)
    async with c:
        with pytest.raises(ua.APIConnectionError):
            await c.completions(start_time=0)

    [event] = events
    assert (event.cause, event.status, event.request_id, event.attempt) == (
        "connection",
        None,
        None,
        1,
    )


async def test_events_never_carry_the_key() -> None:
    events: list[ua.RetryEvent] = []
    replies = [Reply(500), Reply(429), OK]
    async with ScriptedServer(replies) as srv, client(srv.base_url, on_retry=events.append) as c:
        await c.completions(start_time=0)

    assert len(events) == 2
    for event in events:
        assert KEY not in repr(event)
        assert KEY[-12:] not in repr(event)


async def test_a_hook_that_raises_does_not_break_the_request_and_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls: list[int] = []

    def broken(event: ua.RetryEvent) -> None:
        calls.append(event.attempt)
        raise RuntimeError("metrics backend down")

    replies = [Reply(500), Reply(502), Reply(503), OK]
    with caplog.at_level(logging.DEBUG, logger="usage_async"):
        async with ScriptedServer(replies) as srv, client(srv.base_url, on_retry=broken) as c:
            result = await c.completions(start_time=0)

    assert result.data  # the request succeeded after its retries
    assert calls == [1, 2, 3]
    failures = [r for r in caplog.records if r.getMessage().startswith("on_retry hook failed")]
    assert [r.levelno for r in failures] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    assert "metrics backend down" in caplog.text  # the traceback is in the first record
    assert c.pace_stats().retries == 3  # counted whatever the hook did


async def test_a_hook_that_returns_a_coroutine_is_reported_and_the_coroutine_closed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def later(event: ua.RetryEvent) -> None:
        raise AssertionError("never run")

    with (
        warnings.catch_warnings(),
        caplog.at_level(logging.WARNING, logger="usage_async"),
    ):
        warnings.simplefilter("error")  # "coroutine ... was never awaited" would be one
        async with (
            ScriptedServer([Reply(500), OK]) as srv,
            client(srv.base_url, on_retry=lambda event: later(event)) as c,
        ):
            await c.completions(start_time=0)

    assert "on_retry hook failed" in caplog.text
    assert "must be a plain function" in caplog.text


def test_an_async_hook_is_refused_before_any_request() -> None:
    async def hook(event: ua.RetryEvent) -> None:
        pass

    with pytest.raises(ua.ConfigurationError, match="on_retry must be a plain function"):
        ua.UsageClient(KEY, on_retry=hook)


def test_a_hook_that_is_not_callable_is_refused() -> None:
    with pytest.raises(ua.ConfigurationError, match="on_retry must be a function"):
        ua.UsageClient(KEY, on_retry="print")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (error_from_response(429, {}, b""), "429"),
        (error_from_response(503, {}, b""), "5xx"),
        (error_from_response(408, {}, b""), "4xx"),
        (error_from_response(409, {}, b""), "4xx"),
        (ua.APITimeoutError("slow"), "timeout"),
        (ua.APIConnectionError("reset"), "connection"),
        (ua.APIResponseValidationError("x", status_code=200, body=b"["), "bad_body"),
    ],
)
def test_each_retried_failure_has_a_cause(error: BaseException, cause: str) -> None:
    assert retry_cause(error) == cause


def test_retry_event_is_exported() -> None:
    assert "RetryEvent" in ua.__all__
    assert ua.RetryEvent.__module__ == "usage_async.retry"
