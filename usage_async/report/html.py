"""One self-contained HTML page of a :class:`ReportData`: inline CSS and SVG, no script.

Nothing is loaded from anywhere: no script, font, stylesheet or image, and a
``Content-Security-Policy`` meta tag forbids the browser from fetching any (``default-src
'none'``), so the file renders the same offline, from an e-mail attachment or a file share.
Each chart is a ``<figure>`` with a caption naming the range it summed, the chart (SVG with a
title and a text alternative), and a table of the exact figures under it. A chart with
nothing to draw says "No data" and the range. Readable at a phone's width (charts scale,
wide tables scroll inside their box) and in print (no figure is split across pages).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from decimal import Decimal

from .model import DAY, TOKEN_COUNTERS, Range, ReportData, iso_day, iso_time
from .svg import PALETTE, Bar, Series, horizontal_bars, no_data, stacked_columns

__all__ = ["exact", "render"]

_CENTS = Decimal("0.01")
MAX_SERIES = 8  # projects drawn as their own colour; the rest are one "more" series

_CSS = """
:root { color-scheme: light; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 0 auto; padding: 16px; max-width: 1000px; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.5em; margin: 0 0 4px; }
h2 { font-size: 1.15em; margin: 28px 0 6px; }
p.meta, p.note, figcaption { color: #444; }
p.note { font-style: italic; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 12px 0; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; min-width: 150px; }
.card b { display: block; font-size: 1.25em; }
figure { margin: 12px 0 24px; break-inside: avoid; page-break-inside: avoid; }
svg.chart { display: block; width: 100%; height: auto; max-width: 100%; }
svg.chart text { font: 11px system-ui, sans-serif; fill: #222; }
svg.chart .grid { stroke: #ddd; }
svg.chart .frame { fill: #f6f6f6; stroke: #ddd; }
svg.chart .no-data { font-size: 15px; fill: #555; }
svg.chart .mark { stroke: #c00; stroke-dasharray: 4 3; }
svg.chart .mark-label { fill: #c00; }
.scroll { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; font-size: 13px; margin-top: 8px; }
th, td { padding: 3px 8px; border-bottom: 1px solid #e4e4e4; text-align: left;
  white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 1px solid #999; }
@media (max-width: 600px) { body { padding: 8px; font-size: 14px; } }
@media print {
  body { max-width: none; padding: 0; }
  .scroll { overflow: visible; }
  h2 { break-after: avoid; page-break-after: avoid; }
}
"""

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def exact(value: Decimal) -> str:
    """The exact amount as plain digits, trailing zeros dropped (``12.5``, ``0``)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _cents(value: Decimal, currency: str) -> str:
    return f"{value.quantize(_CENTS):,} {currency}"


def _table(
    name: str, head: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]
) -> str:
    """A table of exact figures: ``data-table`` names it for readers and tests."""
    cells = "".join(
        f'<th class="num">{_e(h)}</th>' if n else f"<th>{_e(h)}</th>"
        for h, n in zip(head, numeric, strict=True)
    )
    body = []
    for row in rows:
        total = ' class="total"' if row and row[0] == "total" else ""
        tds = "".join(
            f'<td class="num">{_e(c)}</td>' if n else f"<td>{_e(c)}</td>"
            for c, n in zip(row, numeric, strict=True)
        )
        body.append(f"<tr{total}>{tds}</tr>")
    return (
        f'<div class="scroll"><table data-table="{name}"><thead><tr>{cells}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _figure(name: str, title: str, caption: str, chart: str, tables: str = "") -> str:
    return (
        f'<figure data-chart="{name}"><h2>{_e(title)}</h2>'
        f"<figcaption>{_e(caption)}</figcaption>{chart}{tables}</figure>"
    )


def _ranked(sums: dict[str, Decimal]) -> list[tuple[str, Decimal]]:
    return sorted(sums.items(), key=lambda item: (-item[1], item[0]))


def _days(period: Range) -> list[int]:
    return list(range(period.since, period.until, DAY))


def _daily(data: ReportData, currency: str) -> str:
    assert data.period is not None
    period = data.period
    title = f"Daily spend by project ({currency})"
    caption = f"Costs of each UTC day from {period}, stacked by project."
    if period.partial:
        caption += f" The last day is still filling: data up to {iso_time(period.until)}."
    projects = _ranked(data.by_project(currency))
    if not projects:
        return _figure("daily", title, caption, no_data(title, f"No data: no spend {period}"))
    days = _days(period)
    drawn = projects if len(projects) <= MAX_SERIES + 1 else projects[:MAX_SERIES]
    rest = [p for p, _ in projects[len(drawn) :]]
    series = []
    for i, (project, _) in enumerate(drawn):
        values = [data.daily.get((day, project, currency), Decimal(0)) for day in days]
        series.append(Series(data.label(project), PALETTE[i % len(PALETTE)], values))
    if rest:
        values = [
            sum((data.daily.get((day, p, currency), Decimal(0)) for p in rest), Decimal(0))
            for day in days
        ]
        series.append(Series(f"({len(rest)} more projects)", PALETTE[-1], values))
    by_day = data.by_day(currency)
    desc = (
        f"Stacked columns, one per UTC day from {period}; total {exact(data.total(currency))} "
        f"{currency}; highest day "
        + (
            f"{iso_day(max(by_day, key=lambda d: by_day[d]))} "
            f"({exact(max(by_day.values()))} {currency})"
            if by_day
            else "none"
        )
        + "."
    )
    chart = stacked_columns(
        title,
        desc,
        [iso_day(day) for day in days],
        series,
        lambda v: _cents(v, currency),
        category_label=lambda day: day[5:],
    )
    day_rows = [[iso_day(day), exact(by_day.get(day, Decimal(0)))] for day in days]
    day_rows.append(["total", exact(data.total(currency))])
    project_rows = [[data.label(p), p or "", exact(v)] for p, v in projects]
    project_rows.append(["total", "", exact(data.total(currency))])
    tables = _table(
        "spend-by-day", ["day", f"amount ({currency})"], day_rows, [False, True]
    ) + _table(
        "spend-by-project",
        ["project", "project_id", f"amount ({currency})"],
        project_rows,
        [False, False, True],
    )
    return _figure("daily", title, caption, chart, tables)


def _compare(data: ReportData, currency: str) -> str:
    assert data.period is not None
    title = f"This period against the previous one ({currency})"
    if data.previous is None or data.previous_period is None:
        caption = f"This period: {data.period}. The previous period is not known."
        return _figure(
            "previous", title, caption, no_data(title, "No data for the previous period")
        )
    prev = data.previous_period
    caption = f"Spend per project, this period ({data.period}) against the previous ({prev})."
    current = data.by_project(currency)
    before = {p: v for (p, c), v in data.previous.items() if c == currency}
    projects = sorted(
        set(current) | set(before),
        key=lambda p: (-current.get(p, Decimal(0)), -before.get(p, Decimal(0)), p),
    )
    if not projects:
        return _figure(
            "previous", title, caption, no_data(title, f"No data: no spend {prev} or {data.period}")
        )
    rows = [
        (
            data.label(p),
            [
                Bar("this period", PALETTE[0], current.get(p, Decimal(0))),
                Bar("previous period", PALETTE[8], before.get(p, Decimal(0))),
            ],
        )
        for p in projects
    ]
    this_total = sum(current.values(), Decimal(0))
    prev_total = sum(before.values(), Decimal(0))
    desc = (
        f"Grouped bars per project: this period {exact(this_total)} {currency}, the previous "
        f"{exact(prev_total)} {currency}."
    )
    chart = horizontal_bars(title, desc, rows, lambda v: _cents(v, currency))
    table_rows = [
        [
            data.label(p),
            exact(current.get(p, Decimal(0))),
            exact(before.get(p, Decimal(0))),
            _change(current.get(p, Decimal(0)), before.get(p, Decimal(0))),
        ]
        for p in projects
    ]
    table_rows.append(
        ["total", exact(this_total), exact(prev_total), _change(this_total, prev_total)]
    )
    table = _table(
        "previous",
        ["project", f"this period ({currency})", f"previous ({currency})", "change"],
        table_rows,
        [False, True, True, True],
    )
    return _figure("previous", title, caption, chart, table)


def _change(now: Decimal, before: Decimal) -> str:
    if not before:
        return "new" if now else "0 %"
    return f"{(now - before) / before * 100:+.1f} %"


def _line_items(data: ReportData, currency: str, top: int) -> str:
    title = f"Top line items ({currency})"
    if data.line_items is None or data.line_items_period is None:
        return _figure(
            "line-items", title, "Spend by line item is not known.", no_data(title, "No data")
        )
    period = data.line_items_period
    caption = f"Costs by line item (as the API names them), {period}."
    items = _ranked({k: v for (k, c), v in data.line_items.items() if c == currency})
    if not items:
        return _figure("line-items", title, caption, no_data(title, f"No data: no spend {period}"))
    shown, rest = (items, []) if top == 0 or len(items) <= top + 1 else (items[:top], items[top:])
    rows = [(k or "(none)", [Bar("spend", PALETTE[2], v)]) for k, v in shown]
    rest_total = sum((v for _, v in rest), Decimal(0))
    if rest:
        rows.append((f"({len(rest)} more)", [Bar("the rest", PALETTE[9], rest_total)]))
    total = sum((v for _, v in items), Decimal(0))
    desc = f"Bars of the {len(shown)} largest line items of {len(items)}; total {exact(total)}."
    chart = horizontal_bars(title, desc, rows, lambda v: _cents(v, currency))
    table_rows = [[k or "(none)", exact(v)] for k, v in shown]
    if rest:
        table_rows.append([f"({len(rest)} more)", exact(rest_total)])
    table_rows.append(["total", exact(total)])
    table = _table("line-items", ["line_item", f"amount ({currency})"], table_rows, [False, True])
    return _figure("line-items", title, caption, chart, table)


def _tokens(data: ReportData, top: int) -> str:
    title = "Tokens by model"
    if data.tokens is None or data.tokens_period is None:
        return _figure("tokens", title, "Tokens are not known.", no_data(title, "No data"))
    period = data.tokens_period
    caption = f"Input and output tokens of {', '.join(data.tokens_endpoints)}, {period}."
    models = sorted(
        data.tokens.items(),
        key=lambda item: (-(item[1]["input_tokens"] + item[1]["output_tokens"]), item[0]),
    )
    models = [(m, c) for m, c in models if any(c.values())]
    if not models:
        return _figure("tokens", title, caption, no_data(title, f"No data: no tokens {period}"))
    shown = models if top == 0 else models[:top]
    rows = [
        (
            model,
            [
                Bar("input tokens", PALETTE[0], Decimal(c["input_tokens"])),
                Bar("output tokens", PALETTE[1], Decimal(c["output_tokens"])),
            ],
        )
        for model, c in shown
    ]
    desc = f"Stacked bars of input and output tokens for {len(shown)} of {len(models)} models."
    chart = horizontal_bars(title, desc, rows, lambda v: f"{int(v):,}", stacked=True)
    table_rows = [[model, *(str(c[k]) for k in TOKEN_COUNTERS)] for model, c in models]
    table_rows.append(["total", *(str(sum(c[k] for _, c in models)) for k in TOKEN_COUNTERS)])
    table = _table("tokens", ["model", *TOKEN_COUNTERS], table_rows, [False, True, True, True])
    return _figure("tokens", title, caption, chart, table)


def _budgets(data: ReportData) -> str:
    title = "Budget use"
    if data.budgets is None:
        return (
            f'<section data-chart="budgets"><h2>{title}</h2><p class="note">No budgets are '
            "known, so budget use is not shown. Give one with --budget AMOUNT (the "
            "organization) or --budget PROJECT_ID=AMOUNT (monthly).</p></section>"
        )
    if not data.budgets:
        return _figure("budgets", title, "", no_data(title, "No data"))
    month = data.budgets[0].month
    caption = f"Spend this month to date ({month}) against each monthly budget."
    rows = []
    for use in data.budgets:
        who = "organization" if use.budget.project_id is None else data.label(use.budget.project_id)
        rows.append((who, [Bar("used", PALETTE[5], use.ratio * 100)]))
    desc = "Bars of the share of each budget spent: " + "; ".join(
        f"{who} {bars[0].value:.1f} %" for who, bars in rows
    )
    chart = horizontal_bars(
        title, desc, rows, lambda v: f"{v:.1f} %", mark=Decimal(100), mark_label="100 %"
    )
    table_rows = [
        [
            who,
            str(use.month),
            exact(use.spent),
            exact(use.budget.amount),
            use.budget.currency,
            f"{use.ratio * 100:.1f} %",
        ]
        for (who, _), use in zip(rows, data.budgets, strict=True)
    ]
    table = _table(
        "budgets",
        ["budget", "month to date", "spent", "budget", "currency", "used"],
        table_rows,
        [False, False, True, True, False, True],
    )
    return _figure("budgets", title, caption, chart, table)


def render(data: ReportData, *, top: int = 10, title: str = "OpenAI API spend") -> str:
    """The report as one HTML document (a ``str``), charts and tables for every section."""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
    ]
    period = data.period
    if period is None:
        parts.append(f'<p class="meta">{_e(data.source)}</p>')
        parts.append('<p class="note" data-empty="true">No data: no costs were found.</p>')
    else:
        parts.append(
            f'<p class="meta" data-since="{iso_time(period.since)}" '
            f'data-until="{iso_time(period.until)}">Costs of UTC days {_e(period)} '
            f"(buckets from {iso_time(period.since)} to {iso_time(period.until)}). "
            f"{_e(data.source)}. Made {iso_time(data.generated_at)}.</p>"
        )
    for note in data.notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    if period is not None:
        currencies = data.currencies()
        cards = []
        for currency in currencies:
            spent = _cents(data.total(currency), currency)
            cards.append(f'<div class="card">Spend {_e(period)}<b>{_e(spent)}</b></div>')
            if data.previous is not None and data.previous_period is not None:
                before = sum(
                    (v for (_, c), v in data.previous.items() if c == currency), Decimal(0)
                )
                cards.append(
                    f'<div class="card">Previous {_e(data.previous_period)}'
                    f"<b>{_e(_cents(before, currency))}</b></div>"
                )
        if not currencies:
            parts.append(f'<p class="note" data-empty="true">No data: no spend {_e(period)}.</p>')
            currencies = ["usd"]
        parts.append(f'<div class="cards">{"".join(cards)}</div>')
        for currency in currencies:
            parts.append(_daily(data, currency))
            parts.append(_compare(data, currency))
            parts.append(_line_items(data, currency, top))
    parts.append(_tokens(data, top))
    parts.append(_budgets(data))
    parts.append("</body></html>\n")
    return "\n".join(parts)
