"""Streams of pages and buckets: flat loops over a ``fetch(query, cursor)`` callable.

The loop checks ``has_more`` first, refuses a missing or repeated cursor
(:class:`PaginationError`) before the suspect page is delivered, fetches at most one page
ahead of the consumer, keeps no page it has delivered while it waits for the next, and tags
every error it raises with ``cursor`` and ``resume_time`` so the caller can continue. A
cursor the API handed out and then rejects with a 400 (Costs does this after trailing empty
buckets, API-NOTES #2) ends the stream when it already reached its end, or is replaced by
one re-ask without a cursor from ``resume_time``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine, Generator
from typing import Any, Protocol, TypeVar

from ._list_query import ListQuery
from ._query import Query
from .errors import BadRequestError, PaginationError, UsageError
from .models import Bucket, ListPage, Page

__all__ = ["Fetch", "PendingPage", "iter_buckets", "iter_pages"]

log = logging.getLogger("usage_async")

R = TypeVar("R")
E = TypeVar("E", bound=UsageError)


class PendingPage(Protocol):
    """A page already under way: awaiting it gives the page (any work left is done in the
    awaiting task); ``request`` is the future doing the work meanwhile, cancelled when the
    page is no longer wanted."""

    request: asyncio.Future[Any]

    def __await__(self) -> Generator[Any, None, Page[Any]]: ...


class _Running:
    """A coroutine fetch running in a task of its own: the task is the page's request."""

    __slots__ = ("request",)

    def __init__(self, task: asyncio.Future[Page[Any]]) -> None:
        self.request = task

    def __await__(self) -> Generator[Any, None, Page[Any]]:
        return self.request.__await__()


Fetch = Callable[[Query, "str | None"], "Coroutine[Any, Any, Page[Any]] | PendingPage"]
"""``fetch(query, cursor)``: a coroutine (run in a task of its own, so the next page is
requested before the current one is delivered) or a page already under way."""


def _start(fetch: Fetch, query: Query, cursor: str | None) -> PendingPage:
    pending = fetch(query, cursor)
    if asyncio.iscoroutine(pending):
        return _Running(asyncio.ensure_future(pending))
    return pending


async def _cancel(pending: PendingPage | None) -> None:
    if pending is None:
        return
    request = pending.request
    if request.done():
        if not request.cancelled():
            request.exception()  # retrieved, so asyncio does not log it as never retrieved
        return
    request.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await request


async def iter_pages(
    fetch: Fetch, query: Query, *, now: Callable[[], float] = time.time
) -> AsyncGenerator[Page[Any], None]:
    """Every page of ``query``, in order, following ``next_page`` while ``has_more`` is true."""
    cursor = query.page  # the cursor of the request in flight
    cursor_from_api = False  # a cursor the caller gave us is never re-asked around
    seen: set[str] = {cursor} if cursor is not None else set()
    resume_time = None if cursor is not None else query.start_time
    last_end: int | None = None  # end_time of the last bucket delivered
    reasked = False  # after a re-ask, cursors belong to a new query: errors carry None
    delivered_since_reask = False

    def tag(exc: E) -> E:
        """``exc`` with where to resume: after a re-ask, by ``resume_time`` only."""
        exc.cursor = None if reasked else cursor
        exc.resume_time = resume_time
        return exc

    task: PendingPage | None = _start(fetch, query, cursor)
    try:
        while task is not None:
            try:
                page = await task
            except BadRequestError as exc:
                task = None
                if not cursor_from_api:
                    tag(exc)
                    raise
                horizon = query.end_time if query.end_time is not None else now()
                if last_end is not None and last_end >= horizon:
                    log.info("cursor rejected after the stream reached its end: %s", exc)
                    return
                if resume_time is None or (reasked and not delivered_since_reask):
                    tag(exc)
                    raise
                log.warning(
                    "cursor rejected (%s); asking again without it from start_time=%d",
                    exc,
                    resume_time,
                )
                query = query.with_start(resume_time)
                cursor, cursor_from_api, seen = None, False, set()
                reasked, delivered_since_reask = True, False
                task = _start(fetch, query, None)
                continue
            except UsageError as exc:
                task = None
                tag(exc)
                raise  # the same exception, its cause (an aiohttp error, say) kept
            task = None
            next_cursor = page.next_page
            if page.has_more:
                if not next_cursor:
                    raise tag(PaginationError("has_more is true but the page has no next_page"))
                if next_cursor in seen:
                    raise tag(PaginationError(f"the API repeated the cursor {next_cursor!r}"))
                seen.add(next_cursor)
            if reasked and last_end is not None and page.data:
                data = [b for b in page.data if b.start_time >= last_end]
                if len(data) != len(page.data):
                    page = Page(data, page.has_more, page.next_page)
            if page.has_more:
                task = _start(fetch, query, next_cursor)
            yield page
            if page.data:
                last_end = resume_time = page.data[-1].end_time
                delivered_since_reask = True
            cursor, cursor_from_api = next_cursor, True
            del page  # delivered: not kept alive while the next one is awaited
    finally:
        await _cancel(task)


async def iter_buckets(pages: AsyncGenerator[Page[R], None]) -> AsyncGenerator[Bucket[R], None]:
    """Every bucket of every page, in order; closing it closes ``pages``."""
    async with contextlib.aclosing(pages):
        async for page in pages:
            data = iter(page.data)
            del page
            for bucket in data:
                yield bucket
                del bucket  # the consumer has moved on: keep no bucket alive while waiting


# -- the second pagination style: object-id cursors of the admin lists --------------------
# The usage endpoints above page by an opaque, time-bucket `next_page`; the organization's
# admin lists page by object id: ask again with `after=<last_id>` while `has_more` is true.
# A second loop, not a flag on the first: what ends a page, what a cursor is, and what a
# stream resumes from all differ (STYLE 15).

ListFetch = Callable[[ListQuery, "str | None"], "Awaitable[ListPage[Any]]"]
"""``fetch(query, after)``: the page of ``query`` starting after the object ``after``."""


async def _drop(task: asyncio.Future[Any] | None) -> None:
    if task is None:
        return
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved, so asyncio does not log it as never retrieved
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


async def iter_list_pages(
    fetch: ListFetch, query: ListQuery
) -> AsyncGenerator[ListPage[Any], None]:
    """Every page of a list, in order, following ``after=last_id`` while ``has_more``.

    ``has_more`` is checked first: a page saying more follow without a ``last_id``, or with a
    ``last_id`` the stream already asked after, is a :class:`PaginationError` raised before
    that page is delivered. Every error raised carries ``cursor``: the ``after`` of the
    request to make again (None for the first page of the list), so
    ``items(..., after=err.cursor)`` continues with nothing lost or repeated. At most one page
    is fetched ahead of the consumer.
    """
    after = query.after  # the cursor of the request in flight
    seen: set[str] = {after} if after is not None else set()

    def tag(exc: E) -> E:
        exc.cursor = after
        return exc

    task: asyncio.Future[ListPage[Any]] | None = asyncio.ensure_future(fetch(query, after))
    try:
        while task is not None:
            try:
                page = await task
            except UsageError as exc:
                task = None
                tag(exc)
                raise
            task = None
            next_after = page.last_id
            if page.has_more:
                if not next_after:
                    raise tag(PaginationError("has_more is true but the page has no last_id"))
                if next_after in seen:
                    raise tag(PaginationError(f"the API repeated the cursor {next_after!r}"))
                seen.add(next_after)
                task = asyncio.ensure_future(fetch(query, next_after))
            yield page
            after = next_after
            del page  # delivered: not kept alive while the next one is awaited
    finally:
        await _drop(task)


async def iter_list_items(pages: AsyncGenerator[ListPage[R], None]) -> AsyncGenerator[R, None]:
    """Every object of every list page, in order; closing it closes ``pages``."""
    async with contextlib.aclosing(pages):
        async for page in pages:
            data = iter(page.data)
            del page
            for item in data:
                yield item
                del item


__all__ += ["ListFetch", "iter_list_items", "iter_list_pages"]
