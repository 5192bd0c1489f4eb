"""The client against loopback servers: requests, retries, timeouts, sessions, concurrency."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
import warnings
import weakref
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from helpers import KEY, Reply, ScriptedServer, bucket, completions_result, page

import usage_async as ua
from usage_async.testing import FakeUsageServer

FAST = ua.RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05)
OK = Reply(body=page([bucket(0, results=[completions_result()])]))


def client(srv: ScriptedServer, **kwargs: Any) -> ua.UsageClient:
    kwargs.setdefault("retry", FAST)
    return ua.UsageClient(KEY, base_url=srv.base_url, **kwargs)


# -- the request ---------------------------------------------------------------------------


async def test_a_call_sends_one_get_with_the_documented_headers() -> None:
    async with ScriptedServer([OK]) as srv, client(srv, organization="org-123") as c:
        result = await c.completions(start_time=0, group_by=["model", "project_id"], batch=True)
    assert isinstance(result.data[0].results[0], ua.CompletionsResult)
    [req] = srv.requests
    assert req.path == "/v1/organization/usage/completions"
    assert req.query == [
        ("start_time", "0"),
        ("batch", "true"),
        ("group_by", "model"),
        ("group_by", "project_id"),
    ]
    assert req.headers["Authorization"] == f"Bearer {KEY}"
    assert req.headers["Accept"] == "application/json"
    assert req.headers["User-Agent"].startswith(f"usage-async/{ua.__version__}")
    assert req.headers["OpenAI-Organization"] == "org-123"


async def test_extra_query_parameters_are_sent() -> None:
    async with ScriptedServer([OK]) as srv, client(srv) as c:
        await c.completions(start_time=0, extra_query={"group_by": ["api_source"]})
    assert ("group_by", "api_source") in srv.requests[0].query


async def test_every_endpoint_requests_its_own_path() -> None:
    async with ScriptedServer([Reply(body=page([]))]) as srv, client(srv) as c:
        for name, row in ua.ENDPOINTS.items():
            await c.endpoint(name)(start_time=0)
            assert srv.requests[-1].path == "/v1" + row.path


async def test_invalid_parameters_are_refused_before_any_request() -> None:
    async with ScriptedServer([OK]) as srv, client(srv) as c:
        with pytest.raises(ua.InvalidParameterError):
            await c.costs(start_time=0, bucket_width="1h")
        with pytest.raises(ua.InvalidParameterError):
            c.costs.pages(start_time=0, group_by="project_id")  # refused at call time
        with pytest.raises(ua.InvalidParameterError):
            c.images.buckets(start_time=0, sizes=["9x9"])
        with pytest.raises(ua.InvalidParameterError):
            c.embeddings.collect(start_time=5, end_time=5)
    assert srv.requests == []


# -- pagination over HTTP ------------------------------------------------------------------


def _paged(request: web.Request, n: int) -> Reply:
    cursor = request.query.get("page")
    i = int(cursor[1:]) if cursor else 0
    more = i < 3
    return Reply(body=page([bucket(i * 86400)], f"p{i + 1}" if more else None))


async def test_pages_resend_every_parameter_with_the_cursor() -> None:
    async with ScriptedServer(handler=_paged) as srv, client(srv) as c:
        buckets = await c.costs.collect(start_time=0, group_by=["line_item"], limit=1)
    assert [x.start_time for x in buckets] == [0, 86400, 2 * 86400, 3 * 86400]
    base = [("start_time", "0"), ("group_by", "line_item"), ("limit", "1")]
    assert [r.query for r in srv.requests] == [
        base,
        [*base, ("page", "p1")],
        [*base, ("page", "p2")],
        [*base, ("page", "p3")],
    ]


def _one_page(request: web.Request, n: int) -> Reply:
    return Reply(body=page([bucket(0)]))


@pytest.mark.parametrize(
    ("endpoint", "width", "limit"),
    [
        ("completions", None, "31"),
        ("completions", "1d", "31"),
        ("embeddings", "1h", "168"),
        ("images", "1m", "1440"),
        ("costs", None, "180"),  # the API answers at most 31 buckets whatever the limit
    ],
)
@pytest.mark.parametrize("stream", ["pages", "buckets", "collect"])
async def test_streams_ask_for_the_largest_page_of_the_bucket_width(
    endpoint: str, width: str | None, limit: str, stream: str
) -> None:
    async with ScriptedServer(handler=_one_page) as srv, client(srv) as c:
        method = getattr(c.endpoint(endpoint), stream)
        if stream == "collect":
            await method(start_time=0, bucket_width=width)
        else:
            async for _ in method(start_time=0, bucket_width=width):
                pass
    [req] = srv.requests
    assert dict(req.query)["limit"] == limit


async def test_a_stream_sends_the_limit_it_was_given() -> None:
    async with ScriptedServer(handler=_one_page) as srv, client(srv) as c:
        await c.costs.collect(start_time=0, limit=7)
        await c.costs.collect(start_time=0, extra_query={"limit": 9})
    assert [r.query for r in srv.requests] == [
        [("start_time", "0"), ("limit", "7")],
        [("start_time", "0"), ("limit", "9")],
    ]


async def test_a_single_awaited_page_sends_no_limit_unless_given() -> None:
    async with ScriptedServer(handler=_one_page) as srv, client(srv) as c:
        await c.costs(start_time=0)
        await c.completions(start_time=0, limit=3)
    assert [r.query for r in srv.requests] == [
        [("start_time", "0")],
        [("start_time", "0"), ("limit", "3")],
    ]


async def test_the_re_ask_after_a_rejected_cursor_keeps_the_streams_limit() -> None:
    rejected = {"error": {"message": "The page token is invalid", "param": "page"}}

    def handler(request: web.Request, n: int) -> Reply:
        if n == 0:
            return Reply(body=page([bucket(0)], "c1"))
        if n == 1:
            return Reply(400, rejected)
        return Reply(body=page([bucket(86400)]))

    async with ScriptedServer(handler=handler) as srv, client(srv) as c:
        buckets = await c.costs.collect(start_time=0, end_time=2 * 86400)
    assert [b.start_time for b in buckets] == [0, 86400]
    assert [r.query for r in srv.requests] == [
        [("start_time", "0"), ("end_time", "172800"), ("limit", "180")],
        [("start_time", "0"), ("end_time", "172800"), ("limit", "180"), ("page", "c1")],
        [("start_time", "86400"), ("end_time", "172800"), ("limit", "180")],
    ]


async def test_a_month_fan_out_over_20_projects_takes_one_request_a_project() -> None:
    now = 1_736_944_200  # 2025-01-15T12:30Z
    start, end = now // 86400 * 86400 - 30 * 86400, now // 86400 * 86400
    async with (
        FakeUsageServer(seed=0, now=now) as srv,
        ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST) as c,
    ):
        months = await asyncio.gather(
            *(
                c.completions.collect(start_time=start, end_time=end, project_ids=[f"proj_{i}"])
                for i in range(20)
            )
        )
    assert [len(buckets) for buckets in months] == [30] * 20
    assert len(srv.requests) == 20  # 5 pages of 7 days each under the API's default


async def test_a_costs_stream_asks_for_180_and_follows_the_31_buckets_a_page_holds() -> None:
    now = 1_736_944_200
    start = now // 86400 * 86400 - 60 * 86400
    async with (
        FakeUsageServer(seed=0, now=now) as srv,
        ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST) as c,
    ):
        pages = [p async for p in c.costs.pages(start_time=start, end_time=start + 60 * 86400)]
    assert [len(p.data) for p in pages] == [31, 29]
    assert [r.params()["limit"] for r in srv.requests] == [["180"], ["180"]]


async def test_page_argument_starts_a_stream_at_that_cursor() -> None:
    async with ScriptedServer(handler=_paged) as srv, client(srv) as c:
        starts = [x.start_time async for x in c.costs.buckets(start_time=0, page="p2")]
    assert starts == [2 * 86400, 3 * 86400]
    assert srv.requests[0].page == "p2"


async def test_cursors_are_percent_encoded() -> None:
    async with ScriptedServer([Reply(body=page([]))]) as srv, client(srv) as c:
        await c.costs(start_time=0, page="a+b/c=")
    assert srv.requests[0].page == "a+b/c="


# -- retries -------------------------------------------------------------------------------


async def test_5xx_then_success_is_retried_transparently() -> None:
    replies = [Reply(503), Reply(500), OK]
    async with ScriptedServer(replies) as srv, client(srv) as c:
        result = await c.completions(start_time=0)
    assert result.data[0].results
    assert len(srv.requests) == 3


async def test_retries_stop_at_max_attempts_and_raise_the_last_error() -> None:
    replies = [Reply(502, {"error": {"message": "bad gw"}})]
    async with ScriptedServer(replies) as srv, client(srv) as c:
        with pytest.raises(ua.InternalServerError) as info:
            await c.completions(start_time=0)
    assert len(srv.requests) == FAST.max_attempts
    assert info.value.status_code == 502
    assert info.value.request_id == "req_test"


async def test_other_4xx_are_raised_at_once() -> None:
    body = {"error": {"message": "nope", "type": "invalid_request_error", "param": "x"}}
    async with ScriptedServer([Reply(400, body)]) as srv, client(srv) as c:
        with pytest.raises(ua.BadRequestError) as info:
            await c.completions(start_time=0)
    assert len(srv.requests) == 1
    assert info.value.param == "x"


async def test_retry_after_is_waited_before_the_retry() -> None:
    replies = [Reply(429, headers={"retry-after-ms": "300"}), OK]
    async with ScriptedServer(replies) as srv, client(srv) as c:
        started = time.monotonic()
        await c.completions(start_time=0)
        elapsed = time.monotonic() - started
    assert len(srv.requests) == 2
    assert elapsed >= 0.29


async def test_a_server_wait_above_max_retry_after_is_raised_at_once_with_it() -> None:
    policy = ua.RetryPolicy(max_retry_after=5)
    replies = [Reply(429, headers={"retry-after": "3600"}), OK]
    async with ScriptedServer(replies) as srv, client(srv, retry=policy) as c:
        with pytest.raises(ua.RateLimitError) as info:
            await c.completions(start_time=0)
    assert info.value.retry_after == 3600
    assert len(srv.requests) == 1


async def test_a_paced_client_keeps_its_page_through_more_429s_than_max_attempts() -> None:
    # Against a server of a few requests a minute one request can meet several 429s in a
    # row while the pace settles: the adaptive client goes on (max_throttled_attempts).
    throttled = Reply(429, headers={"retry-after-ms": "5"})
    policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.01, max_throttled_attempts=4)
    async with ScriptedServer([throttled] * 3 + [OK]) as srv, client(srv, retry=policy) as c:
        result = await c.completions(start_time=0)
    assert len(srv.requests) == 4
    assert result.data
    async with (
        ScriptedServer([throttled] * 3 + [OK]) as srv,
        client(srv, retry=policy, rate_limit=None) as c,
    ):
        with pytest.raises(ua.RateLimitError):
            await c.completions(start_time=0)
    assert len(srv.requests) == 2


async def test_a_truncated_json_body_is_retried() -> None:
    replies = [Reply(body=b'{"object": "page", "data": [{"obj'), OK]
    async with ScriptedServer(replies) as srv, client(srv) as c:
        await c.completions(start_time=0)
    assert len(srv.requests) == 2


async def test_a_page_read_ahead_is_decoded_and_retried_only_when_the_consumer_wants_it() -> None:
    replies = [
        Reply(body=page([bucket(0)], "c1")),
        Reply(body=b'{"object": "page", "data": [{"obj'),  # page 2, cut short
        Reply(body=page([bucket(86400)])),
    ]
    async with (
        ScriptedServer(replies) as srv,
        client(srv) as c,
        contextlib.aclosing(c.costs.pages(start_time=0)) as stream,
    ):
        first = await anext(stream)
        await srv.wait_for_requests(2)  # page 2 was asked for ahead of the consumer...
        await asyncio.sleep(0.3)  # ...and its bad body waits, unread: no retry yet
        assert len(srv.requests) == 2
        second = await anext(stream)
        assert len(srv.requests) == 3
        assert [p.data[0].start_time for p in (first, second)] == [0, 86400]


async def test_a_stream_keeps_no_delivered_bucket_alive_while_it_waits_for_the_next_page() -> None:
    seen: list[weakref.ref[ua.Bucket[Any]]] = []
    waiting = asyncio.Event()

    async def consume(stream: AsyncIterator[ua.Bucket[Any]]) -> None:
        async for b in stream:
            seen.append(weakref.ref(b))
            del b
            if len(seen) == 1:
                waiting.set()

    gc.disable()  # only reference counts may free the buckets
    try:
        async with ScriptedServer(handler=_slow_pages) as srv, client(srv) as c:
            stream = c.costs.buckets(start_time=0)
            task = asyncio.ensure_future(consume(stream))
            await waiting.wait()
            await srv.wait_for_requests(2)  # page 2 answers only after 0.3 s
            await asyncio.sleep(0.05)
            assert len(seen) == 1
            assert seen[0]() is None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await stream.aclose()
    finally:
        gc.enable()


async def test_a_json_body_that_is_not_a_page_is_retried_and_then_raised() -> None:
    async with ScriptedServer([Reply(body={"hello": "world"})]) as srv, client(srv) as c:
        with pytest.raises(ua.APIResponseValidationError):
            await c.completions(start_time=0)
    assert len(srv.requests) == FAST.max_attempts


async def test_a_bucket_without_results_is_asked_again_never_read_as_empty() -> None:
    broken = page([bucket(0, results=[completions_result()])])
    del broken["data"][0]["results"]
    async with ScriptedServer([Reply(body=broken), OK]) as srv, client(srv) as c:
        result = await c.completions(start_time=0)
    assert len(srv.requests) == 2
    assert result.data[0].results == [
        ua.CompletionsResult(input_tokens=10, output_tokens=5, num_model_requests=1)
    ]


async def test_a_waiting_retry_holds_no_concurrency_slot() -> None:
    order: list[str] = []

    def handler(request: web.Request, n: int) -> Reply:
        who = request.query["project_ids"]
        order.append(who)
        if who == "slow" and order.count("slow") == 1:
            return Reply(503, headers={"retry-after-ms": "400"})
        return OK

    async with ScriptedServer(handler=handler) as srv, client(srv, max_concurrency=1) as c:
        slow = asyncio.ensure_future(c.completions(start_time=0, project_ids=["slow"]))
        await srv.wait_for_requests(1)
        await c.completions(start_time=0, project_ids=["fast"])
        assert order == ["slow", "fast"]  # fast ran during slow's wait
        await slow
    assert order == ["slow", "fast", "slow"]


# -- errors --------------------------------------------------------------------------------


async def test_401_says_an_admin_key_is_needed_and_never_shows_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    body = {"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}
    with caplog.at_level(logging.DEBUG):
        async with ScriptedServer([Reply(401, body)]) as srv, client(srv) as c:
            with pytest.raises(ua.AuthenticationError) as info:
                await c.completions(start_time=0)
            assert KEY not in repr(c)
    err = info.value
    assert "sk-admin-" in str(err)
    assert err.code == "invalid_api_key"
    for text in (str(err), repr(err), repr(err.__dict__), caplog.text):
        assert KEY not in text


async def test_the_key_never_appears_in_retry_logs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with ScriptedServer([Reply(503), OK]) as srv, client(srv) as c:
            await c.completions(start_time=0)
    assert "retrying" in caplog.text
    assert KEY not in caplog.text


async def test_redirects_are_not_followed() -> None:
    handler = lambda r, n: OK if n else _redirect()  # noqa: E731
    async with ScriptedServer(handler=handler) as srv, client(srv) as c:
        with pytest.raises(ua.APIStatusError) as info:
            await c.completions(start_time=0)
    assert info.value.status_code == 302
    assert type(info.value) is ua.APIStatusError
    assert len(srv.requests) == 1


def _redirect() -> web.Response:
    return web.Response(status=302, headers={"Location": "http://127.0.0.1:9/steal"})


async def test_a_refused_connection_is_an_api_connection_error() -> None:
    srv = ScriptedServer([OK])
    async with srv:
        url = srv.base_url
    async with ua.UsageClient(KEY, base_url=url, retry=FAST) as c:
        with pytest.raises(ua.APIConnectionError) as info:
            await c.completions(start_time=0)
    assert not isinstance(info.value, ua.APITimeoutError)


async def test_timeout_bounds_each_attempt() -> None:
    replies = [Reply(delay=1.0, body=page([]))]
    policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.01)
    async with ScriptedServer(replies) as srv, client(srv, timeout=0.2, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(ua.APITimeoutError):
            await c.completions(start_time=0)
        elapsed = time.monotonic() - started
    assert len(srv.requests) == 2
    assert elapsed < 0.9


async def test_timeout_covers_reading_the_body() -> None:
    async def stalls(request: web.Request, n: int) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.content_length = 100
        await resp.prepare(request)
        await resp.write(b'{"object": "page", ')
        await asyncio.sleep(1.5)
        return resp

    policy = ua.RetryPolicy(max_attempts=1)
    async with ScriptedServer(handler=stalls) as srv, client(srv, timeout=0.3, retry=policy) as c:
        started = time.monotonic()
        with pytest.raises(ua.APITimeoutError):
            await c.completions(start_time=0)
        assert time.monotonic() - started < 1.2


# -- sessions ------------------------------------------------------------------------------


async def test_an_owned_session_is_closed_on_exit_without_warnings() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with ScriptedServer([OK]) as srv:
            c = client(srv)
            async with c:
                await c.completions(start_time=0)
                session = c._transport._session
                assert session is not None
            assert session.closed
            del c, session
            gc.collect()
    assert [w for w in caught if "Unclosed" in str(w.message)] == []


async def test_aclose_closes_the_owned_session_for_apps_without_async_with() -> None:
    async with ScriptedServer([OK]) as srv:
        c = client(srv)
        await c.completions(start_time=0)
        session = c._transport._session
        await c.aclose()
        assert session is not None
        assert session.closed


async def test_a_nested_async_with_leaves_the_client_open_until_the_outermost_exit() -> None:
    async with ScriptedServer([OK]) as srv:
        c = client(srv)
        async with c:
            async with c:  # a helper entering the client the app shares
                await c.completions(start_time=0)
                session = c._transport._session
            await c.completions(start_time=0)
            assert c._transport._session is session
        assert session is not None
        assert session.closed
    assert len(srv.requests) == 2


async def test_aclose_closes_the_client_however_deeply_it_was_entered() -> None:
    async with ScriptedServer([OK]) as srv:
        c = client(srv)
        async with c, c:
            await c.completions(start_time=0)
            await c.aclose()
            with pytest.raises(ua.UsageError, match="closed"):
                await c.completions(start_time=0)
    assert len(srv.requests) == 1


async def test_a_borrowed_session_is_used_and_never_closed() -> None:
    async with ScriptedServer([OK]) as srv, aiohttp.ClientSession() as session:
        async with client(srv, session=session) as c:
            await c.completions(start_time=0)
        assert not session.closed
        async with session.get(srv.base_url + "/organization/costs") as resp:
            assert resp.status == 200


async def test_the_owned_session_honours_http_proxy_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with ScriptedServer([OK]) as proxy:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        async with ua.UsageClient(
            KEY, base_url="http://usage.invalid/v1", allow_http=True, retry=FAST
        ) as c:
            await c.completions(start_time=0)
    [req] = proxy.requests
    assert req.headers["Host"] == "usage.invalid"


# -- concurrency and cancellation ----------------------------------------------------------


async def test_requests_in_flight_never_exceed_max_concurrency() -> None:
    replies = [Reply(delay=0.05, body=page([]))]
    async with ScriptedServer(replies) as srv, client(srv, max_concurrency=3) as c:
        await asyncio.gather(*(c.costs.collect(start_time=0) for _ in range(12)))
    assert len(srv.requests) == 12
    assert srv.max_in_flight == 3


async def test_cancelling_a_request_frees_its_slot_and_leaves_the_client_usable() -> None:
    replies = [Reply(delay=1.5, body=page([])), OK]
    async with ScriptedServer(replies) as srv, client(srv, max_concurrency=1) as c:
        task = asyncio.ensure_future(c.completions(start_time=0))
        await srv.wait_for_requests(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert c._transport.in_flight == 0
        result = await asyncio.wait_for(c.completions(start_time=0), 2)
    assert result.data


def _client_tasks() -> list[asyncio.Task[Any]]:
    """Tasks running the client's code (the loopback server's own handlers excluded)."""
    return [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task() and "UsageClient" in t.get_coro().__qualname__
    ]


def _slow_pages(request: web.Request, n: int) -> Reply:
    return Reply(delay=0.3 if n else 0, body=page([bucket(n * 86400)], f"c{n + 1}"))


async def test_breaking_out_of_a_closed_stream_leaves_no_request_or_task_behind() -> None:
    async with ScriptedServer(handler=_slow_pages) as srv, client(srv, max_concurrency=2) as c:
        async with contextlib.aclosing(c.costs.buckets(start_time=0)) as stream:
            async for _ in stream:
                break
        assert c._transport.in_flight == 0
        assert _client_tasks() == []
        assert len(srv.requests) <= 2
        await c.costs(start_time=0)


async def test_breaking_out_of_a_plain_async_for_stops_promptly() -> None:
    async with ScriptedServer(handler=_slow_pages) as srv, client(srv, max_concurrency=2) as c:
        async for _ in c.costs.buckets(start_time=0):
            break
        for _ in range(10):  # the event loop finalizes the abandoned generator
            await asyncio.sleep(0)
        assert _client_tasks() == []
        assert c._transport.in_flight == 0
        assert len(srv.requests) <= 2


async def test_cancelling_a_task_that_streams_stops_its_requests() -> None:
    async with ScriptedServer(handler=_slow_pages) as srv, client(srv, max_concurrency=2) as c:
        task = asyncio.ensure_future(c.costs.collect(start_time=0))
        await srv.wait_for_requests(2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _client_tasks() == []
        assert c._transport.in_flight == 0


async def test_a_gather_over_many_streams_shares_one_connection_pool() -> None:
    async with ScriptedServer(handler=_paged) as srv, client(srv, max_concurrency=4) as c:
        results = await asyncio.gather(*(c.costs.collect(start_time=0) for _ in range(10)))
        session = c._transport._session
        assert session is not None
        assert session.connector is not None
        assert session.connector.limit == 4
    assert all(len(r) == 4 for r in results)
    assert len(srv.requests) == 40


async def test_no_proxy_exempts_the_api_host(monkeypatch: pytest.MonkeyPatch) -> None:
    async with ScriptedServer([OK]) as proxy, ScriptedServer([OK]) as api:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
        async with client(api) as c:
            await c.completions(start_time=0)
    assert proxy.requests == []
    assert len(api.requests) == 1


@pytest.fixture
def proxy_env(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Point HTTP_PROXY at a URL, with no NO_PROXY exemption."""
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    return lambda url: monkeypatch.setenv("HTTP_PROXY", url)


async def test_a_loopback_host_is_never_reached_through_the_environments_proxy(
    proxy_env: Any,
) -> None:
    async with ScriptedServer([OK]) as proxy, ScriptedServer([OK]) as api:
        proxy_env(f"http://127.0.0.1:{proxy.port}")
        async with client(api) as c:
            await c.completions(start_time=0)
    assert proxy.requests == []
    assert len(api.requests) == 1


async def test_a_borrowed_session_trusting_a_proxy_from_the_environment_is_refused_for_loopback(
    proxy_env: Any,
) -> None:
    async with ScriptedServer([OK]) as proxy, ScriptedServer([OK]) as api:
        proxy_env(f"http://127.0.0.1:{proxy.port}")
        session = aiohttp.ClientSession(trust_env=True)
        async with session, client(api, session=session) as c:
            with pytest.raises(ua.ConfigurationError, match="NO_PROXY") as info:
                await c.completions(start_time=0)
    assert proxy.requests == []
    assert api.requests == []
    assert KEY not in str(info.value)


async def test_a_borrowed_session_with_its_own_proxy_is_refused_for_loopback() -> None:
    async with ScriptedServer([OK]) as proxy, ScriptedServer([OK]) as api:
        session = aiohttp.ClientSession(proxy=f"http://127.0.0.1:{proxy.port}")
        async with session, client(api, session=session) as c:
            with pytest.raises(ua.ConfigurationError, match="proxy"):
                await c.completions(start_time=0)
    assert proxy.requests == []
    assert api.requests == []


async def test_a_borrowed_session_trusting_the_environment_goes_direct_when_no_proxy_says_so(
    proxy_env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ScriptedServer([OK]) as proxy, ScriptedServer([OK]) as api:
        proxy_env(f"http://127.0.0.1:{proxy.port}")
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        session = aiohttp.ClientSession(trust_env=True)
        async with session, client(api, session=session) as c:
            await c.completions(start_time=0)
    assert proxy.requests == []
    assert len(api.requests) == 1


async def test_a_netrc_entry_for_the_host_does_not_replace_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with ScriptedServer([OK]) as srv, client(srv) as c:
        await c.completions(start_time=0)
    assert srv.requests[0].headers["Authorization"] == f"Bearer {KEY}"


# -- closing --------------------------------------------------------------------------------


async def test_when_a_stream_fails_the_closing_client_ends_its_siblings_at_once_unretried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def handler(request: web.Request, n: int) -> Reply:
        if request.query["project_ids"] == "bad":
            return Reply(400, {"error": {"message": "no such project"}}, delay=0.3)
        return Reply(body=page([bucket(0)]), delay=5.0)  # still in flight when it fails

    policy = ua.RetryPolicy(max_attempts=5, initial_delay=1.0)
    streams: list[asyncio.Future[Any]] = []

    async def fan_out(c: ua.UsageClient) -> None:
        # The README's fan-out: 3 requests in flight, 1 waiting for a concurrency slot, 2
        # for a turn of the slow start; the failing stream ends the `async with`.
        async with c:
            for p in ["bad", "a", "b", "c", "d", "e"]:
                streams.append(
                    asyncio.ensure_future(c.costs.collect(start_time=0, project_ids=[p]))
                )
            await asyncio.gather(*streams)

    with caplog.at_level(logging.WARNING, logger="usage_async"):
        async with ScriptedServer(handler=handler) as srv:
            with pytest.raises(ua.BadRequestError):
                await fan_out(client(srv, retry=policy, max_concurrency=3))
            siblings = streams[1:]
            _, pending = await asyncio.wait(siblings, timeout=2.0)
    assert pending == set()
    assert all(isinstance(s.exception(), ua.ClientClosedError) for s in siblings)
    sent = [dict(r.query)["project_ids"] for r in srv.requests]
    assert len(set(sent)) == len(sent)  # no request was retried
    assert [r.getMessage() for r in caplog.records] == []


class _Retrying(logging.Handler):
    """Sets ``event`` when the client logs a retry (it is then waiting to make it)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.event = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("retrying "):
            self.event.set()


@contextlib.contextmanager
def _retry_logged() -> Any:
    handler = _Retrying()
    logger = logging.getLogger("usage_async")
    logger.addHandler(handler)
    try:
        yield handler.event
    finally:
        logger.removeHandler(handler)


async def test_closing_ends_a_request_waiting_to_retry_at_once() -> None:
    replies = [Reply(503, headers={"retry-after": "30"}), OK]
    async with ScriptedServer(replies) as srv:
        c = client(srv)
        with _retry_logged() as retrying:
            task = asyncio.ensure_future(c.completions(start_time=0))
            await retrying.wait()
        await c.aclose()
        with pytest.raises(ua.ClientClosedError):
            await asyncio.wait_for(task, timeout=2.0)
    assert len(srv.requests) == 1


async def test_closing_ends_a_request_waiting_out_the_clients_pause_at_once() -> None:
    replies = [Reply(429, headers={"retry-after": "30"}), OK]
    async with ScriptedServer(replies) as srv:
        c = client(srv, retry=ua.RetryPolicy(max_attempts=1))
        with pytest.raises(ua.RateLimitError):
            await c.completions(start_time=0)
        paused = asyncio.ensure_future(c.completions(start_time=0))  # 30 s of pause ahead
        await asyncio.sleep(0)  # one step of its task: it now waits in the pacer
        assert not paused.done()
        await c.aclose()
        with pytest.raises(ua.ClientClosedError):
            await asyncio.wait_for(paused, timeout=2.0)
    assert len(srv.requests) == 1


async def test_a_stream_left_running_after_aclose_is_refused_not_given_a_new_session() -> None:
    def handler(request: web.Request, n: int) -> Reply:
        return Reply(body=page([bucket(n * 86400)], f"c{n + 1}"))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with ScriptedServer(handler=handler) as srv:
            c = client(srv)
            async with c:
                stream = c.costs.buckets(start_time=0)
                await anext(stream)
            with pytest.raises(ua.ClientClosedError, match="closed"):
                async for _ in stream:
                    pass
            assert c._transport._session is None
            async with c:  # entering again opens a new session
                await c.costs(start_time=0)
            gc.collect()
    assert [w for w in caught if "Unclosed" in str(w.message)] == []
