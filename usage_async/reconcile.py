"""Reconciliation: per UTC day and model, what the usage endpoints counted against what Costs
charged. Pure. The one place money is derived from tokens (API-NOTES #8), and every such
figure is an :class:`Estimate`, kept apart from the Costs totals.

Inputs: usage buckets (``1d``, grouped by ``model``; completions also by ``batch``, images by
``size``) of the endpoints that bill per model (completions, embeddings, images, audio
speeches, audio transcriptions) and Costs buckets (``1d``, grouped by ``line_item``) of the
same range. Each Costs line item is read by :func:`~usage_async.line_items.parse_line_item`
into a model and a kind; each usage result gives its model's quantities by kind:

=====================  ===================================================================
completions            ``input``: ``input_tokens - input_cached_tokens - input_audio_tokens``
                       (uncached text and image input and cache writes; without cache
                       writes where Costs bill ``cache_write`` apart that day);
                       ``cached_input``: ``input_cached_tokens``; ``output``:
                       ``output_tokens - output_audio_tokens``; ``audio_input``,
                       ``audio_output``: the audio counts. Where Costs bill a model's image
                       or cached audio tokens apart (``image_input``, ...), the text, audio
                       and image counts are used one by one. ``batch: true``: the
                       ``batch_`` kinds. ``batch`` not grouped (None): read as not batch.
embeddings             ``input``: ``input_tokens``
images                 ``image`` by size: ``images`` (all sizes together when usage was not
                       grouped by ``size``)
audio speeches         ``characters``
audio transcriptions   ``seconds``
=====================  ===================================================================

Moderations cost nothing and are not compared. Charges that name no model (tool calls, code
interpreter sessions, storage) cannot be matched to per-model usage: they are listed in
``not_compared`` with their amounts, so every Costs dollar is accounted for.

Per day, model and kind (a :class:`KindLine`): where the Costs result carries a ``quantity``
in the kind's unit, the units are compared directly; otherwise the usage is priced from the
price table (:mod:`usage_async.prices`, the price in effect that day) into an
:class:`Estimate` and compared with the amount charged. A difference is flagged when it is
beyond both thresholds (:class:`Thresholds`: by default more than 1 % of the larger side, and,
for money, more than $0.01), so rounding and tiny amounts are not reported. Charges of a
model with no usage that day, and line items the parser does not recognise, are
``unmatched``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from .errors import InvalidParameterError
from .line_items import MODEL_LESS_KINDS, TOKEN_KINDS, parse_line_item
from .models import (
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    Bucket,
    CompletionsResult,
    CostsResult,
    EmbeddingsResult,
    ImagesResult,
)
from .prices import Price, PriceTable, load_prices

__all__ = [
    "Estimate",
    "KindLine",
    "ModelDay",
    "ReconcileReport",
    "Thresholds",
    "UnmatchedCharge",
    "reconcile",
]

DAY = 86400
_UTC = _dt.timezone.utc
QUANTITY = "quantity"
ESTIMATE = "estimate"
# The Costs quantity_unit each kind is compared in (others fall back to the estimate).
_UNITS: Mapping[str, frozenset[str]] = {
    **dict.fromkeys(TOKEN_KINDS, frozenset({"tokens"})),
    "image": frozenset({"images"}),
    "characters": frozenset({"characters"}),
    "seconds": frozenset({"seconds", "duration_seconds"}),
}
# Kinds that make a model-day's completions counts be read one modality at a time.
_BY_MODALITY = frozenset(
    {"image_input", "image_cached_input", "image_output", "audio_cached_input"}
)


@attrs.frozen
class Thresholds:
    """How big a difference must be to be flagged: beyond ``absolute_units`` (quantities) or
    ``absolute_usd`` (amounts), and beyond ``relative`` of the larger of the two sides.

    By default any difference in units beyond 1 % (both sides are exact counts, so a single
    image or a few tokens of a small day count), and a difference in money beyond one cent
    and 1 % (an estimate carries the rounding of the price table)."""

    absolute_units: Decimal = Decimal(0)
    absolute_usd: Decimal = Decimal("0.01")
    relative: Decimal = Decimal("0.01")

    def beyond(self, difference: Decimal, a: Decimal, b: Decimal, absolute: Decimal) -> bool:
        """Whether ``difference`` between ``a`` and ``b`` is beyond both thresholds."""
        size = abs(difference)
        return size > absolute and size > self.relative * max(abs(a), abs(b))


@attrs.frozen
class Estimate:
    """An estimate (not Costs data): ``amount`` is the usage priced at ``price``."""

    amount: Decimal
    price: Price


@attrs.frozen
class KindLine:
    """One kind of charge of one model on one day.

    ``usage_quantity`` is what the usage endpoints counted (0 when they counted none of this
    kind); ``costs_quantity`` and ``costs_unit`` what Costs reported (None when it did not);
    ``costs_amount`` what Costs charged (0 without a line item); ``estimate`` the usage priced
    from the price table (None without a price for that day). ``compared_by`` is
    ``"quantity"``, ``"estimate"`` or None (nothing to compare with); ``difference`` is Costs
    minus usage, in units or dollars accordingly (None when not compared). ``note`` says why
    a comparison fell back or could not be made.
    """

    kind: str
    detail: str | None
    usage_quantity: int
    costs_quantity: Decimal | None
    costs_unit: str | None
    costs_amount: Decimal
    estimate: Estimate | None
    compared_by: str | None
    difference: Decimal | None
    flagged: bool
    note: str | None = None


@attrs.frozen
class ModelDay:
    """One model on one UTC day: its kinds, what Costs charged for them (exact), the
    estimated total (a sum of estimates, None if any kind had no price), and whether any
    kind is flagged. ``prefixes`` are the line items' prefixes seen (``priority``,
    ``evals``): their charges are compared with the model's usage like the others, and
    estimated at the table's price, which has no prefixes."""

    day: _dt.date
    model: str
    kinds: tuple[KindLine, ...]
    costs_amount: Decimal
    estimated_amount: Decimal | None
    flagged: bool
    prefixes: tuple[str, ...] = ()


@attrs.frozen
class UnmatchedCharge:
    """A Costs charge that is not compared: ``reason`` says why."""

    day: _dt.date
    line_item: str
    amount: Decimal
    reason: str


@attrs.frozen
class ReconcileReport:
    """Every model-day compared, the charges not compared, and the totals.

    ``costs_total`` is every Costs amount in the range, exact; ``estimated_total`` the sum of
    the estimates of the lines that had a price (an estimate, never added to Costs). ``rows``
    are sorted by day and model; :attr:`flagged` are those beyond the thresholds.
    ``unmatched`` are charges of a model without usage that day and line items that are not a
    known form; ``not_compared`` charges that name no model.
    """

    rows: tuple[ModelDay, ...]
    unmatched: tuple[UnmatchedCharge, ...]
    not_compared: tuple[UnmatchedCharge, ...]
    costs_total: Decimal
    estimated_total: Decimal
    thresholds: Thresholds
    prices_source: str
    start_time: int | None
    end_time: int | None

    @property
    def flagged(self) -> tuple[ModelDay, ...]:
        """The model-days with a difference beyond the thresholds."""
        return tuple(row for row in self.rows if row.flagged)


# -- usage: quantities by day, model and kind ---------------------------------------------

Key = tuple[_dt.date, str]  # (UTC day, model)


def _day(bucket: Bucket[Any], what: str) -> _dt.date:
    if bucket.start_time % DAY or bucket.end_time - bucket.start_time != DAY:
        raise InvalidParameterError(
            f"{what}: reconciliation compares UTC days; a bucket from "
            f"{_dt.datetime.fromtimestamp(bucket.start_time, _UTC):%Y-%m-%dT%H:%MZ} is not one: "
            "fetch with bucket_width='1d'",
            param=what,
        )
    return _dt.datetime.fromtimestamp(bucket.start_time, _UTC).date()


def _n(value: int | None) -> int:
    return value or 0


def _completions(r: CompletionsResult, cache_apart: bool, by_modality: bool) -> dict[str, int]:
    cache_write = _n(r.input_cache_write_tokens)
    if by_modality:
        counts = {
            "input": _n(r.input_text_tokens) + (0 if cache_apart else cache_write),
            "cached_input": _n(r.input_cached_text_tokens),
            "output": _n(r.output_text_tokens),
            "audio_input": _n(r.input_audio_tokens),
            "audio_cached_input": _n(r.input_cached_audio_tokens),
            "audio_output": _n(r.output_audio_tokens),
            "image_input": _n(r.input_image_tokens),
            "image_cached_input": _n(r.input_cached_image_tokens),
            "image_output": _n(r.output_image_tokens),
        }
    else:
        uncached = r.input_tokens - _n(r.input_cached_tokens) - _n(r.input_audio_tokens)
        counts = {
            "input": uncached - (cache_write if cache_apart else 0),
            "cached_input": _n(r.input_cached_tokens),
            "output": r.output_tokens - _n(r.output_audio_tokens),
            "audio_input": _n(r.input_audio_tokens),
            "audio_output": _n(r.output_audio_tokens),
        }
    if cache_apart:
        counts["cache_write"] = cache_write
    if r.batch:
        counts = {_batch(kind): n for kind, n in counts.items()}
    return counts


def _batch(kind: str) -> str:
    batched = f"batch_{kind}"
    return batched if batched in TOKEN_KINDS else kind


def _usage(
    buckets: Iterable[Bucket[Any]], costs_kinds: Mapping[Key, set[str]]
) -> tuple[dict[Key, dict[tuple[str, str | None], int]], set[Key]]:
    """Usage quantities by (day, model) and (kind, detail); and the model-days whose images
    were not grouped by size."""
    out: dict[Key, dict[tuple[str, str | None], int]] = {}
    sizeless: set[Key] = set()
    for bucket in buckets:
        day = _day(bucket, "usage")
        for r in bucket.results:
            counts: dict[tuple[str, str | None], int]
            if isinstance(r, CompletionsResult):
                kinds = costs_kinds.get((day, r.model or ""), set())
                plain = _completions(r, "cache_write" in kinds, bool(kinds & _BY_MODALITY))
                counts = {(k, None): n for k, n in plain.items()}
            elif isinstance(r, EmbeddingsResult):
                counts = {("input", None): r.input_tokens}
            elif isinstance(r, ImagesResult):
                counts = {("image", r.size): r.images}
            elif isinstance(r, AudioSpeechesResult):
                counts = {("characters", None): r.characters}
            elif isinstance(r, AudioTranscriptionsResult):
                counts = {("seconds", None): r.seconds}
            else:
                continue  # moderations are free; the rest bill without a model
            if r.model is None:
                raise InvalidParameterError(
                    f"usage: {type(r).__name__} results carry no model: fetch usage with "
                    "group_by=['model'] (completions also 'batch', images also 'size')",
                    param="usage",
                )
            key = (day, r.model)
            if isinstance(r, ImagesResult) and r.size is None:
                sizeless.add(key)
            into = out.setdefault(key, {})
            for kind_detail, n in counts.items():
                into[kind_detail] = into.get(kind_detail, 0) + n
    return out, sizeless


# -- costs: amounts and quantities by day, model and kind ---------------------------------


@attrs.define
class _Charge:
    amount: Decimal = Decimal(0)
    quantity: Decimal | None = Decimal(0)
    unit: str | None = None
    units_agree: bool = True
    texts: list[str] = attrs.Factory(list)

    def add(self, result: CostsResult, text: str) -> None:
        if result.amount is not None:
            self.amount += result.amount.value
        if result.quantity is None or self.quantity is None:
            self.quantity = None  # one result without it: the sum is not known
        else:
            self.quantity += result.quantity
        if self.texts and result.quantity_unit != self.unit:
            self.units_agree = False
        self.unit = result.quantity_unit
        self.texts.append(text)


@attrs.define
class _Costs:
    charges: dict[Key, dict[tuple[str, str | None], _Charge]] = attrs.Factory(dict)
    prefixes: dict[Key, set[str]] = attrs.Factory(dict)
    unparsed: dict[tuple[_dt.date, str], Decimal] = attrs.Factory(dict)
    model_less: dict[tuple[_dt.date, str], Decimal] = attrs.Factory(dict)
    total: Decimal = Decimal(0)
    first: int | None = None
    last: int | None = None


def _costs(buckets: Iterable[Bucket[Any]]) -> _Costs:
    costs = _Costs()
    for bucket in buckets:
        day = _day(bucket, "costs")
        costs.first = (
            bucket.start_time if costs.first is None else min(costs.first, bucket.start_time)
        )
        costs.last = bucket.end_time if costs.last is None else max(costs.last, bucket.end_time)
        for result in bucket.results:
            if not isinstance(result, CostsResult):
                continue
            amount = result.amount.value if result.amount is not None else Decimal(0)
            if result.amount is not None and result.amount.currency.lower() != "usd":
                raise InvalidParameterError(
                    f"costs: an amount in {result.amount.currency!r}; prices are in usd",
                    param="costs",
                )
            costs.total += amount
            if result.line_item is None:
                raise InvalidParameterError(
                    "costs: the Costs results carry no line_item: fetch them with "
                    "group_by=['line_item']",
                    param="costs",
                )
            item = parse_line_item(result.line_item)
            if item.kind is None:
                key2 = (day, result.line_item)
                costs.unparsed[key2] = costs.unparsed.get(key2, Decimal(0)) + amount
                continue
            if item.model is None or item.kind in MODEL_LESS_KINDS:
                key2 = (day, result.line_item)
                costs.model_less[key2] = costs.model_less.get(key2, Decimal(0)) + amount
                continue
            key = (day, item.model)
            detail = item.detail if item.kind == "image" else None
            charges = costs.charges.setdefault(key, {})
            charges.setdefault((item.kind, detail), _Charge()).add(result, result.line_item)
            if item.prefix is not None:
                costs.prefixes.setdefault(key, set()).add(item.prefix)
    return costs


# -- the comparison -----------------------------------------------------------------------


def _line(
    kind: str,
    detail: str | None,
    usage: int,
    charge: _Charge | None,
    price: Price | None,
    thresholds: Thresholds,
) -> KindLine:
    amount = charge.amount if charge is not None else Decimal(0)
    quantity = charge.quantity if charge is not None else None
    unit = charge.unit if charge is not None else None
    estimate = Estimate(price.cost(usage), price) if price is not None else None
    note = None
    comparable = (
        charge is not None
        and quantity is not None
        and charge.units_agree
        and unit in _UNITS.get(kind, frozenset())
    )
    if comparable:
        assert quantity is not None
        difference = quantity - usage
        flagged = thresholds.beyond(difference, quantity, Decimal(usage), thresholds.absolute_units)
        compared_by: str | None = QUANTITY
    elif estimate is not None:
        if charge is not None and quantity is not None:
            note = f"quantity in {unit!r} is not comparable with {kind}: compared by estimate"
        difference = amount - estimate.amount
        flagged = thresholds.beyond(difference, amount, estimate.amount, thresholds.absolute_usd)
        compared_by = ESTIMATE
    else:
        compared_by = difference = None
        note = "no quantity from Costs and no price for that day: not compared"
        # Something against nothing is a difference whatever the price.
        flagged = (charge is None and usage > thresholds.absolute_units) or (
            usage == 0 and amount > thresholds.absolute_usd
        )
        if flagged:
            note = "usage without a charge" if charge is None else "a charge without usage"
    return KindLine(
        kind=kind,
        detail=detail,
        usage_quantity=usage,
        costs_quantity=quantity,
        costs_unit=unit,
        costs_amount=amount,
        estimate=estimate,
        compared_by=compared_by,
        difference=difference,
        flagged=flagged,
        note=note,
    )


def _fold_sizes(
    charges: dict[tuple[str, str | None], _Charge],
) -> dict[tuple[str, str | None], _Charge]:
    """Image charges of all sizes as one (usage was not grouped by size)."""
    out: dict[tuple[str, str | None], _Charge] = {}
    for (kind, detail), charge in charges.items():
        if kind != "image":
            out[kind, detail] = charge
            continue
        into = out.setdefault(("image", None), _Charge())
        into.amount += charge.amount
        if charge.quantity is None or into.quantity is None:
            into.quantity = None
        else:
            into.quantity += charge.quantity
        into.units_agree = (
            into.units_agree and charge.units_agree and (not into.texts or into.unit == charge.unit)
        )
        into.unit = charge.unit
        into.texts.extend(charge.texts)
    return out


def reconcile(
    usage: Iterable[Bucket[Any]],
    costs: Iterable[Bucket[Any]],
    *,
    prices: PriceTable | None = None,
    thresholds: Thresholds | None = None,
) -> ReconcileReport:
    """Compare ``usage`` with ``costs`` per UTC day and model (see the module's rules).

    ``prices`` defaults to the table shipped with the package (:func:`load_prices`). Raises
    :class:`InvalidParameterError` for buckets that are not UTC days, usage not grouped by
    model, Costs not grouped by line item, or amounts not in USD.
    """
    table = prices if prices is not None else load_prices()
    limits = thresholds if thresholds is not None else Thresholds()
    charged = _costs(costs)
    costs_kinds = {key: {kind for kind, _ in charges} for key, charges in charged.charges.items()}
    used, sizeless = _usage(usage, costs_kinds)
    rows: list[ModelDay] = []
    unmatched: list[UnmatchedCharge] = []
    for key in sorted(set(used) | set(charged.charges)):
        day, model = key
        charges = charged.charges.get(key, {})
        quantities = used.get(key)
        if quantities is None:
            unmatched.extend(
                UnmatchedCharge(day, text, charge.amount, "no usage of this model that day")
                for charge in charges.values()
                for text in sorted(set(charge.texts))
            )
            continue
        if key in sizeless:
            charges = _fold_sizes(charges)
            quantities = _fold_usage_sizes(quantities)
        lines = []
        for kind, detail in sorted(set(quantities) | set(charges), key=_kind_order):
            usage_quantity = quantities.get((kind, detail), 0)
            charge = charges.get((kind, detail))
            if charge is None and usage_quantity == 0:
                continue
            price = table.price(model, kind, day, detail)
            lines.append(_line(kind, detail, usage_quantity, charge, price, limits))
        estimates = [line.estimate for line in lines]
        estimated = (
            sum((e.amount for e in estimates if e is not None), Decimal(0))
            if all(e is not None for e in estimates)
            else None
        )
        rows.append(
            ModelDay(
                day=day,
                model=model,
                kinds=tuple(lines),
                costs_amount=sum((line.costs_amount for line in lines), Decimal(0)),
                estimated_amount=estimated,
                flagged=any(line.flagged for line in lines),
                prefixes=tuple(sorted(charged.prefixes.get(key, ()))),
            )
        )
    unmatched.extend(
        UnmatchedCharge(day, text, amount, "not a known line item form")
        for (day, text), amount in sorted(charged.unparsed.items())
    )
    not_compared = tuple(
        UnmatchedCharge(day, text, amount, "names no model")
        for (day, text), amount in sorted(charged.model_less.items())
    )
    estimated_total = sum(
        (line.estimate.amount for row in rows for line in row.kinds if line.estimate is not None),
        Decimal(0),
    )
    return ReconcileReport(
        rows=tuple(rows),
        unmatched=tuple(sorted(unmatched, key=lambda u: (u.day, u.line_item))),
        not_compared=not_compared,
        costs_total=charged.total,
        estimated_total=estimated_total,
        thresholds=limits,
        prices_source=table.source,
        start_time=charged.first,
        end_time=charged.last,
    )


def _fold_usage_sizes(
    quantities: dict[tuple[str, str | None], int],
) -> dict[tuple[str, str | None], int]:
    out: dict[tuple[str, str | None], int] = {}
    for (kind, detail), n in quantities.items():
        key = (kind, None) if kind == "image" else (kind, detail)
        out[key] = out.get(key, 0) + n
    return out


def _kind_order(item: tuple[str, str | None]) -> tuple[str, str]:
    return item[0], item[1] or ""
