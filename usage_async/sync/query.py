"""Reading back what a sync collected, without writing SQL: spend by project, line item or day.

Sums are exact: PostgreSQL sums NUMERIC; SQLite sums the TEXT amounts with the
``decimal_sum`` aggregate the store registers (Python's Decimal, never a float).

Spend by project carries each project's name from the directory ``sync`` keeps
(``usage_async_projects``, a LEFT JOIN: an id the directory has no row for keeps its spend,
with no name).

The costs table may hold several ``(bucket_width, group_by)`` collections of the same spend
(say by project and line item until ``--group-by`` changed, by project alone since); adding
them would count money twice, so a query reads exactly one, and says which
(:class:`SpendAnswer`): among the collections that can answer (grouped by what ``by`` asks,
or any for ``"day"``) and that hold the whole range asked, the most current (the latest
watermark; then the default collection; then the fewest groups). A range no one collection
holds is refused (:class:`SpendRangeError`) rather than summed in part. Without ``since``
and ``until`` the answer is the most current collection's whole range, and says so.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Iterable
from typing import Any

import attrs

from .._query import to_unix
from ..errors import InvalidParameterError, UsageError
from ._schema import DIRECTORY_TABLES, canonical_decimal
from ._targets import DEFAULT_GROUP_BY
from .stores import DEFAULT_DB, Store, open_store

__all__ = ["SPEND_BY", "Collection", "SpendAnswer", "SpendRangeError", "SpendRow", "spend"]

SPEND_BY = {"project": "project_id", "line_item": "line_item", "day": None}
"""``by`` values of :func:`spend`, and the costs column each groups on (None: the UTC day)."""

_SQL = {  # per dialect: exact sum of amount_value; "every row settled"
    "sqlite": ("decimal_sum(c.amount_value)", "MIN(c.settled)"),
    "postgresql": ("SUM(c.amount_value)", "bool_and(c.settled)"),
}


@attrs.frozen
class SpendRow:
    """Spend of one project, line item or UTC day (``group``), in one currency.

    ``group`` is '' for spend the API attributed to no project. ``settled`` is False while
    any bucket behind the sum may still be revised (it ended within the look-back).
    ``name`` is the project's name as the directory stored it (by project only; None when
    the database has no name for it: never synced with names, or an id no list showed).
    """

    group: str
    currency: str
    amount: decimal.Decimal
    settled: bool
    name: str | None = None


def _iso(when: int) -> str:
    return _dt.datetime.fromtimestamp(when, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen
class Collection:
    """One collection of costs: its width and ``group_by``, and the buckets it holds (those
    that start in ``[since, watermark)``)."""

    bucket_width: str
    group_by: str
    since: int
    watermark: int

    def __str__(self) -> str:
        return (
            f"costs {self.bucket_width} by {self.group_by or '(nothing)'}"
            f" from {_iso(self.since)} to {_iso(self.watermark)}"
        )


class SpendAnswer(list[SpendRow]):
    """The rows of :func:`spend` (a list, as before), and what they are a sum of: the
    ``collection`` read (None when no costs were collected), the buckets summed (those that
    start in ``[since, until)``), and every costs collection the database ``held``."""

    def __init__(
        self,
        rows: Iterable[SpendRow] = (),
        *,
        collection: Collection | None = None,
        since: int | None = None,
        until: int | None = None,
        held: tuple[Collection, ...] = (),
    ) -> None:
        super().__init__(rows)
        self.collection = collection
        self.since = since
        self.until = until
        self.held = held

    def describe(self) -> str:
        """One line: which collection was summed, over what range, and what else is held."""
        if self.collection is None or self.since is None or self.until is None:
            return "no costs collected"
        c = self.collection
        line = (
            f"summed costs {c.bucket_width} by {c.group_by or '(nothing)'}, buckets from "
            f"{_iso(self.since)} to {_iso(self.until)}"
        )
        others = [str(h) for h in self.held if h != c]
        if others:
            line += f"; the database also holds {'; '.join(others)}"
        return line


class SpendRangeError(UsageError, ValueError):
    """No one collection of costs that can answer holds the whole range asked: summing
    what is there would report part of the range as the whole. ``held`` lists what is."""

    def __init__(self, message: str, held: tuple[Collection, ...]) -> None:
        super().__init__(message)
        self.held = held


def _answering(
    states: list[tuple[str, str, str, int, int]], column: str | None
) -> tuple[list[Collection], tuple[Collection, ...]]:
    held = tuple(
        Collection(width, group_by, since, watermark)
        for endpoint, width, group_by, since, watermark in states
        if endpoint == "costs"
    )
    able = [c for c in held if column is None or column in c.group_by.split(",")]
    return able, held


def _choose(able: list[Collection], since: int | None, until: int | None) -> Collection | None:
    default = ",".join(sorted(DEFAULT_GROUP_BY["costs"]))
    covering = [
        c
        for c in able
        if (since is None or c.since <= since) and (until is None or c.watermark >= until)
    ]
    if not covering:
        return None
    return min(
        covering,
        key=lambda c: (
            -c.watermark,
            c.group_by != default,
            len(c.group_by.split(",")) if c.group_by else 0,
            c.bucket_width,
            c.group_by,
        ),
    )


async def spend(
    db: str | Store = DEFAULT_DB,
    *,
    by: str = "project",
    since: int | _dt.date | None = None,
    until: int | _dt.date | None = None,
    names: bool = True,
) -> SpendAnswer:
    """Collected spend summed by ``"project"``, ``"line_item"`` or ``"day"``.

    ``db`` is a URL (opened to read: a database that does not exist raises
    :class:`~usage_async.sync.NoSuchDatabaseError`, and nothing is created) or an open
    :class:`Store`. ``since``/``until`` (Unix seconds, an aware datetime or a date) keep
    buckets that start in ``[since, until)``; an open end is the newest data held. Rows come
    largest amount first, or by day for ``by="day"``; empty when no costs were collected.
    The answer says which collection and range it summed (:class:`SpendAnswer`); a range no
    one collection holds raises :class:`SpendRangeError`. By project, each row has the
    project's ``name`` from the directory ``sync`` stored (``names=False``: no join).
    """
    if by not in SPEND_BY:
        raise InvalidParameterError(
            f"by: expected one of {', '.join(SPEND_BY)}, got {by!r}", param="by"
        )
    low = to_unix(since, "since") if since is not None else None
    high = to_unix(until, "until") if until is not None else None
    if isinstance(db, Store):
        return await _spend(db, by, low, high, names)
    async with open_store(db, create=False) as store:
        return await _spend(store, by, low, high, names)


async def _spend(
    store: Store, by: str, since: int | None, until: int | None, names: bool
) -> SpendAnswer:
    column = SPEND_BY[by]
    able, held = _answering(await store.states(), column)
    if not able:
        return SpendAnswer(held=held)
    asked = since is not None or until is not None
    if asked and until is None:
        until = max(c.watermark for c in able)  # "until now": the newest data held
    chosen = _choose(able, since, until)
    if chosen is None:
        shown = "; ".join(str(c) for c in able)
        start = _iso(since) if since is not None else "the start"
        raise SpendRangeError(
            f"no collection of costs that can answer --by {by} holds {start} to "
            f"{_iso(until) if until is not None else 'now'}: the database holds {shown}; ask "
            "within one of them, or backfill one with sync --since",
            held,
        )
    low = chosen.since if since is None else max(since, chosen.since)
    high = chosen.watermark if until is None else min(until, chosen.watermark)
    rows = await _sum(store, column, chosen, low, high, names and column == "project_id")
    return SpendAnswer(rows, collection=chosen, since=low, until=high, held=held)


async def _sum(
    store: Store, column: str | None, chosen: Collection, low: int, high: int, named: bool
) -> list[SpendRow]:
    p = store.dialect.param
    total, settled = _SQL[store.dialect.name]
    group = f'c."{column}"' if column is not None else "(c.start_time / 86400) * 86400"
    where = [
        f"c.bucket_width = {p}",
        f"c.group_by = {p}",
        "c.amount_value IS NOT NULL",
        f"c.start_time >= {p}",
        f"c.start_time < {p}",
    ]
    params: list[Any] = [chosen.bucket_width, chosen.group_by, low, high]
    name, join, by = "NULL", "", "1, 2"
    if named:  # a LEFT JOIN: spend of a project the directory has no row for is kept
        projects = DIRECTORY_TABLES["projects"].name
        name, join, by = "p.name", f" LEFT JOIN {projects} p ON p.id = {group}", "1, 2, 5"
    sql = (
        f"SELECT {group}, COALESCE(c.amount_currency, ''), {total}, {settled}, {name}"
        f" FROM costs c{join} WHERE {' AND '.join(where)} GROUP BY {by}"
    )
    rows = []
    for key, currency, amount, all_settled, label in await store.fetch(sql, params):
        if column is None:
            key = _dt.datetime.fromtimestamp(int(key), _dt.timezone.utc).date().isoformat()
        exact = decimal.Decimal(canonical_decimal(decimal.Decimal(amount)))
        rows.append(SpendRow(str(key), currency, exact, bool(all_settled), label))
    if column is None:
        rows.sort(key=lambda r: (r.group, r.currency))
    else:
        rows.sort(key=lambda r: (-r.amount, r.group, r.currency))
    return rows
