"""The report in a real browser: headless Chromium renders it with no console error, each
chart has the bars and labels its data implies, it fits a phone and prints.

Set ``USAGE_ASYNC_REPORT_SCREENSHOT=docs/report.png`` to keep the screenshot the README shows.
"""

from __future__ import annotations

import json
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cdp import Browser, Page
from report_support import FAKE, WEEK, column, usage_async

SCREENSHOT_ENV = "USAGE_ASYNC_REPORT_SCREENSHOT"
CHARTS = """
[...document.querySelectorAll('figure[data-chart]')].map(f => ({
  name: f.dataset.chart,
  title: f.querySelector('svg > title')?.textContent || '',
  desc: f.querySelector('svg > desc')?.textContent || '',
  width: f.querySelector('svg')?.getBoundingClientRect().width || 0,
  right: f.querySelector('svg')?.getBoundingClientRect().right || 0,
  legend: [...f.querySelectorAll('text.legend')].map(t => ({
    text: t.textContent, right: t.getBoundingClientRect().right})),
  text: f.innerText,
  bars: [...f.querySelectorAll('rect.bar')].map(r => ({
    series: r.dataset.series, key: r.dataset.key, value: r.dataset.value,
    height: r.getBoundingClientRect().height, width: r.getBoundingClientRect().width})),
  labels: [...f.querySelectorAll('text.label')].map(t => ({
    key: t.dataset.key, text: t.textContent, width: t.getBoundingClientRect().width})),
}))
"""


def _charts(page: Page) -> dict[str, dict[str, Any]]:
    return {chart["name"]: chart for chart in page.evaluate(CHARTS)}


@pytest.fixture(scope="module")
def fake_report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """``report --fake`` of one week with five line items and models drawn, and what
    ``summary`` says of the same week."""
    out = tmp_path_factory.mktemp("report") / "spend.html"
    done = usage_async("report", *FAKE, *WEEK, "--top", "5", "--budget", "400", "-o", str(out))
    assert done.returncode == 0, done.stderr
    summary = usage_async("summary", *FAKE, *WEEK, "--format", "json")
    return out, json.loads(summary.stdout)


def test_the_harness_sees_console_errors_exceptions_and_blocked_loads(
    browser: Browser, tmp_path: Path
) -> None:
    # Not the report: a page that does each thing the report must never do.
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><meta http-equiv='Content-Security-Policy' content=\"default-src 'none';"
        " script-src 'unsafe-inline'\"><img src='/nowhere.png'>"
        "<script>console.error('said an error'); undefined_function();</script>",
        encoding="utf-8",
    )
    page = browser.page()
    page.open(bad)
    errors = "\n".join(page.errors())
    assert "console: said an error" in errors
    assert "undefined_function" in errors
    assert "nowhere.png" in errors  # refused by the policy: nothing was fetched


def test_the_report_renders_with_no_console_error_and_every_chart_drawn(
    browser: Browser, fake_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, summary = fake_report
    page = browser.page(1000, 900)
    page.open(path)

    assert page.errors() == []
    charts = _charts(page)
    assert set(charts) == {"daily", "previous", "line-items", "tokens", "budgets"}
    for chart in charts.values():
        assert chart["title"], chart["name"]
        assert len(chart["desc"]) > 20, chart["name"]
        assert all(label["width"] > 0 for label in chart["labels"]), chart["name"]
        for legend in chart["legend"]:  # every series named, inside the chart's box
            assert legend["right"] <= chart["right"] + 1, (chart["name"], legend["text"])
    assert len(charts["daily"]["legend"]) == len(summary["costs"]["usd"]["by_project_id"])
    shot = tmp_path / "report.png"
    page.screenshot(shot)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    target = os.environ.get(SCREENSHOT_ENV)
    if target:  # the README's picture, from this very code path, cut to its first screens
        page.screenshot(Path(target), max_height=1500)


def test_the_daily_chart_has_a_column_per_day_as_tall_as_its_spend(
    browser: Browser, fake_report: tuple[Path, dict[str, Any]]
) -> None:
    path, _ = fake_report
    page = browser.page(1000, 900)
    page.open(path)
    daily = _charts(page)["daily"]
    by_day = column(path.read_text(encoding="utf-8"), "spend-by-day", 0, 1)

    assert [label["key"] for label in daily["labels"]] == [f"2025-03-0{d}" for d in range(1, 8)]
    stacks: dict[str, Decimal] = {}
    heights: dict[str, float] = {}
    for bar in daily["bars"]:
        stacks[bar["key"]] = stacks.get(bar["key"], Decimal(0)) + Decimal(bar["value"])
        heights[bar["key"]] = heights.get(bar["key"], 0.0) + bar["height"]
    assert stacks == {day: amount for day, amount in by_day.items() if amount}
    tallest = max(stacks, key=lambda day: stacks[day])
    for day, amount in stacks.items():  # drawn to scale, within a pixel or two
        expected = heights[tallest] * float(amount / stacks[tallest])
        assert abs(heights[day] - expected) < 2, day


def test_the_ranked_charts_draw_the_items_summary_ranks_first(
    browser: Browser, fake_report: tuple[Path, dict[str, Any]]
) -> None:
    path, summary = fake_report
    page = browser.page(1000, 900)
    page.open(path)
    charts = _charts(page)

    items = list(summary["costs"]["usd"]["by_line_item"])
    labels = [label["key"] for label in charts["line-items"]["labels"]]
    assert labels == [*items[:5], f"({len(items) - 5} more)"]
    drawn = {bar["key"]: Decimal(bar["value"]) for bar in charts["line-items"]["bars"]}
    assert drawn[items[0]] == Decimal(summary["costs"]["usd"]["by_line_item"][items[0]])

    models = list(summary["tokens_by_model"])
    assert [label["key"] for label in charts["tokens"]["labels"]] == models[:5]
    for bar in charts["tokens"]["bars"]:
        counter = "input_tokens" if bar["series"] == "input tokens" else "output_tokens"
        assert int(bar["value"]) == summary["tokens_by_model"][bar["key"]][counter]

    previous = charts["previous"]
    assert len(previous["labels"]) == len(summary["costs"]["usd"]["by_project_id"])
    assert {bar["series"] for bar in previous["bars"]} == {"this period", "previous period"}
    (budget,) = charts["budgets"]["bars"]
    assert budget["key"] == "organization"  # --budget 400: the month to date is the week
    assert Decimal(budget["value"]) == Decimal(summary["costs"]["usd"]["total"]) / 400 * 100


def test_the_report_fits_a_phone_and_prints_without_splitting_a_chart(
    browser: Browser, fake_report: tuple[Path, dict[str, Any]], tmp_path: Path
) -> None:
    path, _ = fake_report
    page = browser.page(390, 844)
    page.resize(390, 844, mobile=True)
    page.open(path)

    assert page.errors() == []
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for chart in _charts(page).values():
        assert 300 < chart["width"] <= 390, chart["name"]
    page.screenshot(tmp_path / "phone.png")
    page.print_media()
    assert set(page.evaluate(
        "[...document.querySelectorAll('figure')].map(f => getComputedStyle(f).breakInside)"
    )) == {"avoid"}  # fmt: skip
    page.pdf(tmp_path / "spend.pdf")
    assert (tmp_path / "spend.pdf").read_bytes()[:5] == b"%PDF-"


def test_an_empty_report_says_no_data_in_every_chart_in_the_browser(
    browser: Browser, tmp_path: Path
) -> None:
    out = tmp_path / "empty.html"
    done = usage_async(
        "report", *FAKE, "--since", "2020-01-01", "--until", "2020-01-08", "-o", str(out)
    )
    assert done.returncode == 0, done.stderr
    page = browser.page()
    page.open(out)

    assert page.errors() == []
    charts = _charts(page)
    assert set(charts) == {"daily", "previous", "line-items", "tokens"}
    for chart in charts.values():
        assert chart["bars"] == [], chart["name"]
        assert "No data" in chart["text"], chart["name"]
