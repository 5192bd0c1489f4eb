"""The simulator over loopback HTTP: auth, request ids, arrays, limits, cursors, recording."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Sequence
from typing import Any

import aiohttp
import pytest

from usage_async.testing import FakeUsageServer

NOW = 1_736_944_200  # the conftest servers' clock: 2025-01-15T12:30:00Z
HOUR, DAY = 3600, 86400
TODAY = NOW - NOW % DAY
INVALID_TOKEN = "The page token is invalid, have you modified the query parameters?"

Pairs = Sequence[tuple[str, str]]


async def fetch(
    session: aiohttp.ClientSession,
    srv: FakeUsageServer,
    path: str,
    pairs: Pairs = (),
    *,
    key: str | None = "",
) -> tuple[int, Any, Any]:
    """GET with the server's key (``key=""``), another key, or none (``key=None``)."""
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key or srv.api_key}"
    async with session.get(srv.base_url + path, params=list(pairs), headers=headers) as resp:
        return resp.status, resp.headers, await resp.json()


async def test_the_base_url_is_loopback_on_a_free_port_and_ends_in_v1(
    server: FakeUsageServer,
) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", server.base_url)
    assert server.port not in (None, 0)


async def test_a_request_without_a_key_gets_401_invalid_api_key(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    status, _, body = await fetch(session, server, "/organization/costs", key=None)
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"


async def test_a_request_with_a_wrong_key_gets_401_invalid_api_key(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY))]
    status, _, body = await fetch(session, server, "/organization/costs", pairs, key="sk-nope")
    assert status == 401
    assert body["error"]["code"] == "invalid_api_key"
    assert "sk-nope" not in body["error"]["message"]


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/organization/costs?start_time=0", "GET"),  # 200
        ("/organization/costs", "GET"),  # 400
        ("/organization/elsewhere", "GET"),  # 404
        ("/organization/costs", "POST"),  # 405
    ],
)
async def test_every_response_has_a_request_id(
    server: FakeUsageServer, session: aiohttp.ClientSession, path: str, method: str
) -> None:
    headers = {"Authorization": f"Bearer {server.api_key}"}
    async with session.request(method, server.base_url + path, headers=headers) as resp:
        await resp.read()
        assert re.fullmatch(r"req_[0-9a-f]{32}", resp.headers["x-request-id"])
    async with session.request(method, server.base_url + path) as resp:  # and 401s
        await resp.read()
        assert resp.status == 401
        assert resp.headers["x-request-id"].startswith("req_")


async def test_unknown_paths_and_methods_get_openai_error_bodies(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    status, _, body = await fetch(session, server, "/organization/usage/everything")
    assert status == 404
    assert body["error"]["message"] == "Invalid URL (GET /v1/organization/usage/everything)"


async def test_arrays_as_repeated_keys_brackets_or_commas_mean_the_same(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    base = [("start_time", str(TODAY - 3 * DAY)), ("limit", "3")]
    path = "/organization/usage/completions"
    repeated = await fetch(
        session, server, path, [*base, ("group_by", "model"), ("group_by", "batch")]
    )
    brackets = await fetch(
        session, server, path, [*base, ("group_by[]", "model"), ("group_by[]", "batch")]
    )
    comma = await fetch(session, server, path, [*base, ("group_by", "model,batch")])
    assert repeated[2] == brackets[2] == comma[2]
    assert repeated[2]["data"][0]["results"][0]["model"] is not None
    assert repeated[2]["data"][0]["results"][0]["batch"] is not None


async def test_unknown_parameters_are_ignored_as_the_real_api_does(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY - DAY)), ("limit", "1")]
    plain = await fetch(session, server, "/organization/costs", pairs)
    extra = await fetch(session, server, "/organization/costs", [*pairs, ("colour", "blue")])
    assert plain[0] == extra[0] == 200
    assert plain[2] == extra[2]


REFUSED = [  # endpoint, query, the param named in the error, its code
    ("costs", "", "start_time", "missing_required_parameter"),
    ("costs", "start_time=-1", "start_time", "integer_below_min_value"),
    ("costs", "start_time=1.5", "start_time", "invalid_value"),
    ("costs", "start_time=5&start_time=6", "start_time", "invalid_value"),
    ("costs", "start_time=5&end_time=5", "end_time", "invalid_value"),
    ("costs", "start_time=5&end_time=-9", "end_time", "integer_below_min_value"),
    ("costs", "start_time=5&bucket_width=1h", "bucket_width", "invalid_value"),
    ("embeddings", "start_time=5&bucket_width=1w", "bucket_width", "invalid_value"),
    ("costs", "start_time=5&group_by=model", "group_by", "invalid_value"),
    ("images", "start_time=5&sizes=1x1", "sizes", "invalid_value"),
    ("web_search_calls", "start_time=5&context_levels=max", "context_levels", "invalid_value"),
    ("completions", "start_time=5&batch=maybe", "batch", "invalid_value"),
    ("costs", "start_time=5&limit=0", "limit", "integer_below_min_value"),
    ("costs", "start_time=5&limit=181", "limit", "integer_above_max_value"),
    ("moderations", "start_time=5&limit=32", "limit", "integer_above_max_value"),
    ("moderations", "start_time=5&bucket_width=1h&limit=169", "limit", "integer_above_max_value"),
    ("moderations", "start_time=5&bucket_width=1m&limit=1441", "limit", "integer_above_max_value"),
]


def _path(endpoint: str) -> str:
    return "/organization/costs" if endpoint == "costs" else f"/organization/usage/{endpoint}"


@pytest.mark.parametrize(("endpoint", "query", "param", "code"), REFUSED)
async def test_parameter_rules_give_a_400_naming_the_parameter(
    server: FakeUsageServer,
    session: aiohttp.ClientSession,
    endpoint: str,
    query: str,
    param: str,
    code: str,
) -> None:
    pairs = urllib.parse.parse_qsl(query)
    status, _, body = await fetch(session, server, _path(endpoint), pairs)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert (body["error"]["param"], body["error"]["code"]) == (param, code)


@pytest.mark.parametrize(
    ("path", "width", "limit", "buckets"),
    [
        ("/organization/usage/audio_speeches", "1d", 31, 31),
        ("/organization/usage/audio_speeches", "1h", 168, 168),
        ("/organization/usage/audio_speeches", "1m", 1440, 1440),
        ("/organization/costs", "1d", 180, 31),  # accepted, but a Costs page holds 31 at most
    ],
)
async def test_the_maximum_limit_is_accepted(
    server: FakeUsageServer,
    session: aiohttp.ClientSession,
    path: str,
    width: str,
    limit: int,
    buckets: int,
) -> None:
    pairs = [("start_time", "0"), ("bucket_width", width), ("limit", str(limit))]
    status, _, body = await fetch(session, server, path, pairs)
    assert status == 200
    assert len(body["data"]) == buckets


@pytest.mark.parametrize(
    ("path", "width", "default"),
    [
        ("/organization/usage/embeddings", None, 7),
        ("/organization/usage/embeddings", "1h", 24),
        ("/organization/usage/embeddings", "1m", 60),
        ("/organization/costs", None, 7),
    ],
)
async def test_a_page_holds_the_default_limit_of_buckets(
    server: FakeUsageServer,
    session: aiohttp.ClientSession,
    path: str,
    width: str | None,
    default: int,
) -> None:
    pairs = [("start_time", str(TODAY - 60 * DAY))]
    if width:
        pairs.append(("bucket_width", width))
    _, _, body = await fetch(session, server, path, pairs)
    assert len(body["data"]) == default
    assert body["has_more"] is True


async def test_buckets_start_at_start_time_floored_to_the_utc_boundary(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    start = TODAY - 2 * DAY + 5 * HOUR + 17 * 60 + 3
    for width, floor in (("1d", TODAY - 2 * DAY), ("1h", start - start % HOUR), ("1m", start - 3)):
        pairs = [("start_time", str(start)), ("bucket_width", width), ("limit", "2")]
        _, _, body = await fetch(session, server, "/organization/usage/images", pairs)
        first, second = body["data"]
        assert first["start_time"] == floor
        assert first["end_time"] == second["start_time"]


async def test_without_end_time_the_range_ends_with_the_bucket_containing_now(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY - 3 * DAY)), ("bucket_width", "1h"), ("limit", "168")]
    _, _, body = await fetch(session, server, "/organization/usage/completions", pairs)
    assert body["has_more"] is False
    assert body["next_page"] is None
    last = body["data"][-1]
    assert last["start_time"] <= NOW < last["end_time"]


async def test_buckets_after_now_are_returned_empty(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY - DAY)), ("end_time", str(TODAY + 3 * DAY))]
    _, _, body = await fetch(session, server, "/organization/usage/completions", pairs)
    assert [bool(b["results"]) for b in body["data"]] == [True, True, False, False]


async def test_following_next_page_covers_the_range_once_and_ends_with_null(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    start, end = TODAY - 20 * DAY, TODAY - 2 * DAY + 5
    pairs = [("start_time", str(start)), ("end_time", str(end)), ("limit", "7")]
    starts: list[int] = []
    page: dict[str, Any] = {"next_page": None}
    for _ in range(10):
        extra = [("page", page["next_page"])] if page["next_page"] else []
        status, _, page = await fetch(session, server, "/organization/costs", [*pairs, *extra])
        assert status == 200
        starts += [b["start_time"] for b in page["data"]]
        assert page["has_more"] is (page["next_page"] is not None)
        if not page["has_more"]:
            break
    assert starts == list(range(start, end, DAY))
    assert [len(p) for p in (starts[:7], starts[7:14], starts[14:])] == [7, 7, 5]


async def _first_cursor(session: aiohttp.ClientSession, srv: FakeUsageServer, pairs: Pairs) -> str:
    _, _, body = await fetch(session, srv, "/organization/costs", pairs)
    cursor: str = body["next_page"]
    assert cursor.startswith("page_")
    return cursor


async def test_a_cursor_replayed_with_other_parameters_is_refused(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY - 30 * DAY)), ("group_by", "project_id")]
    cursor = await _first_cursor(session, server, pairs)
    for changed in (
        [("start_time", str(TODAY - 30 * DAY))],
        [*pairs, ("limit", "8")],
        [*pairs, ("group_by", "line_item")],
        [*pairs, ("project_ids", server.organization.projects[0])],
    ):
        status, _, body = await fetch(
            session, server, "/organization/costs", [*changed, ("page", cursor)]
        )
        assert status == 400
        assert body["error"]["message"] == INVALID_TOKEN


async def test_a_tampered_cursor_is_refused(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(TODAY - 30 * DAY))]
    cursor = await _first_cursor(session, server, pairs)
    flipped = cursor[:8] + ("A" if cursor[8] != "A" else "B") + cursor[9:]
    for bad in (flipped, cursor[:-4], "page_", "nonsense"):
        status, _, body = await fetch(
            session, server, "/organization/costs", [*pairs, ("page", bad)]
        )
        assert status == 400
        assert body["error"]["message"] == INVALID_TOKEN


async def test_the_same_cursor_with_the_same_parameters_is_accepted_in_any_array_spelling(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [
        ("start_time", str(TODAY - 30 * DAY)),
        ("group_by", "project_id"),
        ("group_by", "line_item"),
    ]
    cursor = await _first_cursor(session, server, pairs)
    respelled = [
        ("start_time", str(TODAY - 30 * DAY)),
        ("group_by[]", "line_item"),
        ("group_by[]", "project_id"),
    ]
    status, _, body = await fetch(
        session, server, "/organization/costs", [*respelled, ("page", cursor)]
    )
    assert status == 200
    assert body["data"][0]["start_time"] == TODAY - 23 * DAY


async def test_requests_are_recorded_without_the_authorization_header(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", "100"), ("group_by[]", "model"), ("group_by[]", "user_id")]
    await fetch(session, server, "/organization/usage/embeddings", pairs)
    (recorded,) = server.requests
    assert recorded.method == "GET"
    assert recorded.path == "/v1/organization/usage/embeddings"
    assert recorded.query == tuple(pairs)
    assert recorded.params() == {"start_time": ["100"], "group_by[]": ["model", "user_id"]}
    assert "authorization" not in {k.lower() for k in recorded.headers}
    assert recorded.request_id.startswith("req_")


async def test_now_may_be_an_aware_datetime() -> None:
    when = dt.datetime(2025, 1, 15, 12, 30, tzinfo=dt.timezone.utc)
    async with FakeUsageServer(now=when) as srv:
        assert srv.now() == NOW
        srv.advance(60)
        assert srv.now() == NOW + 60


async def test_a_stopped_server_refuses_connections(session: aiohttp.ClientSession) -> None:
    async with FakeUsageServer(now=NOW) as srv:
        url = srv.base_url + "/organization/costs"
    with pytest.raises(aiohttp.ClientConnectionError):
        async with session.get(url) as resp:
            await resp.read()


async def test_serve_forever_serves_until_cancelled_then_stops(
    session: aiohttp.ClientSession,
) -> None:
    import asyncio

    srv = FakeUsageServer(now=NOW)
    await srv.start()  # serve_forever starts it if needed; started first to know the port
    task = asyncio.create_task(srv.serve_forever())
    status, _, _ = await fetch(session, srv, "/organization/costs", [("start_time", "0")])
    assert status == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await fetch(session, srv, "/organization/costs", [("start_time", "0")])
