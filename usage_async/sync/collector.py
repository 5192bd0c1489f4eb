"""The sync engine: which buckets to read, reading them, and handing pages to the one writer.

For each target (an endpoint at one ``bucket_width`` and one ``group_by`` set):

* **Which source.** A database holds one source's rows: the first sync binds it to the API's
  host and the organization (``org:<organization>``, else a fingerprint of the key); a sync
  from another source is refused (:class:`SourceMismatchError`) before any request.
* **Where to start.** With nothing stored, at ``since`` floored to the width's UTC boundary;
  otherwise at the stored watermark minus the look-back (default 48 h), floored: data that
  arrives late and revisions of past buckets are read again (API-NOTES #5). A ``since``
  earlier than the stored one first reads the missing range (a backfill), then records it.
* **Where to stop.** At the collector's ``now``: the newest bucket is incomplete and stored
  as it is, not ``settled``; a bucket is settled once it ended more than the look-back ago.
* **How.** Every target streams its pages through the one client (its concurrency limit
  and rate pace); each page becomes rows and goes into a small queue; one writer commits
  each page's rows, what it lacks (marked, or deleted on a later run's agreement: see
  ``_schema``), its untyped results (kept raw) and the watermark in one transaction. The
  watermark is ``min(last bucket's end, now, the API's time)``: the API's ``Date`` caps it,
  so a local clock running ahead cannot move it past buckets never read. A sync killed at
  any moment leaves whole pages; the next run re-reads from the watermark minus the
  look-back, and upserts make the overlap change nothing.
* **Failures.** An API error stops its own target; a 401 or 403 (the key, not an endpoint)
  stops every target and is raised.
* **Names.** With ``names=True``, one walk of the organization's directory (projects, users,
  API keys, service accounts: ``usage_async.directory``) runs beside the targets, through
  the same client, once the API has answered a target (so a refused key stops everything
  at its first 401, before any request for names), and the one writer upserts it into the
  directory tables (see ``_schema``). A list the key may not read, or that keeps failing,
  is a warning; that kind is left as stored. It costs ``3 + projects + active projects``
  requests.
* **Grouping Costs by api_key_id** works only for windows from 2025-12-06 on (API-NOTES #14):
  such a target starts no earlier, and its report says so (``since_moved_from``).
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
from urllib.parse import urlsplit

import attrs

from .._endpoints import ENDPOINTS, WIDTH_SECONDS, floor_to_width
from .._query import to_unix
from ..client import UsageClient
from ..directory import KINDS, build_directory
from ..errors import (
    API_KEY_GROUPING_SINCE,
    AuthenticationError,
    InvalidParameterError,
    PermissionDeniedError,
    UsageError,
)
from ._directory import directory_write
from ._rows import RowPlan
from ._schema import SCHEMA
from ._store_base import DirectoryWrite, KindResult
from ._targets import DEFAULT_BUCKET_WIDTH, DEFAULT_GROUP_BY, Target, plan_targets
from .stores import DEFAULT_DB, PageWrite, Source, State, Store, open_store

__all__ = [
    "DEFAULT_GROUP_BY",
    "DEFAULT_LOOKBACK",
    "DEFAULT_SINCE",
    "Collector",
    "EndpointReport",
    "NamesReport",
    "SyncReport",
    "Target",
    "source_of",
    "sync",
]

log = logging.getLogger("usage_async.sync")

DEFAULT_LOOKBACK = _dt.timedelta(hours=48)
DEFAULT_SINCE = _dt.timedelta(days=30)
CLOCK_SKEW_WARNING = 300  # seconds between the local clock and the API's worth a warning

Since = int | _dt.datetime | _dt.date | _dt.timedelta


@attrs.define
class EndpointReport:
    """What a sync did for one target: pages, buckets, rows inserted/changed/deleted, time.

    ``changed`` counts stored rows whose values were revised. ``missing`` counts stored
    rows a read lacked: they stay stored, and counted, until a later run's read lacks them
    too; then they are ``deleted``. ``restored`` counts marked rows that came back;
    ``stale`` rows a newer read (an overlapping sync) had already written. ``unknown``
    counts results the client could not type, kept raw in ``usage_async_unknown``.
    ``backfilled_from`` is set when an earlier ``since`` than stored was read this run.
    ``since_moved_from`` is the start asked for when it was moved later: Costs grouped by
    ``api_key_id`` start at 2025-12-06 at the earliest (the API refuses earlier windows).
    ``committed_until`` is the watermark of the last committed page. ``error`` is the API
    error that stopped this target (the store stays consistent and the next run resumes from
    what was committed).
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
    missing: int = 0
    restored: int = 0
    stale: int = 0
    unknown: int = 0
    backfilled_from: int | None = None
    since_moved_from: int | None = None
    committed_until: int | None = None
    seconds: float = 0.0
    error: str | None = None
    done: bool = False

    @property
    def rows(self) -> int:
        """Rows written (inserted or changed)."""
        return self.inserted + self.changed

    @property
    def skipped(self) -> int:
        """Results the client could not type (now kept raw): :attr:`unknown`."""
        return self.unknown


@attrs.define
class NamesReport:
    """What a sync did with the organization's directory: the page ``requests`` its walk took
    (retries not counted) and, once written, one :class:`KindResult` per kind (listed, new,
    changed, deleted, restored, complete). ``kinds`` stays empty when nothing was written
    (the sync stopped first, or the walk itself failed: then a warning says why)."""

    requests: int = 0
    kinds: tuple[KindResult, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every kind was walked in full and written."""
        return len(self.kinds) == len(KINDS) and all(k.complete for k in self.kinds)


@attrs.frozen
class SyncReport:
    """The outcome of one sync: a report per target, the wall time, and warnings (a clock
    ahead of the API's, a database adopted by its first source, a directory list that could
    not be read). ``names`` is what was done with the directory (None: not asked for)."""

    endpoints: tuple[EndpointReport, ...]
    seconds: float
    warnings: tuple[str, ...] = ()
    names: NamesReport | None = None

    @property
    def ok(self) -> bool:
        """True when every target finished without an error."""
        return all(r.error is None for r in self.endpoints)

    def total(self, field: str) -> int:
        """A count summed over the targets (``"pages"``, ``"inserted"``, ...)."""
        return sum(int(getattr(r, field)) for r in self.endpoints)


def source_of(client: UsageClient) -> Source:
    """The source a client reads: its API host[:port], and ``org:<organization>`` when it
    has that setting, else ``key:<fingerprint>`` (one-way: never the key)."""
    parts = urlsplit(client.base_url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if client.organization:
        return Source(host, f"org:{client.organization}")
    return Source(host, f"key:{client.key_fingerprint}")


_DONE = object()


class Collector:
    """Syncs chosen endpoints into a store, incrementally and idempotently.

    ``endpoints``: names (default: all eleven). ``bucket_width``: one width for every
    endpoint that has it (the others keep ``1d``; Costs has only ``1d``), or a mapping by
    endpoint. ``group_by``: a mapping by endpoint (default :data:`DEFAULT_GROUP_BY`; an
    empty sequence for ungrouped). ``since``: where a first run starts, Unix seconds, an
    aware datetime, a date, or a timedelta before now (default 30 days), floored to the
    width's UTC boundary; later, a ``since`` earlier than the stored one reads the range
    between them (a backfill), a later one changes nothing. ``lookback``: how far before the
    watermark each later run re-reads (default 48 h). ``limit``: buckets per page (default:
    the endpoint's maximum). ``clock`` gives "now" in Unix seconds (read once per run, and
    per page to stamp when it was read). ``source`` overrides the source the database is
    bound to (default :func:`source_of` the client). ``progress`` is called with a target's
    report when it starts, after each page it commits, and when it is done. ``names``: also
    walk the organization's directory and keep it in the directory tables (``3 + projects +
    active projects`` requests more; a list the key may not read is a warning).

    :attr:`reports` holds the targets' reports as they are filled in, also when
    :meth:`run` is interrupted: what they say was committed is.
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
        source: Source | None = None,
        progress: Callable[[EndpointReport], None] | None = None,
        names: bool = False,
    ) -> None:
        self.client = client
        self.names = names
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
        self.source = source if source is not None else source_of(client)
        self.progress = progress
        self.reports: list[EndpointReport] = []
        self.names_report: NamesReport | None = None
        self._answered = asyncio.Event()  # set by run(): the API answered, names may be read
        self._warnings: list[str] = []
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

    @staticmethod
    def _earliest(target: Target) -> int | None:
        """The earliest start the API takes for ``target``: Costs grouped by ``api_key_id``
        are refused for windows starting before 2025-12-06 (API-NOTES #14)."""
        if target.endpoint == "costs" and "api_key_id" in target.group_by:
            return API_KEY_GROUPING_SINCE
        return None

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self._warnings.append(message)

    async def run(self) -> SyncReport:
        """Sync every target once; return what was done.

        An API error stops only its own target (recorded in its report); a 401 or 403, a
        store error or a database bound to another source stops the sync and is raised.
        Either way every committed page is whole.
        """
        started = time.perf_counter()
        clock = self.clock()
        now, run_stamp = int(clock), int(clock * 1000)
        self._warnings = []
        self.reports = [
            EndpointReport(t.endpoint, t.bucket_width, t.group_key) for t in self.targets
        ]
        self.names_report = NamesReport() if self.names else None
        self._answered = asyncio.Event()  # a target got a page, or finished: the key works
        if await self.store.bind_source(self.source) and await self.store.states():
            self._warn(
                f"the database had no recorded source (made by an older usage-async): "
                f"bound it to {self.source}, the source of this sync"
            )
        queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=max(2, len(self.targets)))
        writer: asyncio.Future[None] = asyncio.ensure_future(self._write(queue, started))
        tasks = [
            asyncio.ensure_future(self._fetch(t, r, queue, now, run_stamp, started))
            for t, r in zip(self.targets, self.reports, strict=True)
        ]
        if self.names_report is not None:
            tasks.append(asyncio.ensure_future(self._walk(self.names_report, queue, now)))
        fetchers: asyncio.Future[list[None]] = asyncio.gather(*tasks)
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
            # gather() does not cancel the other fetchers when one fails (a 401): do it here.
            pending: list[asyncio.Future[Any]] = [*tasks, fetchers, writer]
            for task in pending:
                if not task.done():
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await task
            if fetchers.done() and not fetchers.cancelled():
                fetchers.exception()  # retrieved: raised above, or its fetchers cancelled
        server = self.client.last_server_date
        if server is not None and now - server > CLOCK_SKEW_WARNING:
            self._warn(
                f"the local clock is {now - server} s ahead of the API's; watermarks were "
                "capped by the API's time"
            )
        return SyncReport(
            tuple(self.reports),
            time.perf_counter() - started,
            tuple(self._warnings),
            self.names_report,
        )

    async def _walk(self, report: NamesReport, queue: asyncio.Queue[Any], now: int) -> None:
        """Walk the directory and queue its write. A list that fails is a warning (its kind
        is left as stored); a walk that fails as a whole is one too: names never fail the
        collection of usage."""
        await self._answered.wait()
        try:
            directory = await build_directory(self.client)
        except UsageError as exc:
            self._warn(f"names: the directory was not read ({exc}); the names stored are kept")
            return
        report.requests = directory.requests
        for warning in directory.warnings:
            self._warn(f"names: {warning}; the names stored for them are kept")
        write = directory_write(directory, self.store.dialect, now)
        await queue.put((write, report, 0))

    def _start(
        self, target: Target, state: State | None, now: int, report: EndpointReport
    ) -> tuple[int, int, int | None]:
        """Where this run reads from: (since to record, start, backfill from or None). A
        ``since`` before the earliest start the API takes for the target is moved there, and
        ``report.since_moved_from`` says from where."""
        earliest = self._earliest(target)
        if state is None:
            since = self._since(target, now)
            if earliest is not None and since < earliest:
                report.since_moved_from, since = since, earliest
            return since, since, None
        watermark = state.watermark
        if watermark > now:
            self._warn(
                f"{target.endpoint}: the stored watermark ({watermark}) is ahead of now "
                f"({now}): a clock ran ahead; re-reading from now minus the look-back"
            )
            watermark = now
        start = max(state.since, floor_to_width(watermark - self.lookback, target.bucket_width))
        asked = self._since(target, now) if self.since is not None else None
        if asked is not None and earliest is not None and asked < earliest:
            if asked < state.since:  # a backfill from before the date: from the date at most
                report.since_moved_from = asked
            asked = earliest
        if asked is not None and asked < state.since:
            return state.since, start, asked
        return state.since, start, None

    async def _fetch(
        self,
        target: Target,
        report: EndpointReport,
        queue: asyncio.Queue[Any],
        now: int,
        run_stamp: int,
        started: float,
    ) -> None:
        await self._fetch_target(target, report, queue, now, run_stamp, started)
        self._answered.set()  # done (a refused key raised instead): names may be read now

    async def _fetch_target(
        self,
        target: Target,
        report: EndpointReport,
        queue: asyncio.Queue[Any],
        now: int,
        run_stamp: int,
        started: float,
    ) -> None:
        store = self.store
        state = await store.load_state(target.endpoint, target.bucket_width, target.group_key)
        since, start, backfill = self._start(target, state, now, report)
        report.start, report.end = start if backfill is None else backfill, now
        width = WIDTH_SECONDS[target.bucket_width]
        ranges = [(start, now)] if start < now else []
        if backfill is not None:
            ranges.insert(0, (backfill, since))
            report.backfilled_from = backfill
        buckets = [-(-(end - begin) // width) for begin, end in ranges]
        per_page = ENDPOINTS[target.endpoint].buckets_per_page(target.limit)
        report.pages_expected = sum(-(-n // per_page) for n in buckets)
        report.done = not ranges
        if self.progress is not None:
            self.progress(report)  # known before its first page: what this run will read
        if report.done:
            return
        plan = RowPlan(
            store.schema.tables[target.endpoint],
            store.dialect,
            result_type=ENDPOINTS[target.endpoint].result_type,
            bucket_width=target.bucket_width,
            group_by=target.group_key,
        )
        try:
            if backfill is not None:
                await self._stream(
                    target, report, queue, plan, (backfill, since), since, now, run_stamp
                )
                # Only now is [backfill, since) read: record it, so that a backfill cut short
                # is read again by the next run instead of being taken as done.
                stored = min(state.watermark, now) if state is not None else now
                write = self._record_since(target, backfill, stored, now)
                await queue.put((write, report, 0))
                since = backfill
            if start < now:
                await self._stream(target, report, queue, plan, (start, now), since, now, run_stamp)
        except (AuthenticationError, PermissionDeniedError):
            raise  # the key, not this endpoint: every target stops (the caller says why)
        except UsageError as exc:
            log.error("%s stopped: %s", target.endpoint, exc)
            report.error = str(exc) or type(exc).__name__
            report.seconds = time.perf_counter() - started
            return
        await queue.put((None, report, 0))  # this target's last page is queued before it

    def _record_since(self, target: Target, since: int, watermark: int, now: int) -> PageWrite:
        """A write of no rows that records an earlier ``since`` (a backfill is done)."""
        return PageWrite(
            endpoint=target.endpoint,
            bucket_width=target.bucket_width,
            group_by=target.group_key,
            start=since,
            end=since,  # an empty range: nothing stored is compared, marked or deleted
            rows=(),
            keys=frozenset(),
            since=since,
            watermark=watermark,  # the stored one (the watermark never moves back)
            now=now,
        )

    async def _stream(
        self,
        target: Target,
        report: EndpointReport,
        queue: asyncio.Queue[Any],
        plan: RowPlan,
        bounds: tuple[int, int],
        since: int,
        now: int,
        run_stamp: int,
    ) -> None:
        """Read ``bounds`` page by page and queue each page's write."""
        params: dict[str, Any] = {
            "start_time": bounds[0],
            "end_time": bounds[1],
            "bucket_width": target.bucket_width,
            "limit": target.limit,
        }
        if target.group_by:
            params["group_by"] = list(target.group_by)
        settled_before = now - self.lookback
        client = self.client
        pages = client.endpoint(target.endpoint).pages(**params)
        async with contextlib.aclosing(pages):
            async for page in pages:
                self._answered.set()
                if not page.data:
                    continue
                read_at = int(self.clock() * 1000)
                # Never past what the API itself calls now: a local clock running ahead
                # would otherwise move the watermark over buckets that were never read, and
                # stamp reads "newer" than the correct reads of later runs.
                watermark = min(page.data[-1].end_time, now)
                server = client.last_server_date
                if server is not None:
                    watermark = min(watermark, server)
                    read_at = min(read_at, server * 1000 + 999)  # within its second
                rows = plan.rows(
                    page.data, settled_before=settled_before, fetched_at=now, read_at=read_at
                )
                write = PageWrite(
                    endpoint=target.endpoint,
                    bucket_width=target.bucket_width,
                    group_by=target.group_key,
                    start=page.data[0].start_time,
                    end=page.data[-1].end_time,
                    rows=rows.rows,
                    keys=rows.keys,
                    since=since,
                    watermark=watermark,
                    now=now,
                    read_at=read_at,
                    run=run_stamp,
                    unsure=rows.unsure,
                    unknown=rows.unknown,
                )
                await queue.put((write, report, len(page.data)))

    async def _write(self, queue: asyncio.Queue[Any], started: float) -> None:
        store, progress = self.store, self.progress
        while True:
            item = await queue.get()
            if item is _DONE:
                return
            write, report, buckets = item
            if isinstance(write, DirectoryWrite):
                report.kinds = await store.write_directory(write)
                continue
            if write is None:
                report.done = True
            else:
                result = await store.write_page(write)
                if buckets:
                    report.pages += 1
                report.buckets += buckets
                report.inserted += result.inserted
                report.changed += result.changed
                report.deleted += result.deleted
                report.missing += result.marked
                report.restored += result.restored
                report.stale += result.stale
                report.unknown += result.unknown
                if buckets:
                    until = report.committed_until
                    report.committed_until = max(until or 0, write.watermark)
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
    source: Source | None = None,
    progress: Callable[[EndpointReport], None] | None = None,
    names: bool = False,
) -> SyncReport:
    """Sync into the database at ``db`` (a URL, or an open :class:`Store`) and return the report.

    Opens and closes the store when given a URL; the options are :class:`Collector`'s.
    Raises :class:`~usage_async.sync.SourceMismatchError` when the database holds another
    source's data, and the API's error on a 401 or 403.
    """
    options: dict[str, Any] = {
        "endpoints": endpoints,
        "bucket_width": bucket_width,
        "group_by": group_by,
        "since": since,
        "lookback": lookback,
        "limit": limit,
        "clock": clock,
        "source": source,
        "progress": progress,
        "names": names,
    }
    if isinstance(db, Store):
        return await Collector(client, db, **options).run()
    plan_targets(endpoints, bucket_width, group_by, limit)  # refuse bad options before opening
    async with open_store(db, schema=SCHEMA) as store:
        return await Collector(client, store, **options).run()
