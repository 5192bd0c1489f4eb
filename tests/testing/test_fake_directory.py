"""The simulator's admin list endpoints name what usage reports by id, spec-valid, paging by
``after``, hiding what the real lists hide; and three behaviours of the real usage API."""

from __future__ import annotations

import copy
import email.utils
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import pytest

from usage_async.testing import FakeUsageServer, Organization
from usage_async.testing._admin_spec import load_admin_spec, parse_admin_spec
from usage_async.testing._org import TRAFFIC, hour_events
from usage_async.testing._roster import ARCHIVED_AT, DELETED_AT, LATER_START
from usage_async.testing._spec import SpecError, load_spec

LATE_NOW = 1_768_480_200  # 2026-01-15T12:30:00Z: after the archival and the deletion
DAY = 86400
DECEMBER = 1_764_979_200  # 2025-12-06T00:00:00Z, the first day costs group by api_key_id
INVALID_TOKEN = "The page token is invalid, have you modified the query parameters?"
LIST_SCHEMAS = {
    "projects": "ProjectListResponse",
    "users": "UserListResponse",
    "api_keys": "ProjectApiKeyListResponse",
    "service_accounts": "ProjectServiceAccountListResponse",
    "admin_api_keys": "ApiKeyList",
}
Pairs = Sequence[tuple[str, str]]


@pytest.fixture
async def late() -> AsyncIterator[FakeUsageServer]:
    """A simulator whose clock is after the archived project and the deleted key."""
    async with FakeUsageServer(seed=0, now=LATE_NOW) as srv:
        yield srv


async def get(
    session: aiohttp.ClientSession,
    srv: FakeUsageServer,
    path: str,
    pairs: Pairs = (),
    *,
    key: str | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key or srv.api_key}"}
    async with session.get(srv.base_url + path, params=list(pairs), headers=headers) as resp:
        return resp.status, await resp.json()


async def every_page(
    session: aiohttp.ClientSession, srv: FakeUsageServer, path: str, pairs: Pairs = ()
) -> list[dict[str, Any]]:
    """Every page of a list, following ``after=last_id`` while ``has_more``."""
    pages = []
    after: list[tuple[str, str]] = []
    while True:
        status, body = await get(session, srv, path, [*pairs, *after])
        assert status == 200, body
        pages.append(body)
        if not body["has_more"]:
            return pages
        after = [("after", body["last_id"])]


def ids(pages: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for page in pages for item in page["data"]]


def list_paths(srv: FakeUsageServer) -> list[tuple[str, str]]:
    """(list name, path) of every list, the per-project ones for every project."""
    roster = srv.organization.roster
    assert roster is not None
    paths = [(name, f"/organization/{name}") for name in ("projects", "users", "admin_api_keys")]
    for project in roster.projects:
        paths.append(("api_keys", f"/organization/projects/{project.id}/api_keys"))
        if project.archived_at is None:
            paths.append(
                ("service_accounts", f"/organization/projects/{project.id}/service_accounts")
            )
    return paths


# -- the spec -----------------------------------------------------------------------------


def test_the_five_list_endpoints_are_read_from_the_shipped_admin_spec() -> None:
    spec = load_admin_spec()
    assert set(spec.lists) == set(LIST_SCHEMAS)
    keys = spec.lists["api_keys"]
    assert keys.path == "/organization/projects/{project_id}/api_keys"
    assert keys.path_params == ("project_id",)
    assert keys.params["owner_project_access"].enum == ("active", "inactive", "any")
    assert spec.lists["projects"].params["include_archived"].kind == "boolean"
    assert {d.limit for d in spec.lists.values()} == {(1, 100, 20)}
    assert spec.lists["service_accounts"].error_statuses == (400,)
    assert {name: d.list_schema for name, d in spec.lists.items()} == LIST_SCHEMAS


def test_a_list_limit_description_it_cannot_read_fails_loudly(
    admin_document: dict[str, Any],
) -> None:
    document = copy.deepcopy(admin_document)
    limit = document["paths"]["/organization/users"]["get"]["parameters"][0]
    assert limit["name"] == "limit"
    limit["description"] = "Some users."
    with pytest.raises(SpecError, match="limit bounds"):
        parse_admin_spec(document)


async def test_every_list_reply_validates_against_the_admin_spec(
    late: FakeUsageServer, session: aiohttp.ClientSession, admin_validator: Any
) -> None:
    variants: dict[str, list[list[tuple[str, str]]]] = {
        "projects": [[], [("include_archived", "true")], [("include_archived", "false")]],
        "api_keys": [[], *([("owner_project_access", v)] for v in ("any", "active", "inactive"))],
        "admin_api_keys": [[("order", "desc")]],
    }
    checked = 0
    for name, path in list_paths(late):
        validate = admin_validator(LIST_SCHEMAS[name])
        for extra in variants.get(name, [[]]):
            for limit in ("1", "2", "100"):
                for page in await every_page(session, late, path, [*extra, ("limit", limit)]):
                    validate(page)
                    checked += 1
    assert checked > 100


async def test_every_list_error_validates_against_the_admin_spec(
    late: FakeUsageServer, session: aiohttp.ClientSession, admin_validator: Any
) -> None:
    roster = late.organization.roster
    assert roster is not None
    validate = admin_validator("ErrorResponse")
    archived = roster.archived_project.id
    cases = [
        ("/organization/projects", [("limit", "0")], None, 400),
        ("/organization/users", [("limit", "101")], None, 400),
        ("/organization/users", [("after", "user-nobody")], None, 400),
        ("/organization/projects", [("include_archived", "perhaps")], None, 400),
        ("/organization/projects/proj_nope/api_keys", [], None, 404),
        (f"/organization/projects/{archived}/service_accounts", [], None, 400),
        ("/organization/users", [], late.limited_key, 403),
        ("/organization/users", [], "sk-admin-wrong", 401),
    ]
    for path, pairs, key, status in cases:
        got, body = await get(session, late, path, pairs, key=key)
        assert got == status, (path, body)
        validate(body)


# -- paging -------------------------------------------------------------------------------


async def test_paging_by_after_visits_every_object_once_in_the_same_order(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for _, path in list_paths(late):
        whole = await every_page(session, late, path, [("limit", "100")])
        assert len(whole) == 1
        for limit in (1, 2, 3):
            pages = await every_page(session, late, path, [("limit", str(limit))])
            assert ids(pages) == ids(whole)
            assert len(pages) == max(1, -(-len(ids(whole)) // limit))
            for page in pages:
                assert page["object"] == "list"
                if page["data"]:
                    assert page["first_id"] == page["data"][0]["id"]
                    assert page["last_id"] == page["data"][-1]["id"]


async def test_an_empty_list_has_null_first_and_last_ids(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeUsageServer(seed=0, now=LATE_NOW) as srv:
        status, body = await get(
            session, srv, "/organization/users", [("emails", "nobody@example.com")]
        )
    assert status == 200
    assert body == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


async def test_limit_outside_1_to_100_is_a_400_naming_limit(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for limit, code in (("0", "integer_below_min_value"), ("101", "integer_above_max_value")):
        status, body = await get(session, late, "/organization/projects", [("limit", limit)])
        assert status == 400
        assert body["error"]["param"] == "limit"
        assert body["error"]["code"] == code
    status, _ = await get(session, late, "/organization/projects", [("limit", "100")])
    assert status == 200


async def test_an_after_id_the_list_does_not_hold_is_a_400_naming_after(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    status, body = await get(session, late, "/organization/projects", [("after", "proj_gone")])
    assert status == 400
    assert body["error"]["param"] == "after"


# -- what the lists hide ------------------------------------------------------------------


async def test_archived_projects_are_listed_only_with_include_archived(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    archived = roster.archived_project
    default = ids(await every_page(session, late, "/organization/projects"))
    everything = await every_page(
        session, late, "/organization/projects", [("include_archived", "true")]
    )
    assert archived.id not in default
    assert ids(everything) == [*default, archived.id]  # the newest project, listed last
    shown = everything[-1]["data"][-1]
    assert shown["status"] == "archived"
    assert shown["archived_at"] == ARCHIVED_AT == archived.archived_at
    assert shown["name"] == archived.name


async def test_before_its_archival_the_project_is_listed_as_active(
    session: aiohttp.ClientSession,
) -> None:
    async with FakeUsageServer(seed=0, now=ARCHIVED_AT - DAY) as srv:
        roster = srv.organization.roster
        assert roster is not None
        pages = await every_page(session, srv, "/organization/projects")
    shown = {p["id"]: p for page in pages for p in page["data"]}
    assert shown[roster.archived_project.id]["status"] == "active"
    assert shown[roster.archived_project.id]["archived_at"] is None


async def test_the_archived_projects_usage_runs_until_its_archival(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    pairs = [("start_time", str(DECEMBER)), ("group_by", "project_id"), ("limit", "31")]
    status, body = await get(session, late, "/organization/usage/completions", pairs)
    assert status == 200
    days = {
        b["start_time"]
        for b in body["data"]
        for r in b["results"]
        if r["project_id"] == roster.archived_project.id
    }
    assert days
    assert max(days) < ARCHIVED_AT


async def test_the_deleted_key_appears_in_usage_and_in_no_list(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    deleted = roster.deleted_key.id
    pairs = [("start_time", str(DECEMBER)), ("group_by", "api_key_id"), ("limit", "31")]
    _, costs = await get(session, late, "/organization/costs", pairs)
    _, usage = await get(session, late, "/organization/usage/completions", pairs)
    in_usage = {
        r["api_key_id"] for body in (costs, usage) for b in body["data"] for r in b["results"]
    } - {None}  # storage costs belong to no key
    assert deleted in in_usage
    listed: set[str] = set()
    for name, path in list_paths(late):
        extra = [("owner_project_access", "any")] if name == "api_keys" else []
        listed.update(ids(await every_page(session, late, path, extra)))
    assert deleted not in listed
    assert in_usage - {deleted} <= listed  # every other key of that usage has a name


async def test_before_its_deletion_the_key_is_listed(session: aiohttp.ClientSession) -> None:
    async with FakeUsageServer(seed=0, now=DELETED_AT - DAY) as srv:
        roster = srv.organization.roster
        assert roster is not None
        key = roster.deleted_key
        path = f"/organization/projects/{key.project_id}/api_keys"
        listed = ids(await every_page(session, srv, path, [("owner_project_access", "any")]))
    assert key.id in listed


async def test_keys_are_owned_by_users_and_by_the_projects_service_accounts(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    users = {u.id for u in roster.users}
    kinds = set()
    for project in roster.projects:
        path = f"/organization/projects/{project.id}"
        keys = await every_page(
            session, late, path + "/api_keys", [("owner_project_access", "any")]
        )
        accounts = set()
        if project.archived_at is None:
            accounts = set(ids(await every_page(session, late, path + "/service_accounts")))
        for key in (k for page in keys for k in page["data"]):
            owner = key["owner"]
            kinds.add(owner["type"])
            if owner["type"] == "user":
                assert owner["user"]["id"] in users
            else:
                assert owner["service_account"]["id"] in accounts
    assert kinds == {"user", "service_account"}


async def test_a_key_whose_owner_left_is_listed_only_with_owner_project_access(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    (inactive,) = [k for k in roster.project_keys if k.owner_project_access == "inactive"]
    path = f"/organization/projects/{inactive.project_id}/api_keys"
    default = ids(await every_page(session, late, path))
    active = ids(await every_page(session, late, path, [("owner_project_access", "active")]))
    anyone = ids(await every_page(session, late, path, [("owner_project_access", "any")]))
    only = ids(await every_page(session, late, path, [("owner_project_access", "inactive")]))
    assert inactive.id not in default
    assert default == active
    assert only == [inactive.id]
    assert sorted(anyone) == sorted([*active, inactive.id])


async def test_service_accounts_of_an_archived_project_are_a_400(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    archived = roster.archived_project.id
    status, body = await get(session, late, f"/organization/projects/{archived}/service_accounts")
    assert status == 400
    assert "archived" in body["error"]["message"]
    status, _ = await get(session, late, f"/organization/projects/{archived}/api_keys")
    assert status == 200


async def test_a_project_that_does_not_exist_is_a_404_on_its_lists(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for sub in ("api_keys", "service_accounts"):
        status, body = await get(session, late, f"/organization/projects/proj_nope/{sub}")
        assert status == 404
        assert body["error"]["param"] == "project_id"


async def test_users_can_be_filtered_by_email(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    roster = late.organization.roster
    assert roster is not None
    chosen = [roster.users[1], roster.users[3]]
    pairs = [("emails[]", u.email) for u in chosen]
    pages = await every_page(session, late, "/organization/users", pairs)
    assert sorted(ids(pages)) == sorted(u.id for u in chosen)


async def test_admin_keys_can_be_listed_newest_first(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    oldest_first = ids(await every_page(session, late, "/organization/admin_api_keys"))
    newest_first = ids(
        await every_page(session, late, "/organization/admin_api_keys", [("order", "desc")])
    )
    assert len(oldest_first) == 2
    assert newest_first == oldest_first[::-1]


# -- the limited key ----------------------------------------------------------------------


async def test_the_limited_key_gets_403_missing_scope_on_every_usage_endpoint(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for endpoint in load_spec().endpoints.values():
        status, body = await get(
            session, late, endpoint.path, [("start_time", str(DECEMBER))], key=late.limited_key
        )
        assert status == 403, endpoint.path
        assert "Missing scopes: api.usage.read." in body["error"]["message"]
        assert body["error"]["type"] == "invalid_request_error"


async def test_the_limited_key_gets_403_on_the_users_list_and_reads_the_others(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    status, body = await get(session, late, "/organization/users", key=late.limited_key)
    assert status == 403
    assert body["error"]["message"].startswith(
        "You have insufficient permissions for this operation. Missing scopes: "
    )
    for name, path in list_paths(late):
        if name != "users":
            status, _ = await get(session, late, path, key=late.limited_key)
            assert status == 200, path
    assert late.limited_key not in (late.api_key, "")
    assert late.limited_key.startswith("sk-admin-")


async def test_restricted_keys_may_be_denied_other_lists(session: aiohttp.ClientSession) -> None:
    key = "sk-admin-only-usage"
    async with FakeUsageServer(
        seed=0, now=LATE_NOW, restricted_keys={key: ["projects", "admin_api_keys"]}
    ) as srv:
        costs, _ = await get(session, srv, "/organization/costs", [("start_time", "0")], key=key)
        projects, _ = await get(session, srv, "/organization/projects", key=key)
        users, _ = await get(session, srv, "/organization/users", key=key)
    assert (costs, projects, users) == (200, 403, 200)


def test_a_restricted_key_denied_something_unknown_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown areas"):
        FakeUsageServer(restricted_keys={"sk-admin-x": ["usage", "billing"]})


# -- three behaviours of the real usage API (API-NOTES #13-15) -----------------------------


@pytest.mark.parametrize("limit", [32, 100, 180])
async def test_a_costs_limit_above_31_answers_31_buckets_and_pages_on(
    late: FakeUsageServer, session: aiohttp.ClientSession, limit: int
) -> None:
    start, end = LATE_NOW - LATE_NOW % DAY - 70 * DAY, LATE_NOW - LATE_NOW % DAY
    pairs = [("start_time", str(start)), ("end_time", str(end)), ("limit", str(limit))]
    starts: list[int] = []
    cursor: list[tuple[str, str]] = []
    sizes = []
    while True:
        status, body = await get(session, late, "/organization/costs", [*pairs, *cursor])
        assert status == 200, body
        sizes.append(len(body["data"]))
        starts += [b["start_time"] for b in body["data"]]
        if not body["has_more"]:
            break
        cursor = [("page", body["next_page"])]
    assert sizes == [31, 31, 8]
    assert starts == list(range(start, end, DAY))


async def test_a_usage_limit_is_answered_in_full(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", "0"), ("bucket_width", "1h"), ("limit", "168")]
    status, body = await get(session, late, "/organization/usage/embeddings", pairs)
    assert status == 200
    assert len(body["data"]) == 168


async def test_costs_grouped_by_api_key_id_before_2025_12_06_is_a_400_naming_the_date(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for group_by in (["api_key_id"], ["project_id", "api_key_id"]):
        pairs = [("start_time", str(DECEMBER - 1)), *(("group_by", g) for g in group_by)]
        status, body = await get(session, late, "/organization/costs", pairs)
        assert status == 400
        assert body["error"]["param"] == "group_by"
        assert "2025-12-06" in body["error"]["message"]
        assert "1764979200" in body["error"]["message"]


async def test_costs_grouped_by_api_key_id_from_2025_12_06_works(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    pairs = [("start_time", str(DECEMBER)), ("group_by", "api_key_id")]
    status, body = await get(session, late, "/organization/costs", pairs)
    assert status == 200
    assert any(r["api_key_id"] for b in body["data"] for r in b["results"])
    # ... and grouping by anything else works from any date
    status, _ = await get(
        session, late, "/organization/costs", [("start_time", "0"), ("group_by", "project_id")]
    )
    assert status == 200


COMPLETIONS_QUERY = [
    ("start_time", str(DECEMBER)),
    ("end_time", str(DECEMBER + 20 * DAY)),
    ("bucket_width", "1d"),
    ("limit", "3"),
    ("group_by", "model"),
    ("project_ids", "proj_a"),
    ("user_ids", "user-a"),
    ("api_key_ids", "key_a"),
    ("models", "gpt-4o-2024-08-06"),
    ("batch", "false"),
]
CHANGES = {
    "start_time": str(DECEMBER + DAY),
    "end_time": str(DECEMBER + 21 * DAY),
    "bucket_width": "1h",
    "limit": "4",
    "group_by": "project_id",
    "project_ids": "proj_b",
    "user_ids": "user-b",
    "api_key_ids": "key_b",
    "models": "gpt-4o-mini-2024-07-18",
    "batch": "true",
}


@pytest.mark.parametrize("changed", sorted(CHANGES))
async def test_a_page_cursor_is_bound_to_every_parameter_of_its_query(
    late: FakeUsageServer, session: aiohttp.ClientSession, changed: str
) -> None:
    path = "/organization/usage/completions"
    _, first = await get(session, late, path, COMPLETIONS_QUERY)
    cursor = ("page", first["next_page"])
    status, _ = await get(session, late, path, [*COMPLETIONS_QUERY, cursor])
    assert status == 200
    other = [(k, CHANGES[k] if k == changed else v) for k, v in COMPLETIONS_QUERY]
    status, body = await get(session, late, path, [*other, cursor])
    assert status == 400
    assert body["error"]["message"] == INVALID_TOKEN


async def test_every_response_is_dated_by_the_simulators_clock(
    late: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    headers = {"Authorization": f"Bearer {late.api_key}"}
    for path in ("/organization/projects", "/organization/costs?start_time=0", "/nowhere"):
        async with session.get(late.base_url + path, headers=headers) as resp:
            date = resp.headers["Date"]
        assert email.utils.parsedate_to_datetime(date).timestamp() == LATE_NOW


# -- the organization ---------------------------------------------------------------------


def test_the_roster_is_the_same_for_a_seed_and_differs_between_seeds() -> None:
    assert Organization.from_seed(3).roster == Organization.from_seed(3).roster
    assert Organization.from_seed(3).roster != Organization.from_seed(4).roster


def test_every_project_user_and_first_key_of_the_usage_is_in_the_roster() -> None:
    org = Organization.from_seed(0)
    roster = org.roster
    assert roster is not None
    assert [p.id for p in roster.projects][: len(org.projects)] == list(org.projects)
    assert [u.id for u in roster.users] == list(org.users)
    keys = {k.id: k for k in roster.project_keys}
    for key in org.api_keys:
        assert keys[key.id].project_id == key.project_id
        assert keys[key.id].owner_id == key.user_id
    for key in org.later_keys:
        assert keys[key.id].project_id == key.project_id


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_usage_before_june_2025_comes_from_the_first_keys_only(seed: int) -> None:
    org = Organization.from_seed(seed)
    first = {k.id for k in org.api_keys}
    for hour in range(LATER_START - 48 * 3600, LATER_START, 3600):
        for traffic in TRAFFIC.values():
            assert {e[1][2] for e in hour_events(org, traffic, hour)} <= first


def test_the_keys_added_later_make_usage_only_while_they_exist() -> None:
    org = Organization.from_seed(0)
    roster = org.roster
    assert roster is not None
    seen: dict[str, list[int]] = {}
    for day in range(LATER_START, LATE_NOW, 3 * DAY):
        for hour in range(day + 10 * 3600, day + 14 * 3600, 3600):
            for event in hour_events(org, TRAFFIC["completions"], hour):
                seen.setdefault(event[1][2], []).append(event[0])
    later = {k.id: k for k in org.later_keys}
    assert set(later) <= set(seen)  # every added key made some usage
    for key_id, times in seen.items():
        key = later.get(key_id)
        if key is not None:
            assert key.active_from <= min(times)
            assert key.active_until is None or max(times) < key.active_until
    assert max(seen[roster.deleted_key.id]) < DELETED_AT
    accounts = {a.id for a in roster.service_accounts}
    by_account = [k for k in roster.project_keys if k.owner_id in accounts]
    assert by_account
    assert all(later[k.id].user_id is None for k in by_account)
