"""``usage-async report``: its figures are ``query``'s and ``summary``'s, it loads nothing from
anywhere, and an empty range says "no data". Real subprocesses of the console script."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import pytest
from report_support import FAKE, WEEK, column, tables, usage_async

from usage_async.report import Budget, Range, ReportData, render


def _query(db: str, by: str, *extra: str) -> dict[str, Decimal]:
    done = usage_async("query", "--db", db, "spend", "--by", by, *extra, "--format", "json")
    assert done.returncode == 0, done.stderr
    return {row[by if by != "project" else "project_id"]: Decimal(row["amount"]) for row in
            json.loads(done.stdout)}  # fmt: skip


@pytest.fixture(scope="module")
def fake_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database filled by ``sync --fake`` (every endpoint, 40 days to the fixed clock)."""
    path = tmp_path_factory.mktemp("db") / "usage.db"
    db = f"sqlite:///{path}"
    done = usage_async("sync", *FAKE, "--since", "40d", "--db", db)
    assert done.returncode == 0, done.stderr
    return db


def test_a_report_from_a_database_shows_the_figures_query_gives(
    fake_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "spend.html"
    done = usage_async("report", "--db", fake_db, *WEEK, "--top", "0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    page = out.read_text(encoding="utf-8")

    assert column(page, "spend-by-project", 1, 2) == _query(fake_db, "project", *WEEK)
    assert column(page, "spend-by-day", 0, 1) == _query(fake_db, "day", *WEEK)
    assert column(page, "line-items", 0, 1) == _query(fake_db, "line_item", *WEEK)
    assert "buckets from 2025-03-01T00:00:00Z to 2025-03-08T00:00:00Z" in page
    previous = {"--since": "2025-02-22", "--until": "2025-03-01"}
    expected = _query(fake_db, "project", *(x for kv in previous.items() for x in kv))
    assert column(page, "previous", 0, 2) == expected  # ids: the database has no names yet
    assert "wrote" in done.stderr


def test_a_report_from_the_api_sums_what_summary_sums(tmp_path: Path) -> None:
    out = tmp_path / "spend.html"
    done = usage_async("report", *FAKE, *WEEK, "--top", "0", "-o", str(out))
    assert done.returncode == 0, done.stderr
    summary = usage_async("summary", *FAKE, *WEEK, "--format", "json")
    totals = json.loads(summary.stdout)
    page = out.read_text(encoding="utf-8")

    usd = totals["costs"]["usd"]
    assert column(page, "spend-by-project", 1, 2) == {
        k: Decimal(v) for k, v in usd["by_project_id"].items()
    }
    assert column(page, "line-items", 0, 1) == {
        k: Decimal(v) for k, v in usd["by_line_item"].items()
    }
    tokens = {r[0]: [int(x) for x in r[1:]] for r in tables(page)["tokens"][1:] if r[0] != "total"}
    assert tokens == {
        model: [c["input_tokens"], c["output_tokens"], c["num_model_requests"]]
        for model, c in totals["tokens_by_model"].items()
    }
    # Names from the organization's directory, ids beside them.
    projects = tables(page)["spend-by-project"][1:-1]
    assert all(name != pid and pid.startswith("proj_") for name, pid, _ in projects)


def test_tokens_from_a_database_equal_tokens_from_the_api(fake_db: str, tmp_path: Path) -> None:
    usage_async("report", "--db", fake_db, *WEEK, "--top", "0", "-o", str(tmp_path / "db.html"))
    usage_async("report", *FAKE, *WEEK, "--top", "0", "-o", str(tmp_path / "api.html"))
    from_db = tables((tmp_path / "db.html").read_text(encoding="utf-8"))["tokens"]
    from_api = tables((tmp_path / "api.html").read_text(encoding="utf-8"))["tokens"]
    assert len(from_db) > 3
    assert sorted(from_db) == sorted(from_api)


def test_budget_use_is_month_to_date_spend_over_the_budget(fake_db: str, tmp_path: Path) -> None:
    out = tmp_path / "spend.html"
    project = next(iter(_query(fake_db, "project", *WEEK)))
    done = usage_async(
        "report", "--db", fake_db, *WEEK, "--budget", "100", "--budget", f"{project}=50",
        "-o", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = tables(out.read_text(encoding="utf-8"))["budgets"][1:]
    month = _query(fake_db, "project", "--since", "2025-03-01", "--until", "2025-03-08")
    (org, one) = rows
    assert org[0] == "organization"
    assert Decimal(org[2]) == sum(month.values())
    assert org[5] == f"{sum(month.values()) / 100 * 100:.1f} %"
    assert (one[0], Decimal(one[2]), one[3]) == (project, month[project], "50")


def test_without_budgets_the_report_says_they_are_unknown(tmp_path: Path) -> None:
    out = tmp_path / "spend.html"
    assert usage_async("report", *FAKE, *WEEK, "--no-names", "-o", str(out)).returncode == 0
    page = out.read_text(encoding="utf-8")
    assert "No budgets are known" in page
    assert "budgets" not in tables(page)


def test_an_empty_range_says_no_data_in_every_chart(tmp_path: Path) -> None:
    out = tmp_path / "spend.html"
    done = usage_async("report", *FAKE, "--since", "2020-01-01", "--until", "2020-01-08",
                       "-o", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "no spend 2020-01-01 to 2020-01-08" in done.stderr
    page = out.read_text(encoding="utf-8")
    figures = re.findall(r'<figure data-chart="([\w-]+)">(.*?)</figure>', page, re.S)
    assert {name for name, _ in figures} == {"daily", "previous", "line-items", "tokens"}
    for name, body in figures:
        assert 'class="bar"' not in body, name
        assert "No data" in body, name
    assert "No data: no spend 2020-01-01 to 2020-01-08." in page


def test_a_range_the_database_does_not_hold_is_refused_like_query(fake_db: str) -> None:
    done = usage_async("report", "--db", fake_db, "--since", "2020-01-01", "-o", "x.html")
    assert done.returncode == 2
    assert "no collection of costs that can answer --by project holds" in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--budget", "lots"), "is not a budget"),
        (("--budget", "proj_a=-1"), "is not a budget"),
        ((), "the following arguments are required: -o/--output"),
        (("-o", "-"), "-o FILE: the report is a file"),
        (("--db", "sqlite:///x.db", "-o", "r.html"), "--db reads a database: drop --fake"),
    ],
)
def test_bad_input_exits_2_in_one_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    done = usage_async("report", *FAKE, *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1


def _sample() -> ReportData:
    day = 1_740_787_200  # 2025-03-01
    return ReportData(
        source="From a test",
        generated_at=day,
        period=Range(day, day + 2 * 86_400),
        daily={
            (day, "proj_a", "usd"): Decimal("1.25"),
            (day + 86_400, "proj_b", "usd"): Decimal(2),
        },
        names={"proj_a": "<Alpha & co>"},
        budgets=[],
    )


def test_the_page_loads_nothing_and_every_chart_has_a_text_alternative() -> None:
    page = render(_sample())
    assert "<script" not in page
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page)
    assert "Content-Security-Policy\" content=\"default-src 'none'" in page
    charts = re.findall(r"<svg[^>]*>", page)
    assert len(charts) == 5
    for head in charts:
        assert 'role="img"' in head
        ids = re.search(r'aria-labelledby="(\S+) (\S+)"', head)
        assert ids is not None
        assert f'<title id="{ids[1]}">' in page
        assert f'<desc id="{ids[2]}">' in page


def test_names_and_line_items_are_escaped() -> None:
    page = render(_sample())
    assert "&lt;Alpha &amp; co&gt;" in page
    assert "<Alpha" not in page


def test_a_budget_of_the_whole_organization_counts_every_project() -> None:
    from usage_async.report.store import budget_uses

    month = Range(0, 86_400)
    uses = budget_uses(
        [Budget(Decimal(10)), Budget(Decimal(4), project_id="proj_b")],
        month,
        [("proj_a", "usd", Decimal("1.5")), ("proj_b", "usd", Decimal(2))],
    )
    assert [(u.spent, u.ratio) for u in uses] == [
        (Decimal("3.5"), Decimal("0.35")),
        (Decimal(2), Decimal("0.5")),
    ]
