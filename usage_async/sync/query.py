"""Reading back what a sync collected, without writing SQL: spend by any combination of
project, line item, model, kind, day, week, month and API key.

Sums are exact: PostgreSQL sums NUMERIC; SQLite sums the TEXT amounts with the
``decimal_sum`` aggregate the store registers (Python's Decimal, never a float); weeks and
months add the days' exact sums in Python.

Rows carry names from the directory ``sync`` keeps: the project's (``usage_async_projects``)
and the API key's (``usage_async_api_keys``), each a LEFT JOIN: an id the directory has no
row for keeps its spend, with no name. ``model`` and ``kind`` are the columns schema version
4 stores, read from ``line_item`` (None where the line item names none).

The costs table may hold several ``(bucket_width, group_by)`` collections of the same spend
(say by project and line item until ``--group-by`` changed, by project alone since); adding
them would count money twice, so a query reads exactly one, and says which
(:class:`SpendAnswer`): among the collections that can answer (grouped by every column
``by`` needs; the time dimensions need none) and that hold the whole range asked, the most
current (the latest watermark; then the default collection; then the fewest groups). A
range no one collection holds is refused (:class:`SpendRangeError`) rather than summed in
part; a dimension no collection is grouped for is refused (:class:`SpendDimensionError`),
naming the ``sync --group-by`` that would collect it. Without ``since`` and ``until`` the
answer is the most current collection's whole range, and says so.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from .._endpoints import ENDPOINTS
from .._query import to_unix
from ..directory import UNKNOWN_MARKER
from ..errors import UsageError
from ..spend import (
    COSTS_FIELD,
    DIMENSIONS,
    TIME_DIMENSIONS,
    SpendTable,
    SpendTableRow,
    check_dimensions,
    key_order,
    time_key,
)
from ._schema import DIALECT_SQL, DIRECTORY_TABLES, EXACT_CONTEXT, canonical_decimal
from ._targets import DEFAULT_GROUP_BY
from .stores import DEFAULT_DB, Store, open_store

__all__ = [
    "DIMENSIONS",
    "SPEND_BY",
    "Collection",
    "SpendAnswer",
    "SpendDimensionError",
    "SpendRangeError",
    "SpendRow",
    "spend",
    "spend_columns",
]

SPEND_BY = {"project": "project_id", "line_item": "line_item", "day": None}
"""The first three ``by`` values of :func:`spend` and the costs column each groups on (None:
the UTC day); every dimension is in :data:`DIMENSIONS`."""

# The costs table column each dimension reads (model and kind: schema 4's parsed columns).
_COLUMN: Mapping[str, str] = MappingProxyType(
    {
        "project": "project_id",
        "api_key": "api_key_id",
        "line_item": "line_item",
        "model": "model",
        "kind": "kind",
    }
)
# Dimensions with a name beside the id: the directory table and the name column shown.
_NAMED: Mapping[str, tuple[str, str]] = MappingProxyType(
    {"project": ("projects", "project_name"), "api_key": ("api_keys", "api_key_name")}
)
# The output column of each dimension (the id's, for a named one).
_OUT: Mapping[str, str] = MappingProxyType(
    {**{d: d for d in DIMENSIONS}, "project": "project_id", "api_key": "api_key_id"}
)


def spend_columns(by: Sequence[str], *, names: bool = True) -> list[str]:
    """The columns of a spend table by ``by``: each dimension's (a name beside a project's
    or an API key's id when ``names``), then ``currency``, ``amount``, ``settled``."""
    out = []
    for dimension in by:
        out.append(_OUT[dimension])
        if names and dimension in _NAMED:
            out.append(_NAMED[dimension][1])
    return [*out, "currency", "amount", "settled"]


@attrs.frozen
class SpendRow:
    """Spend of one key of ``by``, in one currency.

    ``key`` holds the value of each dimension in the order of ``by`` (None where there is
    none: spend the API attributed to no project, a line item that names no model), and
    ``names`` the stored name of each project or API key in it (None for other dimensions,
    or where the database has no name: never synced with names, or an id no list showed).
    ``group`` and ``name`` are the first dimension's value ('' for none) and name, as a
    one-dimension answer always had them. ``settled`` is False while any bucket behind the
    sum may still be revised (it ended within the look-back).
    """

    group: str
    currency: str
    amount: decimal.Decimal
    settled: bool
    name: str | None = None
    key: tuple[str | None, ...] = ()
    names: tuple[str | None, ...] = ()

    def as_dict(self, by: Sequence[str], *, names: bool = True) -> dict[str, Any]:
        """The row by :func:`spend_columns`: a name column shows the stored name, or the id
        and "(unknown)" for an id with no stored name (as every name column does)."""
        out: dict[str, Any] = {}
        for i, dimension in enumerate(by):
            value = self.key[i] if i < len(self.key) else self.group
            out[_OUT[dimension]] = "" if value is None else value
            if names and dimension in _NAMED:
                name = self.names[i] if i < len(self.names) else self.name
                out[_NAMED[dimension][1]] = name_label(value, name)
        out.update(currency=self.currency, amount=self.amount, settled=self.settled)
        return out


def name_label(value: str | None, name: str | None) -> str | None:
    """What a name column shows: the stored name, or the id and "(unknown)" for an id the
    directory has no name for (None for no id)."""
    return name if name is not None or not value else f"{value} {UNKNOWN_MARKER}"


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

    def describe(self, endpoint: str = "costs") -> str:
        """The collection in one phrase, as an endpoint's (``costs`` unless another)."""
        return (
            f"{endpoint} {self.bucket_width} by {self.group_by or '(nothing)'}"
            f" from {_iso(self.since)} to {_iso(self.watermark)}"
        )

    def __str__(self) -> str:
        return self.describe()


class SpendAnswer(list[SpendRow]):
    """The rows of :func:`spend` (a list, as before), and what they are a sum of: the
    dimensions ``by``, the ``collection`` read (None when no costs were collected), the
    buckets summed (those that start in ``[since, until)``), every costs collection the
    database ``held``, and how many stored ``results`` were summed."""

    def __init__(
        self,
        rows: Iterable[SpendRow] = (),
        *,
        by: Sequence[str] = ("project",),
        collection: Collection | None = None,
        since: int | None = None,
        until: int | None = None,
        held: tuple[Collection, ...] = (),
        results: int = 0,
    ) -> None:
        super().__init__(rows)
        self.by = tuple(by)
        self.collection = collection
        self.since = since
        self.until = until
        self.held = held
        self.results = results

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

    def columns(self, *, names: bool = True) -> list[str]:
        """The columns of :meth:`records` (:func:`spend_columns` of ``by``)."""
        return spend_columns(self.by, names=names)

    def records(self, *, names: bool = True) -> list[dict[str, Any]]:
        """Every row as a dict of :meth:`columns`, in the answer's order."""
        return [row.as_dict(self.by, names=names) for row in self]

    def table(self) -> SpendTable:
        """The answer as the :class:`~usage_async.SpendTable` that
        :func:`~usage_async.group_spend` makes of the API's buckets: rows in key order,
        totals per currency, and the range summed (UTC days)."""
        rows = sorted(self, key=lambda r: key_order(r.key, r.currency))
        totals: dict[str, decimal.Decimal] = {}
        for r in rows:
            totals[r.currency] = EXACT_CONTEXT.add(
                totals.get(r.currency, decimal.Decimal(0)), r.amount
            )
        return SpendTable(
            by=self.by,
            rows=tuple(
                SpendTableRow(r.key, r.currency, r.amount, _labels(self.by, r)) for r in rows
            ),
            totals=MappingProxyType(dict(sorted(totals.items()))),
            start_time=self.since,
            end_time=self.until,
            results=self.results,
        )


def _labels(by: tuple[str, ...], row: SpendRow) -> tuple[str | None, ...]:
    """Names as a :class:`~usage_async.SpendTableRow` holds them: the name, or the id and
    "(unknown)", for a project or API key; None for other dimensions and for no id."""
    out: list[str | None] = []
    for dimension, value, name in zip(by, row.key, row.names, strict=True):
        out.append(name_label(value, name) if dimension in _NAMED and value else None)
    return tuple(out)


class SpendRangeError(UsageError, ValueError):
    """No one collection of costs that can answer holds the whole range asked: summing
    what is there would report part of the range as the whole. ``held`` lists what is."""

    def __init__(self, message: str, held: tuple[Collection, ...]) -> None:
        super().__init__(message)
        self.held = held


class SpendDimensionError(SpendRangeError):
    """Costs were collected, but no collection is grouped by a column a dimension of ``by``
    needs (``api_key`` needs ``api_key_id``; ``line_item``, ``model`` and ``kind`` need
    ``line_item``): the message names the ``sync --group-by`` that would collect one.
    ``missing`` is that column. A :class:`SpendRangeError`: no collection can answer."""

    def __init__(self, message: str, held: tuple[Collection, ...], missing: str) -> None:
        super().__init__(message, held)
        self.missing = missing


def _answering(
    states: list[tuple[str, str, str, int, int]], needs: Sequence[str]
) -> tuple[list[Collection], tuple[Collection, ...]]:
    held = tuple(
        Collection(width, group_by, since, watermark)
        for endpoint, width, group_by, since, watermark in states
        if endpoint == "costs"
    )
    able = [c for c in held if set(needs) <= set(c.group_by.split(","))]
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
    by: str | Sequence[str] = "project",
    since: int | _dt.date | None = None,
    until: int | _dt.date | None = None,
    names: bool = True,
) -> SpendAnswer:
    """Collected spend summed by any of :data:`DIMENSIONS`, in any combination.

    ``by`` is one dimension (``"project"``), a comma list (``"project,day,model"``) or a
    sequence; the order given is the order of each row's ``key``. ``db`` is a URL (opened to
    read: a database that does not exist raises
    :class:`~usage_async.sync.NoSuchDatabaseError`, and nothing is created) or an open
    :class:`Store`. ``since``/``until`` (Unix seconds, an aware datetime or a date) keep
    buckets that start in ``[since, until)``; an open end is the newest data held. Rows come
    largest amount first, or in key order when ``by`` has a day, week or month; empty when
    no costs were collected. Days, weeks (ISO, ``2025-W09``) and months are UTC, as Costs
    are. The answer says which collection and range it summed (:class:`SpendAnswer`;
    ``.table()`` gives a :class:`~usage_async.SpendTable`). Raises
    :class:`~usage_async.InvalidParameterError` for an unknown dimension (naming the
    allowed ones), :class:`SpendDimensionError` when no collection is grouped for a
    dimension, :class:`SpendRangeError` when no one collection holds the range. Projects
    and API keys come with their stored names (``names=False``: no join).
    """
    dims = check_dimensions(by)
    low = to_unix(since, "since") if since is not None else None
    high = to_unix(until, "until") if until is not None else None
    if isinstance(db, Store):
        return await _spend(db, dims, low, high, names)
    async with open_store(db, create=False) as store:
        return await _spend(store, dims, low, high, names)


def _group_by_hint(needs: Sequence[str]) -> str:
    order = ENDPOINTS["costs"].group_by
    return ",".join(g for g in order if g in needs)


async def _spend(
    store: Store, by: tuple[str, ...], since: int | None, until: int | None, names: bool
) -> SpendAnswer:
    needs = sorted({COSTS_FIELD[d] for d in by if d in COSTS_FIELD})
    able, held = _answering(await store.states(), needs)
    if not held:
        return SpendAnswer(by=by, held=held)
    if not able:
        absent = [n for n in needs if not any(n in c.group_by.split(",") for c in held)]
        # Each column may be in some collection, but none has them all: name them all.
        missing = absent[0] if absent else ",".join(needs)
        what = missing if absent else f"all of {', '.join(needs)} at once"
        asked = ",".join(
            d for d in by if d in COSTS_FIELD and (not absent or COSTS_FIELD[d] == missing)
        )
        shown = "; ".join(str(c) for c in held)
        raise SpendDimensionError(
            f"no costs collection is grouped by {what}, which --by {asked} needs: the "
            f"database holds {shown}; collect one with usage-async sync --group-by "
            f"costs={_group_by_hint(needs)}",
            held,
            missing,
        )
    if since is not None and until is None:
        until = max(c.watermark for c in able)  # "until now": the newest data held
    chosen = _choose(able, since, until)
    if chosen is None:
        shown = "; ".join(str(c) for c in able)
        start = _iso(since) if since is not None else "the start"
        raise SpendRangeError(
            f"no collection of costs that can answer --by {','.join(by)} holds {start} to "
            f"{_iso(until) if until is not None else 'now'}: the database holds {shown}; ask "
            "within one of them, or backfill one with sync --since",
            held,
        )
    low = chosen.since if since is None else max(since, chosen.since)
    high = chosen.watermark if until is None else min(until, chosen.watermark)
    rows, results = await _sum(store, by, chosen, low, high, names)
    return SpendAnswer(
        rows, by=by, collection=chosen, since=low, until=high, held=held, results=results
    )


async def _sum(
    store: Store, by: tuple[str, ...], chosen: Collection, low: int, high: int, names: bool
) -> tuple[list[SpendRow], int]:
    """One GROUP BY of the columns of ``by`` (and the UTC day, for a time dimension), with
    names joined; weeks and months then add their days in Python, exactly."""
    p = store.dialect.param
    dialect_sql = DIALECT_SQL[store.dialect.name]
    total, settled = dialect_sql["sum"], dialect_sql["settled"]
    selects: list[str] = []
    joins: list[str] = []
    for dimension in by:
        if dimension in _COLUMN:
            selects.append(f'c."{_COLUMN[dimension]}"')
    timed = any(d in TIME_DIMENSIONS for d in by)
    if timed:
        selects.append("(c.start_time / 86400) * 86400")
    named = [d for d in by if names and d in _NAMED]
    for i, dimension in enumerate(named):
        table = DIRECTORY_TABLES[_NAMED[dimension][0]].name
        joins.append(f' LEFT JOIN {table} n{i} ON n{i}.id = c."{_COLUMN[dimension]}"')
        selects.append(f"n{i}.name")
    selects.append("COALESCE(c.amount_currency, '')")
    n_keys = len(selects)
    where = [
        f"c.bucket_width = {p}",
        f"c.group_by = {p}",
        "c.amount_value IS NOT NULL",
        f"c.start_time >= {p}",
        f"c.start_time < {p}",
    ]
    params: list[Any] = [chosen.bucket_width, chosen.group_by, low, high]
    group = ", ".join(str(i) for i in range(1, n_keys + 1))
    sql = (
        f"SELECT {', '.join(selects)}, {total}, {settled}, COUNT(*)"
        f" FROM costs c{''.join(joins)} WHERE {' AND '.join(where)} GROUP BY {group}"
    )
    sums: dict[tuple[Any, ...], tuple[decimal.Decimal, bool]] = {}
    results = 0
    for found in await store.fetch(sql, params):
        values = iter(found[:n_keys])
        column_values = {d: next(values) for d in by if d in _COLUMN}
        day = int(next(values)) if timed else 0
        stored_names = {d: next(values) for d in named}
        currency = next(values)
        amount, all_settled, count = found[n_keys:]
        key: list[str | None] = []
        for dimension in by:
            if dimension in TIME_DIMENSIONS:
                key.append(time_key(dimension, day))
            else:
                key.append(column_values[dimension] or None)  # '' is "none", as the API's null
        row_names = tuple(stored_names.get(d) if d in _NAMED else None for d in by)
        entry = (tuple(key), row_names, currency)
        exact = decimal.Decimal(amount)  # the sum is canonicalised below
        old = sums.get(entry)
        if old is None:
            sums[entry] = (exact, bool(all_settled))
        else:
            sums[entry] = (EXACT_CONTEXT.add(old[0], exact), old[1] and bool(all_settled))
        results += int(count)
    rows = []
    for (key_t, row_names, currency), (amount, all_settled) in sums.items():
        first = key_t[0]
        rows.append(
            SpendRow(
                "" if first is None else first,
                currency,
                decimal.Decimal(canonical_decimal(amount)),
                all_settled,
                row_names[0],
                key_t,
                row_names,
            )
        )
    if timed:
        rows.sort(key=lambda r: key_order(r.key, r.currency))
    else:
        rows.sort(key=lambda r: (-r.amount, key_order(r.key, r.currency)))
    return rows, results
