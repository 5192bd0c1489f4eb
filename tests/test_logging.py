"""What the client logs: one DEBUG line per attempt, a WARNING per retry, never the key."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest
from helpers import KEY, Reply, ScriptedServer, bucket, page

import usage_async as ua

FAST = ua.RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)


def _attempt_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "usage_async" and r.levelno == logging.DEBUG and r.getMessage()[:4] == "GET "
    ]


def test_a_library_warning_is_not_printed_in_an_app_that_set_up_no_logging() -> None:
    script = (
        "import logging, usage_async\n"
        "logging.getLogger('usage_async').warning('retrying /organization/costs after 1s')\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0
    assert result.stderr == ""


async def test_each_attempt_logs_one_debug_line_with_status_time_request_id_and_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replies = [
        Reply(503, headers={"x-request-id": "req_first"}),
        Reply(body=page([bucket(0)]), headers={"x-request-id": "req_second"}),
    ]
    with caplog.at_level(logging.DEBUG, logger="usage_async"):
        async with (
            ScriptedServer(replies) as srv,
            ua.UsageClient(KEY, base_url=srv.base_url, retry=FAST) as c,
        ):
            await c.costs(start_time=0, project_ids=["proj_1"])
    first, second = _attempt_lines(caplog)
    path = "/v1/organization/costs?start_time=0&project_ids=proj_1"
    assert first.startswith(f"GET {path} -> 503 in ")
    assert first.endswith(" ms (x-request-id req_first, attempt 1)")
    assert second.startswith(f"GET {path} -> 200 in ")
    assert second.endswith(" ms (x-request-id req_second, attempt 2)")


async def test_an_attempt_without_a_response_logs_the_kind_of_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    srv = ScriptedServer([Reply()])
    async with srv:
        url = srv.base_url  # nothing listens there any more
    policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.01)
    with caplog.at_level(logging.DEBUG, logger="usage_async"):
        async with ua.UsageClient(KEY, base_url=url, retry=policy) as c:
            with pytest.raises(ua.APIConnectionError):
                await c.costs(start_time=0)
    lines = _attempt_lines(caplog)
    assert len(lines) == 2
    assert " failed after " in lines[0]
    assert lines[0].endswith("ms: APIConnectionError (attempt 1)")
    assert lines[1].endswith("ms: APIConnectionError (attempt 2)")


async def test_a_retry_warning_names_the_request_id_of_the_failed_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replies = [Reply(503, headers={"x-request-id": "req_failed"}), Reply(body=page([]))]
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        async with (
            ScriptedServer(replies) as srv,
            ua.UsageClient(KEY, base_url=srv.base_url, retry=FAST) as c,
        ):
            await c.costs(start_time=0)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("retrying /organization/costs after ")
    assert warning.endswith("(attempt 1 failed: status 503, x-request-id req_failed)")


async def test_the_key_appears_in_no_record_at_any_level(
    caplog: pytest.LogCaptureFixture,
) -> None:
    replies = [Reply(429, headers={"retry-after-ms": "10"}), Reply(401), Reply(body=page([]))]
    with caplog.at_level(logging.DEBUG):
        async with (
            ScriptedServer(replies) as srv,
            ua.UsageClient(KEY, base_url=srv.base_url, retry=FAST) as c,
        ):
            with pytest.raises(ua.AuthenticationError):
                await c.costs(start_time=0)
            await c.costs(start_time=0)
    assert _attempt_lines(caplog)
    secret = KEY.removeprefix("sk-admin-")
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert secret not in repr(record.__dict__)
