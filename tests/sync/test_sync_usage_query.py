"""``query usage``: tokens and requests per day from synced usage, in UTC days or the local
days of a zone (a 23 h and a 25 h day in Europe/Berlin), on every store."""

from __future__ import annotations

import asyncio
import datetime as _dt
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sync_support import DAY, FAST_RETRY, HOUR

from usage_async import InvalidParameterError, UsageClient
from usage_async.cli import main
from usage_async.sync import UsageQueryError, open_store, sync, usage
from usage_async.testing import FakeUsageServer

SPRING = _dt.date(2025, 3, 30)  # Europe/Berlin: 02:00 -> 03:00, a 23 h day
AUTUMN = _dt.date(2025, 10, 26)  # Europe/Berlin: 03:00 -> 02:00, a 25 h day
# The UTC instants that bound them: 23:00Z/22:00Z (CET then CEST), 22:00Z/23:00Z.
SPRING_BOUNDS = (1_743_289_200, 1_743_372_000)  # 2025-03-29T23:00Z, 2025-03-30T22:00Z
AUTUMN_BOUNDS = (1_761_429_600, 1_761_519_600)  # 2025-10-25T22:00Z, 2025-10-26T23:00Z
COUNTS = ("input_tokens", "output_tokens", "num_model_requests")

Sync = Callable[..., Awaitable[None]]


def noon_after(day: _dt.date) -> int:
    """Two days after ``day`` at noon UTC: the simulator's clock for a test about ``day``."""
    after = _dt.datetime.combine(day + _dt.timedelta(days=2), _dt.time(12), _dt.timezone.utc)
    return int(after.timestamp())


@pytest.fixture
async def around() -> AsyncIterator[Callable[[_dt.date], Awaitable[Sync]]]:
    """``collect = await around(day)``: a simulator whose clock is two days after ``day``;
    ``await collect(url, width)`` syncs its completions (and names) from three days before."""
    stack: list[tuple[FakeUsageServer, UsageClient]] = []

    async def start(day: _dt.date) -> Sync:
        srv = FakeUsageServer(seed=5, now=noon_after(day))
        await srv.__aenter__()
        client = UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST_RETRY)
        await client.__aenter__()
        stack.append((srv, client))
        since = noon_after(day) - 5 * DAY - 12 * HOUR

        async def collect(url: str, width: str = "1h", endpoint: str = "completions") -> None:
            await sync(
                client,
                url,
                endpoints=[endpoint],
                bucket_width={endpoint: width},
                since=since,
                clock=srv.now,
                names=True,
            )

        return collect

    yield start
    for srv, client in reversed(stack):
        await client.__aexit__(None, None, None)
        await srv.__aexit__(None, None, None)


async def raw_counts(
    url: str, start: int, end: int, width: str = "1h"
) -> dict[tuple[str, str], dict[str, int]]:
    """The stored rows of ``width`` that start in ``[start, end)``, summed by (project,
    model): what a day's figures must equal, read without the query."""
    async with open_store(url) as store:
        rows = await store.table_rows("completions")
    sums: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(COUNTS, 0))
    for row in rows:
        if row["bucket_width"] == width and start <= row["start_time"] < end:
            for name in COUNTS:
                sums[row["project_id"], row["model"]][name] += row[name]
    return dict(sums)


def files(folder: Path) -> list[Path]:
    return list(folder.iterdir())


def figures(answer: Any, day: _dt.date) -> dict[tuple[str, str], dict[str, int]]:
    return {
        (d.project_id, d.model): {c: d.counts[c] for c in COUNTS} for d in answer if d.day == day
    }


@pytest.mark.parametrize(
    ("day", "bounds", "hours"), [(SPRING, SPRING_BOUNDS, 23), (AUTUMN, AUTUMN_BOUNDS, 25)]
)
async def test_a_berlin_day_when_the_clocks_change_sums_its_own_hours(
    around: Any, store_url: str, day: _dt.date, bounds: tuple[int, int], hours: int
) -> None:
    collect = await around(day)
    await collect(store_url)
    answer = await usage(store_url, tz="Europe/Berlin")
    assert answer.zone == "Europe/Berlin"
    assert answer.keys == ("project_id", "model")
    days = [d for d in answer if d.day == day]
    assert days
    assert {d.hours for d in days} == {hours}
    assert bounds[1] - bounds[0] == hours * HOUR
    assert all(d.complete for d in days)
    assert figures(answer, day) == await raw_counts(store_url, *bounds)
    # The UTC day of the same date is another set of hours, and says so.
    utc = await usage(store_url)
    utc_start = int(_dt.datetime.combine(day, _dt.time(), _dt.timezone.utc).timestamp())
    assert figures(utc, day) == await raw_counts(store_url, utc_start, utc_start + DAY)
    assert figures(utc, day) != figures(answer, day)


async def test_local_days_neither_lose_nor_double_count_an_hour(
    around: Any, store_url: str
) -> None:
    collect = await around(AUTUMN)
    await collect(store_url)
    answer = await usage(store_url, tz="Europe/Berlin")
    assert answer.since is not None
    assert answer.until is not None
    total = {c: sum(d.counts[c] or 0 for d in answer) for c in COUNTS}
    raw = await raw_counts(store_url, answer.since, answer.until)
    assert total == {c: sum(v[c] for v in raw.values()) for c in COUNTS}
    # The first and last local days hold only part of the range read: said, not hidden.
    assert not answer[0].complete
    assert not answer[-1].complete


async def test_a_date_with_a_zone_starts_at_that_dates_local_midnight(
    around: Any, store_url: str
) -> None:
    collect = await around(SPRING)
    await collect(store_url)
    answer = await usage(
        store_url, tz="Europe/Berlin", since=SPRING, until=SPRING + _dt.timedelta(days=1)
    )
    assert (answer.since, answer.until) == SPRING_BOUNDS
    assert {d.day for d in answer} == {SPRING}
    assert all(d.complete for d in answer)


async def test_utc_days_from_1d_buckets_equal_the_stored_days(around: Any, store_url: str) -> None:
    collect = await around(SPRING)
    await collect(store_url, "1d")
    answer = await usage(store_url)
    assert answer.zone == "UTC"
    assert answer.collection is not None
    assert answer.collection.bucket_width == "1d"
    for day in {d.day for d in answer}:
        start = int(_dt.datetime.combine(day, _dt.time(), _dt.timezone.utc).timestamp())
        assert figures(answer, day) == await raw_counts(store_url, start, start + DAY, "1d")
    assert await usage(store_url, tz="UTC") == answer  # UTC is no local zone


async def test_local_days_read_the_1h_collection_beside_a_1d_one_never_both(
    around: Any, store_url: str
) -> None:
    collect = await around(SPRING)
    await collect(store_url, "1d")
    await collect(store_url, "1h")
    answer = await usage(store_url, tz="Europe/Berlin")
    assert answer.collection is not None
    assert answer.collection.bucket_width == "1h"
    assert figures(answer, SPRING) == await raw_counts(store_url, *SPRING_BOUNDS)


async def test_tz_with_only_1d_buckets_is_refused_naming_the_sync_that_collects_hours(
    around: Any, store_url: str
) -> None:
    collect = await around(SPRING)
    await collect(store_url, "1d")
    with pytest.raises(UsageQueryError, match=r"sync --bucket-width completions=1h$"):
        await usage(store_url, tz="Europe/Berlin")


async def test_project_names_stand_beside_the_ids(around: Any, store_url: str) -> None:
    collect = await around(SPRING)
    await collect(store_url)
    async with open_store(store_url) as store:
        names = {r["id"]: r["name"] for r in await store.directory_rows("projects")}
    answer = await usage(store_url, tz="Europe/Berlin")
    assert {d.project_name for d in answer if d.project_id} <= set(names.values())
    assert any(d.project_name for d in answer)
    records = answer.records()
    assert list(records[0])[:4] == ["day", "project_id", "project_name", "model"]
    assert list(answer.records(names=False)[0])[:3] == ["day", "project_id", "model"]


async def test_an_unknown_zone_or_endpoint_is_refused_before_opening_the_database(
    tmp_path: Path,
) -> None:
    missing = f"sqlite:///{tmp_path}/missing.db"
    with pytest.raises(InvalidParameterError, match="unknown time zone 'Europe/Berlim'"):
        await usage(missing, tz="Europe/Berlim")
    with pytest.raises(InvalidParameterError, match="'costs' is not a usage endpoint"):
        await usage(missing, endpoint="costs")
    assert files(tmp_path) == []


def test_the_command_exits_2_naming_an_unknown_zone(tmp_path: Path, capsys: Any) -> None:
    db = f"sqlite:///{tmp_path}/x.db"
    assert main(["query", "--db", db, "usage", "--tz", "Mars/Olympus"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage-async query: error: --tz: unknown time zone 'Mars/Olympus'")
    assert err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


async def test_the_command_exits_2_for_tz_on_1d_buckets_with_the_hint(
    around: Any, store_url: str, capsys: Any
) -> None:
    collect = await around(SPRING)
    await collect(store_url, "1d")
    argv = ["query", "--db", store_url, "usage", "--tz", "Europe/Berlin"]
    assert await asyncio.to_thread(main, argv) == 2
    err = capsys.readouterr().err
    assert err.endswith("collect hours with usage-async sync --bucket-width completions=1h\n")
    assert err.count("\n") == 1


async def test_the_command_writes_local_days_with_their_figures(
    around: Any, store_url: str, tmp_path: Path, capsys: Any
) -> None:
    collect = await around(AUTUMN)
    await collect(store_url)
    out = tmp_path / "usage.json"
    argv = ["query", "--db", store_url, "usage", "--tz", "Europe/Berlin", "-o", str(out)]
    assert await asyncio.to_thread(main, argv) == 0
    assert "into local days in Europe/Berlin" in capsys.readouterr().err
    rows = json.loads(out.read_text())
    assert list(rows[0]) == [
        "day",
        "project_id",
        "project_name",
        "model",
        "input_tokens",
        "output_tokens",
        "num_model_requests",
        "input_cached_tokens",
        "complete",
    ]
    autumn = {
        (r["project_id"], r["model"]): {c: r[c] for c in COUNTS}
        for r in rows
        if r["day"] == AUTUMN.isoformat()
    }
    assert autumn == await raw_counts(store_url, *AUTUMN_BOUNDS)


async def test_a_zone_whose_midnight_falls_inside_an_hour_asks_for_minutes(
    around: Any, store_url: str
) -> None:
    collect = await around(SPRING)
    await collect(store_url)
    with pytest.raises(UsageQueryError, match=r"sync --bucket-width completions=1m$") as caught:
        await usage(store_url, tz="Asia/Kolkata")  # +05:30
    assert "straddles local midnight" in str(caught.value)


async def test_an_endpoint_counting_something_else_shows_that_count(
    around: Any, store_url: str
) -> None:
    collect = await around(SPRING)
    await collect(store_url, endpoint="images")
    answer = await usage(store_url, endpoint="images", tz="Europe/Berlin")
    assert answer.columns(every=False) == answer.columns()
    assert answer.columns() == [
        "day",
        "project_id",
        "project_name",
        "model",
        "images",
        "num_model_requests",
        "complete",
    ]
    assert sum(d.counts["images"] or 0 for d in answer) > 0
