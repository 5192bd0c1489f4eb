"""Overlap and duplicates (issue 10, item 16), on every store: a page with two results of
one key fails whole; an older read committed after a newer one never overwrites it."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from costs_server import DAY, cost, costs_server
from sync_support import NOW

from usage_async.sync import Collector, PageResult, PageWrite, Store, open_store

D = NOW - NOW % DAY - DAY


async def test_two_results_with_one_key_in_a_page_fail_the_page_and_store_nothing(
    store_url: str,
) -> None:
    async with costs_server(NOW) as (server, client), open_store(store_url) as store:
        server.days[D] = [cost("proj_a", "1.5"), cost("proj_b", "2"), cost("proj_a", "7")]
        report = await Collector(
            client, store, endpoints=["costs"], since=D, clock=lambda: NOW
        ).run()
        assert await store.table_rows("costs") == []
        assert await store.states() == []
    (entry,) = report.endpoints
    assert entry.error is not None
    assert f"bucket starting at {D}" in entry.error
    assert "project_id='proj_a'" in entry.error
    assert "same key" in entry.error
    assert entry.pages == 0


class GatedStore(Store):
    """A store whose page writes wait at a gate: another sync runs while this one waits."""

    def __init__(self, inner: Store) -> None:
        super().__init__(inner.url, inner.schema)
        self.dialect = inner.dialect
        self.inner = inner
        self.reached = asyncio.Event()
        self.release = asyncio.Event()

    async def open(self) -> None:
        await self.inner.open()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def schema_version(self) -> int:
        return await self.inner.schema_version()

    async def load_state(self, endpoint: str, bucket_width: str, group_by: str) -> Any:
        return await self.inner.load_state(endpoint, bucket_width, group_by)

    async def states(self) -> list[tuple[str, str, str, int, int]]:
        return await self.inner.states()

    async def fetch(self, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        return await self.inner.fetch(sql, params)

    async def execute(self, sql: str, params: Any = ()) -> None:
        await self.inner.execute(sql, params)

    async def write_page(self, page: PageWrite) -> PageResult:
        self.reached.set()
        await self.release.wait()
        return await self.inner.write_page(page)


async def test_an_older_read_committed_after_a_newer_one_never_overwrites_it(
    store_url: str,
) -> None:
    options: dict[str, Any] = {"endpoints": ["costs"], "since": D}
    async with (
        costs_server(NOW) as (server, client),
        open_store(store_url) as first,
        open_store(store_url) as second,
    ):
        server.days[D] = [cost("proj_a", "1.5")]
        await Collector(client, first, clock=lambda: NOW - 600, **options).run()
        # Sync A reads the old value at NOW and waits to commit it...
        gated = GatedStore(first)
        older = asyncio.ensure_future(Collector(client, gated, clock=lambda: NOW, **options).run())
        await gated.reached.wait()
        # ...while sync B reads the revised value a minute later and commits it first.
        server.days[D] = [cost("proj_a", "4.75")]
        server.now = NOW + 60  # the API's clock (its Date header) moves on too
        newer = await Collector(client, second, clock=lambda: NOW + 60, **options).run()
        gated.release.set()
        late = await older
        (row,) = [r for r in await second.table_rows("costs") if r["start_time"] == D]
    assert newer.total("changed") == 1
    assert late.total("stale") == 1
    assert late.total("changed") == 0
    assert row["amount_value"] == Decimal("4.75")
    assert row["read_at"] == (NOW + 60) * 1000
