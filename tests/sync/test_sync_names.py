"""``sync`` keeps the organization's directory in the database, on every store: one table
per kind, upserted each run, a row a complete walk lacks marked deleted (never removed), an
incomplete kind left as stored; ``query`` joins the names; a refused key costs no request
for names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import attrs
import pytest
from sync_support import DAY, FAST_RETRY

from usage_async import AuthenticationError, UsageClient
from usage_async.directory import KINDS
from usage_async.sync import Collector, open_store, spend
from usage_async.sync._schema import DIRECTORY_TABLES
from usage_async.sync._store_base import DirectoryKind, plan_directory
from usage_async.testing import FakeUsageServer
from usage_async.testing._roster import DELETED_AT, Roster

LATE_NOW = 1_768_480_200  # 2026-01-15T12:30:00Z: after the archival and the deletion
BEFORE_DELETION = DELETED_AT - DAY  # 2025-12-26: the deleted key is still listed
ORG = "org-names-test"  # the source: the same organization whichever key reads it
USERS_DENIED = "sk-admin-no-users-list"
LIST_PATHS = ("/organization/projects", "/organization/users", "/organization/admin_api_keys")


@pytest.fixture
async def srv() -> AsyncIterator[FakeUsageServer]:
    async with FakeUsageServer(
        seed=0, now=LATE_NOW, restricted_keys={USERS_DENIED: ["users"]}
    ) as server:
        yield server


def roster(server: FakeUsageServer) -> Roster:
    found = server.organization.roster
    assert found is not None
    return found


async def collect(server: FakeUsageServer, url: str, key: str | None = None, **options: Any) -> Any:
    """One sync of two days of costs, with names unless told otherwise."""
    options.setdefault("names", True)
    async with (
        UsageClient(
            key or server.api_key, base_url=server.base_url, organization=ORG, retry=FAST_RETRY
        ) as client,
        open_store(url) as store,
    ):
        collector = Collector(
            client,
            store,
            endpoints=["costs"],
            since=server.now() - 2 * DAY,
            clock=server.now,
            **options,
        )
        return await collector.run()


async def rows(url: str, kind: str) -> list[dict[str, Any]]:
    async with open_store(url) as store:
        return await store.directory_rows(kind)


def list_requests(server: FakeUsageServer) -> list[str]:
    return [
        r.path
        for r in server.requests
        if r.path.startswith("/v1/organization/projects") or r.path.endswith(LIST_PATHS)
    ]


# -- stored, upserted ----------------------------------------------------------------------


async def test_a_sync_with_names_stores_every_kind_of_the_directory(
    srv: FakeUsageServer, store_url: str
) -> None:
    report = await collect(srv, store_url)

    found = roster(srv)
    names = report.names
    assert names is not None
    assert names.complete
    assert names.requests == 14  # 3 + 6 projects + 5 active ones
    assert {k.kind: (k.listed, k.new) for k in names.kinds} == {
        "projects": (6, 6),
        "users": (9, 9),
        "api_keys": (22, 22),  # 20 project keys listed (not the deleted one), 2 admin keys
        "service_accounts": (7, 7),
    }
    projects = {r["id"]: r for r in await rows(store_url, "projects")}
    assert {i: r["name"] for i, r in projects.items()} == {p.id: p.name for p in found.projects}
    archived = projects[found.archived_project.id]
    assert (archived["archived"], archived["status"]) == (True, "archived")
    assert not any(r["archived"] for i, r in projects.items() if i != found.archived_project.id)
    users = {r["id"]: r["email"] for r in await rows(store_url, "users")}
    assert users == {u.id: u.email for u in found.users}
    keys = {r["id"]: r for r in await rows(store_url, "api_keys")}
    admin = found.admin_keys[0]
    assert keys[admin.id]["project_id"] is None  # an admin key
    assert keys[admin.id]["redacted_value"] == admin.redacted_value
    account_key = next(k for k in found.project_keys if k.owner_type == "service_account")
    assert (keys[account_key.id]["owner_type"], keys[account_key.id]["owner_id"]) == (
        "service_account",
        account_key.owner_id,
    )
    assert found.deleted_key.id not in keys
    accounts = await rows(store_url, "service_accounts")
    assert {(a["id"], a["project_id"]) for a in accounts} == {
        (a.id, a.project_id) for a in found.service_accounts
    }
    for kind in KINDS:
        for row in await rows(store_url, kind):
            assert (row["first_seen"], row["last_seen"], row["deleted_at"]) == (
                LATE_NOW,
                LATE_NOW,
                None,
            )


async def test_a_rerun_moves_last_seen_keeps_first_seen_and_counts_a_rename_as_changed(
    srv: FakeUsageServer, store_url: str
) -> None:
    await collect(srv, store_url)
    srv.advance(DAY)
    found = roster(srv)
    renamed = found.projects[0]
    projects = tuple(attrs.evolve(p, name="Renamed") if p is renamed else p for p in found.projects)
    srv.state.org = attrs.evolve(srv.state.org, roster=attrs.evolve(found, projects=projects))

    report = await collect(srv, store_url)

    kinds = {k.kind: k for k in report.names.kinds}
    assert (kinds["projects"].new, kinds["projects"].changed) == (0, 1)
    assert all((k.new, k.changed, k.deleted) == (0, 0, 0) for k in report.names.kinds
               if k.kind != "projects")  # fmt: skip
    (row,) = [r for r in await rows(store_url, "projects") if r["id"] == renamed.id]
    assert (row["name"], row["first_seen"], row["last_seen"]) == (
        "Renamed",
        LATE_NOW,
        LATE_NOW + DAY,
    )


async def test_a_row_a_complete_walk_lacks_is_marked_deleted_and_keeps_its_name(
    store_url: str,
) -> None:
    async with FakeUsageServer(seed=0, now=BEFORE_DELETION) as server:
        deleted = roster(server).deleted_key
        await collect(server, store_url)
        server.advance(LATE_NOW - BEFORE_DELETION)
        second = await collect(server, store_url)
        server.advance(DAY)
        third = await collect(server, store_url)

    keys = {k.kind: k for k in second.names.kinds}["api_keys"]
    assert keys.deleted == 1
    (row,) = [r for r in await rows(store_url, "api_keys") if r["id"] == deleted.id]
    assert row["name"] == deleted.name  # kept: usage still reports its id
    assert row["deleted_at"] == LATE_NOW
    assert row["last_seen"] == BEFORE_DELETION
    assert {k.kind: k for k in third.names.kinds}["api_keys"].deleted == 0  # marked once


async def test_a_kind_the_key_may_not_read_marks_nothing_deleted_and_says_why(
    srv: FakeUsageServer, store_url: str
) -> None:
    await collect(srv, store_url)
    srv.advance(DAY)

    report = await collect(srv, store_url, key=USERS_DENIED)

    users = {k.kind: k for k in report.names.kinds}["users"]
    assert (users.complete, users.listed, users.deleted) == (False, 0, 0)
    assert not report.names.complete
    (warning,) = [w for w in report.warnings if w.startswith("names: users:")]
    assert "api.management.read" in warning
    stored = await rows(store_url, "users")
    assert len(stored) == len(roster(srv).users)
    assert all(r["deleted_at"] is None and r["last_seen"] == LATE_NOW for r in stored)
    projects = await rows(store_url, "projects")  # the kinds it could read moved on
    assert {r["last_seen"] for r in projects} == {LATE_NOW + DAY}


async def test_a_refused_key_stops_the_sync_before_any_request_for_names(
    srv: FakeUsageServer, store_url: str
) -> None:
    with pytest.raises(AuthenticationError):
        await collect(srv, store_url, key="sk-admin-wrong")

    assert list_requests(srv) == []


async def test_without_names_no_list_is_read_and_nothing_is_stored(
    srv: FakeUsageServer, store_url: str
) -> None:
    report = await collect(srv, store_url, names=False)

    assert report.names is None
    assert list_requests(srv) == []
    for kind in KINDS:
        assert await rows(store_url, kind) == []


# -- query joins them ------------------------------------------------------------------------


async def test_spend_by_project_joins_the_names_and_keeps_an_id_with_no_name(
    srv: FakeUsageServer, store_url: str
) -> None:
    await collect(srv, store_url)
    found = roster(srv)
    gone = found.projects[0]
    async with open_store(store_url) as store:
        await store.execute(
            f"DELETE FROM usage_async_projects WHERE id = {store.dialect.param}",  # noqa: S608
            (gone.id,),
        )

    answer = await spend(store_url, by="project")
    bare = await spend(store_url, by="project", names=False)

    names = {r.group: r.name for r in answer}
    assert gone.id in names  # a LEFT JOIN: its spend is still there...
    assert names.pop(gone.id) is None  # ...with no name
    assert names == {p.id: p.name for p in found.projects if p.id in names}
    assert len(names) >= 3
    assert [(r.group, r.amount) for r in answer] == [(r.group, r.amount) for r in bare]
    assert all(r.name is None for r in bare)
    assert sum((r.amount for r in answer), Decimal(0)) > 0


# -- the rules, as a pure function -----------------------------------------------------------


def test_the_plan_counts_new_changed_restored_and_marks_only_for_a_complete_kind() -> None:
    table = DIRECTORY_TABLES["users"]
    stored = [
        ("u1", "a@x", "A", "owner", 1, 100, None),  # id, values, last_seen, deleted_at
        ("u2", "b@x", "B", "reader", 1, 100, None),  # not listed this time
        ("u3", "c@x", "C", "reader", 1, 50, 80),  # was marked deleted, listed again
    ]
    listed = {"u1": ("a@x", "A2", "owner", 1), "u3": ("c@x", "C", "reader", 1),
              "u4": ("d@x", "D", "reader", 1)}  # fmt: skip

    complete = plan_directory(table, DirectoryKind("users", listed, True), stored, 200)
    partial = plan_directory(table, DirectoryKind("users", listed, False), stored, 200)

    result = complete.result
    assert (result.listed, result.new, result.changed, result.restored) == (3, 1, 1, 1)
    assert complete.marks == [(200, "u2", 200)]  # deleted_at, id, seen before this walk
    assert result.deleted == 1
    assert partial.marks == []
    assert partial.result.deleted == 0
    assert [u[0] for u in complete.upserts] == ["u1", "u3", "u4"]
    assert complete.upserts[0] == ("u1", "a@x", "A2", "owner", 1, 200, 200, None)
