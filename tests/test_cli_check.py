"""``usage-async check``, and what a refused key says anywhere on the command line: the
kind of key seen (by its public prefix only) and what is needed; never the key."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from usage_async.testing import FakeUsageServer

SCRIPT = str(Path(sys.executable).parent / "usage-async")
NOW = 1_768_480_200  # 2026-01-15T12:30:00Z
CHECKS = [
    "key_kind", "reaches_api", "authenticated", "usage_read", "list_projects", "list_users",
    "list_admin_api_keys", "list_project_api_keys", "list_project_service_accounts", "clock",
]  # fmt: skip
PROJECT_KEY = "sk-proj-Sx8QmZt4LwP2rN7vK1yB0cD9eF3gH6jT"
TIMEOUT = 60


def usage_async(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "USAGE_ASYNC_"))}
    return subprocess.run(  # noqa: S603 - our own console script
        [SCRIPT, *args], capture_output=True, text=True, timeout=TIMEOUT, check=False, env=env
    )


def lines_by_check(stdout: str) -> dict[str, tuple[str, str]]:
    """``{check: (status, detail)}`` of the table: one line a check, no header."""
    out = {}
    for line in stdout.splitlines():
        status, name, detail = line.split(maxsplit=2)
        out[name] = (status, detail)
    return out


def never_the_key(result: subprocess.CompletedProcess[str], key: str) -> None:
    """Nothing of the key past its public prefix shows, but for the last four characters
    the API itself echoes (``Incorrect API key provided: sk-*****wxyz``)."""
    text = result.stdout + result.stderr
    secret = key.split("-", 2)[2]
    assert secret[:-4] not in text
    assert key not in text


def test_check_fake_passes_every_check_one_line_each_and_exits_0() -> None:
    result = usage_async("check", "--fake")  # the simulator on this machine's clock

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    checks = lines_by_check(result.stdout)
    assert list(checks) == CHECKS
    assert {status for status, _ in checks.values()} == {"ok"}
    assert checks["key_kind"][1].startswith("an admin key (sk-admin-...)")


def test_check_with_the_simulators_limited_key_names_the_missing_scope_and_exits_1() -> None:
    result = usage_async("check", "--fake", "--fake-key", "limited")

    assert result.returncode == 1
    checks = lines_by_check(result.stdout)
    assert checks["usage_read"] == ("FAIL", "HTTP 403: the key lacks the scope api.usage.read")
    assert checks["list_users"][0] == "FAIL"
    assert checks["list_projects"] == ("ok", "HTTP 200")
    assert checks["authenticated"][0] == "ok"
    (line,) = result.stderr.splitlines()
    assert line == (
        "usage-async check: error: the key cannot read usage "
        "(usage_read: HTTP 403: the key lacks the scope api.usage.read)"
    )


@pytest.mark.fake_usage_server(seed=0, now=NOW)
def test_check_of_a_limited_key_given_by_option_against_a_running_simulator(
    fake_usage_server: FakeUsageServer,
) -> None:
    key = fake_usage_server.limited_key
    result = usage_async(
        "check", "--base-url", fake_usage_server.base_url, "--api-key", key, "--format", "json"
    )

    assert result.returncode == 1
    rows = {row["check"]: row for row in json.loads(result.stdout)}
    assert list(rows) == CHECKS
    assert rows["usage_read"]["status"] == "FAIL"
    assert "api.usage.read" in rows["usage_read"]["detail"]
    assert len(fake_usage_server.requests) <= 6
    never_the_key(result, key)


@pytest.mark.fake_usage_server(seed=0, now=NOW)
def test_check_of_a_project_key_says_its_kind_and_never_shows_the_key(
    fake_usage_server: FakeUsageServer,
) -> None:
    result = usage_async(
        "check", "--base-url", fake_usage_server.base_url, "--api-key", PROJECT_KEY
    )

    assert result.returncode == 1
    checks = lines_by_check(result.stdout)
    assert checks["key_kind"] == (
        "FAIL",
        "a project key (sk-proj-... or sk-svcacct-...): the Usage and Costs API needs an "
        "organization admin key (sk-admin-...)",
    )
    assert checks["authenticated"] == ("FAIL", "HTTP 401: the API refused the key")
    (line,) = result.stderr.splitlines()
    assert "it is a project key" in line
    never_the_key(result, PROJECT_KEY)


def test_check_without_a_key_exits_2_with_one_line() -> None:
    result = usage_async("check")

    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith("usage-async check: error: no API key")
    assert result.stdout == ""


def test_check_with_no_answer_from_the_api_exits_1_saying_so() -> None:
    result = usage_async(
        "check", "--base-url", "http://127.0.0.1:1/v1", "--api-key", "sk-admin-x", "--retries", "0"
    )

    assert result.returncode == 1
    assert lines_by_check(result.stdout)["reaches_api"][0] == "FAIL"
    assert result.stderr.startswith("usage-async check: error: the check got no answer: ")


def test_check_writes_csv_with_chosen_fields() -> None:
    result = usage_async("check", "--fake", "--format", "csv", "--fields", "check,status")

    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["check"] for r in rows] == CHECKS
    assert list(rows[0]) == ["check", "status"]


# -- a refused key, anywhere on the command line -------------------------------------------------


@pytest.mark.fake_usage_server(seed=0, now=NOW)
@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("costs", ("--since", "2026-01-12", "--group-by", "project_id")),
        ("summary", ("--since", "2026-01-12")),
        ("sync", ("--since", "2026-01-12", "--endpoints", "costs", "--db", "sqlite:///{tmp}/s.db")),
    ],
)
def test_a_refused_project_key_says_what_kind_of_key_it_saw_and_what_is_needed(
    fake_usage_server: FakeUsageServer, tmp_path: Path, command: str, args: tuple[str, ...]
) -> None:
    given = tuple(a.replace("{tmp}", str(tmp_path)) for a in args)
    result = usage_async(
        command, *given, "--base-url", fake_usage_server.base_url, "--api-key", PROJECT_KEY
    )

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"usage-async {command}: error: ")
    assert "HTTP 401" in line
    assert "the key given is a project key (sk-proj-... or sk-svcacct-...)" in line
    assert "need an organization admin key (sk-admin-...)" in line
    never_the_key(result, PROJECT_KEY)


@pytest.mark.fake_usage_server(seed=0, now=NOW)
def test_a_key_without_the_usage_scope_is_told_which_scope_it_lacks(
    fake_usage_server: FakeUsageServer,
) -> None:
    result = usage_async(
        "costs", "--since", "2026-01-12", "--base-url", fake_usage_server.base_url,
        "--api-key", fake_usage_server.limited_key,
    )  # fmt: skip

    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert "HTTP 403" in line
    assert "the key given is an admin key (sk-admin-...) without the scope api.usage.read" in line
