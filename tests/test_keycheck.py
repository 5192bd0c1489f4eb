"""The key check against the simulator: one typed answer per question, never the key."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator

import pytest

import usage_async as ua
from usage_async.keycheck import MAX_CLOCK_SKEW, check_key
from usage_async.testing import FakeUsageServer

NOW = 1_768_480_200  # the simulator's clock: 2026-01-15T12:30:00Z
FAST = ua.RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
LISTS = (
    "list_projects",
    "list_users",
    "list_admin_api_keys",
    "list_project_api_keys",
    "list_project_service_accounts",
)
ALL = ("key_kind", "reaches_api", "authenticated", "usage_read", *LISTS, "clock")


def at_server_time() -> float:
    return NOW + 0.4  # this machine's clock, as the check reads it: in step with the server


async def check(srv: FakeUsageServer, key: str, **options: float) -> ua.KeyCheck:
    async with ua.UsageClient(key, base_url=srv.base_url, retry=FAST) as client:
        return await check_key(client, now=lambda: options.get("now", at_server_time()))


@pytest.fixture
async def srv() -> AsyncIterator[FakeUsageServer]:
    async with FakeUsageServer(seed=0, now=NOW) as server:
        yield server


async def test_an_admin_key_passes_every_check(srv: FakeUsageServer) -> None:
    result = await check(srv, srv.api_key)
    assert [c.name for c in result.checks] == list(ALL)
    assert all(c.ok for c in result.checks), result.checks
    assert result.ok
    assert result.main_job_ok
    assert result.key_kind == "admin"
    assert result.clock_skew == pytest.approx(-0.4)


async def test_client_check_is_the_same_check(srv: FakeUsageServer) -> None:
    async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as client:
        result = await client.check()
    assert [c.name for c in result.checks] == list(ALL)
    assert result.main_job_ok


async def test_each_check_asks_for_one_object_or_bucket(srv: FakeUsageServer) -> None:
    await check(srv, srv.api_key)
    sent = {req.path: dict(req.query) for req in srv.requests}
    assert len(srv.requests) == 6
    assert sent["/v1/organization/costs"]["limit"] == "1"
    assert sent["/v1/organization/costs"]["start_time"] == str(NOW - NOW % 86400 - 86400)
    assert all(q["limit"] == "1" for q in sent.values())
    assert any(p.endswith("/api_keys") for p in sent)
    assert any(p.endswith("/service_accounts") for p in sent)


async def test_a_key_without_the_usage_scope_fails_the_main_job_and_says_which_scope(
    srv: FakeUsageServer,
) -> None:
    result = await check(srv, srv.limited_key)
    assert not result.main_job_ok
    assert not result.ok
    usage = result.check("usage_read")
    assert usage.ok is False
    assert usage.detail == "HTTP 403: the key lacks the scope api.usage.read"
    assert result.check("list_users").ok is False
    assert "api.management.read" in result.check("list_users").detail
    assert result.check("list_projects").ok is True
    assert result.check("authenticated").ok is True
    assert result.check("key_kind").ok is True


@pytest.mark.parametrize(
    ("key", "kind", "said"),
    [
        ("sk-proj-notreallyakey0123456789", "project", "a project key"),
        ("sk-svcacct-notreallyakey0123456789", "project", "a project key"),
        ("sk-notreallyakey0123456789", "other", "not an organization admin key"),
        ("hello", "other", "not an organization admin key"),
    ],
)
async def test_a_key_that_is_not_an_admin_key_says_so_by_its_prefix(
    srv: FakeUsageServer, key: str, kind: str, said: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        result = await check(srv, key)
    assert result.key_kind == kind
    kind_check = result.check("key_kind")
    assert kind_check.ok is False
    assert kind_check.detail.startswith(said)
    assert result.check("reaches_api").ok is True
    assert result.check("authenticated").ok is False
    assert result.check("usage_read").detail == "HTTP 401: the key was refused"
    assert not result.main_job_ok
    assert "notreallyakey" not in repr(result) + caplog.text


async def test_a_server_that_cannot_be_reached_fails_reaches_api() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with ua.UsageClient(
        "sk-admin-x", base_url=f"http://127.0.0.1:{port}/v1", retry=FAST
    ) as c:
        result = await check_key(c)
    assert result.check("reaches_api").ok is False
    assert "no answer" in result.check("reaches_api").detail
    assert result.check("authenticated").ok is None
    assert result.check("clock").ok is None
    assert not result.main_job_ok


async def test_a_server_clock_far_from_ours_fails_the_clock_check(srv: FakeUsageServer) -> None:
    result = await check(srv, srv.api_key, now=NOW + 3 * 86400)
    clock = result.check("clock")
    assert clock.ok is False
    assert clock.detail.startswith("the server's clock is 3 days behind this machine's")
    assert result.clock_skew == pytest.approx(-3 * 86400, abs=1)
    assert result.main_job_ok  # reading usage does not depend on it


async def test_a_skew_within_the_margin_passes(srv: FakeUsageServer) -> None:
    result = await check(srv, srv.api_key, now=NOW - MAX_CLOCK_SKEW + 1)
    assert result.check("clock").ok is True
    assert "ahead of" in result.check("clock").detail


async def test_per_project_checks_are_skipped_without_an_active_project() -> None:
    async with FakeUsageServer(seed=0, now=1_600_000_000) as early:  # before any project
        result = await check(early, early.api_key, now=1_600_000_000)
    assert result.check("list_projects").ok is True
    for name in ("list_project_api_keys", "list_project_service_accounts"):
        assert result.check(name).ok is None
        assert result.check(name).detail.startswith("skipped")
    assert result.ok


def test_asking_for_a_check_that_does_not_exist_names_the_checks() -> None:
    result = ua.KeyCheck("admin", (ua.Check("usage_read", True, "HTTP 200"),), True, None)
    with pytest.raises(KeyError, match="usage_read"):
        result.check("nothing")
