"""``usage-async summary``: totals of every endpoint, fetched concurrently."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as _dt
import json
import sys
from collections.abc import AsyncIterator, Awaitable, Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from .. import ENDPOINTS, EndpointSpec, InvalidParameterError, UsageClient
from .._endpoints import floor_to_width
from .._rows import Row, rows
from ..errors import API_KEY_GROUPING_SINCE
from ..localtime import Zone, local_midnight, zone_name
from ..models import Bucket
from ..periods import Comparison, Period, compare, period, period_between, previous
from ..spend import COSTS_FIELD, TIME_DIMENSIONS, SpendTable, check_dimensions, group_spend
from ._common import (
    EXIT_OK,
    PERIOD_HELP,
    PROG,
    TIME_HELP,
    Command,
    CommandError,
    add_client_arguments,
    add_names_argument,
    directory_walk,
    iso,
    local_days,
    name_values,
    non_negative_int,
    open_client,
    option_message,
    parse_since,
    parse_time,
    parse_zone,
    resolve_range,
)
from ._output import (
    FORMAT_HELP,
    Progress,
    Target,
    add_output_arguments,
    decimal_text,
    grouped,
    json_default,
    money,
    output_spec,
    text_table,
    top_items,
    write_rows,
)
from .budget import Budget, budget_heading, budget_rows, budget_text, read_budget

if TYPE_CHECKING:
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
    # --tz: usage is summed in this zone's days; Costs stay in UTC days (costs_first/last)
    zone: str | None = None
    costs_first: int | None = None
    costs_last: int | None = None
    # --compare: this period against the previous one; --budget: the month's budget
    comparison: Comparison | None = None
    compared: tuple[Period, Period] | None = None
    budget: Budget | None = None

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

    def cover_costs(self, start: int, end: int) -> None:
        """Note one Costs bucket: with ``--tz`` apart from usage's local days (UTC days)."""
        if self.zone is None:
            self.cover(start, end)
            return
        self.costs_first = start if self.costs_first is None else min(self.costs_first, start)
        self.costs_last = end if self.costs_last is None else max(self.costs_last, end)

    def costs_range(self) -> tuple[int | None, int | None]:
        """The UTC days Costs were summed over (the same as usage's without ``--tz``)."""
        if self.zone is None:
            return self.first_start, self.last_end
        return self.costs_first, self.costs_last

    def local(self, when: int | None) -> str | None:
        """A usage bound as text: ISO UTC, or with ``--tz`` that zone's time and offset."""
        if when is None:
            return None
        if self.zone is None:
            return iso(when)
        return _dt.datetime.fromtimestamp(when, parse_zone(self.zone)).isoformat()

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
        out: dict[str, Any] = {
            "since": iso(self.since),
            "until": None if self.until is None else iso(self.until),
            "buckets": {
                "width": "1d",
                "start": self.local(self.first_start),
                "end": self.local(self.last_end),
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
        if self.zone is not None:
            out["buckets"]["time_zone"] = self.zone
            start, end = self.costs_range()
            out["costs_buckets"] = {
                "width": "1d",
                "start": None if start is None else iso(start),
                "end": None if end is None else iso(end),
                "time_zone": "UTC",
                "note": "Costs are reported only in UTC days",
            }
        if self.project_names is not None:
            out["project_names"] = self.project_names
        if self.comparison is not None and self.compared is not None:
            out["comparison"] = _comparison_json(self.comparison, self.compared)
        if self.budget is not None:
            out["budget"] = {
                "heading": budget_heading(self.budget.report),
                "rows": budget_rows(self.budget),
            }
        return out

    def columns(self) -> tuple[str, ...]:
        """The columns of :meth:`rows`: ``ROW_COLUMNS``, and ``project_name`` after ``name``
        when names were read."""
        return ROW_COLUMNS if self.project_names is None else NAMED_ROW_COLUMNS

    def rows(self) -> list[Row]:
        """The summary as flat rows (:meth:`columns`), for csv and jsonl: one figure a row.
        ``name`` is the project id, line item, model or endpoint the figure is of; a cost by
        project row also has the project's name in ``project_name`` (when names were read)."""
        start, end = self.local(self.first_start), self.local(self.last_end)
        costs_start, costs_end = (None if t is None else iso(t) for t in self.costs_range())
        out: list[Row] = []
        named = self.project_names is not None

        def add(
            section: str,
            currency: str,
            name: str,
            metric: str,
            value: object,
            project_name: str | None = None,
        ) -> None:
            costs = section.startswith("cost")
            row: Row = {
                "start": costs_start if costs else start,
                "end": costs_end if costs else end,
                "section": section,
                "currency": currency,
                "name": name,
            }
            if named:
                by_project = section == "cost_by_project"
                row["project_name"] = self.project_name(name) if by_project else project_name
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
        if self.comparison is not None and self.compared is not None:
            this, before = self.compared
            for change in (*_ranked_changes(self.comparison), *self.comparison.totals):
                section = "compare" if change.key else "compare_total"
                label = (
                    _key_label(change.key) if change.key else f"{this.label} against {before.label}"
                )
                for metric in ("this", "previous", "change", "change_percent"):
                    value = getattr(change, metric)
                    add(
                        section,
                        change.currency,
                        label,
                        metric,
                        value,
                        _project_of(self.comparison, change),
                    )
        if self.budget is not None:
            for row in budget_rows(self.budget):
                for metric in (
                    "threshold",
                    "spent",
                    "percent_used",
                    "projection",
                    "projected_percent",
                ):
                    add(
                        "budget",
                        "usd",
                        row["project_id"] or row["scope"],
                        f"{row['what']}_{metric}",
                        row[metric],
                        row.get("project_name"),
                    )
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


def _compare_json(change: Any, by: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = dict(zip(by, change.key, strict=True))
    for dimension, name in zip(by, change.names, strict=False):
        if name is not None:
            out[f"{dimension}_name"] = name
    out.update(
        currency=change.currency,
        this=decimal_text(change.this),
        previous=decimal_text(change.previous),
        change=decimal_text(change.change),
        change_percent=None
        if change.change_percent is None
        else decimal_text(change.change_percent),
        status=change.status,
    )
    return out


def _comparison_json(comparison: Comparison, periods: tuple[Period, Period]) -> dict[str, Any]:
    this, before = periods
    return {
        "by": list(comparison.by),
        "time_zone": "UTC",
        "this_period": {
            "label": this.label,
            "start": iso(this.start_time),
            "end": iso(this.end_time),
        },
        "previous_period": {
            "label": before.label,
            "start": iso(before.start_time),
            "end": iso(before.end_time),
        },
        "changes": [_compare_json(c, comparison.by) for c in _ranked_changes(comparison)],
        "totals": [_compare_json(c, ()) for c in comparison.totals],
    }


def _ranked_changes(comparison: Comparison) -> list[Any]:
    """The changes, biggest first (by absolute change), then by key."""
    return sorted(
        comparison.changes,
        key=lambda c: (-abs(c.change), tuple("" if v is None else v for v in c.key), c.currency),
    )


def _key_label(key: tuple[str | None, ...]) -> str:
    return " | ".join(_NONE if v is None else v for v in key)


def _project_of(comparison: Comparison, change: Any) -> str | None:
    if "project" not in comparison.by or not change.names:
        return None
    name: str | None = change.names[comparison.by.index("project")]
    return name


# -- compare -------------------------------------------------------------------------------


def compare_dimensions(text: str | None, wanted: bool) -> tuple[str, ...]:
    """``--by`` checked before any request: known dimensions, none of time, only with
    ``--compare`` (default ``project,model``)."""
    if text is not None and not wanted:
        raise CommandError("--by goes with --compare: it says what to compare by")
    allowed = ", ".join(COSTS_FIELD)
    try:
        dims = check_dimensions(text if text is not None else "project,model")
    except InvalidParameterError as exc:
        message = str(exc).split("; dimensions:")[0]
        raise CommandError(f"--{message}; compare by: {allowed}") from None
    timed = [d for d in dims if d in TIME_DIMENSIONS]
    if timed:
        raise CommandError(
            f"--by: cannot compare by {', '.join(timed)}: the two periods have different "
            f"days; compare by {allowed}"
        )
    return dims


def compare_periods(args: argparse.Namespace, now: int) -> tuple[Period, Period]:
    """This period (UTC days: Costs have no others) and the one to compare it with: a period
    name gives the previous one of its kind (month to date: the same days of last month);
    any other range the as many days just before it."""
    if args.since.period is not None and args.until is None:
        this = period(args.since.period, now=now)
    else:
        since, until = resolve_range(args.since, args.until, "1d", now)
        start = _dt.datetime.fromtimestamp(floor_to_width(since, "1d"), _dt.timezone.utc).date()
        last = until if until is not None else now + 86400
        end = _dt.datetime.fromtimestamp(floor_to_width(last, "1d"), _dt.timezone.utc).date()
        if end <= start:
            raise CommandError(
                "--compare needs at least one whole UTC day between --since and --until"
            )
        this = period_between(start, end)
    return this, previous(this)


async def _spend_of(
    client: UsageClient,
    p: Period,
    dims: tuple[str, ...],
    now: int,
    into: dict[int, list[Any]],
    index: int,
) -> None:
    """The Costs of ``p``, grouped as ``dims`` need, into ``into[index]``."""
    group_by = sorted({COSTS_FIELD[d] for d in dims})
    into[index] = await client.endpoint("costs").collect(
        start_time=p.start_time,
        end_time=p.end_time if p.end_time <= now else None,
        group_by=group_by,
    )


def _compare(
    summary: Summary,
    dims: tuple[str, ...],
    periods: tuple[Period, Period],
    fetched: tuple[list[Any], list[Any]],
    directory: Directory | None,
) -> None:
    this_costs, before_costs = fetched
    tables: list[SpendTable] = [
        group_spend(costs, by=dims, directory=directory) for costs in (this_costs, before_costs)
    ]
    this, before = periods
    if not tables[1].rows:
        raise CommandError(
            f"--compare: the previous period, {before.label}, has no Costs to compare "
            f"{this.label} with"
        )
    summary.comparison = compare(tables[0], tables[1])
    summary.compared = periods


async def _budget(summary: Summary, client: UsageClient, now: int, names: bool) -> None:
    summary.budget = await read_budget(client, now, names=names)


async def _tally(
    summary: Summary,
    client: UsageClient,
    spec: EndpointSpec,
    progress: Progress,
    zone: Zone | None = None,
    costs_range: tuple[int, int | None] | None = None,
) -> None:
    group_by = _SUMMARY_GROUPS.get(spec.name)
    if group_by is None and "model" in spec.enums["group_by"]:
        group_by = ["model"]
    costs = spec.name == "costs"
    start, end = (summary.since, summary.until)
    if costs and costs_range is not None:
        start, end = costs_range
    local = zone is not None and not costs
    pages = client.endpoint(spec.name).pages(
        start_time=start,
        end_time=end,
        bucket_width="1h" if local else "1d",
        group_by=group_by,
    )
    latest: dict[str, int] = {}
    async with contextlib.aclosing(pages):
        buckets: AsyncIterator[Bucket[Any]] = progress.count(pages)
        if zone is not None and local:
            buckets = local_days(buckets, zone)
        async for bucket in buckets:
            if costs:
                summary.cover_costs(bucket.start_time, bucket.end_time)
            else:
                summary.cover(bucket.start_time, bucket.end_time)
            level: dict[str, int] = {}
            for row in _own_rows(spec, bucket):
                if costs:
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
        type=parse_since,
        default=parse_since("30d"),
        metavar="TIME",
        help="first UTC day (default 30d; a time within a day is floored to its midnight); "
        "or a period (month, last-month, week, ...) that sets --until too",
    )
    parser.add_argument(
        "--until",
        type=parse_time,
        metavar="TIME",
        help="end, exclusive, floored to UTC midnight (default: now, the current day included)",
    )
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="sum usage in the days of this IANA zone (Europe/Berlin), from 1h buckets; Costs "
        "stay in UTC days (the API has no others), and the output says so",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="Costs of this period against the previous one of the same length (a period "
        "name: the one before; month: the same days of last month), with the change",
    )
    parser.add_argument(
        "--by",
        metavar="DIMS",
        help="with --compare, what to compare by, comma-separated: project, line_item, "
        "model, kind, api_key (default project,model)",
    )
    parser.add_argument(
        "--budget",
        action="store_true",
        help="add this month's spend against the spend limits and alerts, with a projection "
        "(as usage-async budget; 4 + 2 x projects more requests)",
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


def _floor_day(when: int, zone: Zone | None) -> int:
    if zone is None:
        return floor_to_width(when, "1d")
    return local_midnight(when, zone)


def _day_range(
    args: argparse.Namespace, now: int, zone: Zone | None = None
) -> tuple[int, int | None, list[str]]:
    """``--since``/``--until`` as UTC midnights (with ``zone``, that zone's midnights), with a
    note for each time that was floored: the API's daily buckets start at UTC midnight, so
    that is what gets summed."""
    since, until = resolve_range(args.since, args.until, "1d", now, tz=zone)
    notes = []
    day = "a UTC day" if zone is None else f"a day in {zone_name(zone)}"
    floored_since = _floor_day(since, zone)
    if floored_since != since:
        notes.append(
            f"--since {iso(since)} is within {day}: summing from {iso(floored_since)}, "
            "the start of its bucket"
        )
    floored_until = None if until is None else _floor_day(until, zone)
    if until is not None and floored_until != until:
        notes.append(
            f"--until {iso(until)} is within {day}: summing to {iso(floored_until or 0)}, "
            "the end of the last whole day before it"
        )
        if floored_until is not None and floored_until <= floored_since:
            raise CommandError(
                f"--since {iso(since)} and --until {iso(until)} are within one UTC day: "
                "daily buckets cannot sum less than a day; use an endpoint command with "
                "--bucket-width 1h"
            )
    return floored_since, floored_until, notes


def _utc_date_midnight(when: int, zone: Zone) -> int:
    """The UTC midnight of the date ``when`` has in ``zone``: Costs' day of that local day."""
    day = _dt.datetime.fromtimestamp(when, zone).date()
    return int(_dt.datetime(day.year, day.month, day.day, tzinfo=_dt.timezone.utc).timestamp())


async def _run_summary(args: argparse.Namespace) -> int:
    out = output_spec(args)
    zone = parse_zone(args.tz)
    dims = compare_dimensions(args.by, args.compare)
    async with open_client(args) as api:
        client, now = api.client, api.now()
        since, until, notes = _day_range(args, now, zone)
        for note in notes:
            sys.stderr.write(f"{PROG} summary: note: {note}\n")
        summary = Summary(since, until, zone=None if zone is None else zone_name(zone))
        costs_range = None
        if zone is not None:  # Costs: the UTC days of the same dates
            costs_range = (
                _utc_date_midnight(since, zone),
                None if until is None else _utc_date_midnight(until, zone),
            )
        periods = compare_periods(args, now) if args.compare else None
        if periods is not None and "api_key" in dims:
            first = periods[1].start_time
            if first < API_KEY_GROUPING_SINCE:
                raise CommandError(
                    f"--by api_key: the previous period starts {iso(first)}, and the API "
                    f"groups Costs by api_key_id only from {iso(API_KEY_GROUPING_SINCE)} on; "
                    "compare a later period, or leave api_key out of --by"
                )
        fetched: dict[int, list[Any]] = {}  # 0: this period's Costs, 1: the previous one's
        with Progress("summary", endpoints=len(ENDPOINTS)) as progress:
            work: list[Awaitable[None]] = [
                _tally(summary, client, spec, progress, zone, costs_range)
                for spec in ENDPOINTS.values()
            ]
            if periods is not None:
                for index, p in enumerate(periods):
                    work.append(_spend_of(client, p, dims, now, fetched, index))
            if args.budget:
                work.append(_budget(summary, client, now, args.names))
            # The directory is read beside the endpoints, and named at the end.
            async with directory_walk(client, args.names, progress.warn, progress) as walk:
                try:
                    await _gather(*work)
                except InvalidParameterError as exc:
                    raise CommandError(option_message(ENDPOINTS["costs"], exc)) from None
                directory = await walk.get() if walk is not None else None
                if directory is not None:
                    summary.name_projects(directory)
        if periods is not None:
            _compare(summary, dims, periods, (fetched[0], fetched[1]), directory)
    with Target(out) as target:
        if out.format == "json":
            target.write(json.dumps(summary.to_json(), indent=2, default=json_default) + "\n")
        elif out.format == "table":
            target.write(_summary_text(summary, args.top, now))
        else:
            await write_rows(target, summary.columns(), summary.rows())
    return EXIT_OK


def _covered(summary: Summary, now: int) -> str:
    """The header: the UTC days the API returned buckets for (with ``--tz``: usage's days in
    that zone, then Costs' UTC days)."""
    start, end = summary.first_start, summary.last_end
    if start is None or end is None:
        until = "now" if summary.until is None else iso(summary.until)
        return f"No buckets from {iso(summary.since)} to {until}"
    days = round((end - start) / 86400)
    plural = "s" if days != 1 else ""
    if summary.zone is None:
        text = f"Usage and costs of {days} UTC day{plural}, {iso(start)} to {iso(end)}"
    else:
        text = (
            f"Usage of {days} day{plural} in {summary.zone}, {summary.local(start)} to "
            f"{summary.local(end)}"
        )
    if end > now:
        text += f" (the last day is still filling: as of {iso(now)})"
    if summary.zone is not None:
        first, last = summary.costs_range()
        if first is None or last is None:
            text += "\nCosts: no buckets (Costs are reported only in UTC days)"
        else:
            n = (last - first) // 86400
            text += (
                f"\nCosts of {n} UTC day{'s' if n != 1 else ''}, {iso(first)} to {iso(last)}: "
                "Costs are reported only in UTC days, never spread over local days"
            )
    return text


def _comparison_text(summary: Summary, top: int) -> str:
    comparison, periods = summary.comparison, summary.compared
    if comparison is None or periods is None:
        return ""
    this, before = periods
    names = {d: i for i, d in enumerate(comparison.by)}
    head = list(comparison.by)
    if "project" in names and summary.project_names is not None:
        head.insert(names["project"] + 1, "project_name")
    head += ["currency", "this", "previous", "change", "change %"]
    ranked = _ranked_changes(comparison)
    shown = ranked if top == 0 or len(ranked) <= top + 1 else ranked[:top]
    lines = []
    for change in shown:
        cells = ["(none)" if v is None else v for v in change.key]
        if "project" in names and summary.project_names is not None:
            cells.insert(names["project"] + 1, _project_of(comparison, change) or "")
        lines.append([*cells, *_change_cells(change)])
    blank = [""] * (len(head) - 5)
    if len(shown) < len(ranked):
        rest = ranked[len(shown) :]
        this_sum = sum((c.this for c in rest), Decimal(0))
        before_sum = sum((c.previous for c in rest), Decimal(0))
        label = [f"({len(rest)} more)", *blank[1:]]
        lines.append(
            [*label, "", money(this_sum), money(before_sum), money(this_sum - before_sum), ""]
        )
    for total in comparison.totals:
        lines.append(["total", *blank[1:], *_change_cells(total)])
    title = f"Cost compared: {this.label} against {before.label}"
    return text_table(title, head, lines)


def _change_cells(change: Any) -> list[str]:
    percent = change.change_percent
    return [
        change.currency,
        money(change.this),
        money(change.previous),
        money(change.change),
        "" if percent is None else f"{percent:+}",
    ]


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
    text += _comparison_text(summary, top)
    days = "" if summary.zone is None else f" (days in {summary.zone})"
    text += text_table(f"Tokens by model{days}", ["model", *_TOKEN_COUNTERS], lines)
    lines = [[name, grouped(count), counter] for name, counter, count in summary.requests()]
    text += text_table("Requests by endpoint", ["endpoint", "count", "counter"], lines)
    lines = [[name, grouped(value), gauge] for name, gauge, value in summary.storage()]
    text += text_table(
        "Storage at the end of the last bucket (a level, not a count)",
        ["endpoint", "bytes", "gauge"],
        lines,
    )
    if summary.budget is not None:
        text += budget_text(summary.budget, budget_rows(summary.budget))
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
        epilog=f"{TIME_HELP}\n{PERIOD_HELP}\n\n{FORMAT_HELP}",
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
