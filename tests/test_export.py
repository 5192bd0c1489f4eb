"""``usage-async export``: Parquet read back with pyarrow (decimal money, never float) and CSV
hold the rows and the exact sums ``query`` and ``summary`` give for the same range."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from report_support import FAKE, WEEK, usage_async

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


@pytest.fixture(scope="module")
def fake_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("db") / "usage.db"
    db = f"sqlite:///{path}"
    done = usage_async("sync", *FAKE, "--since", "20d", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


def _query(db: str) -> dict[str, Decimal]:
    done = usage_async("query", "--db", db, "spend", *WEEK, "--format", "json")
    assert done.returncode == 0, done.stderr
    return {r["project_id"]: Decimal(r["amount"]) for r in json.loads(done.stdout)}


def _sums(keys: list[str | None], amounts: list[Decimal | None]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for key, amount in zip(keys, amounts, strict=True):
        if amount is not None:
            out[key or ""] = out.get(key or "", Decimal(0)) + amount
    return out


def test_parquet_from_a_database_holds_every_row_and_querys_exact_sums(
    fake_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "costs.parquet"
    done = usage_async("export", "--db", fake_db, *WEEK, "-o", str(out))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)

    assert pa.types.is_decimal(table.schema.field("amount_value").type)
    with sqlite3.connect(fake_db.removeprefix("sqlite:///")) as conn:
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM costs WHERE start_time >= 1740787200 AND start_time < 1741392000"
        ).fetchone()
    assert table.num_rows == count > 100
    sums = _sums(table["project_id"].to_pylist(), table["amount_value"].to_pylist())
    assert sums == _query(fake_db)


def test_focus_parquet_from_the_api_sums_what_summary_sums(tmp_path: Path) -> None:
    out = tmp_path / "focus.parquet"
    done = usage_async("export", *FAKE, *WEEK, "--focus", "-o", str(out))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    summary = json.loads(usage_async("summary", *FAKE, *WEEK, "--format", "json").stdout)
    rows = usage_async(
        "costs", *FAKE, *WEEK, "--group-by", "project_id,line_item", "--format", "jsonl"
    ).stdout.splitlines()

    for money in ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost"):
        assert pa.types.is_decimal(table.schema.field(money).type), money
    assert pa.types.is_timestamp(table.schema.field("ChargePeriodStart").type)
    assert table.num_rows == len(rows)
    by_project = _sums(table["SubAccountId"].to_pylist(), table["BilledCost"].to_pylist())
    usd = summary["costs"]["usd"]
    assert by_project == {k: Decimal(v) for k, v in usd["by_project_id"].items()}
    by_item = _sums(table["ChargeDescription"].to_pylist(), table["BilledCost"].to_pylist())
    assert by_item == {k: Decimal(v) for k, v in usd["by_line_item"].items()}
    first = table.slice(0, 1).to_pylist()[0]
    assert first["BillingCurrency"] == "USD"
    assert first["ServiceName"] == "OpenAI API"
    assert first["SubAccountType"] == "Project"
    assert first["SubAccountName"]
    assert not first["SubAccountName"].startswith("proj_")
    assert str(first["ChargePeriodStart"]).startswith("2025-03-01 00:00:00")
    assert str(first["BillingPeriodEnd"]).startswith("2025-04-01 00:00:00")


def test_focus_csv_from_a_database_is_exact_text(fake_db: str, tmp_path: Path) -> None:
    out = tmp_path / "focus.csv"
    done = usage_async("export", "--db", fake_db, *WEEK, "--focus", "-o", str(out))
    assert done.returncode == 0, done.stderr
    with out.open(encoding="utf-8", newline="") as f:
        found = list(csv.DictReader(f))
    sums = _sums([r["SubAccountId"] for r in found], [Decimal(r["BilledCost"]) for r in found])
    assert sums == _query(fake_db)
    assert found[0]["ChargePeriodStart"] == "2025-03-01T00:00:00Z"


def test_usage_exports_too(fake_db: str, tmp_path: Path) -> None:
    out = tmp_path / "completions.parquet"
    done = usage_async("export", "completions", "--db", fake_db, *WEEK, "-o", str(out))
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.schema.field("input_tokens").type == pa.int64()
    assert table.num_rows > 10


def test_an_empty_range_writes_a_file_with_no_rows_and_says_so(tmp_path: Path) -> None:
    out = tmp_path / "none.parquet"
    done = usage_async(
        "export", *FAKE, "--since", "2020-01-01", "--until", "2020-01-08", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    assert "no rows: nothing in that range" in done.stderr
    assert "2020-01-01T00:00:00Z to 2020-01-08T00:00:00Z" in done.stderr
    assert pq.read_table(out).num_rows == 0


def test_focus_is_for_costs_only(tmp_path: Path) -> None:
    done = usage_async("export", "completions", *FAKE, "--focus", "-o", str(tmp_path / "x.csv"))
    assert done.returncode == 2
    assert "FOCUS columns describe costs" in done.stderr


def test_without_pyarrow_parquet_names_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from usage_async.cli import main\n"
        f"sys.exit(main(['export', '--fake', '-o', {str(tmp_path / 'x.parquet')!r}]))"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 2
    assert "pip install 'usage-async[parquet]'" in done.stderr
    assert not (tmp_path / "x.parquet").exists()
