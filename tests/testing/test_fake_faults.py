"""Faults as data: scripted answers, rate limits, random 5xx, latency, drops, truncation."""

from __future__ import annotations

import time

import aiohttp
import pytest

from usage_async import (
    APIConnectionError,
    APIResponseValidationError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    UsageClient,
)
from usage_async.testing import FakeUsageServer, Faults, ScriptedResponse
from usage_async.testing._faults import FaultInjector

NOW = 1_736_944_200
ONCE = RetryPolicy(max_attempts=1)
COSTS = "/organization/costs?start_time=1736000000&limit=1"


async def _status(session: aiohttp.ClientSession, srv: FakeUsageServer) -> tuple[int, str | None]:
    headers = {"Authorization": f"Bearer {srv.api_key}"}
    async with session.get(srv.base_url + COSTS, headers=headers) as resp:
        await resp.read()
        return resp.status, resp.headers.get("Retry-After")


async def test_a_scripted_queue_answers_the_next_requests_in_order(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.script(503, 429, 200, 500)
    statuses = [(await _status(session, server))[0] for _ in range(5)]
    assert statuses == [503, 429, 200, 500, 200]
    assert server.scripted_left == 0


async def test_a_client_retries_through_a_script_of_503_and_429(
    server: FakeUsageServer, client: UsageClient
) -> None:
    server.faults = Faults(script=[503, 429, 200], retry_after=0)
    page = await client.costs(start_time=NOW - 86400)
    assert page.data
    assert len(server.requests) == 3


async def test_a_scripted_response_can_carry_its_own_body_and_headers(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.script(ScriptedResponse(418, body=b'{"teapot": true}', headers={"X-Why": "test"}))
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with session.get(server.base_url + COSTS, headers=headers) as resp:
        assert resp.status == 418
        assert await resp.json() == {"teapot": True}
        assert resp.headers["X-Why"] == "test"
        assert resp.headers["x-request-id"].startswith("req_")


async def test_a_scripted_429_says_retry_after_one_second_by_default(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.script(429)
    assert await _status(session, server) == (429, "1")


async def test_the_rate_limit_lets_a_burst_through_then_answers_429_with_retry_after(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.faults = Faults(rate_limit=0.01, burst=2)  # one request every 100 s
    answers = [await _status(session, server) for _ in range(3)]
    assert answers[:2] == [(200, None), (200, None)]
    status, retry_after = answers[2]
    assert status == 429
    assert retry_after is not None
    assert 90 <= int(retry_after) <= 100


def test_the_rate_limit_admits_a_request_the_instant_its_token_is_due() -> None:
    # 10/min, a bucket of one, on a clock that stands still between requests (as a virtual
    # one does): the refill summed over 1 s and then 5 s is 1/6 + 5/6 = 0.99999... of a
    # token, and the request 6 s after the first was refused.
    now = [0.0]
    bucket = FaultInjector(Faults(rate_limit=10 / 60, burst=1), clock=lambda: now[0])
    assert bucket.rate_limited("key") is None
    now[0] = 1.0
    assert bucket.rate_limited("key") == 5
    now[0] = 6.0
    assert bucket.rate_limited("key") is None
    assert bucket.rate_limited("key") == 6  # and the bucket is empty, not a hair below


async def test_a_wrong_key_is_refused_before_the_rate_limit_counts_it(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.faults = Faults(rate_limit=0.01, burst=1)
    assert (await _status(session, server))[0] == 200
    assert (await _status(session, server))[0] == 429
    async with session.get(
        server.base_url + COSTS, headers={"Authorization": "Bearer sk-admin-other"}
    ) as resp:
        assert resp.status == 401


async def test_a_client_gets_rate_limit_error_with_the_servers_wait(
    server: FakeUsageServer,
) -> None:
    server.faults = Faults(rate_limit=0.01, burst=1)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=ONCE) as client:
        await client.costs(start_time=NOW - 86400)
        with pytest.raises(RateLimitError) as caught:
            await client.costs(start_time=NOW - 86400)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 90


async def test_random_server_errors_are_reproducible_for_a_seed(
    session: aiohttp.ClientSession,
) -> None:
    runs = []
    for _ in range(2):
        async with FakeUsageServer(now=NOW, faults=Faults(error_rate=0.5, seed=7)) as srv:
            runs.append([(await _status(session, srv))[0] for _ in range(20)])
    assert runs[0] == runs[1]
    assert {200} < set(runs[0]) <= {200, 500, 502, 503}


async def test_faults_can_be_changed_on_a_running_server(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.faults = Faults(error_rate=1.0, error_statuses=(502,))
    assert (await _status(session, server))[0] == 502
    server.faults = Faults()
    assert (await _status(session, server))[0] == 200


async def test_a_client_gives_up_on_persistent_server_errors(server: FakeUsageServer) -> None:
    server.faults = Faults(error_rate=1.0)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=ONCE) as client:
        with pytest.raises(InternalServerError):
            await client.costs(start_time=NOW - 86400)


async def test_latency_delays_every_response(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.faults = Faults(latency=0.2)
    began = time.monotonic()
    await _status(session, server)
    assert time.monotonic() - began >= 0.2


async def test_a_dropped_connection_reaches_the_client_as_a_connection_error(
    server: FakeUsageServer,
) -> None:
    server.faults = Faults(drop_rate=1.0)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=ONCE) as client:
        with pytest.raises(APIConnectionError):
            await client.costs(start_time=NOW - 86400)


async def test_a_scripted_drop_sends_half_the_body_then_closes(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    server.script("drop")
    with pytest.raises(aiohttp.ClientPayloadError):
        await _status(session, server)
    assert (await _status(session, server))[0] == 200


async def test_a_truncated_body_is_a_200_that_is_not_json(server: FakeUsageServer) -> None:
    server.faults = Faults(truncate_rate=1.0)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=ONCE) as client:
        with pytest.raises(APIResponseValidationError) as caught:
            await client.costs(start_time=NOW - 86400)
    assert caught.value.status_code == 200
    assert caught.value.json_error is True


async def test_a_client_retries_a_truncated_body(
    server: FakeUsageServer, client: UsageClient
) -> None:
    server.script("truncate")
    page = await client.costs(start_time=NOW - 86400)
    assert page.data
    assert len(server.requests) == 2


@pytest.mark.parametrize(
    "faults",
    [
        {"error_rate": 1.5},
        {"drop_rate": -0.1},
        {"latency": -1},
        {"rate_limit": 0},
        {"script": ["explode"]},
        {"script": [99]},
    ],
)
def test_faults_refuse_values_that_make_no_sense(faults: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        FakeUsageServer(faults=Faults(**faults))  # type: ignore[arg-type]
