"""A database is bound to its source (issue 10, item 12), on every store: the API host and
the organization (or a one-way fingerprint of the key), recorded by the first sync."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from costs_server import DAY, cost, costs_server
from sync_support import NOW, dump
from test_sync_store import build_v1_database

from usage_async import UsageClient
from usage_async.cli import main
from usage_async.sync import Source, SourceMismatchError, open_store, source_of, sync
from usage_async.testing import FakeUsageServer

OPTIONS: dict[str, Any] = {"endpoints": ["costs"], "since": NOW - 2 * DAY}


async def test_a_sync_from_another_source_is_refused_naming_both_and_writing_nothing(
    store_url: str,
) -> None:
    async with (
        FakeUsageServer(seed=1, now=NOW) as one,
        FakeUsageServer(seed=2, now=NOW) as two,
        UsageClient(one.api_key, base_url=one.base_url) as first,
        UsageClient(two.api_key, base_url=two.base_url) as second,
    ):
        await sync(first, store_url, clock=one.now, **OPTIONS)
        before = await dump(store_url)
        with pytest.raises(SourceMismatchError) as caught:
            await sync(second, store_url, clock=two.now, **OPTIONS)
        assert two.requests == []
        assert await dump(store_url) == before
    message = str(caught.value)
    assert str(source_of(first)) in message
    assert str(source_of(second)) in message
    assert one.api_key not in message
    assert two.api_key not in message
    assert caught.value.stored == source_of(first)


def test_a_source_is_the_api_host_and_the_organization_or_a_fingerprint_of_the_key() -> None:
    key = "sk-admin-abc"
    plain = UsageClient(key, base_url="https://api.example.com:8443/v1")
    org = UsageClient(key, organization="org-42")
    assert plain.key_fingerprint == hashlib.sha256(key.encode()).hexdigest()[:12]
    assert source_of(plain) == Source("api.example.com:8443", f"key:{plain.key_fingerprint}")
    assert source_of(org) == Source("api.openai.com", "org:org-42")
    assert key not in repr(source_of(plain)) + str(source_of(plain))


async def test_an_organization_keeps_its_database_across_a_new_key(store_url: str) -> None:
    async with costs_server(NOW) as (server, client):
        server.days[NOW - NOW % DAY - DAY] = [cost("proj_a", "1")]
        for key in ("sk-admin-old", "sk-admin-rotated"):
            async with UsageClient(key, base_url=client.base_url, organization="org-42") as c:
                report = await sync(c, store_url, clock=lambda: NOW, **OPTIONS)
                assert report.ok
        async with open_store(store_url) as store:
            assert (await store.source()) == Source(source_of(client).host, "org:org-42")


async def test_a_version_1_database_is_bound_to_its_first_sync_with_a_warning(
    store_kind: str, store_url: str, client: UsageClient, server: FakeUsageServer
) -> None:
    build_v1_database(store_kind, store_url)
    report = await sync(client, store_url, clock=server.now, **OPTIONS)
    again = await sync(client, store_url, clock=server.now, **OPTIONS)
    async with open_store(store_url) as store:
        assert await store.source() == source_of(client)
    (warning,) = report.warnings
    assert "no recorded source" in warning
    assert str(source_of(client)) in warning
    assert again.warnings == ()


@pytest.mark.fake_usage_server(seed=1, now=NOW)
def test_the_command_line_refuses_real_data_into_a_simulators_database(
    fake_usage_server: FakeUsageServer, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    db = f"sqlite:///{tmp_path}/shared.db"
    common = ["sync", "--db", db, "--endpoints", "costs", "--since", "2d"]
    assert main([*common, "--fake", "--fake-now", str(NOW)]) == 0
    capsys.readouterr()
    # The "real" API: another host (here the fixture's simulator, a key of its own).
    monkeypatch.setenv("OPENAI_ADMIN_KEY", fake_usage_server.api_key)
    assert main([*common, "--base-url", fake_usage_server.base_url]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1
    assert out.err.startswith("usage-async sync: error: ")
    assert "at simulator" in out.err
    assert "another --db" in out.err
    assert fake_usage_server.api_key not in out.err
    assert fake_usage_server.requests == []
