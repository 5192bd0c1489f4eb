"""Budgets: month-to-date spend against the spend limits and alerts, with a projection to the
month's end that says it is one.

:func:`budget_report` is pure: this month's Costs buckets (grouped by ``project_id``), the
limits and alerts (:class:`BudgetSettings`, which :func:`load_budget_settings` reads through a
client), and the time ``now``. For the organization and each project with a limit or an
alert it gives a :class:`BudgetLine`:

* ``spent``: the month-to-date spend Costs reported, summed exactly (the Costs endpoint is the
  financial source of truth, API-NOTES #8); months are UTC calendar months, as Costs days are
  UTC days (the limits' month is assumed to be the same: the spec does not say);
* ``percent_used``: ``spent`` against the limit, rounded to 0.01 (None without a limit, or a
  limit of zero);
* ``projection``: a :class:`Projection`, an estimate of the month's spend, linear over the
  month's complete UTC days: the spend of the days before today, divided by their number,
  times the days of the month. Today's partial day is left out of the rate, and so is nothing
  else: Costs can arrive 24 to 48 hours late (API-NOTES #5), so a projection early in a day
  may run low. None before the first day is complete (there is nothing to project from);
* each alert, reached or not, and whether the projection reaches it.

Every figure derived from the projection is a :class:`Projection` or named ``projected_*``;
nothing projected is ever added to ``spent``.
"""

from __future__ import annotations

import calendar
import datetime as _dt
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import attrs

from .errors import InvalidParameterError, NotFoundError
from .models import (
    Bucket,
    CostsResult,
    OrganizationSpendAlert,
    OrganizationSpendLimit,
    ProjectSpendAlert,
    ProjectSpendLimit,
    SpendAlert,
    SpendLimit,
)
from .periods import Period, period, period_between

if TYPE_CHECKING:
    from .client import UsageClient
    from .directory import Directory

__all__ = [
    "ORGANIZATION",
    "PROJECT",
    "AlertStatus",
    "BudgetLine",
    "BudgetReport",
    "BudgetSettings",
    "Projection",
    "budget_report",
    "load_budget_settings",
    "percent_of",
]

ORGANIZATION = "organization"
PROJECT = "project"
DAY = 86400
_CENT = Decimal("0.01")


@attrs.frozen
class BudgetSettings:
    """The spend limits and alerts of an organization and its projects (None: no limit)."""

    organization_limit: OrganizationSpendLimit | None = None
    project_limits: Mapping[str, ProjectSpendLimit | None] = attrs.field(factory=dict)
    organization_alerts: tuple[OrganizationSpendAlert, ...] = ()
    project_alerts: Mapping[str, tuple[ProjectSpendAlert, ...]] = attrs.field(factory=dict)


@attrs.frozen
class Projection:
    """A projection (an estimate, not Costs data) of the month's spend: ``amount``, rounded to
    the cent, is ``basis`` (the spend of ``basis_days`` complete UTC days) times
    ``month_days / basis_days``."""

    amount: Decimal
    basis: Decimal
    basis_days: int
    month_days: int
    method: str = "linear over the month's complete UTC days"


@attrs.frozen
class AlertStatus:
    """One spend alert: whether ``spent`` has reached it, and whether the projection does
    (None without a projection)."""

    alert: SpendAlert
    reached: bool
    projected_to_reach: bool | None


@attrs.frozen
class BudgetLine:
    """The organization's or one project's month: spend, limit, alerts, projection.

    ``spent`` is exact Costs data; ``projection``, ``projected_percent`` and each alert's
    ``projected_to_reach`` are projections. ``name`` is the directory's name of the project.
    """

    scope: str
    project_id: str | None
    name: str | None
    spent: Decimal
    limit: SpendLimit | None
    alerts: tuple[AlertStatus, ...]
    projection: Projection | None
    currency: str = "usd"

    @property
    def percent_used(self) -> Decimal | None:
        """``spent`` as a percentage of the limit (0.01), or None without a (non-zero) limit."""
        return percent_of(self.spent, self._threshold)

    @property
    def projected_percent(self) -> Decimal | None:
        """The projection as a percentage of the limit (a projection), or None."""
        if self.projection is None:
            return None
        return percent_of(self.projection.amount, self._threshold)

    @property
    def _threshold(self) -> Decimal | None:
        return self.limit.threshold if self.limit is not None else None

    @property
    def over_limit(self) -> bool:
        """Whether ``spent`` has reached the limit."""
        return self.limit is not None and self.spent >= self.limit.threshold


def percent_of(amount: Decimal, threshold: Decimal | None) -> Decimal | None:
    """``amount`` as a percentage of ``threshold``, to 0.01 (half-even), or None without a
    (non-zero) threshold."""
    if not threshold:
        return None
    return (amount * 100 / threshold).quantize(_CENT, rounding=ROUND_HALF_EVEN)


@attrs.frozen
class BudgetReport:
    """The month's budget lines, the organization's first, then projects by id.

    ``month`` is the whole UTC calendar month of ``as_of``.
    ``spent_through`` is the end of the last Costs bucket summed (None without one);
    ``complete_days`` how many of the month's UTC days were over at ``as_of``.
    """

    month: Period
    as_of: int
    spent_through: int | None
    complete_days: int
    lines: tuple[BudgetLine, ...]

    def above(self, percent: Decimal | float | int | str) -> tuple[BudgetLine, ...]:
        """The lines whose limit is used beyond ``percent`` (``spent``, not the projection):
        what ``usage-async budget --fail-above PERCENT`` fails on."""
        threshold = Decimal(str(percent))
        return tuple(
            line
            for line in self.lines
            if line.percent_used is not None and line.percent_used > threshold
        )


def _month_sums(
    buckets: Iterable[Bucket[Any]], month: Period, today_start: int
) -> tuple[Decimal, dict[str, Decimal], Decimal, dict[str, Decimal], set[int], int | None, bool]:
    total = basis = Decimal(0)
    by_project: dict[str, Decimal] = {}
    basis_by_project: dict[str, Decimal] = {}
    basis_days: set[int] = set()
    through: int | None = None
    grouped = False
    for bucket in buckets:
        if bucket.start_time < month.start_time or bucket.end_time > month.end_time:
            raise InvalidParameterError(
                f"buckets: a Costs bucket from {_iso(bucket.start_time)} to "
                f"{_iso(bucket.end_time)} is not inside the month {month.label}",
                param="buckets",
            )
        through = bucket.end_time if through is None else max(through, bucket.end_time)
        complete = bucket.end_time <= today_start
        if complete:
            basis_days.add(bucket.start_time)
        for result in bucket.results:
            if not isinstance(result, CostsResult) or result.amount is None:
                continue
            if result.amount.currency.lower() != "usd":
                raise InvalidParameterError(
                    f"buckets: spend in {result.amount.currency!r} cannot be compared with "
                    "limits in USD",
                    param="buckets",
                )
            value = result.amount.value
            total += value
            if complete:
                basis += value
            project = result.project_id
            if project is not None:
                grouped = True
                by_project[project] = by_project.get(project, Decimal(0)) + value
                if complete:
                    basis_by_project[project] = basis_by_project.get(project, Decimal(0)) + value
    return total, by_project, basis, basis_by_project, basis_days, through, grouped


def _projection(basis: Decimal, days: int, month_days: int) -> Projection | None:
    if days <= 0:
        return None
    amount = (basis * month_days / days).quantize(_CENT, rounding=ROUND_HALF_EVEN)
    return Projection(amount=amount, basis=basis, basis_days=days, month_days=month_days)


def _alerts(
    alerts: Sequence[SpendAlert], spent: Decimal, projection: Projection | None
) -> tuple[AlertStatus, ...]:
    return tuple(
        AlertStatus(
            alert=alert,
            reached=spent >= alert.threshold,
            projected_to_reach=None if projection is None else projection.amount >= alert.threshold,
        )
        for alert in sorted(alerts, key=lambda a: (a.threshold_amount, a.id))
    )


def budget_report(
    buckets: Iterable[Bucket[Any]],
    settings: BudgetSettings,
    *,
    now: int | _dt.datetime,
    directory: Directory | None = None,
) -> BudgetReport:
    """This month's spend (the UTC month of ``now``) against ``settings`` (see the module).

    ``buckets`` are this month's Costs buckets, grouped by ``project_id`` when any project has
    a limit or alert. Raises :class:`InvalidParameterError` for a bucket outside the month,
    spend in a currency other than USD, or project limits with Costs not grouped by project.
    """
    as_of = int(now.timestamp()) if isinstance(now, _dt.datetime) else now
    first = period("month", now=as_of).start
    month_days = calendar.monthrange(first.year, first.month)[1]
    whole = period_between(first, first + _dt.timedelta(days=month_days))
    month = attrs.evolve(whole, name="month", unit="month")
    today_start = as_of - as_of % DAY
    total, by_project, basis, basis_by_project, days, through, grouped = _month_sums(
        buckets, month, today_start
    )
    projects = sorted(
        {p for p, lim in settings.project_limits.items() if lim is not None}
        | {p for p, alerts in settings.project_alerts.items() if alerts}
    )
    if projects and total and not grouped:
        raise InvalidParameterError(
            "buckets: the Costs buckets carry no project_id, so projects cannot be compared "
            "with their limits: fetch them with group_by=['project_id']",
            param="buckets",
        )
    org_projection = _projection(basis, len(days), month_days)
    lines = [
        BudgetLine(
            scope=ORGANIZATION,
            project_id=None,
            name=None,
            spent=total,
            limit=settings.organization_limit,
            alerts=_alerts(settings.organization_alerts, total, org_projection),
            projection=org_projection,
        )
    ]
    for project_id in projects:
        spent = by_project.get(project_id, Decimal(0))
        projection = _projection(
            basis_by_project.get(project_id, Decimal(0)), len(days), month_days
        )
        lines.append(
            BudgetLine(
                scope=PROJECT,
                project_id=project_id,
                name=directory.project(project_id).label if directory is not None else None,
                spent=spent,
                limit=settings.project_limits.get(project_id),
                alerts=_alerts(settings.project_alerts.get(project_id, ()), spent, projection),
                projection=projection,
            )
        )
    return BudgetReport(
        month=month,
        as_of=as_of,
        spent_through=through,
        complete_days=(min(today_start, month.end_time) - month.start_time) // DAY,
        lines=tuple(lines),
    )


def _iso(seconds: int) -> str:
    return _dt.datetime.fromtimestamp(seconds, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")


async def load_budget_settings(client: UsageClient, project_ids: Iterable[str]) -> BudgetSettings:
    """Read the organization's limit and alerts and those of each of ``project_ids``.

    A 404 on a limit is read as "no limit" (the simulator answers so for a project without
    one; the spec documents only the 200 answer); any other failure is raised. The requests
    go one after another (``2 + 2 x projects``): the admin endpoints allow a few a minute
    (API-NOTES #4), so running them together would only wait in the client's pace.
    """
    try:
        org_limit: OrganizationSpendLimit | None = await client.organization_spend_limit()
    except NotFoundError:
        org_limit = None
    org_alerts = tuple(await client.spend_alerts.collect())
    limits: dict[str, ProjectSpendLimit | None] = {}
    alerts: dict[str, tuple[ProjectSpendAlert, ...]] = {}
    for project_id in dict.fromkeys(project_ids):
        try:
            limits[project_id] = await client.project_spend_limit(project_id)
        except NotFoundError:
            limits[project_id] = None
        alerts[project_id] = tuple(await client.project_spend_alerts(project_id).collect())
    return BudgetSettings(
        organization_limit=org_limit,
        project_limits=MappingProxyType(limits),
        organization_alerts=org_alerts,
        project_alerts=MappingProxyType(alerts),
    )
