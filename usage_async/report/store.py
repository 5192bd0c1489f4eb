"""A report's figures from a ``sync`` database, read the way ``usage-async query`` reads them.

Spend by project, by line item and for the previous period is
:func:`usage_async.sync.query.spend` itself, so every money figure equals ``query spend``'s
for the same range; the daily spend by project sums the very collection and range that
``spend(by="project")`` chose. Tokens come from the one collection of each token endpoint
grouped by model that holds the range (the same rule, :mod:`usage_async.sync.reading`).
A section the database cannot answer in full is left out with a note, never summed in part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from ..sync.query import SpendAnswer, SpendRangeError, spend
from ..sync.reading import choose, collections
from ..sync.stores import Store, open_store, redact_url
from .model import (
    DAY,
    TOKEN_COUNTERS,
    Budget,
    BudgetUse,
    Range,
    ReportData,
    add,
    month_start,
    previous_range,
)

__all__ = ["TOKEN_ENDPOINTS", "budget_uses", "from_store"]

TOKEN_ENDPOINTS = ("completions", "embeddings", "moderations")
"""The endpoints whose results count tokens (``input_tokens``), as ``summary`` sums them."""

_SUM = {"sqlite": "decimal_sum(amount_value)", "postgresql": "SUM(amount_value)"}


async def from_store(
    db: str | Store,
    *,
    since: int | None,
    until: int | None,
    now: int,
    budgets: Sequence[Budget] | None = None,
    names: Mapping[str, str] | None = None,
) -> ReportData:
    """The report of ``[since, until)`` (an open end: the newest data held) from a database.

    Raises :class:`~usage_async.sync.SpendRangeError` when no costs collection grouped by
    project holds the range, as ``query spend --by project`` does.
    """
    if isinstance(db, Store):
        return await _from_store(db, since, until, now, budgets, names)
    async with open_store(db, create=False) as store:
        return await _from_store(store, since, until, now, budgets, names)


async def _from_store(
    store: Store,
    since: int | None,
    until: int | None,
    now: int,
    budgets: Sequence[Budget] | None,
    names: Mapping[str, str] | None,
) -> ReportData:
    where = f"From the database {redact_url(store.url)}"
    answer = await spend(store, by="project", since=since, until=until)
    if answer.collection is None or answer.since is None or answer.until is None:
        return ReportData(
            source=where,
            generated_at=now,
            period=None,
            notes=["No costs were collected in this database yet: run usage-async sync first."],
        )
    period = Range(answer.since, answer.until)
    data = ReportData(
        source=f"{where}: {answer.describe()}",
        generated_at=now,
        period=period,
        names=dict(names or {}),
    )
    data.daily = await _daily(store, answer)
    by_item = await _spend_or_note(store, "line_item", period, data.notes, "line items")
    if by_item is not None:
        data.line_items_period = period
        data.line_items = {}
        add(data.line_items, ((r.group, r.currency, r.amount) for r in by_item))
    previous = previous_range(period)
    before = await _spend_or_note(store, "project", previous, data.notes, "the previous period")
    if before is not None:
        data.previous_period = previous
        data.previous = {}
        add(data.previous, ((r.group, r.currency, r.amount) for r in before))
    await _tokens(store, period, data)
    if budgets:
        month = Range(month_start(period.until - 1), period.until)
        spent = await _spend_or_note(store, "project", month, data.notes, "budget use")
        if spent is not None:
            data.budgets = budget_uses(
                budgets, month, ((r.group, r.currency, r.amount) for r in spent)
            )
    return data


def budget_uses(
    budgets: Sequence[Budget], month: Range, spent: Iterable[tuple[str, str, Decimal]]
) -> list[BudgetUse]:
    """Each budget with its spend over ``month``, from ``(project_id, currency, amount)``."""
    by_project: dict[tuple[str, str], Decimal] = {}
    add(by_project, spent)
    out = []
    for budget in budgets:
        total = sum(
            (
                amount
                for (project, currency), amount in by_project.items()
                if currency == budget.currency
                and (budget.project_id is None or project == budget.project_id)
            ),
            Decimal(0),
        )
        out.append(BudgetUse(budget, total, month))
    return out


async def _spend_or_note(
    store: Store, by: str, period: Range, notes: list[str], what: str
) -> SpendAnswer | None:
    try:
        return await spend(store, by=by, since=period.since, until=period.until)
    except SpendRangeError as exc:
        notes.append(f"Not shown, {what} ({period}): {exc}")
        return None


async def _daily(store: Store, answer: SpendAnswer) -> dict[tuple[int, str, str], Decimal]:
    """Spend per (UTC day, project, currency) of the collection and range ``answer`` summed."""
    assert answer.collection is not None
    p = store.dialect.param
    sql = (
        f"SELECT (start_time / {DAY}) * {DAY}, project_id, COALESCE(amount_currency, ''),"
        f" {_SUM[store.dialect.name]} FROM costs WHERE bucket_width = {p} AND group_by = {p}"
        f" AND amount_value IS NOT NULL AND start_time >= {p} AND start_time < {p}"
        " GROUP BY 1, 2, 3"
    )
    c = answer.collection
    rows = await store.fetch(sql, (c.bucket_width, c.group_by, answer.since, answer.until))
    return {
        (int(day), str(project), str(cur)): Decimal(amount) for day, project, cur, amount in rows
    }


async def _tokens(store: Store, period: Range, data: ReportData) -> None:
    """Tokens by model over ``period``: each token endpoint's collection grouped by model."""
    tokens: dict[str, dict[str, int]] = {}
    summed: list[str] = []
    for endpoint in TOKEN_ENDPOINTS:
        chosen = choose(
            await collections(store, endpoint), endpoint, ("model",), period.since, period.until
        )
        if chosen is None:
            data.notes.append(
                f"Tokens leave out {endpoint}: no collection of it grouped by model holds {period}."
            )
            continue
        summed.append(endpoint)
        columns = store.schema.tables[endpoint].columns
        counters = ", ".join(f'SUM("{k}")' if k in columns else "0" for k in TOKEN_COUNTERS)
        p = store.dialect.param
        rows = await store.fetch(
            f"SELECT model, {counters} FROM {endpoint} WHERE bucket_width = {p}"
            f" AND group_by = {p} AND start_time >= {p} AND start_time < {p} GROUP BY model",
            (chosen.bucket_width, chosen.group_by, period.since, period.until),
        )
        for model, *values in rows:
            totals = tokens.setdefault(str(model or "(none)"), dict.fromkeys(TOKEN_COUNTERS, 0))
            for key, value in zip(TOKEN_COUNTERS, values, strict=True):
                totals[key] += int(value or 0)
    if summed:
        data.tokens, data.tokens_period, data.tokens_endpoints = tokens, period, tuple(summed)
