"""The price table for estimates: the shipped one loads, a user's file replaces it, each price
applies from its date, and a file that does not parse is one error naming it and the problem."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from usage_async import InvalidParameterError
from usage_async.line_items import KINDS
from usage_async.prices import SHIPPED, Price, load_prices, parse_prices

ENTRY = {
    "model": "gpt-4o",
    "kind": "input",
    "usd": "2.50",
    "per": 1_000_000,
    "unit": "tokens",
    "effective_from": "2024-08-06",
}


def doc(*entries: dict[str, Any]) -> str:
    return json.dumps({"currency": "usd", "prices": list(entries)})


def test_the_shipped_table_loads_and_covers_the_simulators_token_models() -> None:
    table = load_prices()
    assert table.source == SHIPPED
    assert len(table) > 30
    price = table.price("gpt-4o-2024-08-06", "input", dt.date(2025, 1, 1))
    assert price is not None
    assert (price.usd, price.per, price.unit) == (Decimal("2.50"), 1_000_000, "tokens")
    assert table.price("dall-e-3", "image", dt.date(2025, 1, 1), "1024x1024") is not None
    assert all(kind in KINDS for (_, kind, _) in table.prices)


def test_a_price_applies_from_its_date_until_a_later_one() -> None:
    later = {**ENTRY, "usd": "2.00", "effective_from": "2025-01-01"}
    table = parse_prices(doc(later, ENTRY))
    assert table.price("gpt-4o", "input", dt.date(2024, 8, 5)) is None
    first = table.price("gpt-4o", "input", dt.date(2024, 12, 31))
    second = table.price("gpt-4o", "input", dt.date(2025, 1, 1))
    assert first is not None
    assert second is not None
    assert (first.usd, second.usd) == (Decimal("2.50"), Decimal("2.00"))


def test_amounts_are_read_exactly_from_strings_and_numbers() -> None:
    table = parse_prices('{"prices": [' + json.dumps(ENTRY)[:-1] + ', "note": "x"}]}')
    as_number = parse_prices(doc({**ENTRY, "usd": 0.075}))
    price = as_number.price("gpt-4o", "input", dt.date(2025, 1, 1))
    assert price is not None
    assert price.usd == Decimal("0.075")
    assert price.cost(1_000_000) == Decimal("0.075")
    assert len(table) == 1


def test_a_users_file_replaces_the_shipped_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(doc(ENTRY), encoding="utf-8")
    table = load_prices(path)
    assert table.source == str(path)
    assert table.price("gpt-4o", "input", dt.date(2025, 1, 1)) == Price(
        "gpt-4o", "input", Decimal("2.50"), 1_000_000, "tokens", dt.date(2024, 8, 6)
    )


def test_a_file_that_does_not_parse_names_the_file_and_where(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text('{"prices": [\n  {"model": "gpt-4o",,}\n]}', encoding="utf-8")
    with pytest.raises(InvalidParameterError) as info:
        load_prices(path)
    message = str(info.value)
    assert message.startswith(f"prices: {path}: not JSON: ")
    assert "line 2 column" in message
    assert "\n" not in message
    assert info.value.param == "prices"


def test_a_missing_file_is_the_same_kind_of_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="cannot be read"):
        load_prices(tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**ENTRY, "kind": "tokens"}, "'tokens' is not a kind; kinds: "),
        ({k: v for k, v in ENTRY.items() if k != "usd"}, "prices[0] has no usd"),
        ({**ENTRY, "colour": "red"}, "unknown fields colour"),
        ({**ENTRY, "usd": "two"}, "usd must be a non-negative decimal"),
        ({**ENTRY, "usd": "-1"}, "usd must be a non-negative decimal"),
        ({**ENTRY, "usd": True}, "usd must be a non-negative decimal"),
        ({**ENTRY, "per": 0}, "per must be a positive integer"),
        ({**ENTRY, "effective_from": "08/06/2024"}, "effective_from must be an ISO date"),
        ({**ENTRY, "model": ""}, "model must be a non-empty string"),
        ({**ENTRY, "detail": 1024}, "detail must be a string"),
        ("a price", "prices[0] is not an object"),
    ],
)
def test_an_entry_that_does_not_fit_is_named_with_its_problem(entry: Any, problem: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        parse_prices(doc(entry), "mine.json")
    assert str(info.value).startswith("prices: mine.json: prices[0]")
    assert problem in str(info.value)


def test_the_kinds_are_named_when_one_is_wrong() -> None:
    with pytest.raises(InvalidParameterError) as info:
        parse_prices(doc({**ENTRY, "kind": "tokens"}))
    assert all(kind in str(info.value) for kind in KINDS)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[]", 'expected an object with a "prices" list'),
        ('{"prices": {}}', 'expected an object with a "prices" list'),
        ('{"currency": "eur", "prices": []}', "prices must be in usd"),
        (doc(ENTRY, ENTRY), "repeats gpt-4o input from 2024-08-06"),
    ],
)
def test_a_document_that_is_not_a_price_table_is_refused(text: str, problem: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        parse_prices(text)
    assert problem in str(info.value)
