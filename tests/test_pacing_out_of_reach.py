"""Which misses of the pacing matrix are out of reach for any client told nothing.

``benchmarks.pacing.out_of_reach`` marks each target a cell misses with the argument that
shows no client told nothing but what the server says can meet it there, or leaves it open.
Here: the argument for the 10/min cells (the others have their own test files, named in
``benchmarks/pacing.py``), and the marking itself on made-up runs.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from pacing_sim import TokenBucketServer

from benchmarks import pacing
from benchmarks.scenarios import Dataset

README = Path(__file__).resolve().parents[1] / "README.md"


# -- 10/min, told nothing: a second 429 in every run ----------------------------------------

TWIN_RATE = 5.0  # the twin: the same bucket and workload at 5/s (a cell of the matrix's rate)
TEN_A_MINUTE = 10 / 60
FIRST_WAVE_SPAN = 0.1  # seconds: the first wave's requests all reach the bucket within this
# (4 to 6 round trips of about 1 ms here: 20 requests, one after another for a stream)

TEN_MINUTE_CELLS = [
    c for c in pacing.cells("full") if c.rate == "10/min" and c.mode in ("none", "ra1")
]


@pytest.mark.parametrize("cell", TEN_MINUTE_CELLS, ids=lambda c: c.id)
def test_at_10_per_minute_told_nothing_a_second_429_is_forced(cell: pacing.Cell) -> None:
    """A bucket of the same size at 5/s, with the same workload and the same 429s, answers
    the first wave alike (its requests come within a tenth of a second: less than a token of
    refill at either rate, and the bucket's first 429 is the answer to the request after the
    burst). After its first 429 the bucket is empty; a client that sends nothing for ``w``
    seconds then lets the 5/s twin waste ``5 w - burst`` tokens, so it keeps the twin within
    1.2x of its bound only if ``w <= 0.2 bound + burst / 5``. The 10/min bucket has refilled
    less than a token by then: that request is a second 429. Two 429s in a run of 30 pages
    is 6.2 %, over 5 %."""
    dataset = cell.dataset("full")
    twin = Dataset(
        "twin",
        dataset.streams,
        dataset.pages,
        1,
        1,
        rate=TWIN_RATE,
        burst=dataset.burst,
        success_delay=dataset.success_delay,
    )
    bound = pacing.least_time(twin)
    longest_wait = 0.2 * bound + dataset.burst / TWIN_RATE
    if cell.mode == "ra1":
        assert longest_wait >= 1.0  # the twin's own Retry-After: 1 fits: it can be met
    # The 10/min bucket's level at the first 429 is what it refilled during the first wave.
    assert TEN_A_MINUTE * (FIRST_WAVE_SPAN + longest_wait) < 1.0
    pages = dataset.streams * dataset.pages
    assert 2 / (pages + 2) > pacing.TARGET_429


# -- lone streams: a faster bucket answers alike until a second 429 ------------------------

ROUND_TRIP = 0.001  # seconds: a page as fast as a 429 is back this soon on loopback


def _replay(rate: float, burst: int, sends: list[float]) -> tuple[list[bool], float]:
    """A bucket full at 0 (the simulator's) meets requests at ``sends``: which it admits,
    and its level after."""
    bucket = TokenBucketServer(rate=rate, burst=burst)
    return [bucket.admit(at) for at in sends], bucket.tokens


@pytest.mark.parametrize("cell_id", sorted(pacing.FASTER_TWINS))
def test_a_lone_streams_second_429_is_forced_by_a_faster_twin(cell_id: str) -> None:
    """A client told nothing sends each page when the one before is back, so its first 429
    is the request after the burst: a faster bucket (of the same size, or one less at twice
    the rate) refuses the same request, and its 429 says the same (``Retry-After: 1``, or
    the same exact wait). From the pause's end that bucket holds at least as many tokens
    and refills faster, so it admits every request the cell's bucket admits: a schedule
    that meets no second 429 here gets the same answers there, where it takes over 1.2x
    its bound, as it sends no faster than this bucket allows. A second 429 is 2 of 32
    requests, 6.2 %; and with a bucket of one at 5/s its second pause (0.8 s of refill
    lost) takes the stream over 1.2x here too (``TWIN_WALLS``)."""
    (cell,) = [c for c in pacing.cells("full") if c.id == cell_id]
    twin_rate, twin_burst = pacing.FASTER_TWINS[cell_id]
    dataset = cell.dataset("full")
    rate, burst, pages, slow = dataset.rate, dataset.burst, dataset.pages, dataset.success_delay
    assert rate is not None
    assert twin_rate > rate
    step = slow + ROUND_TRIP
    sends = [k * step for k in range(burst + 1)]
    here, level = _replay(rate, burst, sends)
    there, twin_level = _replay(twin_rate, twin_burst, sends)
    assert here == there == [True] * burst + [False]
    if cell.mode == "exact":
        wait = (1.0 - level) / rate
        assert (1.0 - twin_level) / twin_rate == pytest.approx(wait)
    else:
        assert cell.mode == "ra1"
        wait = 1.0
    resume = sends[-1] + wait
    level = min(burst, level + wait * rate)
    twin_level = min(twin_burst, twin_level + wait * twin_rate)
    assert twin_level >= level - 1e-9
    bound = pacing.least_time(dataset)
    # The twin keeps at least the cell's tokens while the cell's bucket holds no more than
    # the twin's can: always for a bucket as big; for one a token smaller, until long after
    # the cell's wall target.
    assert min(burst, level + rate * (1.2 * bound - resume)) <= twin_burst
    # No faster than this bucket allows: its j-th admission after the pause comes no sooner
    # than `resume + (j - level) / rate`, one page after the other.
    left = pages - burst
    last = max(resume + (left - level) / rate, resume + (left - 1) * step) + slow
    twin = Dataset("twin", 1, pages, 1, 1, rate=twin_rate, burst=twin_burst, success_delay=slow)
    assert last > 1.2 * pacing.least_time(twin)
    assert 2 / (pages + 2) > pacing.TARGET_429
    # Two pauses of a second: each wastes what a bucket refilled beyond its size.
    lost = wait - burst / rate
    assert (bound + 2 * lost > 1.2 * bound) == (cell_id in pacing.TWIN_WALLS)


def test_a_faster_twin_marks_the_share_and_with_a_bucket_of_one_the_wall() -> None:
    runs = [_run(32, 2, 1, ratio=1.81)] * 5
    stream_1 = pacing.Cell("5/s", 1, "ra1", False, "stream")
    stream_5 = pacing.Cell("5/s", 5, "ra1", False, "stream")
    assert pacing.out_of_reach(stream_1, "429s", runs) == pacing.FASTER_TWIN
    assert pacing.out_of_reach(stream_1, "median", runs) == pacing.FASTER_TWIN
    assert pacing.out_of_reach(stream_1, "max", runs) is None  # 2 pauses: 1.28x, within 1.35x
    assert pacing.out_of_reach(stream_5, "429s", runs) == pacing.FASTER_TWIN
    assert pacing.out_of_reach(stream_5, "median", runs) is None
    fan_out = pacing.Cell("5/s", 5, "ra1", False, "fan-out")
    assert pacing.out_of_reach(fan_out, "429s", [_run(90, 10, 3)] * 5) is None


# -- the marking, on made-up runs -----------------------------------------------------------


def _run(requests: int, throttled: int, first_wave: int, ratio: float = 1.0) -> dict[str, Any]:
    return {
        "ratio": ratio,
        "requests": requests,
        "throttled": throttled,
        "share_429": throttled / requests,
        "first_wave": first_wave,
        "share_after_wave": (throttled - first_wave) / requests,
        "missing_buckets": 0,
        "problems": [],
    }


def _result(cell: pacing.Cell, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cell": asdict(cell), "runs": {"ua": runs}}


FAN_5S = pacing.Cell("5/s", 20, "none", False, "fan-out")


def test_a_429_share_is_out_of_reach_when_every_run_over_5_percent_has_its_first_wave_over() -> (
    None
):
    runs = [_run(100, 12, 8), _run(100, 4, 4), _run(100, 9, 6)]
    assert pacing.out_of_reach(FAN_5S, "429s", runs) == pacing.FIRST_WAVE
    # One run over 5 % whose first wave alone is within it: the rest of its 429s decided.
    runs.append(_run(100, 9, 5))
    assert pacing.out_of_reach(FAN_5S, "429s", runs) is None


def _why(rate: str, burst: int, mode: str, workload: str, target: str) -> str | None:
    runs = [_run(100, 20, 1, ratio=2.0)]
    return pacing.out_of_reach(pacing.Cell(rate, burst, mode, False, workload), target, runs)


def test_walls_and_shares_of_each_argument_match_only_their_cells() -> None:
    assert _why("10/min", 5, "ra1", "fan-out", "429s") == pacing.TOLD_NOTHING_10_MIN
    # ... not with the exact wait: the server says when its next token comes.
    assert _why("10/min", 5, "exact", "fan-out", "429s") is None
    assert _why("5/s", 5, "none", "stream", "429s") == pacing.STREAM_5S
    # With Retry-After: 1 its 50/s twin is over 1.2x anyway (the pause); a 6.1/s one is
    # not, and answers alike until a second 429.
    assert _why("5/s", 5, "ra1", "stream", "429s") == pacing.FASTER_TWIN
    assert _why("5/s", 5, "none", "fan-out", "429s") is None
    for burst in (1, 5, 20):
        # The 1.2x of a 50/s fan-out with Retry-After: 1 (a 45/s twin, or a 60/s one for
        # a bucket of 20) ...
        assert _why("50/s", burst, "ra1", "fan-out", "median") == pacing.NEEDS_THE_RATE
        # ... but not its 1.35x: two pauses fit in that.
        assert _why("50/s", burst, "ra1", "fan-out", "max") is None
    for target in ("median", "max"):
        assert _why("50/s", 20, "ra1", "stream", target) == pacing.PAUSE_IS_BOUND
        # A wall at 5/s with Retry-After: 1 is not shown out of reach.
        assert _why("5/s", 1, "ra1", "fan-out", target) is None
        assert _why("50/s", 1, "none", "stream", target) is None
    assert _why("50/s", 1, "ra1", "fan-out", "429s") is None


def test_a_cell_is_out_of_reach_only_when_every_miss_is() -> None:
    cell = pacing.Cell("50/s", 1, "ra1", False, "fan-out")
    verdict = pacing.evaluate(_result(cell, [_run(306, 6, 5, ratio=1.3)] * 5))
    assert verdict["pass"] is False
    assert verdict["reasons"] == [pacing.NEEDS_THE_RATE]
    assert verdict["out_of_reach"] is True
    # A run over 1.35x as well: open.
    verdict = pacing.evaluate(_result(cell, [_run(306, 6, 5, ratio=1.8)] * 5))
    assert verdict["reasons"] == [pacing.NEEDS_THE_RATE, pacing.OPEN]
    assert verdict["out_of_reach"] is False
    # Its 429s over 5 %, after a first wave of 5: open.
    verdict = pacing.evaluate(_result(cell, [_run(306, 30, 5, ratio=1.3)] * 5))
    assert verdict["reasons"] == [pacing.NEEDS_THE_RATE, pacing.OPEN]
    assert verdict["out_of_reach"] is False
    # A lost bucket is never out of reach.
    lost = _run(306, 6, 5, ratio=1.1)
    lost["missing_buckets"] = 1
    verdict = pacing.evaluate(_result(cell, [lost]))
    assert verdict["misses"] == ["lost or repeated buckets"]
    assert verdict["reasons"] == [pacing.OPEN]
    assert verdict["out_of_reach"] is False
    # A cell that meets every target has no misses, and is not "out of reach".
    verdict = pacing.evaluate(_result(cell, [_run(301, 1, 1, ratio=1.1)] * 5))
    assert verdict == {**verdict, "pass": True, "misses": [], "reasons": [], "out_of_reach": False}


def test_with_the_quick_workloads_only_the_first_wave_is_out_of_reach() -> None:
    # The arguments count the full matrix's workloads; --quick runs smaller ones.
    cell = pacing.Cell("50/s", 1, "ra1", False, "fan-out")
    runs = [_run(24, 4, 1, ratio=1.8)]
    full = pacing.evaluate(_result(cell, runs))
    assert full["reasons"] == [pacing.NEEDS_THE_RATE, pacing.OPEN, pacing.OPEN]
    quick = pacing.evaluate({**_result(cell, runs), "dataset": asdict(cell.dataset("quick"))})
    assert quick["reasons"] == [pacing.OPEN, pacing.OPEN, pacing.OPEN]
    assert pacing.out_of_reach(cell, "median", runs, full=False) is None
    first_wave = [_run(24, 4, 3)]
    assert pacing.out_of_reach(cell, "429s", first_wave, full=False) == pacing.FIRST_WAVE


def test_the_table_says_which_misses_are_out_of_reach_and_counts_the_open_cells() -> None:
    reach = pacing.Cell("50/s", 5, "ra1", False, "fan-out")
    open_cell = pacing.Cell("50/s", 5, "none", False, "fan-out")
    results: dict[str, Any] = {"cells": []}
    for cell in (reach, open_cell):
        result = _result(cell, [_run(310, 10, 7, ratio=1.35)] * 5)
        result.update(
            verdict=pacing.evaluate(result),
            id=cell.id,
            virtual=False,
            bound_s=5.9,
            dataset=asdict(cell.dataset("full")),
        )
        results["cells"].append(result)
    rows = [line for line in pacing.markdown(results).splitlines() if "| 50/s |" in line]
    assert rows[0].endswith("| FAIL (out of reach): median 1.35x > 1.2x [needs the rate] |")
    assert rows[1].endswith("| FAIL: median 1.35x > 1.2x [open] |")
    assert pacing.open_cells(results) == 1


def test_the_readme_gives_each_reason_its_argument() -> None:
    text = " ".join(README.read_text().split())
    assert len(pacing.REASONS) == 6
    for reason in pacing.REASONS:
        assert f"**[{reason}]**" in text, reason
