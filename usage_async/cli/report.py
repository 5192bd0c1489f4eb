"""``usage-async report``: spend as one self-contained HTML file with inline SVG charts.

From the API (or ``--fake``), or from a ``sync`` database with ``--db``. Exit codes as
``query`` and ``summary``: 0 written; 1 the API or the database failed; 2 bad input (a bad
time or budget, a range that no one collection of the database holds).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

from .._endpoints import floor_to_width
from .._rows import rows
from ..errors import InvalidParameterError
from ..models import CostsResult
from ..report import TOKEN_ENDPOINTS, Budget, Range, ReportData, previous_range, render
from ..report.model import DAY, TOKEN_COUNTERS, add, month_start
from ..report.store import budget_uses, from_store
from ..sync.query import SpendRangeError
from ..sync.stores import NoSuchDatabaseError, SchemaVersionError, StoreError, StoreURLError
from ._common import (
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_USAGE,
    PERIOD_HELP,
    PROG,
    TIME_HELP,
    Api,
    Command,
    CommandError,
    add_client_arguments,
    iso,
    non_negative_int,
    open_client,
    parse_since,
    parse_time,
    resolve_range,
)
from ._names import DB_ENV
from ._output import Progress, Target, output_spec

__all__ = ["COMMANDS", "parse_budget"]


def parse_budget(text: str) -> Budget:
    """``--budget``: ``AMOUNT`` (the organization) or ``PROJECT_ID=AMOUNT``, monthly, USD."""
    project, sep, amount = text.rpartition("=")
    try:
        value = Decimal(amount.strip())
    except InvalidOperation:
        value = Decimal(-1)
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a budget: use AMOUNT or PROJECT_ID=AMOUNT, e.g. 500 or "
            "proj_abc=120.50 (USD a month)"
        )
    return Budget(value, "usd", project.strip() or None if sep else None)


def add_budget_argument(parser: argparse.ArgumentParser) -> None:
    """``--budget`` (repeatable), shared with the exporter."""
    parser.add_argument(
        "--budget",
        type=parse_budget,
        action="append",
        metavar="[PROJECT_ID=]AMOUNT",
        help="a monthly budget in USD for the organization, or for one project; repeatable "
        "(budget use is shown only for budgets given)",
    )


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE",
        help="the HTML file to write (written whole, or not at all)",
    )  # fmt: skip
    parser.add_argument(
        "--since", type=parse_since, default=parse_since("30d"), metavar="TIME",
        help="first UTC day (default 30d); or a period (last-month, ...) that sets --until too",
    )  # fmt: skip
    parser.add_argument(
        "--until", type=parse_time, metavar="TIME",
        help="end, exclusive, a UTC midnight (default: the newest data)",
    )  # fmt: skip
    parser.add_argument(
        "--db", metavar="URL",
        help=f"read a sync database (sqlite:///usage.db, postgresql://...) instead of the API; "
        f"${DB_ENV} is not read: without --db the API is asked",
    )  # fmt: skip
    parser.add_argument(
        "--top", type=non_negative_int, default=10, metavar="N",
        help="line items and models drawn (0: all; default 10); tables list every figure",
    )  # fmt: skip
    parser.add_argument(
        "--no-names", action="store_true",
        help="show project ids only (without it, names come from the organization's directory, "
        "when reading the API)",
    )  # fmt: skip
    add_budget_argument(parser)
    add_client_arguments(parser)


def _days(args: argparse.Namespace, now: int) -> tuple[int, int]:
    """``--since``/``--until`` floored to UTC midnights; an open end is now."""
    since, until = resolve_range(args.since, args.until, "1d", now)
    since = floor_to_width(since, "1d")
    end = now if until is None else min(floor_to_width(until, "1d"), now)
    if end <= since:
        raise CommandError(
            f"--since {iso(since)} and --until {iso(end)} hold no whole UTC day: daily costs "
            "cannot sum less than a day"
        )
    return since, end


async def _from_api(api: Api, args: argparse.Namespace, budgets: Sequence[Budget]) -> ReportData:
    """The report's figures from the API: costs grouped by project and line item, summed
    exactly per day, project and line item as ``summary`` sums them; tokens by model."""
    now = api.now()
    since, until = _days(args, now)
    period = Range(since, until)
    previous = previous_range(period)
    month = Range(month_start(until - 1), until)
    start = min(previous.since, month.since) if budgets else previous.since
    data = ReportData(
        source="From the simulator (--fake)" if args.fake else "From the API",
        generated_at=now,
        period=period,
        line_items_period=period,
        line_items={},
        previous_period=previous,
        previous={},
        tokens_period=period,
        tokens={},
        tokens_endpoints=TOKEN_ENDPOINTS,
    )
    assert data.line_items is not None
    assert data.previous is not None
    assert data.tokens is not None
    in_month: dict[tuple[str, str], Decimal] = {}
    with Progress("report") as progress:
        pages = api.client.costs.pages(
            start_time=start,
            end_time=floor_to_width(until - 1, "1d") + DAY,
            bucket_width="1d",
            group_by=["project_id", "line_item"],
        )
        async with contextlib.aclosing(pages):
            async for bucket in progress.count(pages):
                day = bucket.start_time
                for row in rows([bucket]):
                    if row["object"] != CostsResult.object or row.get("amount_value") is None:
                        continue
                    project = str(row.get("project_id") or "")
                    currency = str(row.get("amount_currency") or "")
                    amount: Decimal = row["amount_value"]
                    if period.since <= day < period.until:
                        key = (day, project, currency)
                        data.daily[key] = data.daily.get(key, Decimal(0)) + amount
                        item = str(row.get("line_item") or "")
                        add(data.line_items, [(item, currency, amount)])
                    elif previous.since <= day < previous.until:
                        add(data.previous, [(project, currency, amount)])
                    if month.since <= day < month.until:
                        add(in_month, [(project, currency, amount)])
        for endpoint in TOKEN_ENDPOINTS:
            pages = api.client.endpoint(endpoint).pages(
                start_time=since,
                end_time=floor_to_width(until - 1, "1d") + DAY,
                bucket_width="1d",
                group_by=["model"],
            )
            async with contextlib.aclosing(pages):
                async for bucket in progress.count(pages):
                    for row in rows([bucket]):
                        if "input_tokens" not in row:
                            continue
                        model = str(row.get("model") or "(none)")
                        totals = data.tokens.setdefault(model, dict.fromkeys(TOKEN_COUNTERS, 0))
                        for counter in TOKEN_COUNTERS:
                            totals[counter] += row.get(counter) or 0
    if budgets:
        data.budgets = budget_uses(budgets, month, ((p, c, a) for (p, c), a in in_month.items()))
    if not args.no_names:
        directory = await api.client.directory()
        for warning in directory.warnings:
            sys.stderr.write(f"{PROG} report: warning: {warning}\n")
        ids = {p for _, p, _ in data.daily} | {p for p, _ in data.previous}
        data.names = {
            p: directory.project(p).label for p in ids if p and directory.project(p).known
        }
    return data


async def _from_db(args: argparse.Namespace, budgets: Sequence[Budget]) -> ReportData:
    now = int(time.time())
    since, until = resolve_range(args.since, args.until, "1d", now)
    try:
        return await from_store(args.db, since=since, until=until, now=now, budgets=budgets)
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


async def _run(args: argparse.Namespace) -> int:
    out = output_spec(args, default="html")
    if out.path is None:
        raise CommandError("-o FILE: the report is a file (an HTML page), not text")
    budgets: list[Budget] = args.budget or []
    if args.db is not None:
        if args.fake or args.base_url:
            raise CommandError("--db reads a database: drop --fake and --base-url")
        data = await _from_db(args, budgets)
    else:
        async with open_client(args) as api:
            data = await _from_api(api, args, budgets)
    with Target(out) as target:
        target.write(render(data, top=args.top))
    if data.period is None:
        said = "no costs collected: the report says so"
    elif not data.daily:
        said = f"no spend {data.period}: the report's charts say no data"
    else:
        said = f"costs of UTC days {data.period}"
    sys.stderr.write(f"{PROG} report: wrote {out.path} ({said})\n")
    return EXIT_OK


COMMANDS = (
    Command(
        name="report",
        help="spend as one self-contained HTML page of charts and exact tables",
        description="Write spend as one HTML file that works offline: daily spend stacked by "
        "project, this period against the previous one, tokens by model, the top line items "
        "and budget use, each chart with a table of its exact figures. From the API, --fake, "
        "or a sync database (--db), whose figures equal `query spend`'s.",
        epilog=f"{TIME_HELP}\n{PERIOD_HELP}",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} report --fake -o spend.html",
            f"{PROG} report --db sqlite:///usage.db --since 2025-03-01 --until 2025-04-01 "
            "-o march.html",
            f"{PROG} report --since 7d --budget 1000 --budget proj_abc=200 -o week.html",
            f"{PROG} report --fake --since last-month -o last-month.html",
        ),
    ),
)
