"""``usage-async query``: read back what ``sync`` collected, without writing SQL.

Exit codes: 0 answered (which collection and range were summed is said on stderr); 1 the
database failed; 2 bad input (a bad URL or time, no such database, a range that no one
collection holds).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from ..errors import InvalidParameterError
from ..sync.query import SPEND_BY, SpendRangeError, spend
from ..sync.stores import (
    DEFAULT_DB,
    NoSuchDatabaseError,
    SchemaVersionError,
    StoreError,
    StoreURLError,
)
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    CommandError,
    TimeArg,
    parse_time,
    resolve_time,
)

__all__ = ["COMMANDS"]


def _time(text: str) -> TimeArg:
    try:
        return parse_time(text)
    except argparse.ArgumentTypeError as exc:
        raise CommandError(f"bad time {text!r}: {exc}") from None


DB_ENV = "USAGE_ASYNC_DB"
_DB_HELP = f"the database (default ${DB_ENV}, else {DEFAULT_DB})"


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``query`` command's options and its questions (``spend``)."""
    parser.description = "Read back what usage-async sync collected."
    parser.add_argument("--db", default=None, metavar="URL", help=_DB_HELP)
    questions = parser.add_subparsers(dest="question", metavar="QUESTION", required=True)
    spend_parser = questions.add_parser("spend", help="spend by project, line item or day")
    # Also after the question (`query spend --db X`), where people put it; SUPPRESS keeps a
    # --db given before the question when none is given after it.
    spend_parser.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=_DB_HELP)
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
        db = args.db or os.environ.get(DB_ENV) or DEFAULT_DB
        rows = await spend(db, by=args.by, since=since, until=until)
    except (
        InvalidParameterError,
        StoreURLError,
        SchemaVersionError,
        NoSuchDatabaseError,
        SpendRangeError,
    ) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None
    if rows.collection is None:
        print("no costs collected yet: run usage-async sync first", file=sys.stderr)
        return EXIT_OK
    print(f"usage-async query: {rows.describe()}", file=sys.stderr)  # what was summed
    _spend_table(rows, args.by, args.format, sys.stdout)
    return EXIT_OK


COMMANDS = (
    Command(
        name="query",
        help="read back what sync collected (spend by project, line item or day)",
        description="Read back what usage-async sync collected, without writing SQL.",
        add_arguments=add_query_arguments,
        run=run_query,
    ),
)
