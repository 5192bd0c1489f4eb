"""The README's money example runs against the simulator and prints what it says it does; and
every name the package exports for it resolves."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from helpers import readme_example

import usage_async as ua


async def test_the_money_example_runs_and_finds_the_planted_mismatch(
    capsys: pytest.CaptureFixture[str],
) -> None:
    await readme_example("money_report")["money_report"]()
    out = capsys.readouterr().out.splitlines()
    assert len([line for line in out if " -> " in line]) == 3  # three biggest changes
    days = [line for line in out if re.fullmatch(r"2025-01-\d\d 24h \d+", line)]
    assert len(days) == 7  # last week, Monday to Sunday, in Berlin days
    assert out.count("flagged: 2025-01-05 o3-mini-2025-01-31 ['output']") == 1
    assert not [line for line in out if line.startswith("flagged:") and "2025-01-05" not in line]
    budget = [line for line in out if line.startswith("organization: ")]
    assert budget
    assert re.search(r"of \d+\.\d\d, projected \d+\.\d\d$", budget[0])
    assert any(line.startswith("Costs: ") for line in out)


MONEY = {
    ".budgets": (
        "BudgetLine",
        "BudgetReport",
        "BudgetSettings",
        "Projection",
        "budget_report",
        "load_budget_settings",
    ),
    ".line_items": ("LineItem", "parse_line_item"),
    ".localtime": ("LocalDayBucket", "load_zone", "rebucket"),
    ".models": (
        "OrganizationSpendAlert",
        "OrganizationSpendLimit",
        "ProjectSpendAlert",
        "ProjectSpendLimit",
        "SpendAlert",
        "SpendAlertNotificationChannel",
        "SpendLimit",
        "SpendLimitEnforcement",
    ),
    ".periods": ("Change", "Comparison", "Period", "compare", "period", "previous"),
    ".prices": ("Price", "PriceTable", "load_prices"),
    ".reconcile": ("Estimate", "ReconcileReport", "Thresholds"),
    ".spend": ("SpendTable", "SpendTableRow", "group_spend"),
}


def test_every_money_name_is_exported_from_its_module() -> None:
    import usage_async.reconcile  # noqa: F401 - the submodule is now a package attribute

    package = Path(ua.__file__).parent
    for module, names in MONEY.items():
        for name in names:
            assert name in ua.__all__
            # A submodule of the same name would replace the attribute once imported.
            assert not (package / f"{name}.py").exists(), name
            exported = getattr(ua, name)
            assert exported is getattr(importlib.import_module(module, "usage_async"), name)
