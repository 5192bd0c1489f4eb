"""``usage_async.rows`` and ``arows``: flat dicts from buckets, in memory and streamed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

import usage_async
from usage_async import (
    Amount,
    Bucket,
    CompletionsResult,
    CostsResult,
    UnknownResult,
    arows,
    columns,
    rows,
)

DAY = 86400
JAN1 = 1_735_689_600  # 2025-01-01T00:00:00Z
UTC = dt.timezone.utc


def cost(value: str, project: str | None = None) -> CostsResult:
    return CostsResult(amount=Amount(Decimal(value), "usd"), project_id=project, line_item="x")


def test_rows_and_arows_are_exported_from_the_package() -> None:
    assert "rows" in usage_async.__all__
    assert "arows" in usage_async.__all__
    assert usage_async.rows is rows
    assert usage_async.arows is arows


def test_a_row_has_the_bucket_times_as_aware_utc_datetimes_then_the_tag_then_the_fields() -> None:
    [row] = rows([Bucket(JAN1, JAN1 + DAY, [cost("12.50", "proj_a")])])

    assert row == {
        "start_time": dt.datetime(2025, 1, 1, tzinfo=UTC),
        "end_time": dt.datetime(2025, 1, 2, tzinfo=UTC),
        "object": "organization.costs.result",
        "amount_value": Decimal("12.50"),
        "amount_currency": "usd",
        "line_item": "x",
        "project_id": "proj_a",
        "api_key_id": None,
        "quantity": None,
        "quantity_unit": None,
    }
    assert list(row) == list(columns(CostsResult))
    assert row["start_time"].utcoffset() == dt.timedelta(0)


def test_money_stays_an_exact_decimal() -> None:
    [row] = rows([Bucket(JAN1, JAN1 + DAY, [cost("0.000025463")])])

    assert type(row["amount_value"]) is Decimal
    assert str(row["amount_value"]) == "0.000025463"


def test_a_costs_result_without_amount_gives_none_for_both_amount_keys() -> None:
    [row] = rows([Bucket(JAN1, JAN1 + DAY, [CostsResult(line_item="x")])])

    assert row["amount_value"] is None
    assert row["amount_currency"] is None


def test_every_result_of_every_bucket_is_one_row_in_order_and_empty_buckets_give_none() -> None:
    buckets = [
        Bucket(JAN1, JAN1 + DAY, [cost("1", "a"), cost("2", "b")]),
        Bucket(JAN1 + DAY, JAN1 + 2 * DAY, []),
        Bucket(JAN1 + 2 * DAY, JAN1 + 3 * DAY, [cost("3", "a")]),
    ]

    got = [(r["start_time"].day, r["project_id"], r["amount_value"]) for r in rows(buckets)]

    assert got == [(1, "a", Decimal(1)), (1, "b", Decimal(2)), (3, "a", Decimal(3))]


def test_every_field_of_the_result_class_is_a_key_named_as_in_the_api() -> None:
    result = CompletionsResult(input_tokens=10, output_tokens=5, num_model_requests=1, model="m")

    [row] = rows([Bucket(JAN1, JAN1 + DAY, [result])])

    assert list(row) == list(columns(CompletionsResult))
    assert row["object"] == "organization.usage.completions.result"
    assert (row["input_tokens"], row["model"], row["batch"]) == (10, "m", None)


def test_an_unknown_result_gives_its_raw_fields_with_amount_flattened() -> None:
    raw = {
        "object": "organization.costs.result.v2",
        "amount": {"value": Decimal("1.5"), "currency": "eur"},
        "region": "eu",
        "start_time": 0,  # a clash: the bucket's own start_time wins
    }
    [row] = rows([Bucket(JAN1, JAN1 + DAY, [UnknownResult("organization.costs.result.v2", raw)])])

    assert row == {
        "start_time": dt.datetime(2025, 1, 1, tzinfo=UTC),
        "end_time": dt.datetime(2025, 1, 2, tzinfo=UTC),
        "object": "organization.costs.result.v2",
        "amount_value": Decimal("1.5"),
        "amount_currency": "eur",
        "region": "eu",
    }


def test_columns_refuses_what_is_not_a_result_class() -> None:
    with pytest.raises(TypeError):
        columns(UnknownResult)
    with pytest.raises(TypeError):
        columns(dict)


async def test_arows_yields_each_row_before_the_next_bucket_is_asked_for() -> None:
    pulled: list[int] = []

    async def stream() -> AsyncIterator[Bucket[Any]]:
        for day in range(3):
            pulled.append(day)
            yield Bucket(JAN1 + day * DAY, JAN1 + (day + 1) * DAY, [cost(str(day))])

    seen = []
    async for row in arows(stream()):
        seen.append((row["amount_value"], list(pulled)))

    assert seen == [(Decimal(0), [0]), (Decimal(1), [0, 1]), (Decimal(2), [0, 1, 2])]


async def test_leaving_arows_early_closes_the_bucket_stream() -> None:
    closed = False

    async def stream() -> AsyncIterator[Bucket[Any]]:
        nonlocal closed
        try:
            for day in range(10):
                yield Bucket(JAN1 + day * DAY, JAN1 + (day + 1) * DAY, [cost("1")])
        finally:
            closed = True

    rows_ = arows(stream())
    async for _ in rows_:
        break
    await rows_.aclose()

    assert closed


async def test_arows_takes_any_async_iterable_of_buckets() -> None:
    class Buckets:
        def __aiter__(self) -> AsyncIterator[Bucket[Any]]:
            return self.gen()

        async def gen(self) -> AsyncIterator[Bucket[Any]]:
            yield Bucket(JAN1, JAN1 + DAY, [cost("7")])

    assert [row["amount_value"] async for row in arows(Buckets())] == [Decimal(7)]
