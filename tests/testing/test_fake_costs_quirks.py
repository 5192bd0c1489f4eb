"""Two Costs quirks of the real API, opt-in: a planted mismatch between usage and Costs on
chosen days (API-NOTES #8), and ``quantity`` only from a date on (#11). Off, nothing moves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest

from usage_async.testing import FakeUsageServer, Quirks
from usage_async.testing._state import Selection, UsageState

NOW = 1_736_944_200  # 2025-01-15T12:30Z
DAY = 86400
PLANTED = 1_736_035_200  # 2025-01-05
BY_LINE_ITEM = Selection(group_by=("line_item",))


def _by_line_item(state: UsageState, day: int) -> dict[str, dict[str, Any]]:
    return {r["line_item"]: r for r in state.buckets("costs", day, DAY, 1, BY_LINE_ITEM)[0]}


def test_a_mismatch_day_over_bills_one_models_output_and_nothing_else() -> None:
    plain = UsageState(seed=0, now=NOW)
    quirky = UsageState(seed=0, now=NOW, mismatch_days=[PLANTED])
    model = quirky.planted_mismatch(PLANTED)
    assert model == "o3-mini-2025-01-31"  # the model of 2025-01-05's first completions event
    before, after = _by_line_item(plain, PLANTED), _by_line_item(quirky, PLANTED)
    changed = {item for item in before if before[item] != after[item]}
    assert changed == {f"{model}, output"}
    line = f"{model}, output"
    assert after[line]["quantity"] > before[line]["quantity"] * 1.24
    assert after[line]["amount"]["value"] > before[line]["amount"]["value"] * 124 / 100
    for day in (PLANTED - DAY, PLANTED + DAY):
        assert _by_line_item(plain, day) == _by_line_item(quirky, day)
        assert quirky.planted_mismatch(day) is None
    # Usage is what it was: only Costs disagree with it.
    usage = Selection(group_by=("model",))
    assert plain.buckets("completions", PLANTED, DAY, 1, usage) == quirky.buckets(
        "completions", PLANTED, DAY, 1, usage
    )


def test_quantities_are_null_before_the_quantity_date_and_amounts_unchanged() -> None:
    plain = UsageState(seed=0, now=NOW)
    quirky = UsageState(seed=0, now=NOW, quantity_since=PLANTED)
    early, late = quirky.buckets("costs", PLANTED - DAY, DAY, 2, BY_LINE_ITEM)
    assert all(r["quantity"] is None and r["quantity_unit"] is None for r in early)
    assert all(r["quantity"] is not None for r in late)
    expected = plain.buckets("costs", PLANTED - DAY, DAY, 2, BY_LINE_ITEM)
    assert [[r["amount"] for r in b] for b in expected] == [
        [r["amount"] for r in b] for b in (early, late)
    ]


def test_the_quirks_take_dates_and_refuse_a_day_that_is_not_a_utc_midnight() -> None:
    quirks = Quirks(
        costs_mismatch_days=(dt.date(2025, 1, 5),), costs_quantity_since=dt.date(2025, 1, 5)
    )
    assert quirks.costs_mismatch_days == frozenset({PLANTED})
    assert quirks.costs_quantity_since == PLANTED
    assert Quirks().costs_mismatch_days == frozenset()
    with pytest.raises(ValueError, match="not a UTC midnight"):
        Quirks(costs_mismatch_days=(PLANTED + 3600,))
    with pytest.raises(TypeError):
        Quirks(costs_mismatch_days=("2025-01-05",))


async def test_switching_the_quirks_on_a_running_server_bills_again(
    server: FakeUsageServer,
    session: aiohttp.ClientSession,
    validate_page: Any,
) -> None:
    params = {
        "start_time": str(PLANTED - DAY),
        "end_time": str(PLANTED + DAY),
        "group_by": "line_item",
    }
    headers = {"Authorization": f"Bearer {server.api_key}"}

    async def read() -> Any:
        async with session.get(
            server.base_url + "/organization/costs", params=params, headers=headers
        ) as resp:
            assert resp.status == 200
            body = await resp.json()
        validate_page(body)
        return body

    plain = await read()
    server.quirks = Quirks(costs_mismatch_days=(PLANTED,), costs_quantity_since=PLANTED)
    quirky = await read()
    server.quirks = Quirks()
    again = await read()
    assert plain == again
    assert plain["data"][1] != quirky["data"][1]
    assert all(r["quantity"] is None for r in quirky["data"][0]["results"])
    assert [r["amount"] for r in plain["data"][0]["results"]] == [
        r["amount"] for r in quirky["data"][0]["results"]
    ]
