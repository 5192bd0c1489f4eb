"""Reading back what a sync collected, without writing SQL: spend by project, line item or day.

Sums are exact: PostgreSQL sums NUMERIC; SQLite sums the TEXT amounts with the
``decimal_sum`` aggregate the store registers (Python's Decimal, never a float).

The costs table may hold several ``(bucket_width, group_by)`` collections of the same spend
(say by project and line item, and by project alone); adding them would count money twice,
so a query reads exactly one: the default collection when it was synced and can answer,
else the smallest ``group_by`` set that can.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from typing import Any

import attrs

from .._query import to_unix
from ..errors import InvalidParameterError
from ._schema import canonical_decimal
from ._targets import DEFAULT_GROUP_BY
from .stores import DEFAULT_DB, Store, open_store

__all__ = ["SPEND_BY", "SpendRow", "spend"]

SPEND_BY = {"project": "project_id", "line_item": "line_item", "day": None}
"""``by`` values of :func:`spend`, and the costs column each groups on (None: the UTC day)."""

_SQL = {  # per dialect: exact sum of amount_value; "every row settled"
    "sqlite": ("decimal_sum(amount_value)", "MIN(settled)"),
    "postgresql": ("SUM(amount_value)", "bool_and(settled)"),
}


@attrs.frozen
class SpendRow:
    """Spend of one project, line item or UTC day (``group``), in one currency.

    ``group`` is '' for spend the API attributed to no project. ``settled`` is False while
    any bucket behind the sum may still be revised (it ended within the look-back).
    """

    group: str
    currency: str
    amount: decimal.Decimal
    settled: bool


def _collection(states: list[tuple[str, str, str, int, int]], column: str | None) -> Any:
    default = ",".join(sorted(DEFAULT_GROUP_BY["costs"]))
    found = [
        (width, group_by)
        for endpoint, width, group_by, _since, _watermark in states
        if endpoint == "costs" and (column is None or column in group_by.split(","))
    ]
    if not found:
        return None
    for width, group_by in found:
        if width == "1d" and group_by == default:
            return width, group_by
    return min(found, key=lambda c: (len(c[1].split(",")) if c[1] else 0, c))


async def spend(
    db: str | Store = DEFAULT_DB,
    *,
    by: str = "project",
    since: int | _dt.date | None = None,
    until: int | _dt.date | None = None,
) -> list[SpendRow]:
    """Collected spend summed by ``"project"``, ``"line_item"`` or ``"day"``.

    ``db`` is a URL or an open :class:`Store`. ``since``/``until`` (Unix seconds, an aware
    datetime or a date) keep buckets that start in ``[since, until)``. Rows come largest
    amount first, or by day for ``by="day"``; empty when no costs were collected.
    """
    if by not in SPEND_BY:
        raise InvalidParameterError(
            f"by: expected one of {', '.join(SPEND_BY)}, got {by!r}", param="by"
        )
    bounds = [
        (to_unix(v, name), op)
        for v, name, op in ((since, "since", ">="), (until, "until", "<"))
        if v is not None
    ]
    if isinstance(db, Store):
        return await _spend(db, by, bounds)
    async with open_store(db) as store:
        return await _spend(store, by, bounds)


async def _spend(store: Store, by: str, bounds: list[tuple[int, str]]) -> list[SpendRow]:
    column = SPEND_BY[by]
    chosen = _collection(await store.states(), column)
    if chosen is None:
        return []
    width, group_by = chosen
    p = store.dialect.param
    total, settled = _SQL[store.dialect.name]
    group = f'"{column}"' if column is not None else "(start_time / 86400) * 86400"
    where = [f"bucket_width = {p}", f"group_by = {p}", "amount_value IS NOT NULL"]
    params: list[Any] = [width, group_by]
    for value, op in bounds:
        where.append(f"start_time {op} {p}")
        params.append(value)
    sql = (
        f"SELECT {group}, COALESCE(amount_currency, ''), {total}, {settled} FROM costs"
        f" WHERE {' AND '.join(where)} GROUP BY 1, 2"
    )
    rows = []
    for key, currency, amount, all_settled in await store.fetch(sql, params):
        if column is None:
            key = _dt.datetime.fromtimestamp(int(key), _dt.timezone.utc).date().isoformat()
        exact = decimal.Decimal(canonical_decimal(decimal.Decimal(amount)))
        rows.append(SpendRow(str(key), currency, exact, bool(all_settled)))
    if column is None:
        rows.sort(key=lambda r: (r.group, r.currency))
    else:
        rows.sort(key=lambda r: (-r.amount, r.group, r.currency))
    return rows
