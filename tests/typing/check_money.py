"""Checked by mypy (never run): the money API's values are typed, money as Decimal, and what
is an estimate or a projection is a type of its own.

Each `# type: ignore[...]` line must be an error for mypy (`warn_unused_ignores`)."""

from __future__ import annotations

from decimal import Decimal

import usage_async as ua
from usage_async.reconcile import reconcile


async def accepted(client: ua.UsageClient) -> None:
    limit: ua.OrganizationSpendLimit = await client.organization_spend_limit()
    dollars: Decimal = limit.threshold
    cents: int = limit.threshold_amount
    project: ua.ProjectSpendLimit = await client.project_spend_limit("proj_1")
    alerts: list[ua.OrganizationSpendAlert] = await client.spend_alerts.collect()
    mine: list[ua.ProjectSpendAlert] = await client.project_spend_alerts("proj_1").collect()
    del dollars, cents, project, alerts, mine

    item: ua.LineItem = ua.parse_line_item("gpt-4o, input")
    model: str | None = item.model
    costs = await client.costs.collect(start_time=0, group_by=["line_item"])
    table: ua.SpendTable = ua.group_spend(costs, by=("model", "kind"))
    amount: Decimal = table.rows[0].amount
    month: ua.Period = ua.period("month", tz="Europe/Berlin")
    change: Decimal | None = ua.compare(table, table).changes[0].change_percent
    hours = await client.completions.collect(start_time=0, bucket_width="1h")
    days: list[ua.LocalDayBucket] = ua.rebucket(hours, "UTC")
    settings: ua.BudgetSettings = await ua.load_budget_settings(client, ["proj_1"])
    report: ua.BudgetReport = ua.budget_report(costs, settings, now=0)
    projected: ua.Projection | None = report.lines[0].projection
    result: ua.ReconcileReport = reconcile([], costs, prices=ua.load_prices())
    estimate: ua.Estimate | None = result.rows[0].kinds[0].estimate
    del model, amount, month, change, days, projected, estimate


def refused(report: ua.BudgetReport, result: ua.ReconcileReport) -> None:
    spent: Decimal = report.lines[0].projection  # type: ignore[assignment]
    total: Decimal = result.rows[0].kinds[0].estimate  # type: ignore[assignment]
    float_sum: float = report.lines[0].spent  # type: ignore[assignment]
    del spent, total, float_sum
