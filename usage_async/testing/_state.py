"""The simulator's state, without HTTP: a clock, an organization, and buckets summed from events.

Counters (every usage endpoint but ``vector_stores``, and ``costs``) are sums of the events
inside each bucket, so a 1h bucket equals the sum of its 1m buckets, a 1d bucket the sum of
its 1h buckets, and the groups of any ``group_by`` add up to the ungrouped result. Only
events before ``now`` exist; with late data on, an event also waits for its own delay.

``vector_stores.usage_bytes`` is a gauge, not a counter: every bucket reports the bytes
stored at the start of its last minute (``end_time - 60``), or at the current minute for the
bucket that contains ``now``; buckets that start after ``now`` are empty. So a 1d bucket
equals its last 1h bucket and its last 1m bucket, never their sum. Groups still add up: the
per-project values of one instant sum to the total of that instant.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from ._org import (
    HOUR,
    LAG_SCALE,
    TRAFFIC,
    Event,
    Organization,
    Traffic,
    hour_events,
    storage_item,
)
from ._spec import ApiSpec, EndpointDef, SpecError, load_spec

__all__ = ["Money", "Selection", "UsageState", "to_unix"]

COSTS = "costs"
GAUGE = "vector_stores"
_COSTS_DIMS = ("project_id", "api_key_id", "line_item")
_COSTS_FIELDS = frozenset({"amount", "quantity", "quantity_unit", *_COSTS_DIMS})
_GAUGE_FIELDS = frozenset({"usage_bytes", "project_id"})
_CACHE_HOURS = 400_000  # cached (endpoint, hour) event lists before the cache starts over


class Money(Decimal):
    """An amount of money in a result, so the encoder can tell it from other numbers."""


@attrs.frozen
class Selection:
    """What a query selects: allowed values per result field, and the fields to group by."""

    filters: Mapping[str, frozenset[Any]] = attrs.field(factory=dict)
    group_by: tuple[str, ...] = ()


def to_unix(value: int | _dt.datetime) -> int:
    """Unix seconds of an int or an aware datetime."""
    if isinstance(value, _dt.datetime):
        if value.utcoffset() is None:
            raise ValueError("now must be an aware datetime (bucket boundaries are UTC)")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"now must be int Unix seconds or an aware datetime, got {value!r}")
    return value


def _check_against_spec(spec: ApiSpec) -> None:
    """Fail loudly if the spec describes a result this simulator does not make."""
    for endpoint in spec.endpoints.values():
        fields = set(endpoint.result_fields)
        if endpoint.name == COSTS:
            dims: Iterable[str] = _COSTS_DIMS
            missing = fields ^ _COSTS_FIELDS
        elif endpoint.name == GAUGE:
            dims = ("project_id",)
            missing = fields ^ _GAUGE_FIELDS
        elif endpoint.name in TRAFFIC:
            traffic = TRAFFIC[endpoint.name]
            dims = traffic.dims
            missing = (fields - set(traffic.dims)) ^ set(traffic.counts)
        else:
            raise SpecError(
                f"the spec has an endpoint the simulator does not know: {endpoint.path}"
            )
        if missing:
            raise SpecError(f"{endpoint.name}: spec and simulator disagree on fields {missing}")
        for field in (*endpoint.group_by, *endpoint.filters.values()):
            if field not in dims:
                raise SpecError(f"{endpoint.name}: cannot group or filter by {field}")


class UsageState:
    """The simulated organization's usage, billing and clock; answers bucket queries.

    ``now`` fixes the clock (int Unix seconds or an aware datetime); None follows the real
    time. :meth:`advance` moves either. ``late_data`` (seconds, 0 = off) makes each event
    visible only after its own delay, up to that many seconds after it happened.
    ``mismatch_days`` and ``quantity_since`` are the Costs quirks of the same names
    (:class:`~._faults.Quirks`: ``costs_mismatch_days``, ``costs_quantity_since``); both off
    by default, so Costs are exactly the usage times the price table, with quantities.
    """

    def __init__(
        self,
        seed: int = 0,
        now: int | _dt.datetime | None = None,
        *,
        late_data: int = 0,
        spec: ApiSpec | None = None,
        clock: Callable[[], float] = time.time,
        mismatch_days: Iterable[int] = (),
        quantity_since: int | None = None,
    ) -> None:
        self.spec = spec if spec is not None else load_spec()
        _check_against_spec(self.spec)
        self.org = Organization.from_seed(seed)
        self.late_data = late_data
        self._fixed_now = to_unix(now) if now is not None else None
        self._offset = 0
        self._clock = clock
        self._events: dict[tuple[str, int], tuple[Event, ...]] = {}
        self._units: dict[str, tuple[str | None, int]] = {}
        self.mismatch_days: frozenset[int] = frozenset(mismatch_days)
        self.quantity_since = quantity_since

    def set_costs_quirks(self, mismatch_days: Iterable[int], quantity_since: int | None) -> None:
        """Switch the Costs quirks (see the class); billed hours are billed again."""
        days = frozenset(mismatch_days)
        if days != self.mismatch_days:
            self._events = {k: v for k, v in self._events.items() if k[0] != COSTS}
        self.mismatch_days = days
        self.quantity_since = quantity_since

    def planted_mismatch(self, day: int) -> str | None:
        """The model whose output Costs over-bill on the UTC ``day`` (its midnight, Unix
        seconds) under ``mismatch_days``: the model of the day's first completions event; None
        on other days, or a day without completions."""
        if day not in self.mismatch_days:
            return None
        for hour in range(day, day + 86400, HOUR):
            events = self.events("completions", hour)
            if events:
                model: str = events[0][1][3]
                return model
        return None

    def now(self) -> int:
        """The simulator's current time, in Unix seconds."""
        base = self._fixed_now if self._fixed_now is not None else int(self._clock())
        return base + self._offset

    def advance(self, seconds: int) -> None:
        """Move the clock forward by ``seconds``."""
        self._offset += seconds

    # -- events -------------------------------------------------------------------------

    def events(self, endpoint: str, hour: int) -> tuple[Event, ...]:
        """The events of one hour of one counter endpoint (``costs``: its line items)."""
        key = (endpoint, hour)
        found = self._events.get(key)
        if found is None:
            if len(self._events) >= _CACHE_HOURS:
                self._events.clear()
            if endpoint == COSTS:
                found = self._bill_hour(hour)
            else:
                found = hour_events(self.org, TRAFFIC[endpoint], hour)
            self._events[key] = found
        return found

    def _bill_hour(self, hour: int) -> tuple[Event, ...]:
        items: list[Event] = []
        planted = self.planted_mismatch(hour - hour % 86400)
        over_billed = f"{planted}, output" if planted is not None else None
        for traffic in TRAFFIC.values():
            for ts, dims, counts, lag in self.events(traffic.endpoint, hour):
                for item in traffic.bill(dims, counts):
                    self._units[item.line_item] = (item.quantity_unit, item.quantity_scale)
                    cost, quantity = item.nanodollars, item.quantity
                    if item.line_item == over_billed:  # Quirks.costs_mismatch_days
                        cost, quantity = cost * 5 // 4, quantity * 5 // 4
                    items.append((ts, (dims[0], dims[2], item.line_item), (cost, quantity), lag))
        for store in self.org.vector_stores:
            stored = storage_item(store, hour)
            if stored is not None:
                self._units[stored.line_item] = (stored.quantity_unit, stored.quantity_scale)
                dims = (store.project_id, None, stored.line_item)
                items.append((hour, dims, (stored.nanodollars, stored.quantity), 0))
        items.sort(key=lambda item: item[0])
        return tuple(items)

    def _dims_of(self, endpoint: str) -> tuple[str, ...]:
        return _COSTS_DIMS if endpoint == COSTS else TRAFFIC[endpoint].dims

    def _sums(
        self, endpoint: str, start: int, width: int, count: int, selection: Selection
    ) -> list[dict[tuple[Any, ...], list[int]]]:
        """Per bucket, the summed counts of each group of visible, selected events."""
        dims = self._dims_of(endpoint)
        filters = [(dims.index(f), allowed) for f, allowed in selection.filters.items()]
        group = [dims.index(f) for f in selection.group_by]
        end = start + width * count
        now, late = self.now(), self.late_data
        surely_visible = now - late
        sums: list[dict[tuple[Any, ...], list[int]]] = [{} for _ in range(count)]
        for hour in range(start - start % HOUR, min(end, now + 1), HOUR):
            for ts, event_dims, counts, lag in self.events(endpoint, hour):
                if ts >= now or ts >= end:
                    break  # events are sorted by time
                if ts < start:
                    continue
                if ts >= surely_visible and ts + (lag * late) // LAG_SCALE >= now:
                    continue  # not reported yet
                if filters and not all(event_dims[i] in allowed for i, allowed in filters):
                    continue
                key = tuple([event_dims[i] for i in group])
                bucket = sums[(ts - start) // width]
                total = bucket.get(key)
                if total is None:
                    bucket[key] = list(counts)
                else:
                    for j, value in enumerate(counts):
                        total[j] += value
        return sums

    # -- buckets ------------------------------------------------------------------------

    def buckets(
        self, endpoint: str, start: int, width: int, count: int, selection: Selection
    ) -> list[list[dict[str, Any]]]:
        """The results of ``count`` buckets of ``width`` seconds from ``start``, as JSON dicts.

        ``start`` must be a multiple of ``width`` (the caller aligns it); results within a
        bucket are sorted by their group values.
        """
        definition = self.spec.endpoints[endpoint]
        if endpoint == GAUGE:
            return self._gauge_buckets(definition, start, width, count, selection)
        sums = self._sums(endpoint, start, width, count, selection)
        if endpoint == COSTS:
            row = self._cost_row(definition, selection)
        else:
            row = _usage_row(definition, TRAFFIC[endpoint], selection)
        out = [[row(key, total) for key, total in sorted(b.items(), key=_order)] for b in sums]
        since = self.quantity_since
        if endpoint == COSTS and since is not None:
            for i, results in enumerate(out):
                if start + i * width < since:  # Quirks.costs_quantity_since
                    for result in results:
                        result["quantity"] = result["quantity_unit"] = None
        return out

    def has_usage(self, endpoint: str, start: int, end: int, selection: Selection) -> bool:
        """Whether any visible, selected event lies in ``[start, end)``."""
        now = self.now()
        for hour in range(start - start % HOUR, min(end, now + 1), HOUR):
            first = max(hour, start)
            span = min(hour + HOUR, end) - first
            if span > 0 and any(self._sums(endpoint, first, span, 1, selection)[0]):
                return True
        return False

    def _cost_row(
        self, definition: EndpointDef, selection: Selection
    ) -> Callable[[tuple[Any, ...], list[int]], dict[str, Any]]:
        grouped = {f: i for i, f in enumerate(selection.group_by)}
        by_line_item = grouped.get("line_item")
        units = self._units

        def row(key: tuple[Any, ...], total: list[int]) -> dict[str, Any]:
            nanodollars, quantity = total
            out: dict[str, Any] = {"object": definition.result_tag}
            for field in definition.result_fields:
                if field == "amount":
                    value = Money(Decimal(nanodollars).scaleb(-9))
                    out[field] = {"value": value, "currency": "usd"}
                elif field in grouped:
                    out[field] = key[grouped[field]]
                elif field in ("quantity", "quantity_unit") and by_line_item is not None:
                    unit, scale = units[key[by_line_item]]
                    if field == "quantity":
                        out[field] = Decimal(quantity) / scale if scale != 1 else quantity
                    else:
                        out[field] = unit
                else:
                    out[field] = None
            return out

        return row

    def _gauge_buckets(
        self,
        definition: EndpointDef,
        start: int,
        width: int,
        count: int,
        selection: Selection,
    ) -> list[list[dict[str, Any]]]:
        now = self.now()
        projects = selection.filters.get("project_id")
        grouped = "project_id" in selection.group_by
        out: list[list[dict[str, Any]]] = []
        for b in range(start, start + width * count, width):
            at = min(b + width - 60, now - now % 60)
            totals: dict[str | None, int] = {}
            if at >= b:
                for store in self.org.vector_stores:
                    if projects is not None and store.project_id not in projects:
                        continue
                    size = store.usage_bytes(at)
                    if size:
                        key = store.project_id if grouped else None
                        totals[key] = totals.get(key, 0) + size
            out.append(
                [
                    {"object": definition.result_tag, "usage_bytes": size, "project_id": key}
                    for key, size in sorted(totals.items(), key=lambda kv: str(kv[0]))
                ]
            )
        return out


def _order(item: tuple[tuple[Any, ...], list[int]]) -> tuple[str, ...]:
    return tuple(str(value) for value in item[0])


def _usage_row(
    definition: EndpointDef, traffic: Traffic, selection: Selection
) -> Callable[[tuple[Any, ...], list[int]], dict[str, Any]]:
    """A function making one result dict, with fields in the spec's order."""
    grouped = {f: i for i, f in enumerate(selection.group_by)}
    plan: list[tuple[str, str, int]] = []
    for field in definition.result_fields:
        if field in traffic.counts:
            plan.append((field, "count", traffic.counts.index(field)))
        elif field in grouped:
            plan.append((field, "group", grouped[field]))
        else:
            plan.append((field, "null", 0))
    tag = definition.result_tag

    def row(key: tuple[Any, ...], total: list[int]) -> dict[str, Any]:
        out: dict[str, Any] = {"object": tag}
        for field, kind, index in plan:
            if kind == "count":
                out[field] = total[index]
            elif kind == "group":
                out[field] = key[index]
            else:
                out[field] = None
        return out

    return row
