"""``usage-async query``: read back what ``sync`` collected, without writing SQL.

Exit codes: 0 answered (which collection and range were summed is said on stderr); 1 the
database failed; 2 bad input (a bad URL or time, no such database, a range that no one
collection holds).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import AsyncIterator

from .._rows import Row
from ..directory import UNKNOWN_MARKER
from ..errors import InvalidParameterError
from ..sync.query import SPEND_BY, SpendAnswer, SpendRangeError, SpendRow, spend
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
    add_names_argument,
    parse_time,
    resolve_range,
    resolve_time,
)
from ._names import DB_ENV
from ._output import Target, add_output_arguments, output_spec, project, write_rows

__all__ = ["COMMANDS"]

_EXAMPLE_LINES = (
    "usage-async query spend --by project",
    "usage-async query spend --by project --no-names --fields project_id,amount",
    "usage-async query spend --by day --since 30d --format csv -o spend.csv",
    "usage-async query --db postgresql://me@db/usage spend --by line_item --since 2025-01-01",
)
_EXAMPLES = "Examples:\n" + "\n".join(f"  {line}" for line in _EXAMPLE_LINES)


_DB_HELP = f"the database (default ${DB_ENV}, else {DEFAULT_DB})"


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``query`` command's options and its questions (``spend``)."""
    parser.description = "Read back what usage-async sync collected."
    parser.add_argument("--db", default=None, metavar="URL", help=_DB_HELP)
    questions = parser.add_subparsers(dest="question", metavar="QUESTION", required=True)
    spend_parser = questions.add_parser(
        "spend",
        help="spend by project, line item or day",
        description="Collected spend, summed exactly, by project, line item or UTC day.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Also after the question (`query spend --db X`), where people put it; SUPPRESS keeps a
    # --db given before the question when none is given after it.
    spend_parser.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=_DB_HELP)
    spend_parser.add_argument("--by", choices=tuple(SPEND_BY), default="project")
    spend_parser.add_argument(
        "--since", type=parse_time, metavar="TIME", help="buckets from (90d, 2025-01-01, ...)"
    )
    spend_parser.add_argument(
        "--until", type=parse_time, metavar="TIME", help="buckets before (exclusive)"
    )
    add_names_argument(
        spend_parser,
        "--by project without the project_name column (no join with the names sync stored)",
    )
    add_output_arguments(spend_parser, append=False)


def _spend_columns(by: str, names: bool) -> list[str]:
    group = SPEND_BY[by] or "day"
    named = ["project_name"] if names and by == "project" else []
    return [group, *named, "currency", "amount", "settled"]


def _project_name(row: SpendRow) -> str | None:
    """The stored name; for an id with no stored name, the id and "(unknown)", as every
    name column shows one (see ``usage-async costs --help``); no project, no name."""
    if row.name is not None:
        return row.name
    return f"{row.group} {UNKNOWN_MARKER}" if row.group else None


def _spend_rows(answer: SpendAnswer, by: str, names: bool) -> tuple[list[str], list[Row]]:
    header = _spend_columns(by, names)
    group = header[0]
    rows = []
    for r in answer:
        row: Row = {group: r.group}
        if "project_name" in header:
            row["project_name"] = _project_name(r)
        row.update(currency=r.currency, amount=r.amount, settled=r.settled)
        rows.append(row)
    return header, rows


async def _each(rows: list[Row]) -> AsyncIterator[Row]:
    for row in rows:
        yield row


async def run_query(args: argparse.Namespace) -> int:
    """Run ``usage-async query``; return the exit code."""
    out = output_spec(args)
    project(_spend_columns(args.by, args.names), out.fields)  # before opening the database
    try:
        now = int(time.time())
        since = until = None
        if args.since is not None:
            since, until = resolve_range(args.since, args.until, "1d", now)
        elif args.until is not None:
            until = resolve_time(args.until, "1d", now)
        db = args.db or os.environ.get(DB_ENV) or DEFAULT_DB
        answer = await spend(db, by=args.by, since=since, until=until, names=args.names)
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
    if answer.collection is None:
        print("no costs collected yet: run usage-async sync first", file=sys.stderr)
        return EXIT_OK
    print(f"usage-async query: {answer.describe()}", file=sys.stderr)  # what was summed
    header, rows = _spend_rows(answer, args.by, args.names)
    with Target(out) as target:
        await write_rows(target, header, _each(rows))
    return EXIT_OK


COMMANDS = (
    Command(
        name="query",
        help="read back what sync collected (spend by project, line item or day)",
        description="Read back what usage-async sync collected, without writing SQL.",
        add_arguments=add_query_arguments,
        run=run_query,
        examples=_EXAMPLE_LINES,
    ),
)
