"""The directory resolver against the simulator: names for every id usage reports, ids it
cannot name shown as ids, failures degraded per kind with one warning, a bounded and reported
request cost, and a cache with an age the caller sets."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from helpers import Reply, ScriptedServer

import usage_async as ua
from usage_async.directory import (
    API_KEYS,
    KINDS,
    PROJECTS,
    SERVICE_ACCOUNTS,
    UNKNOWN_MARKER,
    USERS,
    build_directory,
    load_directory,
)
from usage_async.testing import FakeUsageServer
from usage_async.testing._roster import Roster

LATE_NOW = 1_768_480_200  # 2026-01-15T12:30:00Z: after the archived project and deleted key
DECEMBER = 1_764_979_200  # 2025-12-06T00:00:00Z
FAST = ua.RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.01)


@pytest.fixture
async def srv() -> AsyncIterator[FakeUsageServer]:
    async with FakeUsageServer(seed=0, now=LATE_NOW) as server:
        yield server


@pytest.fixture
async def client(srv: FakeUsageServer) -> AsyncIterator[ua.UsageClient]:
    async with ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=FAST) as usage:
        yield usage


def roster(srv: FakeUsageServer) -> Roster:
    found = srv.organization.roster
    assert found is not None
    return found


def expected_requests(r: Roster, page: int = 100) -> int:
    """Page requests of one walk: every list's pages (an empty list is one page)."""

    def pages(n: int) -> int:
        return max(1, -(-n // page))

    projects = [p for p in r.projects if p.created_at <= LATE_NOW]
    keys = [k for k in r.project_keys if k.deleted_at is None or k.deleted_at > LATE_NOW]
    total = pages(len(projects)) + pages(len(r.users)) + pages(len(r.admin_keys))
    for p in projects:
        total += pages(sum(k.project_id == p.id for k in keys))
        if p.archived_at is None or p.archived_at > LATE_NOW:
            total += pages(sum(a.project_id == p.id for a in r.service_accounts))
    return total


# -- names --------------------------------------------------------------------------------


async def test_every_project_user_key_and_service_account_is_named(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    r = roster(srv)
    directory = await client.directory()
    assert dict(directory.complete) == dict.fromkeys(KINDS, True)
    assert directory.warnings == ()
    for p in r.projects:
        assert directory.project(p.id).name == p.name
    for u in r.users:
        assert directory.user(u.id).name == u.name
    for a in r.service_accounts:
        name = directory.service_account(a.id)
        assert (name.name, name.project_id) == (a.name, a.project_id)
    for k in (*r.project_keys, *r.admin_keys):
        if k.deleted_at is None:
            name = directory.api_key(k.id)
            assert (name.name, name.redacted_value, name.project_id) == (
                k.name,
                k.redacted_value,
                k.project_id,
            )
            assert name.owner is not None
            assert (name.owner.type, name.owner.id) == (k.owner_type, k.owner_id)


async def test_an_archived_project_is_named_and_marked_archived(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    archived = roster(srv).archived_project
    name = (await client.directory()).project(archived.id)
    assert name.known
    assert name.archived
    assert name.label == archived.name
    assert isinstance(name.item, ua.Project)
    assert name.item.archived_at == archived.archived_at


async def test_a_key_whose_owner_left_the_project_is_named(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    (inactive,) = [k for k in roster(srv).project_keys if k.owner_project_access == "inactive"]
    assert (await client.directory()).api_key(inactive.id).name == inactive.name


async def test_a_key_owned_by_a_service_account_names_its_owner(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    r = roster(srv)
    account = r.service_accounts[0]
    key = next(k for k in r.project_keys if k.owner_id == account.id)
    name = (await client.directory()).api_key(key.id)
    assert name.owner == ua.Owner("service_account", account.id, account.name)


async def test_the_deleted_key_in_usage_shows_as_its_id_with_a_marker(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    deleted = roster(srv).deleted_key.id
    buckets = await client.completions.collect(
        start_time=DECEMBER, group_by=["api_key_id", "project_id"], limit=31
    )
    directory = await client.directory()
    used = {r.api_key_id for b in buckets for r in b.results if isinstance(r, ua.CompletionsResult)}
    assert deleted in used
    unnamed = {k for k in used if k is not None and not directory.api_key(k).known}
    assert unnamed == {deleted}
    name = directory.api_key(deleted)
    assert (name.id, name.name, name.kind) == (deleted, None, API_KEYS)
    assert name.label == f"{deleted} {UNKNOWN_MARKER}"
    assert str(name) == name.label
    projects = {r.project_id for b in buckets for r in b.results}
    assert all(directory.project(p).known for p in projects if p is not None)


async def test_a_lookup_never_raises_and_matches_ids_exactly(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    directory = await client.directory()
    first = roster(srv).projects[0].id
    for lookup in (
        directory.project,
        directory.user,
        directory.api_key,
        directory.service_account,
    ):
        assert not lookup("nobody").known
    assert not directory.project(first.upper()).known
    assert not directory.project(first + " ").known
    # A project named like a project id names nothing but itself.
    assert not directory.project("proj_000000000000000000000000").known


async def test_a_usage_result_field_names_its_id(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    r = roster(srv)
    directory = await client.directory()
    assert directory.for_field("project_id", r.projects[0].id) == directory.project(
        r.projects[0].id
    )
    assert directory.for_field("user_id", r.users[0].id).name == r.users[0].name
    assert not directory.for_field("api_key_id", r.deleted_key.id).known
    with pytest.raises(KeyError):
        directory.for_field("model", "gpt-4o")


async def test_names_are_data_shown_as_given(srv: FakeUsageServer, client: ua.UsageClient) -> None:
    directory = await client.directory()
    names = {directory.project(p.id).label for p in roster(srv).projects}
    assert {"=SUM(A1:A9)", 'Support "bot"', "Billing, EU"} & names
    assert all(directory.project(p.id).label == p.name for p in roster(srv).projects)


# -- cost ---------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [None, 2])
async def test_the_request_cost_is_one_per_page_of_each_list_and_reported(
    srv: FakeUsageServer, client: ua.UsageClient, limit: int | None
) -> None:
    directory = await build_directory(client, limit=limit)
    r = roster(srv)
    assert directory.requests == len(srv.requests) == expected_requests(r, limit or 100)
    if limit is None:
        active = sum(p.archived_at is None for p in r.projects)
        assert directory.requests == 3 + len(r.projects) + active == 14
    else:
        assert all(("limit", "2") in req.query for req in srv.requests)
    assert dict(directory.complete) == dict.fromkeys(KINDS, True)


async def test_the_walk_asks_for_archived_projects_and_every_key(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    await client.directory()
    sent = {(req.path, req.query) for req in srv.requests}
    assert ("/v1/organization/projects", (("include_archived", "true"), ("limit", "100"))) in sent
    key_queries = {q for path, q in sent if path.endswith("/api_keys")}
    assert key_queries == {(("owner_project_access", "any"), ("limit", "100"))}
    archived = roster(srv).archived_project.id
    assert f"/v1/organization/projects/{archived}/service_accounts" not in {p for p, _ in sent}


# -- a tiny organization on a scripted server, for failures and concurrency ----------------


def listing(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": False,
    }


def tiny_project(pid: str) -> dict[str, Any]:
    return {"object": "organization.project", "id": pid, "name": pid.upper(), "created_at": 1}


def tiny_key(kid: str) -> dict[str, Any]:
    owner = {"id": "user-1", "name": "Ada", "email": "a@x", "role": "owner", "created_at": 1}
    return {
        "object": "organization.project.api_key",
        "id": kid,
        "name": kid.upper(),
        "redacted_value": "sk-proj-abc...defg",
        "created_at": 1,
        "last_used_at": None,
        "owner_project_access": "active",
        "owner": {"type": "user", "user": owner},
    }


PROJECT_IDS = [f"proj_{i}" for i in range(6)]
TINY = {
    "/v1/organization/projects": listing([tiny_project(p) for p in PROJECT_IDS]),
    "/v1/organization/users": listing(
        [{"object": "organization.user", "id": "user-1", "name": "Ada", "added_at": 1}]
    ),
    "/v1/organization/admin_api_keys": listing([]),
    **{
        f"/v1/organization/projects/{p}/api_keys": listing([tiny_key(f"key_{p}")])
        for p in PROJECT_IDS
    },
    **{f"/v1/organization/projects/{p}/service_accounts": listing([]) for p in PROJECT_IDS},
}


class TinyOrg:
    """A handler serving ``TINY``; ``script[path]`` lists replies its next requests get
    first, and ``delay`` slows every per-project list."""

    def __init__(self, script: dict[str, list[Any]] | None = None, delay: float = 0.0) -> None:
        self.script = script or {}
        self.delay = delay

    def __call__(self, request: Any, n: int) -> Any:
        queued = self.script.get(request.path)
        if queued:
            answer = queued.pop(0) if len(queued) > 1 else queued[0]
            if answer == "drop":
                request.transport.close()
                return Reply(body=b"")
            return answer
        delay = self.delay if request.path.startswith("/v1/organization/projects/") else 0.0
        return Reply(body=TINY[request.path], delay=delay)


async def walk(org: TinyOrg, **options: Any) -> tuple[ua.Directory, ScriptedServer]:
    """One directory walk of ``org``, by a client retrying fast; and the server, to inspect."""
    options.setdefault("retry", FAST)
    async with (
        ScriptedServer(handler=org) as srv,
        ua.UsageClient("sk-admin-x", base_url=srv.base_url, **options) as c,
    ):
        return await build_directory(c), srv


def server_error(status: int = 500, **headers: str) -> Reply:
    body = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}
    return Reply(status=status, body=body, headers=headers)


async def test_project_lists_are_walked_concurrently_within_the_clients_limit() -> None:
    directory, srv = await walk(TinyOrg(delay=0.05), max_concurrency=3, rate_limit=None)
    assert srv.max_in_flight == 3
    assert directory.requests == len(srv.requests) == 3 + 2 * len(PROJECT_IDS)


async def test_a_list_failing_mid_walk_within_the_retries_is_retried_and_complete() -> None:
    script: dict[str, list[Any]] = {
        "/v1/organization/projects/proj_1/api_keys": [
            server_error(503),
            Reply(body=TINY["/v1/organization/projects/proj_1/api_keys"]),
        ],
        "/v1/organization/projects/proj_2/service_accounts": [
            server_error(429, **{"Retry-After": "0"}),
            Reply(body=listing([])),
        ],
        "/v1/organization/users": ["drop", Reply(body=TINY["/v1/organization/users"])],
    }
    directory, srv = await walk(TinyOrg(script))
    assert directory.is_complete
    assert directory.warnings == ()
    assert directory.api_key("key_proj_1").known
    assert directory.user("user-1").name == "Ada"
    assert directory.requests == 3 + 2 * len(PROJECT_IDS)  # pages; the retries come on top
    assert len(srv.requests) == directory.requests + 3


async def test_a_project_list_failing_beyond_the_retries_is_incomplete_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failing = {
        f"/v1/organization/projects/{p}/api_keys": [server_error()] for p in ("proj_1", "proj_4")
    }
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        directory, _ = await walk(TinyOrg(failing))
    assert dict(directory.complete) == {
        PROJECTS: True,
        USERS: True,
        API_KEYS: False,
        SERVICE_ACCOUNTS: True,
    }
    (warning,) = directory.warnings
    assert warning.startswith("api_keys: the api keys lists of 2 project(s) (first: proj_")
    assert "HTTP 500: boom" in warning
    assert not directory.api_key("key_proj_1").known
    assert not directory.api_key("key_proj_4").known
    assert directory.api_key("key_proj_0").known
    assert f"directory: {warning}" in [r.getMessage() for r in caplog.records]


async def test_one_warning_names_every_failed_list_of_a_kind() -> None:
    failing: dict[str, list[Any]] = {
        "/v1/organization/admin_api_keys": [server_error(503)],
        "/v1/organization/projects/proj_2/api_keys": [server_error(503)],
    }
    directory, _ = await walk(TinyOrg(failing))
    (warning,) = directory.warnings
    assert warning == (
        "api_keys: the admin key list and the api keys lists of 1 project(s) (first: proj_2) "
        "could not be read (HTTP 503: boom); those api keys show as ids"
    )


async def test_a_project_list_that_fails_leaves_keys_and_accounts_incomplete_too() -> None:
    script = {"/v1/organization/projects": [server_error(502)]}
    directory, _ = await walk(TinyOrg(script))
    assert dict(directory.complete) == {
        PROJECTS: False,
        USERS: True,
        API_KEYS: False,
        SERVICE_ACCOUNTS: False,
    }
    (warning,) = directory.warnings
    assert warning.startswith("projects: the project list could not be read (HTTP 502")
    assert "API keys and service accounts of projects not listed show as ids too" in warning
    assert not directory.project("proj_0").known
    assert directory.user("user-1").known


# -- the cache ----------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_a_snapshot_younger_than_max_age_is_served_from_the_cache(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    clock = Clock()
    first = await load_directory(client, max_age=60, clock=clock)
    sent = len(srv.requests)
    clock.now += 60
    assert await load_directory(client, max_age=dt.timedelta(seconds=60), clock=clock) is first
    assert len(srv.requests) == sent
    clock.now += 1
    second = await load_directory(client, max_age=60, clock=clock)
    assert second is not first
    assert len(srv.requests) == 2 * sent


async def test_max_age_zero_always_takes_a_new_snapshot(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    first = await client.directory()
    assert await client.directory() is first  # the default age is 10 minutes
    assert await client.directory(max_age=0) is not first


async def test_concurrent_callers_share_one_walk(
    srv: FakeUsageServer, client: ua.UsageClient
) -> None:
    one, two = await asyncio.gather(client.directory(max_age=0), client.directory(max_age=0))
    assert one is two
    assert len(srv.requests) == one.requests


async def test_each_client_has_its_own_cache(srv: FakeUsageServer, client: ua.UsageClient) -> None:
    first = await client.directory()
    async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as other:
        assert await other.directory() is not first


async def test_a_walk_that_cannot_run_raises_and_keeps_the_cached_snapshot(
    client: ua.UsageClient,
) -> None:
    first = await client.directory()
    await client.aclose()
    with pytest.raises(ua.ClientClosedError, match="closed"):
        await client.directory(max_age=0)
    assert await client.directory() is first


@pytest.mark.parametrize("max_age", [-1, "10m", True])
async def test_a_bad_max_age_is_refused_before_any_request(
    srv: FakeUsageServer, client: ua.UsageClient, max_age: Any
) -> None:
    with pytest.raises(ua.InvalidParameterError, match="max_age"):
        await client.directory(max_age=max_age)
    assert srv.requests == []


async def test_the_snapshot_says_when_it_was_taken(client: ua.UsageClient) -> None:
    directory = await build_directory(client, now=lambda: 1_768_480_200.0)
    assert directory.taken_at == dt.datetime(2026, 1, 15, 12, 30, tzinfo=dt.timezone.utc)
