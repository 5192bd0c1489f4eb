"""A Prometheus exporter over a ``sync`` database: a custom collector read at scrape time.

Every scrape reads the database (``prometheus_client``'s "custom collector": the families
are built from the source of truth each time), never counters incremented in the process,
which would count a re-read bucket twice. Metric families (the ``prometheus`` extra):

``openai_cost_total`` (counter; ``project_id``, ``currency``)
    settled spend of the most current costs collection grouped by project: the buckets from
    ``openai_collected_since_timestamp_seconds`` to ``openai_settled_until_timestamp_seconds``
    (``endpoint="costs"``), which later reads no longer revise. It grows as days settle.
``openai_input_tokens_total``, ``openai_output_tokens_total``, ``openai_model_requests_total``
    (counters; ``endpoint``, ``project_id``, ``model``): settled, likewise, for completions,
    embeddings and moderations (output tokens: completions only).
``openai_cost_month_to_date`` (gauge; ``project_id``, ``currency``)
    spend of the current UTC month up to ``openai_collected_until_timestamp_seconds``,
    unsettled days included (they may still be revised); no sample when nothing of this
    month was collected, never a zero that was not read.
``openai_budget_amount`` and ``openai_budget_used_ratio`` (gauges; ``budget``, ``currency``)
    each monthly budget given, and the month to date over it.
``openai_project_info`` (``project_id``, ``name``; value 1): names, to join on
    ``project_id`` in PromQL, when a names source is given.
``openai_collected_since_timestamp_seconds``, ``openai_settled_until_timestamp_seconds``,
``openai_collected_until_timestamp_seconds`` (gauges; ``endpoint``)
    the range each endpoint's figures summed: every figure says what it covers.

Labels stay few: ``user_id``, ``api_key_id`` and ``line_item`` are added only when asked
(``labels``), and only to the families whose endpoint groups by them. Samples carry no
timestamps (Prometheus stamps them at scrape). Values are floats, as Prometheus' are; the
database keeps the exact amounts.
"""

from __future__ import annotations

import asyncio
import decimal
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from .report.model import Budget, month_start
from .sync.reading import choose, collections
from .sync.stores import Store

__all__ = [
    "EXTRA_LABELS",
    "TOKEN_FAMILIES",
    "DatabaseCollector",
    "Family",
    "prometheus_client",
    "read_families",
]

EXTRA_LABELS = ("line_item", "user_id", "api_key_id")
"""Labels added only when asked: each multiplies the number of series."""
TOKEN_FAMILIES = {
    "input_tokens": "openai_input_tokens",
    "output_tokens": "openai_output_tokens",
    "num_model_requests": "openai_model_requests",
}
_TOKEN_ENDPOINTS = ("completions", "embeddings", "moderations")
_SUM = {"sqlite": "decimal_sum(amount_value)", "postgresql": "SUM(amount_value)"}


def prometheus_client() -> Any:
    """The ``prometheus_client`` module, or ImportError naming the extra that brings it."""
    try:
        import prometheus_client as module
    except ImportError:
        raise ImportError(
            "the exporter needs prometheus_client: pip install 'usage-async[prometheus]'"
        ) from None
    return module


@attrs.frozen
class Family:
    """One metric family as read: its kind (``counter``, ``gauge``, ``info``), name, help,
    label names and ``(label values, value)`` samples."""

    kind: str
    name: str
    help: str
    labels: tuple[str, ...]
    samples: tuple[tuple[tuple[str, ...], float], ...]


async def read_families(
    store: Store,
    *,
    now: int,
    labels: Sequence[str] = (),
    budgets: Sequence[Budget] = (),
    names: Mapping[str, str] | None = None,
) -> list[Family]:
    """Every family, read from the database now (see the module's docstring)."""
    out: list[Family] = []
    ranges: list[tuple[str, int, int, int]] = []
    held = await collections(store, "costs")
    extra = [label for label in labels if label in ("line_item", "api_key_id")]
    costs = choose(held, "costs", ("project_id", *extra))
    mtd: dict[tuple[str, str], decimal.Decimal] = {}
    if costs is not None:
        settled = await _settled_until(store, "costs", costs.bucket_width, costs.group_by)
        settled = min(settled, costs.watermark) if settled is not None else costs.watermark
        ranges.append(("costs", costs.since, settled, costs.watermark))
        keys = ("project_id", *extra)
        head = (costs.bucket_width, costs.group_by)
        rows = await _cost_sums(store, keys, head, costs.since, settled)
        out.append(
            Family(
                "counter",
                "openai_cost",
                "Settled spend (buckets from openai_collected_since_timestamp_seconds to "
                'openai_settled_until_timestamp_seconds, endpoint="costs"), in the currency',
                (*keys, "currency"),
                tuple((tuple(map(str, r[:-1])), float(decimal.Decimal(r[-1]))) for r in rows),
            )
        )
        month = month_start(now)
        if costs.watermark > month:
            rows = await _cost_sums(store, ("project_id",), head, month, costs.watermark)
            mtd = {(str(r[0]), str(r[1])): decimal.Decimal(r[2]) for r in rows}
            out.append(
                Family(
                    "gauge",
                    "openai_cost_month_to_date",
                    "Spend of the current UTC month up to openai_collected_until_timestamp_seconds"
                    ' (endpoint="costs"), unsettled days included',
                    ("project_id", "currency"),
                    tuple(((k[0], k[1]), float(v)) for k, v in sorted(mtd.items())),
                )
            )
        out.append(
            Family(
                "gauge",
                "openai_cost_month_to_date_since_timestamp_seconds",
                "Start of the month openai_cost_month_to_date sums (UTC)",
                (),
                (((), float(month)),),
            )
        )
    out += await _tokens(store, labels, ranges)
    if budgets:
        read_month = costs is not None and costs.watermark > month_start(now)
        out += _budgets(budgets, mtd if read_month else None)
    if names is not None:
        out.append(
            Family(
                "info",
                "openai_project",
                "A project's name, to join on project_id",
                ("project_id", "name"),
                tuple(((pid, name), 1.0) for pid, name in sorted(names.items())),
            )
        )
    for label, index in (
        ("openai_collected_since_timestamp_seconds", 1),
        ("openai_settled_until_timestamp_seconds", 2),
        ("openai_collected_until_timestamp_seconds", 3),
    ):
        out.append(
            Family(
                "gauge",
                label,
                "The range each endpoint's figures sum: "
                + {1: "first bucket", 2: "end of the settled buckets", 3: "end of what was read"}[
                    index
                ],
                ("endpoint",),
                tuple(((r[0],), float(r[index])) for r in ranges),
            )
        )
    return out


async def _cost_sums(
    store: Store, keys: Sequence[str], head: tuple[str, str], since: int, until: int
) -> list[tuple[Any, ...]]:
    """Exact spend of one collection's buckets in ``[since, until)``, per ``keys`` and currency."""
    p = store.dialect.param
    cols = ", ".join(f'"{k}"' for k in keys)
    currency = "COALESCE(amount_currency, '')"
    return await store.fetch(
        f"SELECT {cols}, {currency}, {_SUM[store.dialect.name]} FROM costs"
        f" WHERE bucket_width = {p} AND group_by = {p} AND amount_value IS NOT NULL"
        f" AND start_time >= {p} AND start_time < {p} GROUP BY {cols}, {currency}",
        (*head, since, until),
    )


async def _settled_until(store: Store, endpoint: str, width: str, group_by: str) -> int | None:
    """The start of the earliest unsettled bucket of a collection (None: all settled)."""
    p = store.dialect.param
    unsettled = "NOT settled" if store.dialect.name == "postgresql" else "settled = 0"
    rows = await store.fetch(
        f"SELECT MIN(start_time) FROM {endpoint} WHERE bucket_width = {p} AND group_by = {p}"
        f" AND {unsettled}",
        (width, group_by),
    )
    return None if not rows or rows[0][0] is None else int(rows[0][0])


async def _tokens(
    store: Store, labels: Sequence[str], ranges: list[tuple[str, int, int, int]]
) -> list[Family]:
    samples: dict[str, list[tuple[tuple[str, ...], float]]] = {k: [] for k in TOKEN_FAMILIES}
    extra = [label for label in labels if label in ("user_id", "api_key_id")]
    keys = ("project_id", "model", *extra)
    for endpoint in _TOKEN_ENDPOINTS:
        chosen = choose(await collections(store, endpoint), endpoint, keys)
        if chosen is None:
            continue
        settled = await _settled_until(store, endpoint, chosen.bucket_width, chosen.group_by)
        settled = min(settled, chosen.watermark) if settled is not None else chosen.watermark
        ranges.append((endpoint, chosen.since, settled, chosen.watermark))
        columns = store.schema.tables[endpoint].columns
        counters = [k for k in TOKEN_FAMILIES if k in columns]
        cols = ", ".join(f'"{k}"' for k in keys)
        p = store.dialect.param
        rows = await store.fetch(
            f"SELECT {cols}, {', '.join(f'SUM({c})' for c in counters)} FROM {endpoint}"
            f" WHERE bucket_width = {p} AND group_by = {p} AND start_time >= {p}"
            f" AND start_time < {p} GROUP BY {cols}",
            (chosen.bucket_width, chosen.group_by, chosen.since, settled),
        )
        for row in rows:
            values = tuple(str(v) for v in row[: len(keys)])
            for counter, total in zip(counters, row[len(keys) :], strict=True):
                samples[counter].append(((endpoint, *values), float(total or 0)))
    return [
        Family(
            "counter",
            name,
            f"Settled {counter.replace('_', ' ')} (buckets from "
            "openai_collected_since_timestamp_seconds to openai_settled_until_timestamp_seconds)",
            ("endpoint", *keys),
            tuple(samples[counter]),
        )
        for counter, name in TOKEN_FAMILIES.items()
    ]


def _budgets(
    budgets: Sequence[Budget], mtd: Mapping[tuple[str, str], decimal.Decimal] | None
) -> list[Family]:
    amounts, ratios = [], []
    for budget in budgets:
        who = budget.project_id or "organization"
        amounts.append(((who, budget.currency), float(budget.amount)))
        if mtd is None:
            continue  # nothing of this month was read: no ratio rather than a false 0
        spent = sum(
            (
                v
                for (project, currency), v in mtd.items()
                if currency == budget.currency
                and (budget.project_id is None or project == budget.project_id)
            ),
            decimal.Decimal(0),
        )
        ratio = spent / budget.amount if budget.amount else decimal.Decimal(0)
        ratios.append(((who, budget.currency), float(ratio)))
    return [
        Family("gauge", "openai_budget_amount", "A monthly budget", ("budget", "currency"),
               tuple(amounts)),
        Family("gauge", "openai_budget_used_ratio",
               "openai_cost_month_to_date over the monthly budget", ("budget", "currency"),
               tuple(ratios)),
    ]  # fmt: skip


class DatabaseCollector:
    """A ``prometheus_client`` collector whose ``collect()`` reads the database on the event
    loop that owns the store (``read`` is a coroutine function returning the families);
    the exporter's HTTP thread waits for it, ``timeout`` seconds at most."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        read: Callable[[], Awaitable[list[Family]]],
        timeout: float = 30.0,
    ) -> None:
        self.loop = loop
        self.read = read
        self.timeout = timeout

    def describe(self) -> list[Any]:
        """Nothing up front: registering must not read the database."""
        return []

    def collect(self) -> Iterator[Any]:
        """The families of one read of the database, as ``prometheus_client`` metrics."""
        prometheus_client()  # the extra's message, if it went missing since start-up
        import prometheus_client.core as core

        async def run() -> list[Family]:
            return await self.read()

        families = asyncio.run_coroutine_threadsafe(run(), self.loop).result(self.timeout)
        kinds = {
            "counter": core.CounterMetricFamily,
            "gauge": core.GaugeMetricFamily,
        }
        for family in families:
            if family.kind == "info":
                metric = core.InfoMetricFamily(family.name, family.help, labels=family.labels[:1])
                for values, _ in family.samples:
                    metric.add_metric(list(values[:1]), dict(zip(family.labels[1:], values[1:],
                                                                 strict=True)))  # fmt: skip
            else:
                metric = kinds[family.kind](family.name, family.help, labels=list(family.labels))
                for values, value in family.samples:
                    metric.add_metric(list(values), value)
            yield metric
