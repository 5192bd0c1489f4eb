"""The ``sync`` and ``query`` commands: arguments, progress, the summary table, exit codes.

Plugged into ``usage-async`` as subcommands (``add_sync_arguments``/``run_sync``,
``add_query_arguments``/``run_query``), and runnable alone as ``python -m usage_async.sync``.

Exit codes: 0 done; 1 the API or the database failed (what was committed is consistent,
the next run resumes); 2 bad input (a bad URL, an unknown endpoint, a bad time, a database
from a newer usage-async, no key); 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as _dt
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TextIO

from .._endpoints import ENDPOINTS
from ..cli import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    TimeArg,
    add_client_arguments,
    parse_time,
    resolve_time,
)
from ..client import DEFAULT_BASE_URL, UsageClient
from ..errors import ConfigurationError, InvalidParameterError, UsageError
from ..retry import RetryPolicy
from .collector import DEFAULT_LOOKBACK, Collector, EndpointReport, SyncReport, plan_targets
from .query import SPEND_BY, spend
from .stores import DEFAULT_DB, SchemaVersionError, StoreError, StoreURLError, open_store

__all__ = [
    "add_query_arguments",
    "add_sync_arguments",
    "main",
    "run_query",
    "run_sync",
]


class _UsageError(Exception):
    """Bad command-line input: one line, exit code 2."""


def _time(text: str, what: str = "time") -> TimeArg:
    # The same grammar as every other usage-async command (``..cli.parse_time``).
    try:
        return parse_time(text)
    except argparse.ArgumentTypeError as exc:
        raise _UsageError(f"bad {what} {text!r}: {exc}") from None


def _since(text: str) -> int | _dt.timedelta:
    """``--since``: a point in time, or a duration before the collector's clock."""
    when = _time(text)
    return _dt.timedelta(seconds=when.seconds) if when.relative else when.seconds


def _duration(text: str) -> _dt.timedelta:
    """``--lookback``: ``48h``, ``2d``, ``90m``, ``3600s``."""
    when = _time(text, "duration")
    if not when.relative:
        raise _UsageError(f"bad duration {text!r}: use a number and a unit, e.g. 48h, 2d, 90m")
    return _dt.timedelta(seconds=when.seconds)


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def _widths(values: Sequence[str] | None) -> str | dict[str, str]:
    if not values:
        return "1d"
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        raise _UsageError(f"--bucket-width given twice without an endpoint: {', '.join(plain)}")
    out: dict[str, str] = {}
    for value in values:
        if "=" in value:
            name, _, width = value.partition("=")
            out[name.strip()] = width.strip()
    if plain:
        if out:
            raise _UsageError("--bucket-width: give one width for all, or ENDPOINT=WIDTH pairs")
        return plain[0]
    return out


def _group_by(values: Sequence[str] | None) -> dict[str, list[str]] | None:
    if not values:
        return None
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, groups = value.partition("=")
        if not sep:
            raise _UsageError(f"--group-by {value!r}: use ENDPOINT=a,b (ENDPOINT= for no grouping)")
        out[name.strip()] = _split([groups])
    return out


# -- sync ---------------------------------------------------------------------------------


def add_sync_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``sync`` command's options."""
    parser.description = (
        "Collect usage and costs into a database, incrementally: the first run reads from "
        "--since, later runs from the stored watermark minus --lookback, upserting so a "
        "rerun changes nothing but revised values."
    )
    parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="URL",
        help=f"sqlite:///path.db or postgresql://... (default {DEFAULT_DB})",
    )  # fmt: skip
    parser.add_argument(
        "--since", default=None, metavar="WHEN",
        help="where a first run starts: 90d, 2025-01-01, 2025-01-01T00:00:00Z or Unix seconds "
        "(default 30d); ignored once something is stored",
    )  # fmt: skip
    parser.add_argument(
        "--endpoints", nargs="+", metavar="NAME",
        help=f"endpoints to sync, space- or comma-separated (default all: {', '.join(ENDPOINTS)})",
    )  # fmt: skip
    parser.add_argument(
        "--bucket-width", action="append", metavar="WIDTH|ENDPOINT=WIDTH",
        help="1m, 1h or 1d for every endpoint that offers it (costs: 1d only), or per "
        "endpoint, repeatable (default 1d)",
    )  # fmt: skip
    parser.add_argument(
        "--group-by", action="append", metavar="ENDPOINT=a,b",
        help="group_by of one endpoint, repeatable; ENDPOINT= for none (default: costs by "
        "project_id,line_item; others by project_id,model where they have model)",
    )  # fmt: skip
    parser.add_argument(
        "--lookback", default=None, metavar="DURATION",
        help="how far before the watermark later runs re-read, for late data (default 48h)",
    )  # fmt: skip
    parser.add_argument("--limit", type=int, metavar="N", help="buckets per page (default: max)")
    parser.add_argument(
        "--progress", choices=("auto", "lines", "none"), default="auto",
        help="auto: a live line on a terminal; lines: one line per committed page; none",
    )  # fmt: skip
    _add_client_arguments(parser)


def _add_client_arguments(parser: argparse.ArgumentParser) -> None:
    # The same API options as every other usage-async command, plus the simulator's clock.
    add_client_arguments(parser)
    parser.add_argument(
        "--fake-now", default=None, metavar="WHEN",
        help="with --fake, fix the simulator's clock (default: the real time)",
    )  # fmt: skip
    parser.add_argument(
        "--max-concurrency", type=int, default=8, metavar="N",
        help="requests in flight at most (default %(default)s)",
    )  # fmt: skip


@contextlib.asynccontextmanager
async def _client(
    args: argparse.Namespace,
) -> AsyncIterator[tuple[UsageClient, Callable[[], float]]]:
    retry = RetryPolicy(max_attempts=args.retries + 1)
    if not args.fake:
        async with UsageClient(
            args.api_key or None,
            base_url=args.base_url or DEFAULT_BASE_URL,
            max_concurrency=args.max_concurrency,
            allow_http=args.allow_http,
            retry=retry,
        ) as client:
            yield client, time.time
        return
    from ..testing import FakeUsageServer

    now = None
    if args.fake_now is not None:
        when = _time(args.fake_now)
        if when.relative:
            raise _UsageError("--fake-now takes a point in time, not a duration")
        now = when.seconds
    async with (
        FakeUsageServer(seed=args.seed, now=now) as srv,
        UsageClient(
            srv.api_key, base_url=srv.base_url, max_concurrency=args.max_concurrency, retry=retry
        ) as client,
    ):
        yield client, lambda: float(srv.now())


class _Progress:
    """Progress on stderr: a live line on a terminal, or one line per page."""

    def __init__(self, mode: str, out: TextIO) -> None:
        if mode == "auto":
            mode = "live" if out.isatty() else "none"
        self.mode = mode
        self.out = out
        self.reports: dict[int, EndpointReport] = {}
        self._last = 0.0

    def __call__(self, report: EndpointReport) -> None:
        if self.mode == "lines":
            if report.pages == 0 and not report.done:
                print(
                    f"start {report.endpoint} {report.bucket_width} from {report.start}"
                    f" ({report.pages_expected} pages)",
                    file=self.out,
                    flush=True,
                )
            elif report.done:
                print(f"done {report.endpoint} pages={report.pages}", file=self.out, flush=True)
            else:
                print(
                    f"page {report.endpoint} {report.pages}/{report.pages_expected}"
                    f" inserted={report.inserted} changed={report.changed}",
                    file=self.out,
                    flush=True,
                )
            return
        if self.mode != "live":
            return
        self.reports[id(report)] = report
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        reports = self.reports.values()
        pages = sum(r.pages for r in reports)
        expected = sum(max(r.pages_expected, r.pages) for r in reports)
        rows = sum(r.rows for r in reports)
        busy = [r.endpoint for r in reports if not r.done]
        line = f"sync: {pages}/{expected} pages, {rows:,} rows written"
        if busy:
            line += f"; reading {', '.join(busy[:3])}{' ...' if len(busy) > 3 else ''}"
        self.out.write("\r\033[K" + line[:200])
        self.out.flush()

    def finish(self) -> None:
        if self.mode == "live":
            self.out.write("\r\033[K")
            self.out.flush()


def format_report(report: SyncReport) -> str:
    """The summary table printed at the end of a sync."""
    head = ("endpoint", "width", "group_by", "pages", "buckets", "inserted", "changed",
            "deleted", "seconds")  # fmt: skip
    rows: list[tuple[str, ...]] = []
    for r in report.endpoints:
        rows.append(
            (r.endpoint, r.bucket_width, r.group_by or "-", f"{r.pages:,}", f"{r.buckets:,}",
             f"{r.inserted:,}", f"{r.changed:,}", f"{r.deleted:,}", f"{r.seconds:.1f}")
        )  # fmt: skip
    rows.append(
        ("total", "", "", *(f"{report.total(k):,}" for k in head[3:8]), f"{report.seconds:.1f}")
    )
    widths = [max(len(row[i]) for row in (head, *rows)) for i in range(len(head))]
    lines = []
    for row in (head, *rows):
        cells = [
            cell.ljust(w) if i < 3 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    skipped = report.total("skipped")
    if skipped:
        lines.append(f"skipped {skipped:,} results the client could not type (see the log)")
    for r in report.endpoints:
        if r.error is not None:
            lines.append(f"{r.endpoint}: FAILED: {r.error}")
    return "\n".join(lines)


def _fail(command: str, message: str, code: int) -> int:
    print(f"usage-async {command}: error: {message}", file=sys.stderr)
    return code


async def run_sync(args: argparse.Namespace) -> int:
    """Run ``usage-async sync``; return the exit code."""
    try:
        since = _since(args.since) if args.since is not None else None
        lookback = _duration(args.lookback) if args.lookback else DEFAULT_LOOKBACK
        endpoints = _split(args.endpoints) or None
        width = _widths(args.bucket_width)
        group_by = _group_by(args.group_by)
        plan_targets(endpoints, width, group_by, args.limit)
        if args.max_concurrency < 1:
            raise _UsageError("--max-concurrency must be at least 1")
        progress = _Progress(args.progress, sys.stderr)
        async with open_store(args.db) as store, _client(args) as (client, clock):
            collector = Collector(
                client,
                store,
                endpoints=endpoints,
                bucket_width=width,
                group_by=group_by,
                since=since,
                lookback=lookback,
                limit=args.limit,
                clock=clock,
                progress=progress,
            )
            try:
                report = await collector.run()
            finally:
                progress.finish()
    except (_UsageError, InvalidParameterError, StoreURLError, SchemaVersionError) as exc:
        return _fail("sync", str(exc), EXIT_USAGE)
    except ConfigurationError as exc:
        return _fail("sync", f"{exc} (or try --fake)", EXIT_USAGE)
    except (StoreError, UsageError) as exc:
        return _fail("sync", str(exc), EXIT_FAILURE)
    print(format_report(report))
    return EXIT_OK if report.ok else EXIT_FAILURE


# -- query --------------------------------------------------------------------------------


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``query`` command's options and its questions (``spend``)."""
    parser.description = "Read back what usage-async sync collected."
    parser.add_argument(
        "--db", default=DEFAULT_DB, metavar="URL", help=f"the database (default {DEFAULT_DB})"
    )
    questions = parser.add_subparsers(dest="question", metavar="QUESTION", required=True)
    spend_parser = questions.add_parser("spend", help="spend by project, line item or day")
    spend_parser.add_argument("--by", choices=tuple(SPEND_BY), default="project")
    spend_parser.add_argument("--since", metavar="WHEN", help="buckets from (90d, 2025-01-01, ...)")
    spend_parser.add_argument("--until", metavar="WHEN", help="buckets before (exclusive)")
    spend_parser.add_argument("--format", choices=("table", "csv", "json"), default="table")


def _spend_table(rows: Sequence[Any], by: str, fmt: str, out: TextIO) -> None:
    head = [SPEND_BY[by] or "day", "currency", "amount", "settled"]
    cells = [[r.group, r.currency, str(r.amount), "yes" if r.settled else "no"] for r in rows]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(head)
        writer.writerows(cells)
        return
    if fmt == "json":
        payload = [
            dict(zip(head, (r.group, r.currency, str(r.amount), r.settled), strict=True))
            for r in rows
        ]
        json.dump(payload, out, indent=1)
        out.write("\n")
        return
    for cell in cells:
        cell[0] = cell[0] or "(none)"
    widths = [max(len(c[i]) for c in (head, *cells)) for i in range(len(head))]
    for row in (head, *cells):
        line = "  ".join(
            c.rjust(w) if i == 2 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        out.write(line.rstrip() + "\n")


async def run_query(args: argparse.Namespace) -> int:
    """Run ``usage-async query``; return the exit code."""
    try:
        now = time.time()
        since = resolve_time(_time(args.since), "1d", int(now)) if args.since else None
        until = resolve_time(_time(args.until), "1d", int(now)) if args.until else None
        rows = await spend(args.db, by=args.by, since=since, until=until)
    except (_UsageError, InvalidParameterError, StoreURLError, SchemaVersionError) as exc:
        return _fail("query", str(exc), EXIT_USAGE)
    except StoreError as exc:
        return _fail("query", str(exc), EXIT_FAILURE)
    if not rows:
        print("no costs collected yet: run usage-async sync first", file=sys.stderr)
        return EXIT_OK
    _spend_table(rows, args.by, args.format, sys.stdout)
    return EXIT_OK


# -- standalone ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None, prog: str = "python -m usage_async.sync") -> int:
    """``python -m usage_async.sync {sync,query} ...``."""
    parser = argparse.ArgumentParser(prog=prog)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_sync_arguments(commands.add_parser("sync", help="collect usage and costs into a database"))
    add_query_arguments(commands.add_parser("query", help="read back what was collected"))
    args = parser.parse_args(argv)
    run = run_sync if args.command == "sync" else run_query
    try:
        return asyncio.run(run(args))
    except BrokenPipeError:  # `... | head`: the reader has all it wanted
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - no flush error at exit
        return EXIT_OK
    except KeyboardInterrupt:
        print("interrupted: every committed page is whole; rerun to resume", file=sys.stderr)
        return EXIT_INTERRUPTED
