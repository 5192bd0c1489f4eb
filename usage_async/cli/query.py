"""``usage-async query``: read back what ``sync`` collected, without writing SQL.

Exit codes: 0 answered (which collection and range were summed is said on stderr); 1 the
database failed; 2 bad input (a bad URL or time, no such database, an unknown ``--by``
dimension, one no collection is grouped for, a range that no one collection holds).
"""

from __future__ import annotations

import argparse
import sys
import time

from .._rows import Row
from ..errors import InvalidParameterError
from ..localtime import Zone
from ..spend import DIMENSIONS, check_dimensions
from ..sync.query import SpendRangeError, spend, spend_columns
from ..sync.stores import (
    DEFAULT_DB,
    NoSuchDatabaseError,
    SchemaVersionError,
    StoreError,
    StoreURLError,
)
from ..sync.usage_query import USAGE_ENDPOINTS, UsageQueryError, usage
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PERIOD_HELP,
    TIME_HELP,
    Command,
    CommandError,
    add_names_argument,
    parse_since,
    parse_time,
    parse_zone,
    resolve_range,
    resolve_time,
)
from ._names import DB_ENV
from ._output import Target, add_output_arguments, output_spec, project, write_rows
from .sync import database_url

__all__ = ["COMMANDS"]

_EXAMPLE_LINES = (
    "usage-async query spend --by project",
    "usage-async query spend --by project,day,model --since 30d",
    "usage-async query spend --by month,kind --format json -o by-kind.json",
    "usage-async query spend --by project --no-names --fields project_id,amount",
    "usage-async query spend --by day --since 30d --format csv -o spend.csv",
    "usage-async query spend --by project,model --since last-month",
    "usage-async query --db postgresql://me@db/usage spend --by line_item --since 2025-01-01",
)
_USAGE_EXAMPLE_LINES = (
    "usage-async query usage --since 7d",
    "usage-async query usage --tz Europe/Berlin --since 30d",
    "usage-async query usage --tz Europe/Berlin --since last-week",
    "usage-async query usage --endpoint embeddings --format csv -o embeddings.csv",
)
_EXAMPLES = "Examples:\n" + "\n".join(f"  {line}" for line in _EXAMPLE_LINES)
_USAGE_EXAMPLES = "Examples:\n" + "\n".join(f"  {line}" for line in _USAGE_EXAMPLE_LINES)
_TIMES = f"{TIME_HELP}\n{PERIOD_HELP}\n\n"


_DB_HELP = f"the database (default ${DB_ENV}, else {DEFAULT_DB})"


def add_query_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``query`` command's options and its questions (``spend``, ``usage``)."""
    parser.description = "Read back what usage-async sync collected."
    parser.add_argument("--db", default=None, metavar="URL", help=_DB_HELP)
    questions = parser.add_subparsers(dest="question", metavar="QUESTION", required=True)
    spend_parser = questions.add_parser(
        "spend",
        help="spend by any of project, line item, model, kind, day, week, month, api key",
        description=(
            "Collected spend, summed exactly, by any combination of project, line item, "
            "model, kind, UTC day, ISO week, month and API key."
        ),
        epilog=_TIMES + _EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # Also after the question (`query spend --db X`), where people put it; SUPPRESS keeps a
    # --db given before the question when none is given after it.
    spend_parser.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=_DB_HELP)
    spend_parser.add_argument(
        "--by",
        default="project",
        metavar="DIM[,DIM...]",
        help=f"group by these, in this column order; dimensions: {', '.join(DIMENSIONS)}",
    )
    _add_range(spend_parser)
    add_names_argument(
        spend_parser,
        "without the project_name and api_key_name columns (no join with the names sync stored)",
    )
    add_output_arguments(spend_parser, append=False)
    usage_parser = questions.add_parser(
        "usage",
        help="tokens and requests per day, per project and model, in UTC or local days",
        description=(
            "Collected usage per day, per project and model (where the collection is grouped "
            "by them): UTC days, or with --tz the local days of a zone, summed from 1h "
            "buckets (23 or 25 hours on the days clocks change)."
        ),
        epilog=_TIMES + _USAGE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    usage_parser.add_argument("--db", default=argparse.SUPPRESS, metavar="URL", help=_DB_HELP)
    usage_parser.add_argument(
        "--endpoint",
        choices=USAGE_ENDPOINTS,
        default="completions",
        help="the usage endpoint to read (default completions)",
    )
    usage_parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="local days of this IANA zone (Europe/Berlin); needs sync --bucket-width ENDPOINT=1h",
    )
    _add_range(usage_parser)
    add_names_argument(usage_parser, "without the project_name column")
    add_output_arguments(usage_parser, append=False)


def _add_range(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", type=parse_since, metavar="TIME",
        help="buckets from (90d, 2025-01-01, ...); or a period (last-month, ...) that sets "
        "--until too",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=parse_time, metavar="TIME", help="buckets before (exclusive)"
    )


def _range(args: argparse.Namespace, tz: Zone | None = None) -> tuple[int | None, int | None]:
    """``--since``/``--until`` as Unix seconds (None: not given); a period, a bare date or a
    whole number of days ago are days of ``tz`` when given (``query usage --tz``)."""
    now = int(time.time())
    since = until = None
    if args.since is not None:
        since, until = resolve_range(args.since, args.until, "1d", now, tz=tz)
    elif args.until is not None:
        until = resolve_time(args.until, "1d", now, tz)
    return since, until


async def run_query(args: argparse.Namespace) -> int:
    """Run ``usage-async query``; return the exit code."""
    if args.question == "usage":
        return await _run_usage(args)
    out = output_spec(args)
    try:  # before opening the database
        by = check_dimensions(args.by)
    except InvalidParameterError as exc:
        raise CommandError(f"--{exc}", EXIT_USAGE) from None
    project(spend_columns(by, names=args.names), out.fields)
    try:
        since, until = _range(args)
        db = database_url(args)
        answer = await spend(db, by=by, since=since, until=until, names=args.names)
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
    rows: list[Row] = answer.records(names=args.names)
    with Target(out) as target:
        await write_rows(target, spend_columns(by, names=args.names), rows)
    return EXIT_OK


async def _run_usage(args: argparse.Namespace) -> int:
    out = output_spec(args)
    zone = parse_zone(args.tz)  # before opening the database
    try:
        since, until = _range(args, zone)
        db = database_url(args)
        answer = await usage(
            db, endpoint=args.endpoint, tz=zone, since=since, until=until, names=args.names
        )
    except (
        InvalidParameterError,
        StoreURLError,
        SchemaVersionError,
        NoSuchDatabaseError,
        UsageQueryError,
    ) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except StoreError as exc:
        raise CommandError(str(exc), EXIT_FAILURE) from None
    if answer.collection is None:
        print(
            f"no {args.endpoint} usage collected yet: run usage-async sync first", file=sys.stderr
        )
        return EXIT_OK
    print(f"usage-async query: {answer.describe()}", file=sys.stderr)  # what was summed
    # The main counts by default; --fields picks any of every count.
    header = project(answer.columns(names=args.names), out.fields)
    if out.fields is None:
        header = answer.columns(names=args.names, every=False)
    rows: list[Row] = [{k: r[k] for k in header} for r in answer.records(names=args.names)]
    with Target(out) as target:
        await write_rows(target, header, rows)
    return EXIT_OK


COMMANDS = (
    Command(
        name="query",
        help="read back what sync collected (spend by project, model, day, ...; usage by day)",
        description="Read back what usage-async sync collected, without writing SQL.",
        add_arguments=add_query_arguments,
        run=run_query,
        examples=(*_EXAMPLE_LINES, *_USAGE_EXAMPLE_LINES),
    ),
)
