"""``usage-async sync``: collect usage and costs into a database, incrementally.

Exit codes: 0 done; 1 the API or the database failed, or the key was refused (what was
committed is consistent, the next run resumes); 2 bad input (a bad URL, an unknown endpoint,
a bad time, a database from a newer usage-async or bound to another source, no key); 130
interrupted (after saying what was committed).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as _dt
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from .._endpoints import ENDPOINTS
from .._rows import Row
from ..errors import (
    API_KEY_GROUPING_SINCE,
    ConfigurationError,
    InvalidParameterError,
    UsageError,
)
from ..sync._targets import plan_targets
from ..sync.collector import (
    DEFAULT_LOOKBACK,
    Collector,
    EndpointReport,
    NamesReport,
    SyncReport,
    source_of,
)
from ..sync.stores import (
    DEFAULT_DB,
    FAKE_DB,
    SchemaVersionError,
    Source,
    SourceMismatchError,
    StoreError,
    StoreURLError,
    open_store,
)
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    CommandError,
    TimeArg,
    Watch,
    add_client_arguments,
    add_names_argument,
    iso,
    listen,
    open_client,
    parse_time,
)
from ._names import DB_ENV
from ._output import (
    OutputSpec,
    RetryCounting,
    Target,
    add_output_arguments,
    output_spec,
    project,
    request_parts,
    write_rows,
)

__all__ = ["COMMANDS", "DB_ENV", "database_url", "format_report"]

log = logging.getLogger("usage_async")
SIMULATOR_HOST = "simulator"  # the source host of --fake: its port changes every run


def database_url(args: argparse.Namespace) -> str:
    """``--db``, else ``$USAGE_ASYNC_DB``, else the default; with ``--fake`` (sync), ``--db``
    else ``usage-fake.db``: simulated spend never lands in the real data's database."""
    if args.db:
        return str(args.db)
    if getattr(args, "fake", False):
        return FAKE_DB
    return os.environ.get(DB_ENV) or DEFAULT_DB


def _time(text: str, what: str = "time") -> TimeArg:
    # The same grammar as every other usage-async command (``..cli.parse_time``).
    try:
        return parse_time(text)
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"bad {what} {text!r}: {exc}") from None


def _since(text: str) -> int | _dt.timedelta:
    """``--since``: a point in time, or a duration before the collector's clock."""
    when = _time(text)
    return _dt.timedelta(seconds=when.seconds) if when.relative else when.seconds


def _duration(text: str) -> _dt.timedelta:
    """``--lookback``: ``48h``, ``2d``, ``90m``, ``3600s``."""
    when = _time(text, "duration")
    if not when.relative:
        raise CommandError(f"bad duration {text!r}: use a number and a unit, e.g. 48h, 2d, 90m")
    return _dt.timedelta(seconds=when.seconds)


def _split(values: Sequence[str] | None) -> list[str]:
    return [v.strip() for item in values or () for v in item.split(",") if v.strip()]


def _widths(values: Sequence[str] | None) -> str | dict[str, str]:
    if not values:
        return "1d"
    plain = [v for v in values if "=" not in v]
    if len(plain) > 1:
        raise CommandError(f"--bucket-width given twice without an endpoint: {', '.join(plain)}")
    out: dict[str, str] = {}
    for value in values:
        if "=" in value:
            name, _, width = value.partition("=")
            out[name.strip()] = width.strip()
    if plain:
        if out:
            raise CommandError("--bucket-width: give one width for all, or ENDPOINT=WIDTH pairs")
        return plain[0]
    return out


def _group_by(values: Sequence[str] | None) -> dict[str, list[str]] | None:
    if not values:
        return None
    out: dict[str, list[str]] = {}
    for value in values:
        name, sep, groups = value.partition("=")
        if not sep:
            raise CommandError(
                f"--group-by {value!r}: use ENDPOINT=a,b (ENDPOINT= for no grouping)"
            )
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
        "--db", default=None, metavar="URL",
        help=f"sqlite:///path.db or postgresql://... (default ${DB_ENV}, else {DEFAULT_DB}; "
        f"with --fake, {FAKE_DB})",
    )  # fmt: skip
    parser.add_argument(
        "--since", default=None, metavar="WHEN",
        help="where a first run starts: 90d, 2025-01-01, 2025-01-01T00:00:00Z or Unix seconds "
        "(default 30d); later, a --since earlier than the stored one reads the range "
        "between them (backfill), a later one changes nothing",
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
        help="auto: a live line on a terminal; lines: one line per committed page; none "
        "(both say the retries, 429s, pace and time paused so far, once any happened)",
    )  # fmt: skip
    add_names_argument(
        parser,
        "also keep the organization's directory (project, user, API key and service account "
        "names) in the database's usage_async_* tables, for SQL joins and query's name "
        "columns; --no-names skips it (3 + projects + active projects requests fewer)",
    )
    add_output_arguments(parser, append=False)
    add_client_arguments(parser)


class _Progress(RetryCounting):
    """Progress on stderr: a live line on a terminal, or one line per page.

    Both say how the requests are going, as the other commands' :class:`~._output.Progress`
    does: the retries so far (the client's ``on_retry`` hook, through :func:`~._common.listen`,
    never log text), then the client's 429s, pace and time paused (``pace_stats()``). The
    live line always has them; a page line (``--progress lines``) ends with them once any
    happened. Use inside :func:`~._common.open_client`, as a context manager: on a terminal
    it also prints the library's warnings above the line, retries being on the line instead.
    """

    def __init__(self, mode: str, out: TextIO) -> None:
        super().__init__(logging.WARNING)
        if mode == "auto":
            mode = "live" if out.isatty() else "none"
        self.mode = mode
        self.out = out
        self.reports: dict[int, EndpointReport] = {}
        self.retries = 0
        self._watch: Watch | None = None
        self._last = 0.0
        self._shown = False

    def __enter__(self) -> _Progress:
        self._watch = listen(self.retried)
        if self.mode == "live":
            log.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop()
        self.finish()

    def emit(self, record: logging.LogRecord) -> None:
        """On a terminal: a retry is on the line; any other record is one line above it."""
        try:
            if hasattr(record, "retry_event") and self._watch is not None:
                return  # counted on the line, through the client's on_retry hook
            self.finish()
            self.out.write(record.getMessage() + "\n")
            self.draw()
        except Exception:  # noqa: BLE001 - logging's own rule: a handler never raises
            self.handleError(record)

    def __call__(self, report: EndpointReport) -> None:
        if self.mode == "lines":
            if report.pages == 0 and not report.done:
                start = "-" if report.start is None else iso(report.start)
                print(
                    f"start {report.endpoint} {report.bucket_width} from {start}"
                    f" ({report.pages_expected} pages)",
                    file=self.out,
                    flush=True,
                )
            elif report.done:
                print(
                    f"done {report.endpoint} pages={report.pages}{self._so_far()}",
                    file=self.out,
                    flush=True,
                )
            else:
                until = "-" if report.committed_until is None else iso(report.committed_until)
                print(
                    f"page {report.endpoint} {report.pages}/{report.pages_expected}"
                    f" up to {until} inserted={report.inserted} changed={report.changed}"
                    f"{self._so_far()}",
                    file=self.out,
                    flush=True,
                )
            return
        if self.mode != "live":
            return
        self.reports[id(report)] = report
        now = time.monotonic()
        if now - self._last < 0.1 and not report.done:  # a target's end is always drawn
            return
        self._last = now
        self.draw()

    def _so_far(self) -> str:
        parts = request_parts(self.retries, self._watch, zero=False)
        return f"; so far {', '.join(parts)}" if parts else ""

    def text(self) -> str:
        """The live line as it would be drawn now."""
        reports = self.reports.values()
        pages = sum(r.pages for r in reports)
        expected = sum(max(r.pages_expected, r.pages) for r in reports)
        rows = sum(r.rows for r in reports)
        busy = [r.endpoint for r in reports if not r.done]
        parts = [f"{pages}/{expected} pages", f"{rows:,} rows written"]
        line = f"sync: {', '.join([*parts, *request_parts(self.retries, self._watch)])}"
        if busy:
            line += f"; reading {', '.join(busy[:3])}{' ...' if len(busy) > 3 else ''}"
        return line

    def draw(self) -> None:
        """Redraw the live line (in live mode only)."""
        if self.mode == "live":
            self.out.write("\r\033[K" + self.text()[:200])
            self.out.flush()
            self._shown = True

    def finish(self) -> None:
        """Erase the live line."""
        if self._shown:
            self.out.write("\r\033[K")
            self.out.flush()
            self._shown = False


def format_report(report: SyncReport) -> str:
    """The summary table printed at the end of a sync, and what the counts do not say."""
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
    for r in report.endpoints:
        if r.backfilled_from is not None:
            lines.append(f"{r.endpoint}: backfilled from {iso(r.backfilled_from)}")
        if r.since_moved_from is not None:
            lines.append(f"{r.endpoint}: {since_moved(r)}")
    if report.names is not None:
        lines.append(format_names(report.names))
    unknown = report.total("unknown")
    if unknown:
        lines.append(
            f"unknown: kept {unknown:,} results the client could not type, raw, in "
            "usage_async_unknown; their buckets deleted nothing (see the log)"
        )
    missing = report.total("missing")
    if missing:
        lines.append(
            f"missing: {missing:,} stored rows were not in this read; kept and counted until "
            "a later run's read agrees they are gone"
        )
    stale = report.total("stale")
    if stale:
        lines.append(f"stale: {stale:,} rows left as a newer overlapping read wrote them")
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    for r in report.endpoints:
        if r.error is not None:
            lines.append(f"{r.endpoint}: FAILED: {r.error}")
    return "\n".join(lines)


def since_moved(r: EndpointReport) -> str:
    """Why a target starts later than asked: the API groups Costs by api_key_id only for
    windows from 2025-12-06 on."""
    assert r.since_moved_from is not None
    return (
        f"--since {iso(r.since_moved_from)} moved to {iso(API_KEY_GROUPING_SINCE)}: the API "
        "groups costs by api_key_id only for windows from then on (as observed)"
    )


def format_names(names: NamesReport) -> str:
    """One line: what the directory walk stored, kind by kind, and what it cost."""
    if not names.kinds:
        return f"names: nothing stored ({names.requests} requests; see the warnings)"
    parts = []
    for k in names.kinds:
        what = [f"{n} {label}" for n, label in (
            (k.new, "new"), (k.changed, "changed"), (k.restored, "back"),
            (k.deleted, "marked deleted"),
        ) if n]  # fmt: skip
        if not k.complete:
            what.append("incomplete: nothing marked deleted")
        parts.append(f"{k.kind} {k.listed:,}" + (f" ({', '.join(what)})" if what else ""))
    return f"names: {'; '.join(parts)}; {names.requests} requests"


def names_json(names: NamesReport) -> dict[str, object]:
    """The directory walk's outcome as JSON values."""
    return {
        "requests": names.requests,
        "complete": names.complete,
        "kinds": {
            k.kind: {
                "listed": k.listed,
                "new": k.new,
                "changed": k.changed,
                "restored": k.restored,
                "deleted": k.deleted,
                "complete": k.complete,
            }
            for k in names.kinds
        },
    }


REPORT_COLUMNS = (
    "endpoint", "bucket_width", "group_by", "start", "end", "pages", "buckets", "inserted",
    "changed", "deleted", "missing", "restored", "stale", "unknown", "backfilled_from",
    "committed_until", "seconds", "error",
)  # fmt: skip
"""The columns of ``sync``'s report as csv, json or jsonl: one row per endpoint target."""


_TIME_COLUMNS = ("start", "end", "backfilled_from", "committed_until")


def report_rows(report: SyncReport) -> list[Row]:
    """The report as rows (times in ISO UTC), for csv, json and jsonl."""
    rows = []
    for r in report.endpoints:
        row: Row = {name: getattr(r, name) for name in REPORT_COLUMNS}
        for name in _TIME_COLUMNS:
            row[name] = None if row[name] is None else iso(row[name])
        row["seconds"] = round(r.seconds, 3)
        rows.append(row)
    return rows


async def _write_report(out: OutputSpec, report: SyncReport) -> None:
    with Target(out) as target:
        if out.format == "table":
            target.write(format_report(report) + "\n")
            return
        rows = report_rows(report)
        if out.format == "json":  # one object: the rows, and what the rows cannot say
            names = project(REPORT_COLUMNS, out.fields)
            payload: dict[str, object] = {
                "ok": report.ok,
                "seconds": round(report.seconds, 3),
                "warnings": list(report.warnings),
                "endpoints": [{k: row[k] for k in names} for row in rows],
            }
            if report.names is not None:
                payload["names"] = names_json(report.names)
            notes = [f"{r.endpoint}: {since_moved(r)}" for r in report.endpoints
                     if r.since_moved_from is not None]  # fmt: skip
            if notes:
                payload["notes"] = notes
            target.write(json.dumps(payload, indent=1) + "\n")
            return
        for warning in report.warnings:
            print(f"usage-async sync: warning: {warning}", file=sys.stderr)
        for r in report.endpoints:
            if r.since_moved_from is not None:
                print(f"usage-async sync: note: {r.endpoint}: {since_moved(r)}", file=sys.stderr)
        await write_rows(target, REPORT_COLUMNS, rows)


def format_committed(reports: Sequence[EndpointReport]) -> str:
    """What an interrupted sync committed, target by target: kept, and where a rerun resumes."""
    parts = []
    for r in reports:
        name = f"{r.endpoint} {r.bucket_width}"
        if r.committed_until is None:
            parts.append(f"{name}: nothing")
        else:
            parts.append(f"{name}: {r.pages} pages, up to {iso(r.committed_until)}")
    return "interrupted; committed (kept, a rerun resumes): " + "; ".join(parts)


async def run_sync(args: argparse.Namespace) -> int:
    """Run ``usage-async sync``; return the exit code."""
    out = output_spec(args)
    project(REPORT_COLUMNS, out.fields)
    try:
        since = _since(args.since) if args.since is not None else None
        lookback = _duration(args.lookback) if args.lookback else DEFAULT_LOOKBACK
        endpoints = _split(args.endpoints) or None
        width = _widths(args.bucket_width)
        group_by = _group_by(args.group_by)
        plan_targets(endpoints, width, group_by, args.limit)
        async with open_store(database_url(args)) as store, open_client(args) as api:
            with _Progress(args.progress, sys.stderr) as progress:
                source = source_of(api.client)
                if args.fake:  # one simulator, whatever port it got this time
                    source = Source(SIMULATOR_HOST, source.identity)
                collector = Collector(
                    api.client,
                    store,
                    endpoints=endpoints,
                    bucket_width=width,
                    group_by=group_by,
                    since=since,
                    lookback=lookback,
                    limit=args.limit,
                    clock=api.now,
                    source=source,
                    progress=progress,
                    names=args.names,
                )
                try:
                    report = await collector.run()
                except (asyncio.CancelledError, KeyboardInterrupt):
                    progress.finish()
                    committed = format_committed(collector.reports)
                    print(f"usage-async sync: {committed}", file=sys.stderr)
                    raise  # main turns it into exit code 130
    except (InvalidParameterError, StoreURLError, SchemaVersionError, SourceMismatchError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except ConfigurationError as exc:
        raise CommandError(f"{exc} (or try --fake)", EXIT_USAGE) from None
    except (StoreError, UsageError) as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None
    await _write_report(out, report)
    return EXIT_OK if report.ok else EXIT_FAILURE


COMMANDS = (
    Command(
        name="sync",
        help="collect usage and costs into a database (SQLite or PostgreSQL), incrementally",
        description="Collect every endpoint into a database: the first run reads from "
        "--since, later runs from the stored watermark minus --lookback, upserting, so a "
        "rerun changes nothing but revised values.",
        add_arguments=add_sync_arguments,
        run=run_sync,
        examples=(
            "usage-async sync --fake",
            "usage-async sync --since 90d --db sqlite:///usage.db",
            "usage-async sync --since 90d --bucket-width 1h --endpoints costs completions",
            "usage-async sync --group-by completions=project_id,model,service_tier",
            "usage-async sync --db postgresql://me@db/usage --format json -o last-sync.json",
            "usage-async sync --no-names   # usage only: no directory walk",
        ),
    ),
)
