"""``usage-async budget``: this month's spend against the organization's and each project's
spend limit and alerts, with a projection to the month's end (``usage_async.budgets``)."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import attrs

from ..budgets import (
    ORGANIZATION,
    BudgetLine,
    BudgetReport,
    budget_report,
    load_budget_settings,
    percent_of,
)
from ..periods import period
from ._common import (
    EXIT_OK,
    PROG,
    Command,
    CommandError,
    add_client_arguments,
    add_names_argument,
    iso,
    open_client,
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
    from .. import UsageClient
    from .._rows import Row

__all__ = ["BUDGET_COLUMNS", "COMMANDS", "EXIT_ABOVE", "Budget", "budget_rows", "read_budget"]

EXIT_ABOVE = 3
"""``budget --fail-above``: a limit is used beyond the percentage (the rows are written)."""

BUDGET_COLUMNS = (
    "month",
    "scope",
    "project_id",
    "project_name",
    "what",
    "threshold",
    "spent",
    "percent_used",
    "reached",
    "projection",
    "projected_percent",
    "projected_to_reach",
)
"""The rows of ``budget`` (and of ``summary --budget``): one ``limit`` row per line (empty
``threshold``: no limit), then one ``alert`` row per spend alert. ``spent`` is Costs, exact;
``projection``, ``projected_percent`` and ``projected_to_reach`` are a projection."""

REQUESTS_HELP = (
    "Requests: 1 to Costs (the month by project, one page), the project list (1 per 100 "
    "projects), then the organization's limit and alerts (2) and each active project's (2 "
    "each), one after another: 4 + 2 x projects with up to 100 projects."
)


@attrs.frozen
class Budget:
    """The month's :class:`~usage_async.budgets.BudgetReport` and the projects' names
    (project id -> name; None: ``--no-names``)."""

    report: BudgetReport
    names: dict[str, str | None] | None


async def read_budget(client: UsageClient, now: int, *, names: bool = True) -> Budget:
    """This UTC month's budget as of ``now``: 1 Costs request, the project list, and the
    limits and alerts (2 + 2 per project: :func:`~usage_async.budgets.load_budget_settings`)."""
    month = period("month", now=now)
    costs = await client.costs.collect(
        start_time=month.start_time,
        end_time=month.end_time if month.end_time <= now else None,
        group_by=["project_id"],
    )
    projects = await client.projects.collect()
    settings = await load_budget_settings(client, [p.id for p in projects])
    report = budget_report(costs, settings, now=now)
    named = {p.id: p.name for p in projects} if names else None
    return Budget(report, named)


def budget_rows(budget: Budget) -> list[Row]:
    """The rows of :data:`BUDGET_COLUMNS` (``project_name`` only with names)."""
    report = budget.report
    month = report.month.start.strftime("%Y-%m")
    out: list[Row] = []
    for line in report.lines:
        base: Row = {"month": month, "scope": line.scope, "project_id": line.project_id}
        if budget.names is not None:
            name = budget.names.get(line.project_id or "") if line.project_id else None
            base["project_name"] = name
        projection = line.projection.amount if line.projection is not None else None
        out.append(
            {
                **base,
                "what": "limit",
                "threshold": line.limit.threshold if line.limit is not None else None,
                "spent": line.spent,
                "percent_used": line.percent_used,
                "reached": line.over_limit if line.limit is not None else None,
                "projection": projection,
                "projected_percent": line.projected_percent,
                "projected_to_reach": (
                    projection >= line.limit.threshold
                    if projection is not None and line.limit is not None
                    else None
                ),
            }
        )
        for status in line.alerts:
            threshold = status.alert.threshold
            out.append(
                {
                    **base,
                    "what": "alert",
                    "threshold": threshold,
                    "spent": line.spent,
                    "percent_used": percent_of(line.spent, threshold),
                    "reached": status.reached,
                    "projection": projection,
                    "projected_percent": (
                        percent_of(projection, threshold) if projection is not None else None
                    ),
                    "projected_to_reach": status.projected_to_reach,
                }
            )
    return out


def budget_columns(names: bool) -> tuple[str, ...]:
    """:data:`BUDGET_COLUMNS`, without ``project_name`` for ``--no-names``."""
    return BUDGET_COLUMNS if names else tuple(c for c in BUDGET_COLUMNS if c != "project_name")


def budget_heading(report: BudgetReport) -> str:
    """What the budget covers, and what the projection is: one paragraph."""
    text = (
        f"Budget of {report.month.start:%Y-%m} (the UTC month): Costs spend to date as of "
        f"{iso(report.as_of)}, the current UTC day included, against the monthly spend limits "
        "and alerts."
    )
    if report.spent_through is None:
        text += " No Costs this month yet."
    if report.complete_days:
        text += (
            f" The projection is an estimate of the month's spend, linear over its "
            f"{report.complete_days} complete UTC day{'s' if report.complete_days != 1 else ''}"
            " (Costs can arrive a day or two late); not Costs data."
        )
    else:
        text += " No projection: no day of the month is complete yet."
    return text


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return money(value)
    return str(value)


def budget_text(budget: Budget, rows: Sequence[Row]) -> str:
    """The budget as a titled text table (money rounded to cents; csv and json are exact)."""
    head = ["scope", "project_id", *(["project_name"] if budget.names is not None else [])]
    head += ["what", "threshold", "spent", "used %", "reached", "projection", "projected %"]
    lines = []
    for row in rows:
        cells = [row["scope"], row["project_id"] or ""]
        if budget.names is not None:
            cells.append(row.get("project_name") or "")
        threshold = _cell(row["threshold"]) if row["threshold"] is not None else "(no limit)"
        cells += [
            row["what"],
            threshold,
            _cell(row["spent"]),
            _cell(row["percent_used"]),
            _cell(row["reached"]),
            _cell(row["projection"]),
            _cell(row["projected_percent"]),
        ]
        lines.append(cells)
    title = budget_heading(budget.report)
    return title + "\n\n" + text_table("Spend limits and alerts (usd)", head, lines)


def _percent_arg(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().removesuffix("%"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"expected a percentage such as 80 or 95.5, got {text!r}"
        ) from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"must be a percentage of 0 or more, got {text!r}")
    return value


def above_message(
    lines: Sequence[BudgetLine], percent: Decimal, names: dict[str, str | None] | None = None
) -> str:
    """One line naming each limit used beyond ``percent`` (and each project's name)."""
    parts = []
    for line in lines:
        assert line.limit is not None  # above() only returns lines with a limit
        if line.scope == ORGANIZATION:
            who = "the organization's"
        else:
            name = (names or {}).get(line.project_id or "")
            who = f"project {line.project_id}" + (f" ({name})'s" if name else "'s")
        parts.append(
            f"{who} limit of {money(line.limit.threshold)} usd is {line.percent_used}% used "
            f"({money(line.spent)} spent)"
        )
    return f"--fail-above {percent}: " + "; ".join(parts)


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fail-above",
        type=_percent_arg,
        metavar="PERCENT",
        help=f"exit {EXIT_ABOVE} (after writing the rows) when any spend limit is used beyond "
        "PERCENT (month-to-date spend, not the projection), naming it: for cron alerting",
    )
    add_names_argument(
        parser, "project ids only: no project_name column (the project list is still read)"
    )
    add_output_arguments(parser, append=False)
    add_client_arguments(parser)


async def _run(args: argparse.Namespace) -> int:
    out = output_spec(args)
    columns = budget_columns(args.names)
    project(columns, out.fields)  # a bad --fields is refused before any request
    async with open_client(args) as api:
        budget = await read_budget(api.client, api.now(), names=args.names)
    found = budget_rows(budget)
    with Target(out) as target:
        if out.format == "table" and out.fields is None:
            target.write(budget_text(budget, found))
        elif out.format == "json" and out.fields is None:
            body = {
                "heading": budget_heading(budget.report),
                "month": f"{budget.report.month.start:%Y-%m}",
                "as_of": iso(budget.report.as_of),
                "complete_days": budget.report.complete_days,
                "rows": found,
            }
            target.write(json.dumps(body, indent=2, default=json_default) + "\n")
        else:
            await write_rows(target, columns, found)
    threshold: Decimal | None = args.fail_above
    if threshold is not None:
        above = budget.report.above(threshold)
        if above:
            raise CommandError(above_message(above, threshold, budget.names), EXIT_ABOVE)
    return EXIT_OK


COMMANDS = (
    Command(
        name="budget",
        help="this month's spend against the spend limits and alerts, with a projection",
        description="The organization's and each project's monthly spend limit and spend "
        "alerts (exact, from the API's cents), this UTC month's spend to date from Costs, the "
        "percentage used, and a projection to the month's end, labelled as one.",
        epilog=f"{REQUESTS_HELP}\n\nExit {EXIT_ABOVE} with --fail-above PERCENT when a limit is "
        f"used beyond it.\n\n{FORMAT_HELP}",
        add_arguments=_arguments,
        run=_run,
        examples=(
            f"{PROG} budget --fake",
            f"{PROG} budget --fake --format csv --no-names",
            f"{PROG} budget --fail-above 80 -o budget.json",
        ),
    ),
)
