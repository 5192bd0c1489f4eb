"""A price table for estimates: USD per unit of usage, per model and charge kind, each price
with the date it took effect. Used only to estimate what usage should have cost
(:mod:`usage_async.reconcile`); Costs, not this table, is what was charged (API-NOTES #8).

The package ships one (``usage_async/data/prices.json``: list prices of the models the
simulator uses, as published by OpenAI at the dates given, which may be out of date); a
user's file of the same form replaces it (:func:`load_prices`). The form::

    {
      "currency": "usd",
      "prices": [
        {"model": "gpt-4o-2024-08-06", "kind": "input", "usd": "2.50",
         "per": 1000000, "unit": "tokens", "effective_from": "2024-08-06"},
        {"model": "dall-e-3", "kind": "image", "detail": "1024x1024", "usd": "0.040",
         "per": 1, "unit": "images", "effective_from": "2023-11-06"}
      ]
    }

``kind`` is one of :data:`~usage_async.line_items.KINDS`; ``detail`` (optional) is the image
size of an ``image`` price; ``usd`` a decimal string or number, read exactly; ``per`` the
units the price is for; ``effective_from`` an ISO date (UTC) from which the price applies,
until a later entry for the same model, kind and detail. A file that does not parse, or an
entry that does not fit, is one :class:`~usage_async.errors.InvalidParameterError` naming the
file and the problem.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Any

import attrs

from .errors import InvalidParameterError
from .line_items import KINDS

__all__ = ["SHIPPED", "Price", "PriceTable", "load_prices", "parse_prices", "prices_from"]

SHIPPED = "usage_async/data/prices.json"
_REQUIRED = ("model", "kind", "usd", "per", "unit", "effective_from")
_FIELDS = frozenset({*_REQUIRED, "detail", "note"})


@attrs.frozen
class Price:
    """``usd`` dollars for every ``per`` units (``unit``) of ``kind`` of ``model`` (and
    ``detail``, an image size), from ``effective_from`` on."""

    model: str
    kind: str
    usd: Decimal
    per: int
    unit: str
    effective_from: _dt.date
    detail: str | None = None

    def cost(self, quantity: int | Decimal) -> Decimal:
        """What ``quantity`` units cost at this price (an estimate wherever it is used)."""
        return Decimal(quantity) * self.usd / self.per


@attrs.frozen
class PriceTable:
    """Prices by model, kind and detail, each a list in order of ``effective_from``;
    ``source`` names the file they came from."""

    prices: Mapping[tuple[str, str, str | None], tuple[Price, ...]]
    source: str

    def price(
        self, model: str, kind: str, day: _dt.date, detail: str | None = None
    ) -> Price | None:
        """The price in effect on ``day`` (the latest taking effect on or before it), or None."""
        found = None
        for candidate in self.prices.get((model, kind, detail), ()):
            if candidate.effective_from > day:
                break
            found = candidate
        return found

    def __len__(self) -> int:
        return sum(len(v) for v in self.prices.values())


def _refuse(source: str, problem: str) -> InvalidParameterError:
    return InvalidParameterError(f"prices: {source}: {problem}", param="prices")


def _entry(source: str, index: int, raw: Any) -> Price:
    where = f"prices[{index}]"
    if not isinstance(raw, dict):
        raise _refuse(source, f"{where} is not an object")
    missing = [name for name in _REQUIRED if name not in raw]
    fields = ", ".join(sorted(_FIELDS))
    if missing:
        raise _refuse(source, f"{where} has no {', '.join(missing)} (fields: {fields})")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise _refuse(source, f"{where} has unknown fields {', '.join(unknown)} (fields: {fields})")
    model, kind, unit, detail = raw["model"], raw["kind"], raw["unit"], raw.get("detail")
    if not isinstance(model, str) or not model:
        raise _refuse(source, f"{where}.model must be a non-empty string, got {model!r}")
    if kind not in KINDS:
        raise _refuse(
            source, f"{where}.kind {kind!r} is not a kind; kinds: {', '.join(sorted(KINDS))}"
        )
    if not isinstance(unit, str) or not unit:
        raise _refuse(source, f"{where}.unit must be a non-empty string, got {unit!r}")
    if detail is not None and not isinstance(detail, str):
        raise _refuse(source, f"{where}.detail must be a string, got {detail!r}")
    usd = raw["usd"]
    try:
        if isinstance(usd, bool) or not isinstance(usd, (str, int, Decimal)):
            raise InvalidOperation
        amount = Decimal(usd)
        if not amount.is_finite() or amount < 0:
            raise InvalidOperation
    except InvalidOperation:
        raise _refuse(source, f"{where}.usd must be a non-negative decimal, got {usd!r}") from None
    per = raw["per"]
    if isinstance(per, bool) or not isinstance(per, int) or per < 1:
        raise _refuse(source, f"{where}.per must be a positive integer, got {per!r}")
    try:
        effective = _dt.date.fromisoformat(raw["effective_from"])
    except (TypeError, ValueError):
        raise _refuse(
            source,
            f"{where}.effective_from must be an ISO date (2025-01-31), got "
            f"{raw['effective_from']!r}",
        ) from None
    return Price(model, kind, amount, per, unit, effective, detail)


def parse_prices(text: str | bytes, source: str = "<prices>") -> PriceTable:
    """A :class:`PriceTable` from the JSON text of a price file (see the module's form).

    Raises :class:`InvalidParameterError` naming ``source`` and the problem: JSON that does
    not parse (with its line and column), a missing or unknown field, a kind that is not one
    (naming the kinds), an amount that is not a decimal, a date that is not ISO, or two
    prices for the same model, kind, detail and date.
    """
    try:
        document = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise _refuse(
            source, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise _refuse(source, f"not UTF-8 text: {exc.reason}") from None
    if not isinstance(document, dict) or not isinstance(document.get("prices"), list):
        raise _refuse(source, 'expected an object with a "prices" list')
    currency = document.get("currency", "usd")
    if not isinstance(currency, str) or currency.lower() != "usd":
        raise _refuse(source, f"prices must be in usd, got currency {currency!r}")
    table: dict[tuple[str, str, str | None], list[Price]] = {}
    for index, raw in enumerate(document["prices"]):
        price = _entry(source, index, raw)
        entries = table.setdefault((price.model, price.kind, price.detail), [])
        if any(p.effective_from == price.effective_from for p in entries):
            raise _refuse(
                source,
                f"prices[{index}] repeats {price.model} {price.kind}"
                f"{' ' + price.detail if price.detail else ''} from {price.effective_from}",
            )
        entries.append(price)
    return PriceTable(
        prices={key: tuple(sorted(v, key=_effective)) for key, v in table.items()},
        source=source,
    )


def _effective(price: Price) -> _dt.date:
    return price.effective_from


def load_prices(path: str | os.PathLike[str] | None = None) -> PriceTable:
    """The price table in the file ``path``, or the one shipped with the package (None).

    A file that cannot be read or does not parse raises :class:`InvalidParameterError`
    naming the file and the problem.
    """
    if path is None:
        text = resources.files("usage_async").joinpath("data/prices.json").read_bytes()
        return parse_prices(text, SHIPPED)
    source = os.fspath(path)
    try:
        with open(source, "rb") as file:
            text = file.read()
    except OSError as exc:
        raise _refuse(source, f"cannot be read ({exc.strerror or exc})") from None
    return parse_prices(text, source)


def prices_from(entries: Iterable[Price], source: str) -> PriceTable:
    """A :class:`PriceTable` of ``entries`` (for tests and tools that build one in code)."""
    table: dict[tuple[str, str, str | None], list[Price]] = {}
    for price in entries:
        table.setdefault((price.model, price.kind, price.detail), []).append(price)
    return PriceTable({k: tuple(sorted(v, key=_effective)) for k, v in table.items()}, source)
