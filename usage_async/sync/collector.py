"""The sync engine: which buckets to read, reading them, and handing pages to the one writer.

For each target (an endpoint at one ``bucket_width`` and one ``group_by`` set):

* **Where to start.** With nothing stored, at ``since`` floored to the width's UTC boundary;
  otherwise at the stored watermark minus the look-back (default 48 h), floored: data that
  arrives late and revisions of past buckets are read again (API-NOTES #5).
* **Where to stop.** At the collector's ``now``: the newest bucket is incomplete and stored
  as it is, not ``settled``; a bucket is settled once it ended more than the look-back ago.
* **How.** Every target streams its pages through the one client (its concurrency limit
  and rate pace); each page becomes rows and goes into a small queue; one writer commits
  each page's rows, the removal of rows the API no longer reports in that page's range, and
  the watermark (``min(last bucket's end, now)``) in one transaction. A sync killed at any
  moment leaves whole pages; the next run re-reads from the watermark minus the look-back,
  and upserts make the overlap change nothing.
* **Memory** holds at most the queue's pages plus one page read ahead per target, whatever
  the range.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._endpoints import ENDPOINTS, WIDTH_SECONDS, floor_to_width
from .._query import to_unix
from ..client import UsageClient
from ..errors import InvalidParameterError, UsageError
from ._rows import RowPlan
from ._schema import SCHEMA
from ._targets import DEFAULT_BUCKET_WIDTH, DEFAULT_GROUP_BY, Target, plan_targets
from .stores import DEFAULT_DB, PageWrite, Store, open_store

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_LOOKBACK",
    "DEFAULT_SINCE",
    "Collector",
    "EndpointReport",
    "SyncReport",
    "Target",
    "sync",
]

log = logging.getLogger("usage_async.sync")

DEFAULT_LOOKBACK = _dt.timedelta(hours=48)
DEFAULT_SINCE = _dt.timedelta(days=30)

Since = int | _dt.datetime | _dt.date | _dt.timedelta


@attrs.define
class EndpointReport:
    """What a sync did for one target: pages, buckets, rows inserted/changed/deleted, time.

    ``changed`` counts stored rows whose values were revised; ``deleted`` rows of a re-read
    range that the API no longer reports; ``skipped`` results the client could not type.
    ``error`` is the API error that stopped this target (the store stays consistent and the
    next run resumes from what was committed).
    """

    endpoint: str
    bucket_width: str
    group_by: str
    start: int | None = None
    end: int | None = None
    pages_expected: int = 0
    pages: int = 0
    buckets: int = 0
    inserted: int = 0
    changed: int = 0
    deleted: int = 0
    skipped: int = 0
    seconds: float = 0.0
    error: str | None = None
    done: bool = False

    @property
    def rows(self) -> int:
        """Rows written (inserted or changed)."""
        return self.inserted + self.changed


@attrs.frozen
class SyncReport:
    """The outcome of one sync: a report per target, and the wall time."""

    endpoints: tuple[EndpointReport, ...]
    seconds: float

    @property
    def ok(self) -> bool:
        """True when every target finished without an error."""
        return all(r.error is None for r in self.endpoints)

    def total(self, field: str) -> int:
        """A count summed over the targets (``"pages"``, ``"inserted"``, ...)."""
        return sum(int(getattr(r, field)) for r in self.endpoints)


_DONE = object()


class Collector:
    """Syncs chosen endpoints into a store, incrementally and idempotently.

    ``endpoints``: names (default: all eleven). ``bucket_width``: one width for every
    endpoint that has it (the others keep ``1d``; Costs has only ``1d``), or a mapping by
    endpoint. ``group_by``: a mapping by endpoint (default :data:`DEFAULT_GROUP_BY`; an
    empty sequence for ungrouped). ``since`` applies only when nothing is stored yet: Unix
    seconds, an aware datetime, a date, or a timedelta before now (default 30 days), floored
    to the width's UTC boundary. ``lookback``: how far before the watermark each later run
    re-reads (default 48 h). ``limit``: buckets per page (default: the endpoint's maximum).
    ``clock`` gives "now" in Unix seconds (read once per run). ``progress`` is called with a
    target's report when it starts, after each page it commits, and when it is done.
    """

    def __init__(
        self,
        client: UsageClient,
        store: Store,
        *,
        endpoints: Iterable[str] | None = None,
        bucket_width: str | Mapping[str, str] = DEFAULT_BUCKET_WIDTH,
        group_by: Mapping[str, Sequence[str]] | None = None,
        since: Since | None = None,
        lookback: _dt.timedelta = DEFAULT_LOOKBACK,
        limit: int | None = None,
        clock: Callable[[], float] = time.time,
        progress: Callable[[EndpointReport], None] | None = None,
    ) -> None:
        self.client = client
        self.store = store
        self.targets = plan_targets(endpoints, bucket_width, group_by, limit)
        if isinstance(since, bool) or (
            since is not None and not isinstance(since, (int, _dt.date, _dt.timedelta))
        ):
            raise InvalidParameterError(
                "since: expected Unix seconds, an aware datetime, a date or a timedelta, "
                f"got {since!r}",
                param="since",
            )
        if isinstance(since, (int, _dt.date)):
            to_unix(since, "since")  # refuses naive datetimes and negatives now
        self.since = since
        if not isinstance(lookback, _dt.timedelta) or lookback < _dt.timedelta(0):
            raise InvalidParameterError(
                f"lookback: expected a timedelta >= 0, got {lookback!r}", param="lookback"
            )
        self.lookback = int(lookback.total_seconds())
        self.clock = clock
        self.progress = progress
        self._unknown = [t.endpoint for t in self.targets if t.endpoint not in store.schema.tables]
        if self._unknown:
            raise InvalidParameterError(f"no table for {self._unknown} in the store's schema")

    def _since(self, target: Target, now: int) -> int:
        since = self.since if self.since is not None else DEFAULT_SINCE
        if isinstance(since, _dt.timedelta):
            seconds = now - int(since.total_seconds())
        else:
            seconds = to_unix(since, "since")
        return floor_to_width(seconds, target.bucket_width)

    async def run(self) -> SyncReport:
        """Sync every target once; return what was done.

        An API error stops only its own target (recorded in its report); a store error
        stops the sync and is raised. Either way every committed page is whole.
        """
        started = time.perf_counter()
        now = int(self.clock())
        reports = [EndpointReport(t.endpoint, t.bucket_width, t.group_key) for t in self.targets]
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(2, len(self.targets)))
        writer: asyncio.Future[None] = asyncio.ensure_future(self._write(queue, started))
        fetchers: asyncio.Future[list[None]] = asyncio.ensure_future(
            asyncio.gather(
                *(
                    self._fetch(t, r, queue, now, started)
                    for t, r in zip(self.targets, reports, strict=True)
                )
            )
        )
        try:
            both: set[asyncio.Future[Any]] = {writer, fetchers}
            done, _ = await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:  # the writer only ends early by failing
                writer.result()
                raise RuntimeError("the writer stopped before the fetchers")
            fetchers.result()
            await queue.put(_DONE)
            await writer
        finally:
            for task in (fetchers, writer):
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
        return SyncReport(tuple(reports), time.perf_counter() - started)

    async def _fetch(
        self,
        target: Target,
        report: EndpointReport,
        queue: asyncio.Queue[Any],
        now: int,
        started: float,
    ) -> None:
        store = self.store
        state = await store.load_state(target.endpoint, target.bucket_width, target.group_key)
        if state is None:
            since = start = self._since(target, now)
        else:
            since = state.since
            start = max(since, floor_to_width(state.watermark - self.lookback, target.bucket_width))
        report.start, report.end = start, now
        width = WIDTH_SECONDS[target.bucket_width]
        buckets = max(0, -(-(now - start) // width))
        report.pages_expected = -(-buckets // target.limit)
        if start >= now:
            report.done = True
        if self.progress is not None:
            self.progress(report)  # known before its first page: what this run will read
        if report.done:
            return
        spec = ENDPOINTS[target.endpoint]
        plan = RowPlan(
            store.schema.tables[target.endpoint],
            store.dialect,
            result_type=spec.result_type,
            bucket_width=target.bucket_width,
            group_by=target.group_key,
        )
        params: dict[str, Any] = {
            "start_time": start,
            "end_time": now,
            "bucket_width": target.bucket_width,
            "limit": target.limit,
        }
        if target.group_by:
            params["group_by"] = list(target.group_by)
        settled_before = now - self.lookback
        pages = self.client.endpoint(target.endpoint).pages(**params)
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    if not page.data:
                        continue
                    rows, skipped = plan.rows(
                        page.data, settled_before=settled_before, fetched_at=now
                    )
                    write = PageWrite(
                        endpoint=target.endpoint,
                        bucket_width=target.bucket_width,
                        group_by=target.group_key,
                        start=page.data[0].start_time,
                        end=page.data[-1].end_time,
                        rows=rows,
                        keys=frozenset(map(plan.key, rows)),
                        since=since,
                        watermark=min(page.data[-1].end_time, now),
                        now=now,
                    )
                    report.skipped += skipped
                    await queue.put((write, report, len(page.data)))
        except UsageError as exc:
            log.error("%s stopped: %s", target.endpoint, exc)
            report.error = str(exc) or type(exc).__name__
            report.seconds = time.perf_counter() - started
            return
        await queue.put((None, report, 0))  # this target's last page is queued before it

    async def _write(self, queue: asyncio.Queue[Any], started: float) -> None:
        store, progress = self.store, self.progress
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            write, report, buckets = item
            if write is None:
                report.done = True
            else:
                result = await store.write_page(write)
                report.pages += 1
                report.buckets += buckets
                report.inserted += result.inserted
                report.changed += result.changed
                report.deleted += result.deleted
            report.seconds = time.perf_counter() - started
            if progress is not None:
                progress(report)


async def sync(
    client: UsageClient,
    db: str | Store = DEFAULT_DB,
    *,
    endpoints: Iterable[str] | None = None,
    bucket_width: str | Mapping[str, str] = DEFAULT_BUCKET_WIDTH,
    group_by: Mapping[str, Sequence[str]] | None = None,
    since: Since | None = None,
    lookback: _dt.timedelta = DEFAULT_LOOKBACK,
    limit: int | None = None,
    clock: Callable[[], float] = time.time,
    progress: Callable[[EndpointReport], None] | None = None,
) -> SyncReport:
    """Sync into the database at ``db`` (a URL, or an open :class:`Store`) and return the report.

    Opens and closes the store when given a URL; the options are :class:`Collector`'s.
    """
    options: dict[str, Any] = {
        "endpoints": endpoints,
        "bucket_width": bucket_width,
        "group_by": group_by,
        "since": since,
        "lookback": lookback,
        "limit": limit,
        "clock": clock,
        "progress": progress,
    }
    if isinstance(db, Store):
        return await Collector(client, db, **options).run()
    plan_targets(endpoints, bucket_width, group_by, limit)  # refuse bad options before opening
    async with open_store(db, schema=SCHEMA) as store:
        return await Collector(client, store, **options).run()
