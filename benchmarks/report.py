"""Checks, figures, targets and tables from the runs' records: pure functions of values.

``python -m benchmarks.report [PATH]`` prints a results file (default
``benchmarks/results/latest.json``) as the markdown table of the README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .scenarios import CLIENTS, FLOOR, OPENAI, UA_JSON, UA_ORJSON

__all__ = [
    "METRICS",
    "Metric",
    "check_run",
    "evaluate_targets",
    "format_scenario",
    "format_targets",
    "markdown",
    "run_figures",
    "summarize",
]

USAGE_ASYNC = (UA_JSON, UA_ORJSON)
MB = 1024 * 1024


@dataclass(frozen=True)
class Metric:
    """One figure of a scenario: its key in a run's figures, label and unit (after ``scale``)."""

    key: str
    label: str
    unit: str
    scale: float = 1.0
    digits: int = 3


METRICS: dict[str, tuple[Metric, ...]] = {
    "S1": (
        Metric("cpu_per_page", "CPU/page", "ms", 1e3),
        Metric("wall_per_page", "wall/page", "ms", 1e3),
    ),
    "S2": (Metric("wall", "wall", "s"), Metric("cpu", "CPU", "s")),
    "S3": (
        Metric("cpu_per_request", "CPU/request", "us", 1e6, 1),
        Metric("wall_per_request", "wall/request", "us", 1e6, 1),
    ),
    "S4": (
        Metric("growth", "peak growth", "MB", 1 / MB),
        Metric("rss_import", "RSS after import", "MB", 1 / MB, 1),
        Metric("rss_steady", "RSS at 1 page", "MB", 1 / MB, 1),
    ),
    "S5a": (
        Metric("wall", "wall", "s", 1.0, 2),
        Metric("wall_vs_bound", "wall/bound", "x", 1.0, 2),
        Metric("requests", "requests", "", 1.0, 0),
        Metric("rate_limited", "429s", "", 1.0, 0),
        Metric("share_429", "429 share", "%", 100.0, 1),
    ),
}
METRICS["S5b"] = METRICS["S5a"]
"""The figures printed for each scenario, the first being the one its targets are on."""


def check_run(
    run: dict[str, Any], info: dict[str, Any], total_pages: int, stats: dict[str, Any]
) -> list[str]:
    """Every way the run differs from what the server rendered and should have answered.

    ``info`` is the server's figures of the run's dataset (results and input tokens per
    stream), ``stats`` the server's counts of the run. An empty list is a correct run:
    every stream complete with each bucket once and in order, and one 200 per page.
    """
    problems = []
    for i, stream in enumerate(run["streams"]):
        if stream["error"]:
            problems.append(f"stream {i}: {stream['error']}")
        if not stream["starts_ok"]:
            problems.append(f"stream {i}: buckets missing, repeated or out of order")
        if stream["results"] != info["results"][i]:
            problems.append(f"stream {i}: {stream['results']} results, not {info['results'][i]}")
        if stream["input_tokens"] != info["input_tokens"][i]:
            problems.append(f"stream {i}: input_tokens checksum differs")
    status = stats["status"]
    ok = status.get("200", 0)
    if ok != total_pages:
        problems.append(f"server answered {ok} pages, not {total_pages}")
    other = {k: v for k, v in status.items() if k not in ("200", "429")}
    if other:
        problems.append(f"server answered other statuses: {other}")
    return problems[:20]


def run_figures(run: dict[str, Any], total_pages: int, bound_s: float | None) -> dict[str, Any]:
    """The figures of one checked run (seconds, bytes, counts)."""
    requests = run["requests"]
    limited = run["status"].get("429", 0)
    figures: dict[str, Any] = {
        "wall": run["wall_s"],
        "cpu": run["cpu_s"],
        "cpu_per_page": run["cpu_s"] / total_pages,
        "wall_per_page": run["wall_s"] / total_pages,
        "cpu_per_request": run["cpu_s"] / requests if requests else None,
        "wall_per_request": run["wall_s"] / requests if requests else None,
        "requests": requests,
        "rate_limited": limited,
        "share_429": limited / requests if requests else None,
    }
    if bound_s:
        figures["wall_vs_bound"] = run["wall_s"] / bound_s
    for key in ("growth", "rss_import", "rss_steady", "rss_peak"):
        if run.get(key) is not None:
            figures[key] = run[key]
    return figures


def summarize(values: Sequence[float | None]) -> dict[str, float] | None:
    """Median, min and max (None when there is no value)."""
    found = [v for v in values if v is not None]
    if not found:
        return None
    return {"median": statistics.median(found), "min": min(found), "max": max(found)}


def _median(scenario: dict[str, Any], client: str, key: str) -> float | None:
    entry = scenario["clients"].get(client)
    if entry is None:
        return None
    summary = entry["summary"].get(key)
    return None if summary is None else float(summary["median"])


def _target(
    scenario_id: str,
    client: str,
    what: str,
    value: float | None,
    limit: float,
    passed: bool | None,
    shown: str,
    scenario: dict[str, Any],
) -> dict[str, Any]:
    entry = scenario["clients"].get(client, {})
    failed_runs = entry.get("failed_runs", 0)
    verdict = "SKIP" if passed is None else ("PASS" if passed else "FAIL")
    if failed_runs and verdict != "SKIP":
        verdict = "FAIL"
        shown += f" ({failed_runs} run(s) failed their checks)"
    return {
        "scenario": scenario_id,
        "client": client,
        "what": what,
        "value": value,
        "limit": limit,
        "result": verdict,
        "shown": shown,
    }


def _ratio_target(
    sid: str,
    scenario: dict[str, Any],
    client: str,
    key: str,
    label: str,
    limit: float,
    aim: float | None = None,
) -> dict[str, Any]:
    mine, floor = _median(scenario, client, key), _median(scenario, FLOOR, key)
    aim_text = f" (aim {aim:g}x)" if aim else ""
    what = f"{CLIENTS[client]} {label} <= {limit:g}x floor{aim_text}"
    if mine is None or not floor:
        return _target(sid, client, what, None, limit, None, "no figure", scenario)
    ratio = mine / floor
    return _target(sid, client, what, ratio, limit, ratio <= limit, f"{ratio:.2f}x", scenario)


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of issue 4, on the medians of one run of the suite."""
    targets: list[dict[str, Any]] = []
    found = results["scenarios"]
    present = [c for c in USAGE_ASYNC]
    if "S1" in found:
        s = found["S1"]
        if UA_JSON in s["clients"]:
            targets.append(_ratio_target("S1", s, UA_JSON, "cpu_per_page", "CPU/page", 2.0, 1.5))
        if UA_ORJSON in s["clients"]:
            targets.append(_ratio_target("S1", s, UA_ORJSON, "cpu_per_page", "CPU/page", 1.0))
        for client in present:
            if client not in s["clients"]:
                continue
            mine, theirs = _median(s, client, "cpu_per_page"), _median(s, OPENAI, "cpu_per_page")
            what = f"{CLIENTS[client]} CPU/page >= 5x less than openai"
            if mine is None or theirs is None:
                targets.append(_target("S1", client, what, None, 5.0, None, "no openai", s))
            else:
                factor = theirs / mine
                shown = f"{factor:.1f}x less"
                targets.append(_target("S1", client, what, factor, 5.0, factor >= 5.0, shown, s))
    for sid, key, label, limit in (
        ("S2", "wall", "wall", 1.3),
        ("S3", "cpu_per_request", "CPU/request", 1.5),
        ("S4", "rss_import", "RSS after import", 1.3),
    ):
        if sid in found:
            for client in present:
                if client in found[sid]["clients"]:
                    targets.append(_ratio_target(sid, found[sid], client, key, label, limit))
    if "S4" in found:
        s = found["S4"]
        floor = _median(s, FLOOR, "growth")
        two_pages = 2 * s["page_bytes"]
        for client in present:
            if client not in s["clients"]:
                continue
            mine = _median(s, client, "growth")
            what = f"{CLIENTS[client]} peak growth <= max(3x floor, floor + 2 pages)"
            if mine is None or floor is None:
                targets.append(_target("S4", client, what, None, 0, None, "no figure", s))
                continue
            limit = max(3 * floor, floor + two_pages)
            shown = f"{mine / MB:.2f} MB, limit {limit / MB:.2f} MB"
            targets.append(_target("S4", client, what, mine, limit, mine <= limit, shown, s))
    for sid, limit in (("S5a", 1.15), ("S5b", 1.35)):
        if sid not in found:
            continue
        s = found[sid]
        for client in present:
            entry = s["clients"].get(client)
            if entry is None:
                continue
            ratio = _median(s, client, "wall_vs_bound")
            what = f"{CLIENTS[client]} wall <= {limit:g}x the bound ({s['bound_s']:g} s)"
            shown = "no figure" if ratio is None else f"{ratio:.2f}x"
            passed = None if ratio is None else ratio <= limit
            targets.append(_target(sid, client, what, ratio, limit, passed, shown, s))
            share = _median(s, client, "share_429")
            what = f"{CLIENTS[client]} 429s <= 5% of requests"
            shown = "no figure" if share is None else f"{share * 100:.1f}%"
            passed = None if share is None else share <= 0.05
            targets.append(_target(sid, client, what, share, 0.05, passed, shown, s))
            runs = len(entry["runs"])
            failed = entry.get("failed_runs", 0)
            what = f"{CLIENTS[client]} every bucket exactly once, every stream complete"
            shown = f"{runs - failed}/{runs} runs"
            targets.append(_target(sid, client, what, None, 0, failed == 0, shown, s))
    return targets


def _fmt(value: float | None, metric: Metric) -> str:
    if value is None:
        return "-"
    return f"{value * metric.scale:.{metric.digits}f}"


def _ratio(mine: float | None, base: float | None) -> str:
    if mine is None or not base:
        return "-"
    return f"{mine / base:.2f}"


def format_scenario(sid: str, scenario: dict[str, Any]) -> str:
    """One scenario's figures as a text table: median, min, max and ratios per client."""
    lines = [f"{sid}  {scenario['title']}  [{scenario['shape']}]"]
    head = f"  {'figure':<22}{'client':<22}{'median':>10}{'min':>10}{'max':>10}"
    lines.append(f"{head}{'x floor':>9}{'x openai':>9}")
    for metric in METRICS[sid]:
        unit = f" ({metric.unit})" if metric.unit else ""
        name = f"{metric.label}{unit}"
        base_floor = _median(scenario, FLOOR, metric.key)
        base_openai = _median(scenario, OPENAI, metric.key)
        for client, entry in scenario["clients"].items():
            summary = entry["summary"].get(metric.key)
            median = None if summary is None else summary["median"]
            row = (
                f"  {name:<22}{CLIENTS[client]:<22}"
                f"{_fmt(median, metric):>10}"
                f"{_fmt(None if summary is None else summary['min'], metric):>10}"
                f"{_fmt(None if summary is None else summary['max'], metric):>10}"
                f"{_ratio(median, base_floor):>9}{_ratio(median, base_openai):>9}"
            )
            lines.append(row)
            name = ""
    for client, entry in scenario["clients"].items():
        for run in entry["runs"] + entry.get("warmups", []):
            if run["problems"]:
                label = "warm-up" if run.get("warmup") else run["run"]
                shown = "; ".join(run["problems"][:3])
                lines.append(f"  CHECK FAILED {CLIENTS[client]} {label}: {shown}")
    server = scenario.get("server")
    if server:
        lines.append(
            f"  page server: {server['cpu_per_request_us']:.0f} us CPU a request, busy at most "
            f"{server['busy_share_max'] * 100:.0f}% of a client's wall time"
        )
    return "\n".join(lines)


def format_targets(targets: Sequence[dict[str, Any]], scenario: str | None = None) -> str:
    """Targets as lines ``  target: <what>: <figure>  PASS|FAIL|SKIP``."""
    return "\n".join(
        f"  target: {t['what']}: {t['shown']}  {t['result']}"
        for t in targets
        if scenario is None or t["scenario"] == scenario
    )


def markdown(results: dict[str, Any]) -> str:
    """The results as markdown: one table of figures, one of targets."""
    meta = results["meta"]
    lines = [
        f"Measured with `{meta['command']}` on {meta['machine']}, Python {meta['python']}, "
        f"{meta['repeat']} runs each after a warm-up (median, min-max; ratios of medians "
        "measured in the same run).",
        "",
        "| scenario | figure | client | median | min-max | x floor | x openai |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for sid, scenario in results["scenarios"].items():
        first = True
        for metric in METRICS[sid]:
            unit = f" ({metric.unit})" if metric.unit else ""
            base_floor = _median(scenario, FLOOR, metric.key)
            base_openai = _median(scenario, OPENAI, metric.key)
            for client, entry in scenario["clients"].items():
                summary = entry["summary"].get(metric.key)
                if summary is None:
                    continue
                label = f"{sid} {scenario['title']}" if first else ""
                first = False
                span = f"{_fmt(summary['min'], metric)}-{_fmt(summary['max'], metric)}"
                lines.append(
                    f"| {label} | {metric.label}{unit} | {CLIENTS[client]} | "
                    f"{_fmt(summary['median'], metric)} | {span} | "
                    f"{_ratio(summary['median'], base_floor)} | "
                    f"{_ratio(summary['median'], base_openai)} |"
                )
    lines += ["", "| scenario | target | figure | result |", "|---|---|---|---|"]
    for t in results["targets"]:
        what = t.get("what") or f"rows/s >= {t.get('min')}x .buckets()'"
        shown = t.get("shown") or f"{t.get('ratio', 0):.2f}x"
        lines.append(f"| {t['scenario']} | {what} | {shown} | {t['result']} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Print a results file as markdown."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__)
    parser.add_argument("path", nargs="?", default="benchmarks/results/latest.json")
    args = parser.parse_args(argv)
    with open(args.path) as f:
        print(markdown(json.load(f)))


if __name__ == "__main__":
    main()
