"""What a spend report shows, as plain values: every figure with the range it summed. No I/O.

A :class:`ReportData` is filled from the API (``usage_async.cli.report``) or from a ``sync``
database (:func:`usage_async.report.store.from_store`) and drawn by
:func:`usage_async.report.html.render`. Money is exact (``Decimal``) throughout; each section
carries the :class:`Range` it summed, or None with a note saying why it is not known.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from decimal import Decimal

import attrs

__all__ = [
    "DAY",
    "TOKEN_COUNTERS",
    "Budget",
    "BudgetUse",
    "Range",
    "ReportData",
    "iso_day",
    "iso_time",
    "month_start",
    "previous_range",
]

DAY = 86_400
TOKEN_COUNTERS = ("input_tokens", "output_tokens", "num_model_requests")
"""Tokens by model, as ``usage-async summary`` counts them."""


def iso_time(when: int) -> str:
    """``2025-03-01T00:00:00Z``."""
    return _dt.datetime.fromtimestamp(when, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_day(when: int) -> str:
    """``2025-03-01``: the UTC day of a Unix time."""
    return _dt.datetime.fromtimestamp(when, _dt.timezone.utc).date().isoformat()


def month_start(when: int) -> int:
    """The first instant of the UTC month holding ``when``."""
    day = _dt.datetime.fromtimestamp(when, _dt.timezone.utc)
    return int(_dt.datetime(day.year, day.month, 1, tzinfo=_dt.timezone.utc).timestamp())


@attrs.frozen
class Range:
    """Buckets that start in ``[since, until)`` (Unix seconds, UTC)."""

    since: int
    until: int

    @property
    def days(self) -> int:
        """UTC days touched, a partial last day included."""
        return max(0, -(-(self.until - self.since) // DAY))

    @property
    def partial(self) -> bool:
        """Whether the range ends within a UTC day (the last day is still filling)."""
        return self.until % DAY != 0

    def __str__(self) -> str:
        end = iso_day(self.until) if not self.partial else iso_time(self.until)
        return f"{iso_day(self.since)} to {end}"


def previous_range(current: Range) -> Range:
    """The period of as many whole UTC days just before ``current``: what it is compared with."""
    return Range(current.since - current.days * DAY, current.since)


@attrs.frozen
class Budget:
    """A monthly budget (UTC calendar months): for one project, or (``project_id`` None) for
    the whole organization. Today the command line's ``--budget`` is its only source; the
    money work's budget sources (spend limits, a budgets file) produce these too."""

    amount: Decimal
    currency: str = "usd"
    project_id: str | None = None


@attrs.frozen
class BudgetUse:
    """A budget and the spend against it over ``month`` (the month to date summed)."""

    budget: Budget
    spent: Decimal
    month: Range

    @property
    def ratio(self) -> Decimal:
        """Spent over budget (0 for a budget of 0)."""
        return self.spent / self.budget.amount if self.budget.amount else Decimal(0)


@attrs.define
class ReportData:
    """Every figure of a report, with what it summed.

    ``daily`` maps ``(day_start, project_id, currency)`` to spend over ``period``;
    ``previous`` maps ``(project_id, currency)`` over ``previous_period``; ``line_items``
    ``(line_item, currency)`` over ``line_items_period``; ``tokens`` model -> counter ->
    total over ``tokens_period``, summed over ``tokens_endpoints``. A section that could not
    be read is None, and ``notes`` say why; ``budgets`` None means no budget is known.
    ``names`` maps project ids to names (empty without a directory); ``source`` says where
    the figures come from.
    """

    source: str
    generated_at: int
    period: Range | None
    daily: dict[tuple[int, str, str], Decimal] = attrs.field(factory=dict)
    previous_period: Range | None = None
    previous: dict[tuple[str, str], Decimal] | None = None
    line_items_period: Range | None = None
    line_items: dict[tuple[str, str], Decimal] | None = None
    tokens_period: Range | None = None
    tokens: dict[str, dict[str, int]] | None = None
    tokens_endpoints: tuple[str, ...] = ()
    budgets: list[BudgetUse] | None = None
    names: Mapping[str, str] = attrs.field(factory=dict)
    notes: list[str] = attrs.field(factory=list)

    def currencies(self) -> list[str]:
        """Every currency of the period's spend, sorted."""
        return sorted({currency for _, _, currency in self.daily})

    def by_project(self, currency: str) -> dict[str, Decimal]:
        """Spend per project over ``period``, in ``currency``."""
        out: dict[str, Decimal] = {}
        for (_, project, cur), amount in self.daily.items():
            if cur == currency:
                out[project] = out.get(project, Decimal(0)) + amount
        return out

    def by_day(self, currency: str) -> dict[int, Decimal]:
        """Spend per UTC day over ``period``, in ``currency``."""
        out: dict[int, Decimal] = {}
        for (day, _, cur), amount in self.daily.items():
            if cur == currency:
                out[day] = out.get(day, Decimal(0)) + amount
        return out

    def total(self, currency: str) -> Decimal:
        """Spend over ``period`` in ``currency``."""
        return sum(self.by_project(currency).values(), Decimal(0))

    def label(self, project_id: str) -> str:
        """A project's name when known, else its id ('(no project)' for spend the API
        attributed to none)."""
        if not project_id:
            return "(no project)"
        return self.names.get(project_id) or project_id


def add(sums: dict[tuple[str, str], Decimal], items: Iterable[tuple[str, str, Decimal]]) -> None:
    """Add ``(key, currency, amount)`` items into ``sums``."""
    for key, currency, amount in items:
        sums[(key, currency)] = sums.get((key, currency), Decimal(0)) + amount
