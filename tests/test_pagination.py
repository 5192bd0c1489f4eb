"""Streams over an injected fetch callable: cursors, guards, resume points, re-asks."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import pytest

import usage_async as ua
from usage_async._endpoints import ENDPOINTS
from usage_async._pagination import iter_buckets, iter_pages
from usage_async._query import Query, build_query
from usage_async.models import Bucket, Page

DAY = 86400
T0 = 1_735_689_600  # 2025-01-01


def b(i: int) -> Bucket[Any]:
    """The i-th daily bucket from T0."""
    return Bucket(T0 + i * DAY, T0 + (i + 1) * DAY, [])


def rejected() -> ua.BadRequestError:
    return ua.BadRequestError(
        "The page token is invalid, have you modified the query parameters?",
        status_code=400,
        headers={},
        body=None,
    )


class FakeFetch:
    """Answers from ``script``: cursor (or (start_time, cursor)) -> Page or exception."""

    def __init__(self, script: dict[Any, Any]) -> None:
        self.script = script
        self.calls: list[tuple[int, str | None]] = []
        self.started = 0
        self.gate: asyncio.Event | None = None

    async def __call__(self, query: Query, cursor: str | None) -> Page[Any]:
        self.calls.append((query.start_time, cursor))
        self.started += 1
        if self.gate is not None:
            await self.gate.wait()
        key: Any = (query.start_time, cursor)
        answer = self.script[key] if key in self.script else self.script[cursor]
        if callable(answer) and not isinstance(answer, Page):
            answer = answer()
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]


def query(**kwargs: Any) -> Query:
    return build_query(ENDPOINTS["costs"], {"start_time": T0, **kwargs})


async def until_error(stream: Any) -> tuple[list[Any], BaseException]:
    """Consume ``stream`` until it raises; return what it delivered and the error."""
    got: list[Any] = []
    try:
        async for item in stream:
            got.append(item)
    except ua.UsageError as exc:
        return got, exc
    raise AssertionError(f"the stream ended without an error after {got}")


async def drain_buckets(fetch: FakeFetch, q: Query, **kw: Any) -> list[Bucket[Any]]:
    return [x async for x in iter_buckets(iter_pages(fetch, q, **kw))]


async def test_pages_follow_next_page_until_has_more_is_false() -> None:
    fetch = FakeFetch(
        {
            None: Page([b(0)], True, "c1"),
            "c1": Page([b(1)], True, "c2"),
            "c2": Page([b(2)], False, None),
        }
    )
    got = await drain_buckets(fetch, query())
    assert got == [b(0), b(1), b(2)]
    assert fetch.calls == [(T0, None), (T0, "c1"), (T0, "c2")]


async def test_has_more_false_ends_the_stream_whatever_next_page_says() -> None:
    fetch = FakeFetch({None: Page([b(0)], False, "dangling")})
    assert await drain_buckets(fetch, query()) == [b(0)]
    assert fetch.calls == [(T0, None)]


async def test_has_more_without_a_cursor_is_a_pagination_error_before_delivery() -> None:
    fetch = FakeFetch({None: Page([b(0)], True, "c1"), "c1": Page([b(1)], True, None)})
    got, err = await until_error(iter_buckets(iter_pages(fetch, query())))
    assert isinstance(err, ua.PaginationError)
    assert got == [b(0)]  # the suspect page's bucket was not delivered
    assert err.cursor == "c1"
    assert err.resume_time == b(0).end_time


async def test_a_repeated_cursor_is_a_pagination_error_even_after_other_pages() -> None:
    fetch = FakeFetch(
        {
            None: Page([b(0)], True, "c1"),
            "c1": Page([b(1)], True, "c2"),
            "c2": Page([b(2)], True, "c1"),
        }
    )
    with pytest.raises(ua.PaginationError, match="c1"):
        await drain_buckets(fetch, query())
    assert len(fetch.calls) == 3


async def test_a_cursor_equal_to_the_starting_cursor_is_refused() -> None:
    fetch = FakeFetch({"start": Page([b(0)], True, "start")})
    with pytest.raises(ua.PaginationError):
        await drain_buckets(fetch, query(page="start"))


async def test_at_most_one_page_is_fetched_ahead_of_the_consumer() -> None:
    script = {None: Page([b(0)], True, "c1")}
    for i in range(1, 10):
        script[f"c{i}"] = Page([b(i)], True, f"c{i + 1}")
    fetch = FakeFetch(script)
    pages = iter_pages(fetch, query())
    first = await anext(pages)
    for _ in range(5):
        await asyncio.sleep(0)
    assert first.data == [b(0)]
    assert fetch.started == 2  # the page in hand and one prefetched
    await anext(pages)
    for _ in range(5):
        await asyncio.sleep(0)
    assert fetch.started == 3
    await pages.aclose()


class Started:
    """A page under way, as the client's read-ahead is: its work runs in a task of its
    own, and awaiting it finishes the page in the awaiting task."""

    def __init__(self, page: Page[Any], finished_in: list[asyncio.Task[Any] | None]) -> None:
        self.request: asyncio.Future[Any] = asyncio.ensure_future(asyncio.sleep(0, page))
        self.finished_in = finished_in

    def __await__(self) -> Generator[Any, None, Page[Any]]:
        return self._finish().__await__()

    async def _finish(self) -> Page[Any]:
        page: Page[Any] = await self.request
        self.finished_in.append(asyncio.current_task())
        return page


async def test_a_page_already_under_way_is_finished_by_the_consumer_not_by_a_task() -> None:
    script = {None: Page([b(0)], True, "c1"), "c1": Page([b(1)], False, None)}
    finished_in: list[asyncio.Task[Any] | None] = []
    started: list[str | None] = []

    def fetch(q: Query, cursor: str | None) -> Started:
        started.append(cursor)
        return Started(script[cursor], finished_in)

    got = [x async for x in iter_buckets(iter_pages(fetch, query()))]
    assert got == [b(0), b(1)]
    assert started == [None, "c1"]
    assert finished_in == [asyncio.current_task()] * 2


async def test_closing_a_stream_cancels_the_prefetch() -> None:
    fetch = FakeFetch({None: Page([b(0)], True, "c1"), "c1": Page([b(1)], False, None)})
    pages = iter_pages(fetch, query())
    await anext(pages)
    fetch.gate = asyncio.Event()  # the prefetch of c1 now hangs
    for _ in range(3):
        await asyncio.sleep(0)
    before = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
    assert before  # the prefetch task is running
    await pages.aclose()
    assert all(t.done() for t in before)


async def test_an_error_carries_the_failed_cursor_and_the_last_delivered_end() -> None:
    boom = ua.InternalServerError("HTTP 500", status_code=500, headers={}, body=None)
    fetch = FakeFetch(
        {None: Page([b(0), b(1)], True, "c1"), "c1": Page([b(2)], True, "c2"), "c2": boom}
    )
    got, err = await until_error(iter_buckets(iter_pages(fetch, query())))
    assert isinstance(err, ua.InternalServerError)
    assert got == [b(0), b(1), b(2)]
    assert err.cursor == "c2"
    assert err.resume_time == b(2).end_time


async def test_an_error_on_the_first_page_resumes_from_start_time() -> None:
    fetch = FakeFetch({None: ua.APIConnectionError("refused")})
    with pytest.raises(ua.APIConnectionError) as info:
        await drain_buckets(fetch, query())
    assert info.value.cursor is None
    assert info.value.resume_time == T0


async def test_a_stream_started_from_a_cursor_has_no_resume_time_before_its_first_bucket() -> None:
    fetch = FakeFetch({"mid": ua.APIConnectionError("refused")})
    with pytest.raises(ua.APIConnectionError) as info:
        await drain_buckets(fetch, query(page="mid"))
    assert info.value.cursor == "mid"
    assert info.value.resume_time is None


async def test_resuming_by_cursor_or_by_resume_time_loses_and_repeats_nothing() -> None:
    pages = {
        None: Page([b(0), b(1)], True, "c1"),
        "c1": Page([b(2), b(3)], True, "c2"),
        "c2": Page([b(4)], False, None),
    }
    flaky = FakeFetch({**pages, "c1": ua.APIConnectionError("reset")})
    first, err = await until_error(iter_buckets(iter_pages(flaky, query())))
    assert isinstance(err, ua.APIConnectionError)
    by_cursor = await drain_buckets(FakeFetch(pages), query(page=err.cursor))
    assert first + by_cursor == [b(i) for i in range(5)]
    assert err.resume_time is not None
    by_time = FakeFetch({(err.resume_time, None): Page([b(2), b(3), b(4)], False, None)})
    assert first + await drain_buckets(by_time, query().with_start(err.resume_time)) == [
        b(i) for i in range(5)
    ]


# -- rejected cursors (API-NOTES #2) -------------------------------------------------------


async def test_a_rejected_cursor_after_the_end_time_was_reached_ends_the_stream() -> None:
    end = b(2).end_time
    fetch = FakeFetch({None: Page([b(0), b(1), b(2)], True, "c1"), "c1": rejected()})
    assert await drain_buckets(fetch, query(end_time=end)) == [b(0), b(1), b(2)]


async def test_a_rejected_cursor_after_the_present_ends_a_stream_without_end_time() -> None:
    fetch = FakeFetch({None: Page([b(0), b(1)], True, "c1"), "c1": rejected()})
    now = float(b(1).end_time - 10)  # the last bucket is today's, ending in the future
    assert await drain_buckets(fetch, query(), now=lambda: now) == [b(0), b(1)]


async def test_a_rejected_cursor_short_of_the_end_is_re_asked_from_resume_time() -> None:
    end = b(5).end_time
    fetch = FakeFetch(
        {
            None: Page([b(0), b(1)], True, "c1"),
            "c1": rejected(),
            (b(1).end_time, None): Page([b(1), b(2), b(3)], True, "n1"),
            (b(1).end_time, "n1"): Page([b(4), b(5)], False, None),
        }
    )
    got = await drain_buckets(fetch, query(end_time=end))
    assert got == [b(i) for i in range(6)]  # b(1) repeated by the server, skipped
    assert fetch.calls == [
        (T0, None),
        (T0, "c1"),
        (b(1).end_time, None),
        (b(1).end_time, "n1"),
    ]


async def test_after_a_re_ask_errors_carry_no_cursor_and_resume_by_time() -> None:
    boom = ua.APIConnectionError("reset")
    fetch = FakeFetch(
        {
            None: Page([b(0)], True, "c1"),
            "c1": rejected(),
            (b(0).end_time, None): Page([b(1)], True, "n1"),
            (b(0).end_time, "n1"): boom,
        }
    )
    with pytest.raises(ua.APIConnectionError) as info:
        await drain_buckets(fetch, query(end_time=b(9).end_time))
    assert info.value.cursor is None
    assert info.value.resume_time == b(1).end_time


async def test_a_second_rejection_before_any_new_bucket_is_raised() -> None:
    fetch = FakeFetch(
        {
            None: Page([b(0)], True, "c1"),
            "c1": rejected(),
            (b(0).end_time, None): Page([], True, "n1"),
            (b(0).end_time, "n1"): rejected(),
        }
    )
    with pytest.raises(ua.BadRequestError) as info:
        await drain_buckets(fetch, query(end_time=b(9).end_time))
    assert info.value.cursor is None
    assert info.value.resume_time == b(0).end_time


async def test_a_rejection_of_the_callers_own_cursor_is_raised() -> None:
    fetch = FakeFetch({"mine": rejected()})
    with pytest.raises(ua.BadRequestError) as info:
        await drain_buckets(fetch, query(page="mine", end_time=b(9).end_time))
    assert info.value.cursor == "mine"
    assert len(fetch.calls) == 1


async def test_a_rejection_with_no_resume_time_is_raised() -> None:
    fetch = FakeFetch({"mine": Page([], True, "c1"), "c1": rejected()})
    with pytest.raises(ua.BadRequestError):
        await drain_buckets(fetch, query(page="mine", end_time=b(9).end_time))


async def test_a_400_on_the_first_request_is_raised_not_re_asked() -> None:
    fetch = FakeFetch({None: rejected()})
    with pytest.raises(ua.BadRequestError):
        await drain_buckets(fetch, query(end_time=b(9).end_time))
    assert len(fetch.calls) == 1


async def test_breaking_out_of_buckets_closes_the_page_stream() -> None:
    fetch = FakeFetch({None: Page([b(0), b(1)], True, "c1"), "c1": Page([b(2)], False, None)})
    buckets = iter_buckets(iter_pages(fetch, query()))
    async for _ in buckets:
        break
    await buckets.aclose()
    for _ in range(3):
        await asyncio.sleep(0)
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert others == []


async def test_an_error_out_of_a_stream_keeps_its_cause() -> None:
    cause = OSError("reset by peer")

    async def fetch(query: Query, cursor: str | None) -> Page[Any]:
        raise ua.APIConnectionError("connection failed") from cause

    _, err = await until_error(iter_buckets(iter_pages(fetch, query())))
    assert err.__cause__ is cause
