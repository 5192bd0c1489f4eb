"""Reconciliation: usage against Costs per UTC day and model; it finds the simulator's planted
mismatch and nothing else (by quantity, and by estimate where Costs has no quantity), keeps
estimates apart from Costs, and lists what it cannot compare."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import usage_async as ua
from usage_async import (
    Amount,
    AudioSpeechesResult,
    Bucket,
    CompletionsResult,
    CostsResult,
    EmbeddingsResult,
    ImagesResult,
    InvalidParameterError,
)
from usage_async._convert import decode_page
from usage_async.prices import Price, load_prices, prices_from
from usage_async.reconcile import Estimate, Thresholds, reconcile
from usage_async.testing import FakeUsageServer, Quirks
from usage_async.testing import _prices as sim
from usage_async.testing._api import encode_json
from usage_async.testing._state import Selection, UsageState

DAY = 86400
NOW = 1_736_944_200  # 2025-01-15T12:30Z
PLANTED = 1_736_035_200  # 2025-01-05
START = PLANTED - 7 * DAY  # two weeks around the planted day
DAYS = 14
USAGE_GROUPS = {
    "completions": ["model", "batch"],
    "embeddings": ["model"],
    "images": ["model", "size"],
    "audio_speeches": ["model"],
    "audio_transcriptions": ["model"],
    "moderations": ["model"],  # free: never compared
}


def _buckets(state: UsageState, endpoint: str, group_by: list[str]) -> list[Bucket[Any]]:
    """The simulator's buckets as a client reads them (through JSON and the converter)."""
    rows = state.buckets(endpoint, START, DAY, DAYS, Selection(group_by=tuple(group_by)))
    body = {
        "data": [
            {"start_time": START + i * DAY, "end_time": START + (i + 1) * DAY, "results": r}
            for i, r in enumerate(rows)
        ],
        "has_more": False,
        "next_page": None,
    }
    return decode_page(200, {}, encode_json(body)).data


def _simulated(state: UsageState) -> tuple[list[Bucket[Any]], list[Bucket[Any]]]:
    usage = [b for ep, g in USAGE_GROUPS.items() for b in _buckets(state, ep, g)]
    return usage, _buckets(state, "costs", ["line_item"])


def simulator_price_file(path: Path) -> Path:
    """The simulator's own price table written as a user's price file."""
    entries: list[dict[str, Any]] = []

    def add(model: str, kind: str, price: sim.Price, detail: str | None = None) -> None:
        entry = {
            "model": model,
            "kind": kind,
            "usd": str(price.usd),
            "per": price.per,
            "unit": price.quantity_unit or "units",
            "effective_from": "2024-01-01",
        }
        entries.append({**entry, "detail": detail} if detail else entry)

    names = ("input", "cached_input", "output", "audio_input", "audio_output")
    for model, table in sim.COMPLETIONS_PRICES.items():
        for kind, price in zip(names, table, strict=True):
            add(model, kind, price)
            add(
                model,
                f"batch_{kind}",
                sim.Price(price.usd / sim.BATCH_DISCOUNT, price.per, "tokens"),
            )
    for model, price in sim.EMBEDDINGS_PRICES.items():
        add(model, "input", price)
    for (model, size), price in sim.IMAGE_PRICES.items():
        add(model, "image", price, size)
    for model, price in sim.AUDIO_SPEECH_PRICES.items():
        add(model, "characters", price)
    for model, price in sim.TRANSCRIPTION_PRICES.items():
        add(model, "seconds", price)
    path.write_text(json.dumps({"currency": "usd", "prices": entries}), encoding="utf-8")
    return path


# -- the planted mismatch, and nothing else -------------------------------------------------


async def test_it_flags_the_simulators_planted_mismatch_and_nothing_else() -> None:
    quirks = Quirks(costs_mismatch_days=(PLANTED,))
    async with FakeUsageServer(seed=0, now=NOW, quirks=quirks) as srv:
        planted = srv.state.planted_mismatch(PLANTED)
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as client:
            span = {"start_time": START, "end_time": START + DAYS * DAY}
            usage: list[Bucket[Any]] = []
            for endpoint, group_by in USAGE_GROUPS.items():
                usage += await client.endpoint(endpoint).collect(group_by=group_by, **span)
            costs = await client.costs.collect(group_by=["line_item"], **span)
    report = reconcile(usage, costs)
    assert [(row.day, row.model) for row in report.flagged] == [(dt.date(2025, 1, 5), planted)]
    (row,) = report.flagged
    (line,) = [k for k in row.kinds if k.flagged]
    assert (line.kind, line.compared_by) == ("output", "quantity")
    assert line.costs_quantity is not None
    assert line.difference == line.costs_quantity - line.usage_quantity
    assert line.difference > line.usage_quantity / 5  # a quarter more than was used
    assert report.unmatched == ()
    assert {u.line_item for u in report.not_compared} >= {
        "code interpreter sessions",
        "file search tool calls",
        "vector store storage",
    }
    everything = sum(
        (r.amount.value for b in costs for r in b.results if r.amount is not None), Decimal(0)
    )
    compared = sum((row.costs_amount for row in report.rows), Decimal(0))
    assert report.costs_total == everything  # exactly Costs, no estimate in it
    assert compared + sum((u.amount for u in report.not_compared), Decimal(0)) == everything
    assert report.estimated_total != report.costs_total


def test_without_the_quirk_nothing_is_flagged() -> None:
    report = reconcile(*_simulated(UsageState(seed=0, now=NOW)))
    assert report.flagged == ()
    assert len(report.rows) > 100
    assert all(line.compared_by == "quantity" for row in report.rows for line in row.kinds)


def test_without_quantities_the_estimate_finds_the_mismatch_and_nothing_else(
    tmp_path: Path,
) -> None:
    state = UsageState(seed=0, now=NOW, mismatch_days=[PLANTED], quantity_since=NOW)
    prices = load_prices(simulator_price_file(tmp_path / "simulator-prices.json"))
    report = reconcile(*_simulated(state), prices=prices)
    assert [(row.day, row.model) for row in report.flagged] == [
        (dt.date(2025, 1, 5), state.planted_mismatch(PLANTED))
    ]
    lines = [line for row in report.rows for line in row.kinds]
    assert all(line.compared_by == "estimate" for line in lines)
    assert all(isinstance(line.estimate, Estimate) for line in lines)
    clean = [line for row in report.rows if not row.flagged for line in row.kinds]
    assert max(abs(line.difference or 0) for line in clean) < Decimal("0.0001")  # rounding
    assert report.prices_source.endswith("simulator-prices.json")


def test_with_the_shipped_prices_a_day_without_a_price_is_not_compared_not_guessed() -> None:
    # o3-mini's list price takes effect on 2025-01-31: no estimate for it before then.
    state = UsageState(seed=0, now=NOW, quantity_since=NOW)
    report = reconcile(*_simulated(state))
    o3 = [row for row in report.rows if row.model == "o3-mini-2025-01-31"]
    assert o3
    assert all(row.estimated_amount is None for row in o3)
    assert all(line.compared_by is None for row in o3 for line in row.kinds)
    assert report.flagged == ()


# -- the rules, on values ---------------------------------------------------------------

JAN_10 = 1_736_467_200  # 2025-01-10T00:00Z
PRICES = prices_from(
    [
        Price("m", "input", Decimal("1.00"), 1_000_000, "tokens", dt.date(2024, 1, 1)),
        Price("m", "output", Decimal("4.00"), 1_000_000, "tokens", dt.date(2024, 1, 1)),
        Price("m", "batch_input", Decimal("0.50"), 1_000_000, "tokens", dt.date(2024, 1, 1)),
        Price("m", "cache_write", Decimal("1.25"), 1_000_000, "tokens", dt.date(2024, 1, 1)),
        Price("img", "image", Decimal("0.04"), 1, "images", dt.date(2024, 1, 1), "1024x1024"),
    ],
    "test",
)


def day(*results: Any, start: int = JAN_10) -> Bucket[Any]:
    return Bucket(start, start + DAY, list(results))


def charge(
    line_item: str, amount: str, quantity: int | None = None, unit: str | None = "tokens"
) -> CostsResult:
    return CostsResult(
        amount=Amount(Decimal(amount), "usd"),
        line_item=line_item,
        quantity=None if quantity is None else Decimal(quantity),
        quantity_unit=unit if quantity is not None else None,
    )


def completion(model: str = "m", batch: bool | None = None, **counts: int) -> CompletionsResult:
    base = {"input_tokens": 0, "output_tokens": 0, "num_model_requests": 1}
    return CompletionsResult(model=model, batch=batch, **{**base, **counts})


def test_units_are_compared_where_costs_carry_them_and_need_both_thresholds() -> None:
    usage = [day(completion(input_tokens=1_000_000, output_tokens=1000))]
    near = [day(charge("m, input", "1.00", 1_000_500), charge("m, output", "0.004", 1000))]
    report = reconcile(usage, near, prices=PRICES)
    assert report.flagged == ()  # 500 tokens more is 0.05 %: below the relative threshold
    far = [day(charge("m, input", "1.00", 1_000_000), charge("m, output", "0.004", 1020))]
    (row,) = reconcile(usage, far, prices=PRICES).flagged
    (line,) = [k for k in row.kinds if k.flagged]
    assert (line.kind, line.difference) == ("output", Decimal(20))  # 2 %, and over 1 token
    strict = Thresholds(relative=Decimal(0), absolute_units=Decimal(0))
    assert reconcile(usage, near, prices=PRICES, thresholds=strict).flagged != ()


def test_without_a_quantity_the_usage_is_priced_into_a_labelled_estimate() -> None:
    usage = [day(completion(input_tokens=2_000_000))]
    (row,) = reconcile(usage, [day(charge("m, input", "2.50"))], prices=PRICES).rows
    (line,) = row.kinds
    assert line.compared_by == "estimate"
    assert line.estimate == Estimate(Decimal("2.00"), PRICES.price("m", "input", row.day))  # type: ignore[arg-type]
    assert line.difference == Decimal("0.50")
    assert line.flagged
    assert row.costs_amount == Decimal("2.50")
    assert row.estimated_amount == Decimal("2.00")


def test_a_quantity_in_another_unit_falls_back_to_the_estimate_and_says_so() -> None:
    usage = [day(completion(input_tokens=1_000_000))]
    costs = [day(charge("m, input", "1.00", 1, unit="requests"))]
    (line,) = reconcile(usage, costs, prices=PRICES).rows[0].kinds
    assert line.compared_by == "estimate"
    assert line.note is not None
    assert "'requests'" in line.note
    assert not line.flagged


def test_completions_kinds_follow_the_documented_arithmetic() -> None:
    usage = [
        day(
            completion(
                input_tokens=1000,
                input_cached_tokens=300,
                input_audio_tokens=100,
                output_tokens=500,
                output_audio_tokens=50,
            ),
            completion(batch=True, input_tokens=40, output_tokens=4),
        )
    ]
    costs = [
        day(
            charge("m, input", "0", 600),
            charge("m, cached input", "0", 300),
            charge("m, audio input", "0", 100),
            charge("m, output", "0", 450),
            charge("m, audio output", "0", 50),
            charge("m, batch input", "0", 40),
            charge("m, batch output", "0", 4),
        )
    ]
    (row,) = reconcile(usage, costs, prices=PRICES).rows
    assert {k.kind: (k.usage_quantity, k.difference) for k in row.kinds} == {
        "input": (600, 0),
        "cached_input": (300, 0),
        "audio_input": (100, 0),
        "output": (450, 0),
        "audio_output": (50, 0),
        "batch_input": (40, 0),
        "batch_output": (4, 0),
    }


def test_cache_writes_billed_apart_are_taken_out_of_input() -> None:
    usage = [day(completion(input_tokens=1000, input_cache_write_tokens=200))]
    apart = [day(charge("m, input", "0", 800), charge("m, cache writes", "0", 200))]
    (row,) = reconcile(usage, apart, prices=PRICES).rows
    assert {k.kind: k.usage_quantity for k in row.kinds} == {"input": 800, "cache_write": 200}
    assert not row.flagged
    together = [day(charge("m, input", "0", 1000))]
    assert not reconcile(usage, together, prices=PRICES).rows[0].flagged


def test_image_token_charges_read_the_counts_one_modality_at_a_time() -> None:
    result = completion(
        model="gi",
        input_tokens=100,
        input_text_tokens=60,
        input_image_tokens=40,
        output_tokens=30,
        output_text_tokens=10,
        output_image_tokens=20,
    )
    costs = [
        day(
            charge("gi text, input", "0", 60),
            charge("gi image, input", "0", 40),
            charge("gi, output", "0", 10),
            charge("gi image, output", "0", 20),
        )
    ]
    (row,) = reconcile([day(result)], costs, prices=PRICES).rows
    assert not row.flagged
    assert {k.kind: k.usage_quantity for k in row.kinds} == {
        "input": 60,
        "image_input": 40,
        "output": 10,
        "image_output": 20,
    }


def test_images_by_size_or_all_sizes_together_when_usage_has_no_size() -> None:
    costs = [
        day(
            charge("img, 1024x1024", "0.08", 2, unit="images"),
            charge("img, 512x512", "0.03", 1, unit="images"),
        )
    ]
    by_size = [day(ImagesResult(images=2, num_model_requests=1, model="img", size="1024x1024"))]
    (row,) = reconcile(by_size, costs, prices=PRICES).rows
    assert {(k.detail, k.usage_quantity) for k in row.kinds} == {("1024x1024", 2), ("512x512", 0)}
    assert row.flagged  # an image charged of a size never used
    all_sizes = [day(ImagesResult(images=3, num_model_requests=1, model="img"))]
    (row,) = reconcile(all_sizes, costs, prices=PRICES).rows
    (line,) = row.kinds
    assert (line.detail, line.usage_quantity, line.costs_quantity) == (None, 3, Decimal(3))
    assert not row.flagged


def test_charges_without_usage_and_unknown_line_items_are_unmatched() -> None:
    usage = [day(EmbeddingsResult(input_tokens=10, num_model_requests=1, model="m"))]
    costs = [
        day(
            charge("m, input", "0.00001", 10),
            charge("ghost-model, output", "1.23", 5),
            charge("assistants api | file search", "0.27"),
            charge("web search tool calls", "0.10"),
        )
    ]
    report = reconcile(usage, costs, prices=PRICES)
    assert [(u.line_item, u.amount, u.reason) for u in report.unmatched] == [
        ("assistants api | file search", Decimal("0.27"), "not a known line item form"),
        ("ghost-model, output", Decimal("1.23"), "no usage of this model that day"),
    ]
    assert [(u.line_item, u.reason) for u in report.not_compared] == [
        ("web search tool calls", "names no model")
    ]
    assert report.costs_total == Decimal("1.60001")


def test_usage_without_a_charge_or_a_price_is_flagged_only_as_something_against_nothing() -> None:
    usage = [
        day(
            AudioSpeechesResult(characters=5000, num_model_requests=1, model="tts"),
            completion(input_tokens=1000),
        )
    ]
    report = reconcile(usage, [day()], prices=PRICES)
    m, tts = report.rows
    assert tts.flagged
    assert tts.kinds[0].note == "usage without a charge"
    assert tts.estimated_amount is None
    assert m.kinds[0].compared_by == "estimate"  # priced: 1000 tokens cost 0.001, below 0.01
    assert not m.flagged


def test_prefixes_are_kept_and_charged_with_the_models_usage() -> None:
    usage = [day(completion(input_tokens=10))]
    costs = [day(charge("priority | m, input", "0", 6), charge("m, input", "0", 4))]
    (row,) = reconcile(usage, costs, prices=PRICES).rows
    assert row.prefixes == ("priority",)
    assert row.kinds[0].costs_quantity == 10
    assert not row.flagged


@pytest.mark.parametrize(
    ("usage", "costs", "problem"),
    [
        ([day(completion(model=None))], [day()], r"group_by=\['model'\]"),  # type: ignore[arg-type]
        ([], [day(CostsResult(amount=Amount(Decimal(1), "usd")))], r"group_by=\['line_item'\]"),
        ([Bucket(JAN_10, JAN_10 + 3600, [])], [], "bucket_width='1d'"),
        ([], [day(CostsResult(amount=Amount(Decimal(1), "eur"), line_item="m, input"))], "'eur'"),
    ],
)
def test_inputs_it_cannot_compare_are_refused_saying_what_to_fetch(
    usage: list[Bucket[Any]], costs: list[Bucket[Any]], problem: str
) -> None:
    with pytest.raises(InvalidParameterError, match=problem):
        reconcile(usage, costs, prices=PRICES)
