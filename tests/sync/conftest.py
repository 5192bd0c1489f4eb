"""Fixtures for usage_async.sync: a store URL for each store, the simulator, a client.

``store_kind`` is parametrized over SQLite (files in the test's tmp_path) and PostgreSQL (a
fresh schema per database in the server named by ``USAGE_ASYNC_TEST_POSTGRES_URL``; `.ci/run`
starts a throwaway server and sets it). Without that variable the PostgreSQL cases skip,
and the end of the run says why.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sync_support import (
    FAST_RETRY,
    NOW,
    SKIP_REASON,
    pg_exec,
    postgres_base_url,
    with_search_path,
)

from usage_async import UsageClient
from usage_async.testing import FakeUsageServer


@pytest.fixture(params=["sqlite", "postgresql"])
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store a test runs against."""
    kind: str = request.param
    if kind == "postgresql" and postgres_base_url() is None:
        pytest.skip(SKIP_REASON)
    return kind


@pytest.fixture
def make_store_url(store_kind: str, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """A factory of fresh, empty databases of the test's store kind (each call: a new one)."""
    schemas: list[str] = []
    count = 0

    def make() -> str:
        nonlocal count
        count += 1
        if store_kind == "sqlite":
            return f"sqlite:///{tmp_path}/usage{count}.db"
        base = postgres_base_url()
        assert base is not None
        schema = f"t_{uuid.uuid4().hex[:16]}"
        pg_exec(base, f"CREATE SCHEMA {schema}")
        schemas.append(schema)
        return with_search_path(base, schema)

    yield make
    base = postgres_base_url()
    for schema in schemas:
        assert base is not None
        pg_exec(base, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture
def store_url(make_store_url: Callable[[], str]) -> str:
    """One fresh, empty database of the test's store kind."""
    return make_store_url()


@pytest.fixture
async def server() -> AsyncIterator[FakeUsageServer]:
    """The simulator on 127.0.0.1 with a fixed clock."""
    async with FakeUsageServer(seed=1, now=NOW) as srv:
        yield srv


@pytest.fixture
async def client(server: FakeUsageServer) -> AsyncIterator[UsageClient]:
    """A client of the simulator with fast retries."""
    async with UsageClient(server.api_key, base_url=server.base_url, retry=FAST_RETRY) as c:
        yield c


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say why the PostgreSQL store tests did not run, when they did not."""
    if postgres_base_url() is None:
        terminalreporter.write_line(f"usage_async.sync: {SKIP_REASON}")
