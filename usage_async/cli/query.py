"""``usage-async query``: read back what ``sync`` collected, without writing SQL."""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from ..errors import InvalidParameterError
from ..sync.query import SPEND_BY, spend
from ..sync.stores import DEFAULT_DB, SchemaVersionError, StoreError, StoreURLError
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
    except (InvalidParameterError, StoreURLError, SchemaVersionError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None
    if not rows:
        print("no costs collected yet: run usage-async sync first", file=sys.stderr)
        return EXIT_OK
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
