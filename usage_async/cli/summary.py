"""``usage-async summary``: totals of every endpoint, fetched concurrently."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .. import ENDPOINTS, EndpointSpec, InvalidParameterError, UsageClient
from .._rows import Row, rows
from ._common import (
    EXIT_OK,
    TIME_HELP,
    Command,
    CommandError,
    add_client_arguments,
    iso,
    non_negative_int,
    open_client,
    option_message,
    parse_time,
    resolve_time,
)
from ._output import Progress, decimal_text, grouped, money, text_table, top_items

if TYPE_CHECKING:
    from .. import Bucket

__all__ = ["COMMANDS", "Summary"]

# What each endpoint is grouped by for the summary: cost by project and by line item come
# from one costs query; tokens by model from the usage endpoints that group by model.
_SUMMARY_GROUPS = {"costs": ["project_id", "line_item"]}
# Requests per endpoint: the first of these counters the endpoint has.
_REQUEST_COUNTERS = ("num_requests", "num_model_requests", "num_sessions")
_TOKEN_COUNTERS = ("input_tokens", "output_tokens", "num_model_requests")
_GAUGES = {"usage_bytes"}  # a level, not a count: the summary reports the latest bucket


@attrs.define
class Summary:
    """Totals of every endpoint over one range; money as exact Decimal sums."""

    since: int
    until: int | None
    # currency -> "project_id" | "line_item" -> key -> amount
    costs: dict[str, dict[str, dict[str, Decimal]]] = attrs.field(factory=dict)
    # model -> counter -> total
    tokens: dict[str, dict[str, int]] = attrs.field(factory=dict)
    # endpoint -> counter -> total (gauges: the value of the latest non-empty bucket)
    endpoints: dict[str, dict[str, int]] = attrs.field(factory=dict)

    def add_cost(self, row: Row) -> None:
        """Add one costs row to the cost by project and by line item."""
        value = row.get("amount_value")
        if value is None:
            return
        per = self.costs.setdefault(str(row.get("amount_currency") or "unknown"), {})
        for key in ("project_id", "line_item"):
            sums = per.setdefault(key, {})
            name = str(row.get(key) or "(none)")
            sums[name] = sums.get(name, Decimal(0)) + value

    def add_usage(self, endpoint: str, row: Row, latest: dict[str, int]) -> None:
        """Add one usage row to its endpoint's counters and, when it has tokens, its model's."""
        totals = self.endpoints.setdefault(endpoint, {})
        for key, value in row.items():
            if type(value) is not int:
                continue
            if key in _GAUGES:
                latest[key] = latest.get(key, 0) + value
            else:
                totals[key] = totals.get(key, 0) + value
        if "input_tokens" in row:
            model = self.tokens.setdefault(str(row.get("model") or "(none)"), {})
            for key in _TOKEN_COUNTERS:
                model[key] = model.get(key, 0) + (row.get(key) or 0)

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON values: money as exact decimal strings."""
        return {
            "since": iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "costs": {
                currency: {
                    "total": decimal_text(sum(per.get("project_id", {}).values(), Decimal(0))),
                    **{
                        f"by_{key}": {name: decimal_text(value) for name, value in _ranked(sums)}
                        for key, sums in per.items()
                    },
                }
                for currency, per in sorted(self.costs.items())
            },
            "tokens_by_model": dict(_ranked_models(self.tokens)),
            "endpoints": {
                name: self.endpoints.get(name, {}) for name in ENDPOINTS if name != "costs"
            },
        }


def _ranked(sums: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(sums.items(), key=lambda item: (-item[1], item[0]))


def _ranked_models(tokens: dict[str, dict[str, int]]) -> list[tuple[str, dict[str, int]]]:
    return sorted(
        tokens.items(),
        key=lambda item: (-(item[1]["input_tokens"] + item[1]["output_tokens"]), item[0]),
    )


async def _tally(
    summary: Summary, client: UsageClient, spec: EndpointSpec, progress: Progress
) -> None:
    group_by = _SUMMARY_GROUPS.get(spec.name)
    if group_by is None and "model" in spec.enums["group_by"]:
        group_by = ["model"]
    pages = client.endpoint(spec.name).pages(
        start_time=summary.since,
        end_time=summary.until,
        bucket_width="1d",
        group_by=group_by,
        limit=spec.limits["1d"][1],
    )
    latest: dict[str, int] = {}
    async with contextlib.aclosing(pages):
        async for bucket in progress.count(pages):
            level: dict[str, int] = {}
            for row in _own_rows(spec, bucket):
                if spec.name == "costs":
                    summary.add_cost(row)
                else:
                    summary.add_usage(spec.name, row, level)
            if level:
                latest = level
    if latest:
        summary.endpoints.setdefault(spec.name, {}).update(latest)
    progress.done += 1
    progress.draw()


def _own_rows(spec: EndpointSpec, bucket: Bucket[Any]) -> Iterator[Row]:
    # Results the client could not type were already logged; their fields are not counted.
    return (row for row in rows([bucket]) if row["object"] == spec.result_tag)


async def _gather(*aws: Awaitable[None]) -> None:
    """``asyncio.gather``, but a failure cancels the others before it is raised (what
    ``asyncio.TaskGroup`` does from Python 3.11 on)."""
    tasks = [asyncio.ensure_future(aw) for aw in aws]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


def _summary_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since",
        type=parse_time,
        default=parse_time("30d"),
        metavar="TIME",
        help="first day (default 30d, floored to UTC midnight)",
    )
    parser.add_argument("--until", type=parse_time, metavar="TIME", help="end (default: now)")
    parser.add_argument(
        "--format", choices=("text", "json"), default="text", help="default %(default)s"
    )
    parser.add_argument(
        "--top",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="rows per ranked table in text, the rest summed in one line (0: all; default 10)",
    )
    add_client_arguments(parser)


async def _run_summary(args: argparse.Namespace) -> int:
    async with open_client(args) as api:
        client, now = api.client, api.now()
        since = resolve_time(args.since, "1d", now)
        until = None if args.until is None else resolve_time(args.until, "1d", now)
        summary = Summary(since, until)
        with Progress("summary", endpoints=len(ENDPOINTS)) as progress:
            try:
                await _gather(
                    *(_tally(summary, client, spec, progress) for spec in ENDPOINTS.values())
                )
            except InvalidParameterError as exc:
                raise CommandError(option_message(ENDPOINTS["costs"], exc)) from None
    if args.format == "json":
        sys.stdout.write(json.dumps(summary.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(_summary_text(summary, args.top, now))
    sys.stdout.flush()
    return EXIT_OK


def _summary_text(summary: Summary, top: int, now: int) -> str:
    until = "now" if summary.until is None else iso(summary.until)
    text = f"Usage and costs from {iso(summary.since)} to {until} ({iso(now)})\n\n"
    if not summary.costs:
        text += "Costs: none\n\n"
    for currency, per in sorted(summary.costs.items()):
        total = sum(per.get("project_id", {}).values(), Decimal(0))
        for key, title in (("project_id", "Cost by project"), ("line_item", "Cost by line item")):
            shown, rest = top_items(_ranked(per.get(key, {})), top)
            lines = [[name, money(value)] for name, value in shown]
            if rest:
                lines.append([f"({len(rest)} more)", money(sum(rest, Decimal(0)))])
            lines.append(["total", money(total)])
            text += text_table(f"{title} ({currency})", [key, "amount"], lines)
    models, rest_models = top_items(_ranked_models(summary.tokens), top)
    lines = [[name, *(grouped(c[key]) for key in _TOKEN_COUNTERS)] for name, c in models]
    if rest_models:
        lines.append(
            [
                f"({len(rest_models)} more)",
                *(grouped(sum(c[key] for c in rest_models)) for key in _TOKEN_COUNTERS),
            ]
        )
    text += text_table("Tokens by model", ["model", *_TOKEN_COUNTERS], lines)
    lines = []
    for name in ENDPOINTS:
        counters = summary.endpoints.get(name, {})
        counter = next((key for key in (*_REQUEST_COUNTERS, *_GAUGES) if key in counters), None)
        if counter is None:
            lines.append([name, "0", ""])
        else:
            note = " (latest bucket)" if counter in _GAUGES else ""
            lines.append([name, grouped(counters[counter]), counter + note])
    lines = [cells for cells in lines if cells[0] != "costs"]
    text += text_table("Requests by endpoint", ["endpoint", "count", "counter"], lines)
    return text.rstrip("\n") + "\n"


# -- serve --------------------------------------------------------------------------------


COMMANDS = (
    Command(
        name="summary",
        help="totals of all endpoints: cost by project and line item, tokens by model, "
        "requests by endpoint",
        description="Fetch every endpoint concurrently (1d buckets) and print totals: cost by "
        "project and by line item (exact sums; text rounds to cents, json is exact), tokens "
        "by model, requests per endpoint.",
        epilog=TIME_HELP,
        add_arguments=_summary_arguments,
        run=_run_summary,
    ),
)
