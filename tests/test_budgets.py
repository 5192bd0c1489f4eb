"""Budgets: month-to-date Costs against limits and alerts, percent used, and a projection to
the month's end that is typed as one and never added to what was spent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

import usage_async as ua
from usage_async import Amount, Bucket, CostsResult, InvalidParameterError
from usage_async.budgets import (
    BudgetSettings,
    Projection,
    budget_report,
    load_budget_settings,
)
from usage_async.models import (
    OrganizationSpendAlert,
    OrganizationSpendLimit,
    ProjectSpendAlert,
    ProjectSpendLimit,
    SpendAlertNotificationChannel,
    SpendLimitEnforcement,
)
from usage_async.testing import FakeUsageServer

DAY = 86400
JAN_1 = 1_735_689_600  # 2025-01-01T00:00Z
NOW = JAN_1 + 14 * DAY + 45_000  # 2025-01-15T12:30Z: 14 complete days of 31
ENFORCING = SpendLimitEnforcement(status="enforcing")
EMAIL = SpendAlertNotificationChannel(type="email", recipients=["finance@example.com"])


def org_limit(cents: int) -> OrganizationSpendLimit:
    return OrganizationSpendLimit(
        threshold_amount=cents, currency="USD", interval="month", enforcement=ENFORCING
    )


def project_limit(cents: int) -> ProjectSpendLimit:
    return ProjectSpendLimit(
        threshold_amount=cents, currency="USD", interval="month", enforcement=ENFORCING
    )


def org_alert(cents: int) -> OrganizationSpendAlert:
    return OrganizationSpendAlert(
        id=f"alert_{cents}",
        threshold_amount=cents,
        currency="USD",
        interval="month",
        notification_channel=EMAIL,
    )


def project_alert(cents: int) -> ProjectSpendAlert:
    return ProjectSpendAlert(
        id=f"alert_p{cents}",
        threshold_amount=cents,
        currency="USD",
        interval="month",
        notification_channel=EMAIL,
    )


def days(count: int, per_day: dict[str, str], currency: str = "usd") -> list[Bucket[Any]]:
    """``count`` days of January, each with ``per_day`` (project -> amount)."""
    return [
        Bucket(
            JAN_1 + i * DAY,
            JAN_1 + (i + 1) * DAY,
            [
                CostsResult(amount=Amount(Decimal(v), currency), project_id=p)
                for p, v in per_day.items()
            ],
        )
        for i in range(count)
    ]


def test_spend_against_a_limit_with_percent_used_and_a_labelled_projection() -> None:
    # 15 buckets: 14 complete days and today's partial one (3.00 + 1.00 a day so far).
    buckets = days(15, {"proj_a": "3.00", "proj_b": "1.00"})
    settings = BudgetSettings(
        organization_limit=org_limit(10_000),  # $100.00
        project_limits={"proj_a": project_limit(5_000), "proj_b": None},
        organization_alerts=(org_alert(5_000), org_alert(15_000)),
        project_alerts={"proj_b": (project_alert(1_000),)},
    )
    report = budget_report(buckets, settings, now=NOW)
    assert (report.month.start, report.month.end) == (dt.date(2025, 1, 1), dt.date(2025, 2, 1))
    assert report.complete_days == 14
    assert report.spent_through == JAN_1 + 15 * DAY
    org, a, b = report.lines
    assert (org.scope, org.project_id, org.spent) == ("organization", None, Decimal("60.00"))
    assert org.percent_used == Decimal("60.00")
    assert org.projection == Projection(
        amount=Decimal("124.00"),  # 56.00 over 14 complete days, times 31
        basis=Decimal("56.00"),
        basis_days=14,
        month_days=31,
    )
    assert org.projected_percent == Decimal("124.00")
    assert [(s.reached, s.projected_to_reach) for s in org.alerts] == [(True, True), (False, False)]
    assert (a.project_id, a.spent, a.percent_used) == ("proj_a", Decimal("45.00"), Decimal("90.00"))
    assert a.projection is not None
    assert a.projection.amount == Decimal("93.00")
    assert (b.project_id, b.limit, b.percent_used) == ("proj_b", None, None)
    assert b.alerts[0].reached  # 15.00 spent against a 10.00 alert
    assert report.above(80) == (a,)
    assert report.above("90") == ()
    assert not org.over_limit


def test_nothing_projected_is_added_to_what_was_spent() -> None:
    report = budget_report(days(15, {"proj_a": "1.00"}), BudgetSettings(), now=NOW)
    (org,) = report.lines
    assert org.spent == Decimal("15.00")
    assert org.projection is not None
    assert org.projection.amount == Decimal("31.00")
    assert org.limit is None
    assert org.percent_used is None
    assert report.above(0) == ()


def test_before_the_first_day_is_over_there_is_no_projection() -> None:
    report = budget_report(days(1, {"proj_a": "1"}), BudgetSettings(), now=JAN_1 + 3600)
    assert report.lines[0].projection is None
    assert report.lines[0].projected_percent is None
    assert report.complete_days == 0


def test_a_limit_of_zero_has_no_percentage_but_is_over_once_anything_is_spent() -> None:
    settings = BudgetSettings(organization_limit=org_limit(0))
    (line,) = budget_report(days(2, {"p": "0.01"}), settings, now=NOW).lines
    assert line.percent_used is None
    assert line.over_limit


def test_buckets_outside_the_month_and_other_currencies_are_refused() -> None:
    december = [Bucket(JAN_1 - DAY, JAN_1, [])]
    with pytest.raises(InvalidParameterError, match="not inside the month 2025-01-01"):
        budget_report(december, BudgetSettings(), now=NOW)
    with pytest.raises(InvalidParameterError, match="'eur'"):
        budget_report(days(1, {"p": "1"}, currency="eur"), BudgetSettings(), now=NOW)


def test_project_limits_need_costs_grouped_by_project() -> None:
    ungrouped = [Bucket(JAN_1, JAN_1 + DAY, [CostsResult(amount=Amount(Decimal(1), "usd"))])]
    settings = BudgetSettings(project_limits={"proj_a": project_limit(100)})
    with pytest.raises(InvalidParameterError, match=r"group_by=\['project_id'\]"):
        budget_report(ungrouped, settings, now=NOW)


async def test_budgets_of_the_simulated_organization_read_through_a_client() -> None:
    now = 1_736_944_200  # 2025-01-15T12:30Z
    async with FakeUsageServer(seed=0, now=now) as srv:
        policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=policy) as client:
            projects = srv.organization.projects
            settings = await load_budget_settings(client, projects)
            month = await client.costs.collect(
                start_time=JAN_1, end_time=JAN_1 + 31 * DAY, group_by=["project_id"]
            )
            whole = await client.costs.collect(start_time=JAN_1, end_time=JAN_1 + 31 * DAY)
            directory = await client.directory()
    report = budget_report(month, settings, now=now, directory=directory)
    org = report.lines[0]
    assert org.limit is not None
    configured = srv.spend.organization_limit
    assert configured is not None
    assert org.limit.threshold_amount == configured.threshold_amount
    total = sum(
        (r.amount.value for b in whole for r in b.results if r.amount is not None),
        Decimal(0),
    )
    assert org.spent == total  # exactly what Costs reported, without a project split
    assert settings.project_limits[projects[-1]] is None  # a 404 read as no limit
    lined = {line.project_id for line in report.lines[1:]}
    assert lined == set(srv.spend.project_limits) | set(srv.spend.project_alerts)
    assert all(line.name and "(unknown)" not in line.name for line in report.lines[1:])
    assert sum(line.spent for line in report.lines[1:]) <= org.spent
