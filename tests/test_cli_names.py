"""Names beside ids on the command line: endpoint rows and ``summary`` gain name columns read
from the organization's directory, unless ``--no-names``; names are data (a formula-like
project name comes out of CSV harmless); a list the key may not read is one warning.

Real subprocesses of the console script, against ``--fake`` or the simulator on a thread.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from usage_async import UsageClient
from usage_async.cli._common import NAME_COLUMNS, DirectoryWalk, name_values, named_columns
from usage_async.directory import build_directory
from usage_async.testing import FakeUsageServer
from usage_async.testing._roster import Roster

SCRIPT = str(Path(sys.executable).parent / "usage-async")
LATE = "2026-01-15T12:30:00Z"
LATE_NOW = 1_768_480_200  # the same, as the simulator's clock
FAKE = ("--fake", "--fake-now", LATE)
# After 2025-12-06 (costs group by api_key_id from then), with the archived project's last
# days (archived 2025-12-20) and the deleted key's (deleted 2025-12-27).
DECEMBER = ("--since", "2025-12-15", "--until", "2025-12-29")
DAYS = ("--since", "2026-01-12", "--until", "2026-01-15")  # before the simulator's LATE_NOW
LIST_PATHS = ("/organization/projects", "/organization/users", "/organization/admin_api_keys")
USERS_DENIED = "sk-admin-no-users-list"
TIMEOUT = 60


def usage_async(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script with no key in the environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "USAGE_ASYNC_"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [SCRIPT, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False, env=env
    )


def api(server: FakeUsageServer, key: str | None = None) -> tuple[str, ...]:
    return ("--base-url", server.base_url, "--api-key", key or server.api_key)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def roster(server: FakeUsageServer) -> Roster:
    found = server.organization.roster
    assert found is not None
    return found


def rename_project(server: FakeUsageServer, project_id: str, name: str) -> None:
    """Rename a project in the simulator's organization (its lists say so from now on)."""
    org = server.state.org
    found = roster(server)
    projects = tuple(
        attrs.evolve(p, name=name) if p.id == project_id else p for p in found.projects
    )
    server.state.org = attrs.evolve(org, roster=attrs.evolve(found, projects=projects))


# -- 1. name columns beside each id column ------------------------------------------------------


@pytest.fixture(scope="module")
def december_csv() -> subprocess.CompletedProcess[str]:
    return usage_async(
        "costs", *FAKE, *DECEMBER, "--group-by", "project_id,api_key_id", "--format", "csv"
    )


def test_costs_by_project_and_key_have_name_columns_right_after_each_id(
    december_csv: subprocess.CompletedProcess[str],
) -> None:
    assert december_csv.returncode == 0, december_csv.stderr
    header = december_csv.stdout.splitlines()[0].split(",")
    assert header[:7] == [
        "start_time", "end_time", "project_id", "project_name", "api_key_id", "api_key_name",
        "api_key_owner",
    ]  # fmt: skip
    assert december_csv.stderr == ""  # every list read: no warning


async def test_the_names_are_the_directorys_and_an_id_it_cannot_name_is_marked_unknown(
    december_csv: subprocess.CompletedProcess[str],
) -> None:
    async with FakeUsageServer(seed=0, now=LATE_NOW) as srv:
        found = roster(srv)
    projects = {p.id: p.name for p in found.projects}
    emails = {u.id: u.email for u in found.users}
    accounts = {a.id: a.name for a in found.service_accounts}
    keys = {k.id: k for k in found.project_keys}
    deleted = found.deleted_key.id

    rows = csv_rows(december_csv.stdout)
    seen_keys = {row["api_key_id"] for row in rows}
    assert deleted in seen_keys  # its usage runs until it was deleted
    assert found.archived_project.id in {row["project_id"] for row in rows}
    for row in rows:
        name = projects[row["project_id"]]
        assert row["project_name"] in (name, "'" + name)  # a formula-like name is guarded
        key_id = row["api_key_id"]
        if not key_id:  # costs no key made (storage): no name
            assert (row["api_key_name"], row["api_key_owner"]) == ("", "")
        elif key_id == deleted:  # listed nowhere any more: the id and the marker, no guess
            assert row["api_key_name"] == f"{deleted} (unknown)"
            assert row["api_key_owner"] == ""
        else:
            key = keys[key_id]
            assert row["api_key_name"] == key.name
            owners = emails if key.owner_type == "user" else accounts
            assert row["api_key_owner"] == owners[key.owner_id]
    assert "Legacy chatbot" in {row["project_name"] for row in rows}  # archived, still named


def test_a_user_id_column_is_followed_by_the_users_email() -> None:
    result = usage_async(
        "completions", *FAKE, "--since", "3d", "--group-by", "user_id", "--format", "jsonl"
    )

    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows
    keys = list(rows[0])
    assert keys.index("user_email") == keys.index("user_id") + 1  # right after its id
    by_users = [row for row in rows if row["user_id"]]
    assert by_users
    assert all(row["user_email"].endswith("@example.com") for row in by_users)
    # A service account's key reports no user: no id, no name.
    assert all(row["user_email"] is None for row in rows if not row["user_id"])


def test_fields_takes_the_name_columns_and_no_names_refuses_them(tmp_path: Path) -> None:
    chosen = usage_async(
        "costs", *FAKE, "--since", "3d", "--group-by", "project_id",
        "--fields", "project_name,amount_value", "--format", "csv",
    )  # fmt: skip
    refused = usage_async(
        "costs", *FAKE, "--since", "3d", "--group-by", "project_id", "--no-names",
        "--fields", "project_name,amount_value",
    )  # fmt: skip

    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.splitlines()[0] == "project_name,amount_value"
    assert "Search" in chosen.stdout
    assert refused.returncode == 2
    assert "--fields: no column 'project_name'" in refused.stderr


def test_no_names_writes_ids_only() -> None:
    result = usage_async(
        "costs", *FAKE, "--since", "3d", "--group-by", "project_id", "--no-names", "--format", "csv"
    )

    assert result.returncode == 0, result.stderr
    assert "project_name" not in result.stdout.splitlines()[0]
    assert "Search" not in result.stdout


def test_summary_fake_shows_project_names_and_its_csv_and_json_carry_id_and_name() -> None:
    text = usage_async("summary", *FAKE, "--since", "7d")
    as_csv = usage_async("summary", *FAKE, "--since", "7d", "--format", "csv")
    as_json = usage_async("summary", *FAKE, "--since", "7d", "--format", "json")
    bare = usage_async("summary", *FAKE, "--since", "7d", "--no-names", "--format", "json")

    assert text.returncode == as_csv.returncode == as_json.returncode == 0, text.stderr
    block = text.stdout.split("Cost by project (usd, UTC days)\n", 1)[1].split("\n\n")[0]
    assert block.splitlines()[0].split() == ["project_id", "project_name", "amount"]
    assert "Billing, EU" in block
    assert "Search" in block
    assert "Tokens by model\n  model  " in text.stdout  # unchanged: no names there
    by_project = [r for r in csv_rows(as_csv.stdout) if r["section"] == "cost_by_project"]
    assert {r["project_name"] for r in by_project} >= {"Billing, EU", "Search"}
    assert all(r["name"].startswith("proj_") for r in by_project)
    others = [r for r in csv_rows(as_csv.stdout) if r["section"] != "cost_by_project"]
    assert all(r["project_name"] == "" for r in others)
    summary = json.loads(as_json.stdout)
    assert set(summary["project_names"]) == set(summary["costs"]["usd"]["by_project_id"])
    assert "Search" in summary["project_names"].values()
    assert "project_names" not in json.loads(bare.stdout)


# -- 2. what the names cost, and when they are read ---------------------------------------------


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW)
def test_the_directory_is_read_only_when_a_name_column_is_written(
    fake_usage_server: FakeUsageServer,
) -> None:
    runs = {
        "named": ("--group-by", "project_id"),
        "no_names": ("--group-by", "project_id", "--no-names"),
        "ungrouped": (),  # no id column to name: costs without --group-by
        "fields_without_names": ("--group-by", "project_id", "--fields", "project_id"),
    }
    lists = {}
    for name, args in runs.items():
        before = len(fake_usage_server.requests)
        result = usage_async("costs", *api(fake_usage_server), *DAYS, *args)
        assert result.returncode == 0, (name, result.stderr)
        lists[name] = [
            r.path
            for r in fake_usage_server.requests[before:]
            if r.path.startswith("/v1/organization/projects") or r.path.endswith(LIST_PATHS)
        ]
    assert len(lists["named"]) == 14  # 3 + 6 projects + 5 active ones, seed 0
    assert lists["no_names"] == lists["ungrouped"] == lists["fields_without_names"] == []


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW)
def test_summary_costs_the_directorys_requests_more_with_names_than_without(
    fake_usage_server: FakeUsageServer,
) -> None:
    before = len(fake_usage_server.requests)
    assert usage_async("summary", *api(fake_usage_server), *DAYS).returncode == 0
    named = len(fake_usage_server.requests) - before
    before = len(fake_usage_server.requests)
    bare = usage_async("summary", *api(fake_usage_server), *DAYS, "--no-names")
    assert bare.returncode == 0
    without = len(fake_usage_server.requests) - before

    assert without == 11  # one page of each endpoint
    assert named == without + 14  # the directory's walk: 3 + projects + active projects


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW)
def test_the_directory_is_read_while_the_rows_stream_not_before(
    fake_usage_server: FakeUsageServer,
) -> None:
    result = usage_async(
        "costs", *api(fake_usage_server), "--since", "2025-10-01", "--until", "2026-01-15",
        "--limit", "1", "--group-by", "project_id", "--format", "csv",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    paths = [r.path for r in fake_usage_server.requests]
    first_costs = paths.index("/v1/organization/costs")
    last_list = max(i for i, p in enumerate(paths) if p != "/v1/organization/costs")
    assert first_costs < last_list  # the first page was asked for before the walk ended


# -- 3. names are data, faults degrade ----------------------------------------------------------

FORMULA = "=cmd|' /C calc'!A0"


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW)
def test_a_project_named_like_a_formula_comes_out_of_csv_harmless_and_of_json_as_it_is(
    fake_usage_server: FakeUsageServer,
) -> None:
    target = roster(fake_usage_server).projects[1]
    rename_project(fake_usage_server, target.id, FORMULA)
    args = ("costs", *api(fake_usage_server), *DAYS, "--group-by", "project_id")

    as_csv = usage_async(*args, "--format", "csv")
    as_jsonl = usage_async(*args, "--format", "jsonl")
    summary = usage_async("summary", *api(fake_usage_server), *DAYS, "--format", "csv")

    assert as_csv.returncode == as_jsonl.returncode == summary.returncode == 0, as_csv.stderr
    cells = {r["project_name"] for r in csv_rows(as_csv.stdout) if r["project_id"] == target.id}
    assert cells == {"'" + FORMULA}  # a spreadsheet shows it, never runs it
    assert not any(line.startswith("=") or ",=" in line for line in as_csv.stdout.splitlines())
    named = {json.loads(line)["project_name"] for line in as_jsonl.stdout.splitlines()}
    assert FORMULA in named  # data as the API gave it, where nothing would run it
    by_project = [r for r in csv_rows(summary.stdout) if r["name"] == target.id]
    assert [r["project_name"] for r in by_project] == ["'" + FORMULA]


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW, restricted_keys={USERS_DENIED: ["users"]})
def test_a_list_the_key_may_not_read_is_one_warning_and_its_ids_show_as_unknown(
    fake_usage_server: FakeUsageServer,
) -> None:
    result = usage_async(
        "completions", *api(fake_usage_server, USERS_DENIED), *DAYS,
        "--group-by", "project_id,user_id", "--format", "csv",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    (warning,) = result.stderr.splitlines()
    assert warning.startswith("usage-async: warning: directory: users: the user list could not")
    assert "api.management.read" in warning
    rows = csv_rows(result.stdout)
    assert rows
    assert all(r["user_email"] == f"{r['user_id']} (unknown)" for r in rows if r["user_id"])
    assert all(r["project_name"] and "(unknown)" not in r["project_name"] for r in rows)


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW)
def test_a_refused_key_is_one_error_line_not_the_directorys_warnings(
    fake_usage_server: FakeUsageServer,
) -> None:
    result = usage_async(
        "costs", *api(fake_usage_server, "sk-admin-wrong"), *DAYS, "--group-by", "project_id",
    )  # fmt: skip

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith("usage-async costs: error: ")
    assert "HTTP 401" in line


# -- 4. the columns, as pure functions ----------------------------------------------------------


def test_name_columns_come_right_after_their_id_columns() -> None:
    header = ["start_time", "project_id", "model", "api_key_id", "user_id", "amount"]
    assert named_columns(header, ["project_id", "api_key_id"]) == [
        "start_time", "project_id", "project_name", "model", "api_key_id", "api_key_name",
        "api_key_owner", "user_id", "amount",
    ]  # fmt: skip
    assert set(NAME_COLUMNS) == {"project_id", "user_id", "api_key_id"}


async def test_name_values_for_ids_known_unknown_absent_and_a_service_accounts_user_id() -> None:
    async with (
        FakeUsageServer(seed=0, now=LATE_NOW) as srv,
        UsageClient(srv.api_key, base_url=srv.base_url) as client,
    ):
        directory = await build_directory(client)
    found = roster(srv)
    account = found.service_accounts[0]
    admin_key = found.admin_keys[0]
    owner_email = next(u.email for u in found.users if u.id == admin_key.owner_id)

    assert name_values(directory, "project_id", None) == {"project_name": None}
    assert name_values(directory, "project_id", "proj_nope") == {
        "project_name": "proj_nope (unknown)"
    }
    assert name_values(directory, "user_id", account.id) == {
        "user_email": f"{account.name} (service account)"
    }
    assert name_values(directory, "api_key_id", admin_key.id) == {
        "api_key_name": admin_key.name,
        "api_key_owner": owner_email,  # an admin key's owner, by the user list's email
    }
    assert name_values(directory, "api_key_id", "key_gone") == {
        "api_key_name": "key_gone (unknown)",
        "api_key_owner": None,
    }


@pytest.mark.fake_usage_server(seed=0, now=LATE_NOW, restricted_keys={USERS_DENIED: ["users"]})
async def test_the_walks_warnings_are_printed_when_its_names_are_first_used_and_once(
    fake_usage_server: FakeUsageServer,
) -> None:
    warned: list[str] = []
    async with UsageClient(USERS_DENIED, base_url=fake_usage_server.base_url) as client:
        walk = DirectoryWalk(client, warned.append)
        await asyncio.wait([walk._task])  # done, users refused: nothing said yet
        assert warned == []
        directory = await walk.get()
        await walk.get()
        await walk.aclose()
    assert not directory.complete["users"]
    (warning,) = warned
    assert warning.startswith("directory: users: the user list could not be read")
