"""The benchmark suite still runs: every scenario at tiny sizes, counts checked, speed never.

One module-scoped run of ``python -m benchmarks --tiny --repeat 2 --workers 2`` (a page
server and two workers per client, as in a real run: a few seconds), then one test per
property of its results; plus the pure pieces (rendering, the server's token bucket)
checked without sockets. The openai baseline is expected exactly when the SDK is installed.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

# benchmarks/ is not an installed package: pytest imports it from the repository root
# (`pythonpath` in pyproject.toml).
from benchmarks import pacing, runner
from benchmarks.pages import render
from benchmarks.scenarios import FLOOR, OPENAI, UA_JSON, UA_ORJSON, Dataset, scenarios
from benchmarks.server import PageStore

ROOT = Path(__file__).resolve().parent.parent

HAS_OPENAI = importlib.util.find_spec("openai") is not None
HAS_ORJSON = importlib.util.find_spec("orjson") is not None
SPEC = ROOT / "usage_async" / "testing" / "spec" / "usage-openapi.json"


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("bench") / "tiny.json"
    status = runner.main(["--tiny", "--repeat", "2", "--workers", "2", "--json", str(path)])
    results: dict[str, Any] = json.loads(path.read_text())
    results["exit_status"] = status
    return results


def _runs(suite: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (sid, client, run)
        for sid, scenario in suite["scenarios"].items()
        for client, entry in scenario["clients"].items()
        for run in entry["runs"] + entry["warmups"]
    ]


def test_the_tiny_suite_exits_0_with_no_worker_errors(suite: dict[str, Any]) -> None:
    assert suite["errors"] == []
    assert suite["exit_status"] == 0


def test_every_scenario_ran_every_client_installed(suite: dict[str, Any]) -> None:
    expected = {FLOOR, UA_JSON} | ({UA_ORJSON} if HAS_ORJSON else set())
    expected |= {OPENAI} if HAS_OPENAI else set()
    assert list(suite["scenarios"]) == ["S1", "S2", "S3", "S4", "S5a", "S5b"]
    for sid in ("S1", "S2", "S3"):
        assert set(suite["scenarios"][sid]["clients"]) == expected
    assert set(suite["scenarios"]["S4"]["clients"]) == expected - {OPENAI}
    assert len(suite["scenarios"]["S5a"]["clients"]) == 1  # one usage-async variant


def test_every_run_delivered_every_bucket_once_with_one_200_per_page(
    suite: dict[str, Any],
) -> None:
    found = scenarios("tiny")
    for sid, client, run in _runs(suite):
        scenario = found[sid]
        dataset = scenario.warmup_dataset if run["warmup"] else scenario.dataset
        assert run["problems"] == [], (sid, client, run["problems"])
        assert run["status"]["200"] == dataset.total_pages
        assert run["requests"] == dataset.total_pages + run["status"].get("429", 0)
        assert [s["buckets"] for s in run["streams"]] == [dataset.buckets_per_stream] * (
            dataset.streams
        )


def test_only_the_rate_limited_scenarios_see_429s(suite: dict[str, Any]) -> None:
    for sid, _client, run in _runs(suite):
        if not sid.startswith("S5") or run["warmup"]:
            assert "429" not in run["status"], sid


def test_the_json_variant_parses_without_orjson(suite: dict[str, Any]) -> None:
    workers = suite["scenarios"]["S1"]["clients"][UA_JSON]["workers"]
    assert [w["json_backend"] for w in workers] == ["json", "json"]
    if HAS_ORJSON:
        workers = suite["scenarios"]["S1"]["clients"][UA_ORJSON]["workers"]
        assert [w["json_backend"] for w in workers] == ["orjson", "orjson"]


def test_each_worker_warms_up_and_the_repeats_take_turns(suite: dict[str, Any]) -> None:
    assert suite["meta"]["workers"] == 2
    for sid in ("S1", "S2", "S3", "S5a"):
        for client, entry in suite["scenarios"][sid]["clients"].items():
            assert [r["run"] for r in entry["warmups"]] == [
                f"{client}-t0-{sid}-warm",
                f"{client}-t1-{sid}-warm",
            ]
            assert [r["run"] for r in entry["runs"]] == [
                f"{client}-t0-{sid}-r0",
                f"{client}-t1-{sid}-r1",
            ]


def test_every_target_is_evaluated(suite: dict[str, Any]) -> None:
    results = {t["result"] for t in suite["targets"]}
    assert results <= {"PASS", "FAIL", "SKIP"}
    assert {t["scenario"] for t in suite["targets"]} == {
        "S1", "S2", "S3", "S4", "S5a", "S5b", "SYNC",
    }  # fmt: skip


def test_the_sync_scenario_stored_every_row_that_buckets_read(suite: dict[str, Any]) -> None:
    sync = suite["sync"]
    assert sync["problems"] == []
    assert sync["rows"] > 0
    for kind in ("buckets", "sync"):
        assert [run["rows"] for run in sync["runs"][kind]] == [sync["rows"]] * 2
    assert sync["ratio"] > 0


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux procfs only")
def test_the_memory_scenario_measures_growth_and_import_rss(suite: dict[str, Any]) -> None:
    for entry in suite["scenarios"]["S4"]["clients"].values():
        assert len(entry["runs"]) == 2
        for run in entry["runs"]:
            assert run["memory_supported"] is True
            assert run["growth"] >= 0
            assert run["rss_import"] > 0


def test_rendered_pages_are_valid_against_openai_spec() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    spec = json.loads(SPEC.read_text())
    schema = {"$ref": "#/components/schemas/UsageResponse", "components": spec["components"]}
    rendered = render(Dataset("x", 2, 2, 3, 2))
    for bodies in rendered.pages:
        for body in bodies:
            jsonschema.Draft202012Validator(schema).validate(json.loads(body))


def test_next_page_leads_through_every_page_and_is_null_on_the_last() -> None:
    rendered = render(Dataset("x", 2, 3, 1, 1))
    for stream in range(2):
        index, seen = 0, 0
        while True:
            page = json.loads(rendered.pages[stream][index])
            seen += 1
            if not page["has_more"]:
                assert page["next_page"] is None
                break
            stream_found, index = rendered.cursors[page["next_page"]]
            assert stream_found == stream
        assert seen == 3


def test_the_page_server_admits_a_burst_then_answers_429_with_retry_after() -> None:
    now = [100.0]
    dataset = Dataset("r", 1, 10, 1, 1, rate=50.0, burst=2, retry_after=1)
    store = PageStore([render(dataset)], clock=lambda: now[0])
    rendered = store.datasets["r"]
    stats = store.run(dataset, "run")
    answers = [store.answer(rendered, stats, None, None) for _ in range(3)]
    assert [a[0] for a in answers] == [200, 200, 429]
    assert answers[2][1] == {"Retry-After": "1"}
    now[0] += 0.025  # a little over one token at 50 per second
    assert store.answer(rendered, stats, None, None)[0] == 200
    assert stats.as_dict() == {"requests": 4, "status": {"200": 3, "429": 1}, "first_wave_429": 1}


@pytest.mark.parametrize(("wave", "first_wave"), [(0.001, 2), (0.0, 1)])
def test_the_first_wave_counts_the_429s_until_the_first_could_be_read(
    wave: float, first_wave: int
) -> None:
    now = [100.0]
    dataset = Dataset("w", 1, 10, 1, 1, rate=1.0, burst=1)
    store = PageStore([render(dataset)], clock=lambda: now[0], wave=wave)
    rendered = store.datasets["w"]
    stats = store.run(dataset, "run")
    statuses = []
    for step in (0.0, 0.0, 0.0005, 0.01, 0.02):  # a 200, then 429s from the first on
        now[0] += step
        statuses.append(store.answer(rendered, stats, None, None)[0])
    assert statuses == [200, 429, 429, 429, 429]
    assert stats.as_dict()["first_wave_429"] == first_wave


def test_a_request_reaching_the_bucket_when_its_token_is_due_is_admitted() -> None:
    # At 10 a minute, 1/6 of a token refilled over 1 s and 5/6 over the next 5 s sum to
    # 0.9999999999999999: a request on the virtual clock at that very instant was a 429
    # (and sent the 10/min-b1-ra1 fast cells down a path 2.76x their bound).
    now = [0.0]
    dataset = Dataset("t", 1, 10, 1, 1, rate=10 / 60, burst=1)
    store = PageStore([render(dataset)], clock=lambda: now[0])
    rendered = store.datasets["t"]
    stats = store.run(dataset, "run")
    statuses = []
    for at in (0.0, 1.0, 6.0, 6.0):
        now[0] = at
        statuses.append(store.answer(rendered, stats, None, None)[0])
    assert statuses == [200, 429, 200, 429]
    assert stats.tokens == 0.0


def test_the_page_server_can_name_the_exact_wait_and_send_ratelimit_headers() -> None:
    now = [100.0]
    dataset = Dataset("h", 1, 10, 1, 1, rate=5.0, burst=2, exact_wait=True, ratelimit_headers=True)
    store = PageStore([render(dataset)], clock=lambda: now[0])
    rendered = store.datasets["h"]
    stats = store.run(dataset, "run")
    answers = [store.answer(rendered, stats, None, None) for _ in range(2)]
    assert [a[1]["x-ratelimit-remaining-requests"] for a in answers] == ["1", "0"]
    assert answers[1][1]["x-ratelimit-reset-requests"] == "400ms"  # 2 tokens at 5 a second
    now[0] += 0.05
    status, headers, _ = store.answer(rendered, stats, None, None)
    assert status == 429
    assert headers["retry-after-ms"] == "150"  # a quarter of a token back: 0.75 / 5 s to go
    assert headers["Retry-After"] == "1"
    assert headers["x-ratelimit-limit-requests"] == "2"


# -- the pacing matrix (benchmarks/pacing.py): its quick subset, counts checked -----------------


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    path = tmp_path_factory.mktemp("pacing") / "quick.json"
    argv = ["--only", "pacing", "--quick", "--repeat", "1", "--jobs", "4", "--json", str(path)]
    status = runner.main(argv)
    results: dict[str, Any] = json.loads(path.read_text())
    results["exit_status"] = status
    results["table"] = path.with_suffix(".md").read_text()
    return results


def test_the_quick_matrix_runs_every_cell_and_client(matrix: dict[str, Any]) -> None:
    assert matrix["exit_status"] == 0
    assert [r["id"] for r in matrix["cells"]] == [c.id for c in pacing.cells("quick")]
    expected = {"ua", "naive"} | ({"openai"} if HAS_OPENAI else set())
    for result in matrix["cells"]:
        assert set(result["runs"]) == expected
        assert len(result["runs"]["ua"]) == 1


def test_a_real_time_cells_baselines_run_beside_its_usage_async_runs(
    matrix: dict[str, Any],
) -> None:
    # Two tasks of the pool, each with a server of its own: the cell took as long as the
    # longer one. A virtual cell's runs are one task.
    for result in matrix["cells"]:
        if result["virtual"]:
            assert result["work_seconds"] == result["seconds"]
        else:
            assert result["work_seconds"] > result["seconds"] > 0


def test_usage_async_delivers_every_bucket_once_in_every_cell(matrix: dict[str, Any]) -> None:
    for result in matrix["cells"]:
        for run in result["runs"]["ua"] + result["runs"]["naive"]:
            assert run["problems"] == [], (result["id"], run["problems"])
            assert run["missing_buckets"] == 0
            assert (
                run["requests"]
                == result["dataset"]["streams"] * result["dataset"]["pages"] + run["throttled"]
            )


def test_the_virtual_cells_take_virtual_minutes_in_real_seconds(matrix: dict[str, Any]) -> None:
    (virtual,) = [r for r in matrix["cells"] if r["virtual"]]
    wall = virtual["runs"]["ua"][0]["wall_s"]
    assert wall >= virtual["bound_s"] >= 5  # a bound of virtual seconds, all waited for
    assert virtual["seconds"] < wall  # ... in less real time than that


def test_the_matrix_table_has_a_row_per_cell(matrix: dict[str, Any]) -> None:
    rows = [line for line in matrix["table"].splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(matrix["cells"])  # the header and one row a cell


@pytest.mark.parametrize(
    ("trace", "at_server", "wave"),
    [
        # (sent, answered) per 429, on the client's clock: the first answer came at 5.0
        ([(4.9, 6.0), (0.0, 5.0), (1.0, 5.5), (5.2, 7.0)], 1, 3),
        ([], 0, 0),  # no 429
        (None, 2, 2),  # a baseline, not traced: the server's count
    ],
    ids=["traced", "no-429", "baseline"],
)
def test_the_first_wave_counts_429s_sent_before_the_client_had_a_429s_answer(
    trace: list[tuple[float, float]] | None, at_server: int, wave: int
) -> None:
    assert pacing.first_wave(trace, at_server) == wave


def test_each_run_splits_its_429s_into_the_first_wave_and_the_rest(
    matrix: dict[str, Any],
) -> None:
    for result in matrix["cells"]:
        for run in result["runs"]["ua"]:
            assert 0 <= run["first_wave"] <= run["throttled"]
            assert 0 <= run["first_wave_at_server"] <= run["throttled"]
            after = (run["throttled"] - run["first_wave"]) / run["requests"]
            assert run["share_after_wave"] == pytest.approx(after)
    # A fan-out into a bucket of 5 (10 streams, nothing said) meets 429s at its first wave.
    (cell,) = [r for r in matrix["cells"] if r["id"] == "50/s b5 none fast fan-out"]
    assert cell["runs"]["ua"][0]["first_wave"] >= 1


@pytest.mark.parametrize(
    ("dataset", "bound"),
    [
        (Dataset("a", 100, 3, 1, 1, rate=50.0, burst=5), (300 - 5) / 50),
        (Dataset("b", 1, 10, 1, 1, rate=50.0, burst=1, success_delay=0.2), 10 * 0.2),
        (Dataset("c", 6, 5, 1, 1, rate=10 / 60, burst=20), 60.0),
        (Dataset("d", 2, 2, 1, 1, rate=1.0, burst=1, success_delay=0.5), 3.5),
    ],
)
def test_the_bound_is_the_least_time_the_bucket_allows(dataset: Dataset, bound: float) -> None:
    assert pacing.least_time(dataset) == pytest.approx(bound)


def test_after_a_drought_with_nothing_proven_a_10_per_minute_stream_finds_the_rate() -> None:
    # Over real sockets on the virtual clock (a few real seconds): a first wave "proved"
    # a rate before the drought began, the drought dragged the pace to one request in
    # 24 s against a server allowing one in 6, and only the slow growth lifted it (3.6x
    # the bound). Now the first success after such a drought starts a probe.
    result = pacing.run_cell(pacing.Cell("10/min", 5, "ra1", False, "stream"), "full", 1)
    (run,) = result["runs"]["ua"]
    assert run["problems"] == []
    assert run["ratio"] <= 1.2


@pytest.mark.parametrize(
    "cell",
    [
        pacing.Cell("10/min", 1, "exact", False, "stream"),
        pacing.Cell("10/min", 5, "exact", True, "stream"),
    ],
    ids=lambda cell: cell.id,
)
def test_on_the_virtual_clock_a_10_per_minute_stream_told_its_waits_meets_one_429(
    cell: pacing.Cell,
) -> None:
    # With no time for a request to reach the server, a 429 came at the instant of the
    # success before it: every exact wait was a whole number of seconds (6000 ms, or 5000
    # after five pages of 200 ms), which the client does not take as exact (a server that
    # rounds its wait up to seconds says little), so these streams met 2-3 429s of 32.
    assert cell.dataset("full").latency == pacing.VIRTUAL_LATENCY > 0.0
    result = pacing.run_cell(cell, "full", 1)
    (run,) = result["runs"]["ua"]
    assert run["problems"] == []
    assert run["throttled"] == 1
    assert run["ratio"] <= 1.02


def test_the_matrix_runs_the_cells_asked_for_without_baselines(tmp_path: Path) -> None:
    path = tmp_path / "some.json"
    argv = ["--quick", "--cells", "10/min", "--no-baselines", "--repeat", "1", "--json", str(path)]
    assert pacing.main([*argv, "--markdown", str(tmp_path / "some.md")]) == 0
    (result,) = json.loads(path.read_text())["cells"]
    assert result["id"] == "10/min b5 exact fast fan-out"
    assert set(result["runs"]) == {"ua"}


def test_the_matrix_names_a_filter_no_cell_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert pacing.main(["--cells", "5/s", "--cells", "b7"]) == 2
    assert "no cell's name has all of ['5/s', 'b7']" in capsys.readouterr().err


def test_a_5_per_second_fan_outs_runs_go_in_tasks_side_by_side_and_come_back_together() -> None:
    # A run takes a minute there: five in one task would take the matrix past 10 minutes.
    tasks = pacing._tasks(pacing.cells("full"), "full", 5, baselines=True)
    for cell in pacing.cells("full"):
        mine = [(who, runs) for c, who, runs in tasks if c == cell]
        ua = [runs for who, runs in mine if who == ("ua",)]
        if cell.virtual:  # seconds in all: one task
            assert mine == [(("ua", *pacing._baselines()), 5)]
        elif cell.rate == "5/s" and cell.workload == "fan-out":
            assert ua == [2, 2, 1]
        else:
            assert ua == [5]
        if not cell.virtual:
            assert (tuple(pacing._baselines()), 0) in mine
        # Those at 5/s run first, many at once; the timing-sensitive 50/s ones after,
        # --jobs at once; the virtual ones (flat out) last.
        assert pacing._phase(cell) == (2 if cell.virtual else 0 if cell.rate == "5/s" else 1)
    parts = [
        {"id": "c", "runs": {"ua": [{"r": 0}, {"r": 1}]}, "seconds": 3.0},
        {"id": "c", "runs": {"ua": [{"r": 2}]}, "seconds": 2.0},
        {"id": "c", "runs": {"naive": [{"r": 0}]}, "seconds": 4.0},
    ]
    merged = pacing._merged(parts)
    assert merged["runs"] == {"ua": [{"r": 0}, {"r": 1}, {"r": 2}], "naive": [{"r": 0}]}
    assert (merged["seconds"], merged["work_seconds"]) == (4.0, 9.0)


def test_the_full_matrix_runs_the_issues_fan_outs_and_the_short_one_30_at_5_per_second() -> None:
    full = [c.dataset("full") for c in pacing.cells("full")]
    assert [c.id for c in pacing.cells("short")] == [c.id for c in pacing.cells("full")]
    fan_outs = {(d.rate, d.streams, d.pages) for d in full if d.streams > 1}
    assert fan_outs == {(50.0, 100, 3), (5.0, 100, 3), (1 / 6, 6, 5)}
    short = [c.dataset("short") for c in pacing.cells("short")]
    fan_outs = {(d.rate, d.streams, d.pages) for d in short if d.streams > 1}
    assert fan_outs == {(50.0, 100, 3), (5.0, 30, 3), (1 / 6, 6, 5)}


def test_the_matrix_refuses_quick_with_another_size(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        pacing.main(["--quick", "--size", "short"])
    assert exit_info.value.code == 2
    assert "--quick runs its own small cells: not with --size short" in capsys.readouterr().err


def test_the_suite_names_its_own_jobs_option_when_it_is_below_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # (The matrix's own parser would name --quiet-jobs too, an option the suite lacks.)
    with pytest.raises(SystemExit) as exit_info:
        runner.main(["--only", "pacing", "--jobs", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--jobs must be at least 1" in err
    assert "--quiet-jobs" not in err
