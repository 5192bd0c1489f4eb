"""``usage-async summary``: totals of every endpoint, fetched concurrently."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .. import ENDPOINTS, EndpointSpec, InvalidParameterError, UsageClient
from .._endpoints import floor_to_width
from .._rows import Row, rows
from ._common import (
    EXIT_OK,
    PROG,
    TIME_HELP,
    Command,
    CommandError,
    add_client_arguments,
    add_names_argument,
    directory_walk,
    iso,
    name_values,
    non_negative_int,
    open_client,
    option_message,
    parse_time,
    resolve_range,
)
from ._output import (
    FORMAT_HELP,
    Progress,
    Target,
    add_output_arguments,
    decimal_text,
    grouped,
    money,
    output_spec,
    text_table,
    top_items,
    write_rows,
)

if TYPE_CHECKING:
    from .. import Bucket
    from ..directory import Directory

__all__ = ["COMMANDS", "Summary"]

# What each endpoint is grouped by for the summary: cost by project and by line item come
# from one costs query; tokens by model from the usage endpoints that group by model.
_SUMMARY_GROUPS = {"costs": ["project_id", "line_item"]}
# Requests per endpoint: the first of these counters the endpoint has.
_REQUEST_COUNTERS = ("num_requests", "num_model_requests", "num_sessions")
_TOKEN_COUNTERS = ("input_tokens", "output_tokens", "num_model_requests")
_GAUGES = {"usage_bytes"}  # a level, not a count: the summary reports the latest bucket
_GAUGE_ENDPOINTS = {"vector_stores": "usage_bytes"}
_NONE = "(none)"  # the key of costs the API attributed to no project (or line item)


@attrs.define
class Summary:
    """Totals of every endpoint over one range of UTC days; money as exact Decimal sums."""

    since: int
    until: int | None
    # currency -> "project_id" | "line_item" -> key -> amount
    costs: dict[str, dict[str, dict[str, Decimal]]] = attrs.field(factory=dict)
    # model -> counter -> total
    tokens: dict[str, dict[str, int]] = attrs.field(factory=dict)
    # endpoint -> counter -> total (gauges: the value of the latest non-empty bucket)
    endpoints: dict[str, dict[str, int]] = attrs.field(factory=dict)
    # the buckets the API returned: the first one's start, the last one's end
    first_start: int | None = None
    last_end: int | None = None
    # project id -> its name (see NAME_COLUMNS), when names were read; None: --no-names
    project_names: dict[str, str | None] | None = None

    def name_projects(self, directory: Directory) -> None:
        """Name every project the costs name (an id it cannot name: the id, "(unknown)")."""
        ids = {key for per in self.costs.values() for key in per.get("project_id", {})}
        names = {}
        for key in sorted(ids):
            project_id = None if key == _NONE else key
            names[key] = name_values(directory, "project_id", project_id)["project_name"]
        self.project_names = names

    def project_name(self, key: str) -> str | None:
        """The name of the project ``key`` (None: no name, or names were not read)."""
        return None if self.project_names is None else self.project_names.get(key)

    def cover(self, start: int, end: int) -> None:
        """Note one bucket the API returned, so the header states the range summed."""
        self.first_start = start if self.first_start is None else min(self.first_start, start)
        self.last_end = end if self.last_end is None else max(self.last_end, end)

    def add_cost(self, row: Row) -> None:
        """Add one costs row to the cost by project and by line item."""
        value = row.get("amount_value")
        if value is None:
            return
        per = self.costs.setdefault(str(row.get("amount_currency") or "unknown"), {})
        for key in ("project_id", "line_item"):
            sums = per.setdefault(key, {})
            name = str(row.get(key) or _NONE)
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

    def requests(self) -> list[tuple[str, str, int]]:
        """``(endpoint, counter, count)`` of every usage endpoint but the storage gauge."""
        out = []
        for name in ENDPOINTS:
            if name == "costs" or name in _GAUGE_ENDPOINTS:
                continue
            counters = self.endpoints.get(name, {})
            counter = next((key for key in _REQUEST_COUNTERS if key in counters), "")
            out.append((name, counter, counters.get(counter, 0)))
        return out

    def storage(self) -> list[tuple[str, str, int]]:
        """``(endpoint, gauge, value at the end of the last bucket)``: bytes stored, a level
        and not a count, so never added to requests."""
        return [
            (name, gauge, self.endpoints.get(name, {}).get(gauge, 0))
            for name, gauge in _GAUGE_ENDPOINTS.items()
        ]

    def to_json(self) -> dict[str, Any]:
        """The summary as JSON values: money as exact decimal strings; ``project_names``
        (project id -> name) when names were read."""
        out = {
            "since": iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "buckets": {
                "width": "1d",
                "start": None if self.first_start is None else iso(self.first_start),
                "end": None if self.last_end is None else iso(self.last_end),
            },
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
            "requests_by_endpoint": {
                name: {"counter": counter, "count": count}
                for name, counter, count in self.requests()
            },
            "storage": {name: {gauge: value} for name, gauge, value in self.storage()},
        }
        if self.project_names is not None:
            out["project_names"] = self.project_names
        return out

    def columns(self) -> tuple[str, ...]:
        """The columns of :meth:`rows`: ``ROW_COLUMNS``, and ``project_name`` after ``name``
        when names were read."""
        return ROW_COLUMNS if self.project_names is None else NAMED_ROW_COLUMNS

    def rows(self) -> list[Row]:
        """The summary as flat rows (:meth:`columns`), for csv and jsonl: one figure a row.
        ``name`` is the project id, line item, model or endpoint the figure is of; a cost by
        project row also has the project's name in ``project_name`` (when names were read)."""
        start = None if self.first_start is None else iso(self.first_start)
        end = None if self.last_end is None else iso(self.last_end)
        out: list[Row] = []
        named = self.project_names is not None

        def add(section: str, currency: str, name: str, metric: str, value: object) -> None:
            row: Row = {
                "start": start,
                "end": end,
                "section": section,
                "currency": currency,
                "name": name,
            }
            if named:
                by_project = section == "cost_by_project"
                row["project_name"] = self.project_name(name) if by_project else None
            row.update(metric=metric, value=value)
            out.append(row)

        for currency, per in sorted(self.costs.items()):
            cost = sum(per.get("project_id", {}).values(), Decimal(0))
            for key in ("project_id", "line_item"):
                for name, amount in _ranked(per.get(key, {})):
                    add(f"cost_by_{key.removesuffix('_id')}", currency, name, "amount", amount)
            add("cost_total", currency, "", "amount", cost)
        for model, counters in _ranked_models(self.tokens):
            for key in _TOKEN_COUNTERS:
                add("tokens_by_model", "", model, key, counters.get(key, 0))
        for name, counter, count in self.requests():
            add("requests_by_endpoint", "", name, counter, count)
        for name, gauge, value in self.storage():
            add("storage", "", name, gauge, value)
        return out


ROW_COLUMNS = ("start", "end", "section", "currency", "name", "metric", "value")
"""The columns of the summary's csv and jsonl rows (with ``--no-names``)."""
NAMED_ROW_COLUMNS = ("start", "end", "section", "currency", "name", "project_name", "metric",
                     "value")  # fmt: skip
"""The columns of the summary's csv and jsonl rows, with project names."""


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
    )
    latest: dict[str, int] = {}
    async with contextlib.aclosing(pages):
        async for bucket in progress.count(pages):
            summary.cover(bucket.start_time, bucket.end_time)
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
        help="first UTC day (default 30d; a time within a day is floored to its midnight)",
    )
    parser.add_argument(
        "--until",
        type=parse_time,
        metavar="TIME",
        help="end, exclusive, floored to UTC midnight (default: now, the current day included)",
    )
    parser.add_argument(
        "--top",
        type=non_negative_int,
        default=10,
        metavar="N",
        help="rows per ranked table in text, the rest summed in one line (0: all; default 10)",
    )
    add_names_argument(
        parser,
        "project ids only in cost by project: none of the requests that read the "
        "organization's directory (3 + projects + active projects)",
    )
    add_output_arguments(parser, fields=False, append=False)
    add_client_arguments(parser)


def _day_range(args: argparse.Namespace, now: int) -> tuple[int, int | None, list[str]]:
    """``--since``/``--until`` as UTC midnights, with a note for each time that was floored:
    the API's daily buckets start at UTC midnight, so that is what gets summed."""
    since, until = resolve_range(args.since, args.until, "1d", now)
    notes = []
    floored_since = floor_to_width(since, "1d")
    if floored_since != since:
        notes.append(
            f"--since {iso(since)} is within a UTC day: summing from {iso(floored_since)}, "
            "the start of its bucket"
        )
    floored_until = None if until is None else floor_to_width(until, "1d")
    if until is not None and floored_until != until:
        notes.append(
            f"--until {iso(until)} is within a UTC day: summing to {iso(floored_until or 0)}, "
            "the end of the last whole day before it"
        )
        if floored_until is not None and floored_until <= floored_since:
            raise CommandError(
                f"--since {iso(since)} and --until {iso(until)} are within one UTC day: "
                "daily buckets cannot sum less than a day; use an endpoint command with "
                "--bucket-width 1h"
            )
    return floored_since, floored_until, notes


async def _run_summary(args: argparse.Namespace) -> int:
    out = output_spec(args)
    async with open_client(args) as api:
        client, now = api.client, api.now()
        since, until, notes = _day_range(args, now)
        for note in notes:
            sys.stderr.write(f"{PROG} summary: note: {note}\n")
        summary = Summary(since, until)
        with Progress("summary", endpoints=len(ENDPOINTS)) as progress:
            # The directory is read beside the endpoints, and named at the end.
            async with directory_walk(client, args.names, progress.warn, progress) as walk:
                try:
                    await _gather(
                        *(_tally(summary, client, spec, progress) for spec in ENDPOINTS.values())
                    )
                except InvalidParameterError as exc:
                    raise CommandError(option_message(ENDPOINTS["costs"], exc)) from None
                if walk is not None:
                    summary.name_projects(await walk.get())
    with Target(out) as target:
        if out.format == "json":
            target.write(json.dumps(summary.to_json(), indent=2) + "\n")
        elif out.format == "table":
            target.write(_summary_text(summary, args.top, now))
        else:
            await write_rows(target, summary.columns(), _each(summary.rows()))
    return EXIT_OK


async def _each(rows: list[Row]) -> AsyncIterator[Row]:
    for row in rows:
        yield row


def _covered(summary: Summary, now: int) -> str:
    """The header: the UTC days the API returned buckets for."""
    start, end = summary.first_start, summary.last_end
    if start is None or end is None:
        until = "now" if summary.until is None else iso(summary.until)
        return f"No buckets from {iso(summary.since)} to {until}"
    days = (end - start) // 86400
    text = (
        f"Usage and costs of {days} UTC day{'s' if days != 1 else ''}, {iso(start)} to {iso(end)}"
    )
    if end > now:
        text += f" (the last day is still filling: as of {iso(now)})"
    return text


def _summary_text(summary: Summary, top: int, now: int) -> str:
    text = _covered(summary, now) + "\n\n"
    if not summary.costs:
        text += "Costs: none\n\n"
    for currency, per in sorted(summary.costs.items()):
        total = sum(per.get("project_id", {}).values(), Decimal(0))
        for key, title in (("project_id", "Cost by project"), ("line_item", "Cost by line item")):
            shown, rest = top_items(_ranked(per.get(key, {})), top)
            named = key == "project_id" and summary.project_names is not None
            head = [key, "project_name", "amount"] if named else [key, "amount"]
            lines = [
                [name, summary.project_name(name) or "", money(value)]
                if named
                else [name, money(value)]
                for name, value in shown
            ]
            blank = [""] if named else []
            if rest:
                lines.append([f"({len(rest)} more)", *blank, money(sum(rest, Decimal(0)))])
            lines.append(["total", *blank, money(total)])
            text += text_table(f"{title} ({currency}, UTC days)", head, lines)
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
    lines = [[name, grouped(count), counter] for name, counter, count in summary.requests()]
    text += text_table("Requests by endpoint", ["endpoint", "count", "counter"], lines)
    lines = [[name, grouped(value), gauge] for name, gauge, value in summary.storage()]
    text += text_table(
        "Storage at the end of the last bucket (a level, not a count)",
        ["endpoint", "bytes", "gauge"],
        lines,
    )
    return text.rstrip("\n") + "\n"


# -- serve --------------------------------------------------------------------------------


COMMANDS = (
    Command(
        name="summary",
        help="totals of all endpoints: cost by project and line item, tokens by model, "
        "requests by endpoint",
        description="Fetch every endpoint concurrently (1d buckets, UTC days) and print totals: "
        "cost by project and by line item (exact sums; table rounds to cents, csv/json/jsonl "
        "are exact), tokens by model, requests per endpoint, and storage.",
        epilog=f"{TIME_HELP}\n\n{FORMAT_HELP}",
        add_arguments=_summary_arguments,
        run=_run_summary,
        examples=(
            f"{PROG} summary --fake",
            f"{PROG} summary --fake --no-names",
            f"{PROG} summary --since 2025-01-01 --until 2025-02-01",
            f"{PROG} summary --since 7d --format json -o week.json",
            f"{PROG} summary --since 30d --top 0 --format csv",
        ),
    ),
)
