"""``usage-async reconcile``: per UTC day and model, the usage endpoints' counts against what
Costs charged (``usage_async.reconcile``); estimates from a price table are labelled so."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from .._endpoints import floor_to_width
from ..errors import InvalidParameterError
from ..prices import PriceTable, load_prices
from ..reconcile import ReconcileReport, Thresholds, reconcile
from ._common import (
    EXIT_OK,
    PERIOD_HELP,
    PROG,
    TIME_HELP,
    Command,
    CommandError,
    add_client_arguments,
    iso,
    open_client,
    parse_since,
    parse_time,
    resolve_range,
)
from ._output import (
    FORMAT_HELP,
    Target,
    add_output_arguments,
    json_default,
    money,
    output_spec,
    project,
    text_table,
    write_rows,
)

if TYPE_CHECKING:
    from .. import Bucket, UsageClient
    from .._rows import Row

__all__ = ["COMMANDS", "RECONCILE_COLUMNS", "USAGE_GROUPS", "parse_threshold"]

DAY = 86400
USAGE_GROUPS: dict[str, list[str]] = {
    "completions": ["model", "batch"],
    "embeddings": ["model"],
    "images": ["model", "size"],
    "audio_speeches": ["model"],
    "audio_transcriptions": ["model"],
}
"""The usage endpoints that bill per model, and how each is grouped (moderations are free)."""

RECONCILE_COLUMNS = (
    "section",
    "day",
    "model",
    "kind",
    "detail",
    "line_item",
    "usage_quantity",
    "costs_quantity",
    "costs_unit",
    "costs_amount",
    "estimated_amount",
    "compared_by",
    "difference",
    "flagged",
    "note",
)
"""The rows of ``reconcile``. ``section``: ``compared`` (one kind of charge of one model on
one day), ``unmatched`` (a line item matching no usage) or ``not_compared`` (a charge that
names no model, with ``--all``). ``costs_amount`` is Costs, exact; ``estimated_amount`` is
an estimate from the price table, never Costs. ``difference`` is Costs minus usage, in units
(``compared_by`` ``quantity``) or dollars (``estimate``)."""

ESTIMATE_NOTE = (
    "estimated_amount and estimated_total are estimates: usage priced from the price table, "
    "not what Costs charged"
)

_THRESHOLD = re.compile(
    r"(?:(?P<percent>[\d.]+)\s*%|\$\s*(?P<dollars>[\d.]+)|(?P<usd>[\d.]+)\s*(?:\$|usd)"
    r"|(?P<units>[\d.]+)\s*units?)",
    re.IGNORECASE,
)


@attrs.frozen
class ThresholdArg:
    """One ``--threshold``: which field of :class:`~usage_async.reconcile.Thresholds` it sets."""

    field: str
    value: Decimal


def parse_threshold(text: str) -> ThresholdArg:
    """``5%`` (relative), ``$0.50`` or ``0.50 usd`` (money), ``100 units`` (quantities)."""
    match = _THRESHOLD.fullmatch(text.strip())
    try:
        if match is None:
            raise InvalidOperation
        if match["percent"] is not None:
            return ThresholdArg("relative", _decimal(match["percent"]) / 100)
        if match["dollars"] is not None or match["usd"] is not None:
            return ThresholdArg("absolute_usd", _decimal(match["dollars"] or match["usd"]))
        return ThresholdArg("absolute_units", _decimal(match["units"]))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a threshold: use a percentage (5%), an amount ($0.50) or a "
            "quantity (100 units)"
        ) from None


def _decimal(text: str) -> Decimal:
    value = Decimal(text)
    if not value.is_finite() or value < 0:
        raise InvalidOperation
    return value


def thresholds(given: Sequence[ThresholdArg] | None) -> Thresholds:
    """The defaults (1 %, $0.01, 0 units) with each ``--threshold`` given put in."""
    return attrs.evolve(Thresholds(), **{t.field: t.value for t in given or ()})


def _prices(path: str | None) -> PriceTable:
    try:
        return load_prices(path)
    except InvalidParameterError as exc:
        message = str(exc)
        raise CommandError(
            "--prices" + message[len("prices") :] if message.startswith("prices:") else message
        ) from None


def _utc_days(args: argparse.Namespace, now: int) -> tuple[int, int | None]:
    """The range as whole UTC days: the start floored to its midnight; the end (default: the
    start of the current day, which is still filling) floored too."""
    since, until = resolve_range(args.since, args.until, "1d", now)
    start = floor_to_width(since, "1d")
    if until is None:
        today = floor_to_width(now, "1d")
        return start, today if today > start else None
    end = floor_to_width(until, "1d")
    if end <= start:
        raise CommandError(
            f"--since {iso(since)} and --until {iso(until)} are within one UTC day: "
            "reconciliation compares whole UTC days"
        )
    return start, end


async def _fetch(
    client: UsageClient, start: int, end: int | None
) -> tuple[list[Bucket[Any]], list[Bucket[Any]]]:
    span: dict[str, Any] = {"start_time": start, "end_time": end, "bucket_width": "1d"}
    found = await asyncio.gather(
        client.endpoint("costs").collect(group_by=["line_item"], **span),
        *(client.endpoint(name).collect(group_by=g, **span) for name, g in USAGE_GROUPS.items()),
    )
    costs, *usage = found
    return [b for buckets in usage for b in buckets], costs


def report_rows(report: ReconcileReport, everything: bool) -> list[Row]:
    """The rows of :data:`RECONCILE_COLUMNS`: each kind of every flagged model-day (every
    model-day with ``everything``), the unmatched line items, and (``everything``) the
    charges that name no model."""
    out: list[Row] = []
    for row in report.rows:
        if not (row.flagged or everything):
            continue
        for line in row.kinds:
            out.append(
                {
                    "section": "compared",
                    "day": row.day.isoformat(),
                    "model": row.model,
                    "kind": line.kind,
                    "detail": line.detail,
                    "line_item": None,
                    "usage_quantity": line.usage_quantity,
                    "costs_quantity": line.costs_quantity,
                    "costs_unit": line.costs_unit,
                    "costs_amount": line.costs_amount,
                    "estimated_amount": line.estimate.amount if line.estimate else None,
                    "compared_by": line.compared_by,
                    "difference": line.difference,
                    "flagged": line.flagged,
                    "note": line.note,
                }
            )
    charges = [("unmatched", u) for u in report.unmatched]
    if everything:
        charges += [("not_compared", u) for u in report.not_compared]
    for section, charge in charges:
        out.append(
            {
                **dict.fromkeys(RECONCILE_COLUMNS),
                "section": section,
                "day": charge.day.isoformat(),
                "line_item": charge.line_item,
                "costs_amount": charge.amount,
                "flagged": section == "unmatched",
                "note": charge.reason,
            }
        )
    return out


def heading(report: ReconcileReport, start: int, end: int | None) -> list[str]:
    """What was compared, the totals (Costs exact; the estimate labelled) and the rules."""
    days = f"{iso(start)} to {iso(end) if end is not None else 'now'}"
    not_compared = sum((u.amount for u in report.not_compared), Decimal(0))
    t = report.thresholds
    return [
        f"Reconciliation of UTC days {days}: the usage endpoints' counts against Costs, "
        "per day and model.",
        f"Costs total: {money(report.costs_total)} usd (Costs, exact); charges naming no model, "
        f"not compared: {money(not_compared)} usd.",
        f"Estimated from the price table where priced: {money(report.estimated_total)} usd "
        "(an estimate, not Costs).",
        f"Prices: {report.prices_source}. Flagged: beyond {t.relative * 100:f}% of the larger "
        f"side and ${t.absolute_usd} (by estimate) or {t.absolute_units} units (by quantity).",
        f"{len(report.rows)} model-days compared, {len(report.flagged)} flagged, "
        f"{len(report.unmatched)} line items matching no usage.",
    ]


def _section(title: str, head: list[str], lines: list[list[str]], none: str) -> str:
    if not lines:
        return f"{title}\n  {none}\n\n"
    return text_table(title, head, lines)


def _text(
    report: ReconcileReport, rows: Sequence[Row], start: int, end: int | None, everything: bool
) -> str:
    text = "\n".join(heading(report, start, end)) + "\n\n"
    compared = [r for r in rows if r["section"] == "compared"]
    head = ["day", "model", "kind", "usage", "costs qty", "unit", "costs usd", "estimate usd"]
    head += ["by", "difference", "flagged", "note"]
    lines = [
        [
            r["day"],
            r["model"],
            r["kind"] + (f" {r['detail']}" if r["detail"] else ""),
            f"{r['usage_quantity']:,}",
            "" if r["costs_quantity"] is None else f"{r['costs_quantity']:,}",
            r["costs_unit"] or "",
            money(r["costs_amount"]),
            "" if r["estimated_amount"] is None else money(r["estimated_amount"]),
            r["compared_by"] or "",
            "" if r["difference"] is None else f"{r['difference']:,}",
            "FLAGGED" if r["flagged"] else "",
            r["note"] or "",
        ]
        for r in compared
    ]
    title = "Every model-day compared" if everything else "Flagged model-days"
    title += " (estimate usd is an estimate, not Costs)"
    text += _section(title, head, lines, "(none beyond the thresholds)")
    charges = [r for r in rows if r["section"] != "compared"]
    lines = [
        [r["day"], r["section"], r["line_item"], money(r["costs_amount"]), r["note"]]
        for r in charges
    ]
    head = ["day", "section", "line_item", "costs usd", "why"]
    title = "Line items not compared" if everything else "Line items matching no usage"
    text += _section(title, head, lines, "(none)")
    return text.rstrip("\n") + "\n"


def _arguments(parser: argparse.ArgumentParser) -> None:
    when = parser.add_argument_group("time range (UTC days)")
    when.add_argument(
        "--since",
        type=parse_since,
        default=parse_since("7d"),
        metavar="TIME",
        help="first UTC day (default 7d); or a period (last-month, ...) that sets --until too",
    )
    when.add_argument(
        "--until",
        type=parse_time,
        metavar="TIME",
        help="end, exclusive, floored to UTC midnight (default: the start of the current "
        "UTC day, which is still filling)",
    )
    parser.add_argument(
        "--threshold",
        action="append",
        type=parse_threshold,
        metavar="LIMIT",
        help="flag a difference only beyond this: a percentage of the larger side (5%%), an "
        "amount ($0.50) or a quantity (100 units); repeat for several (default 1%%, $0.01, "
        "0 units)",
    )
    parser.add_argument(
        "--prices",
        metavar="FILE",
        help="a price file (JSON, the form of usage_async/data/prices.json) to estimate with "
        "instead of the one shipped",
    )
    parser.add_argument(
        "--all",
        dest="everything",
        action="store_true",
        help="every model-day compared and the charges that name no model, not only the "
        "flagged ones and the unmatched line items",
    )
    add_output_arguments(parser, append=False)
    add_client_arguments(parser)


async def _run(args: argparse.Namespace) -> int:
    out = output_spec(args)
    project(RECONCILE_COLUMNS, out.fields)
    table = _prices(args.prices)  # a price file that does not parse: before any request
    limits = thresholds(args.threshold)
    async with open_client(args) as api:
        start, end = _utc_days(args, api.now())
        usage, costs = await _fetch(api.client, start, end)
    try:
        report = reconcile(usage, costs, prices=table, thresholds=limits)
    except InvalidParameterError as exc:
        raise CommandError(str(exc), 1) from None
    rows = report_rows(report, args.everything)
    with Target(out) as target:
        if out.format == "table" and out.fields is None:
            target.write(_text(report, rows, start, end, args.everything))
        elif out.format == "json" and out.fields is None:
            body = {
                "start": iso(start),
                "end": None if end is None else iso(end),
                "costs_total": report.costs_total,
                "estimated_total": report.estimated_total,
                "estimates": ESTIMATE_NOTE,
                "prices": report.prices_source,
                "thresholds": attrs.asdict(report.thresholds),
                "model_days": len(report.rows),
                "flagged_model_days": len(report.flagged),
                "rows": rows,
            }
            target.write(json.dumps(body, indent=2, default=json_default) + "\n")
        else:
            await write_rows(target, RECONCILE_COLUMNS, rows)
    return EXIT_OK


COMMANDS = (
    Command(
        name="reconcile",
        help="usage tokens against Costs per UTC day and model: the differences, flagged",
        description="Per UTC day and model, what the usage endpoints counted against what "
        "Costs charged: units where Costs carry a quantity, else an estimate from a price "
        "table (labelled as one). Lists the model-days beyond the thresholds and the line "
        "items matching no usage.",
        epilog=f"{TIME_HELP}\n{PERIOD_HELP}\n\n{ESTIMATE_NOTE}. Requests: 6 (Costs by line "
        "item, and completions, embeddings, images, audio speeches and transcriptions by "
        f"model), one page each up to 31 days.\n\n{FORMAT_HELP}",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} reconcile --fake --fake-mismatch 2025-01-05 --fake-now 2025-01-15T12:30:00Z "
            "--since 2025-01-01",
            f"{PROG} reconcile --since last-month --threshold 5% --threshold '$0.50'",
            f"{PROG} reconcile --since 30d --prices my-prices.json --all -o reconcile.csv",
        ),
    ),
)
