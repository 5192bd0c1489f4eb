"""The pytest plugin: the ``fake_usage_server`` fixture in sync and async tests, and in a
user's own test run."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

from usage_async import UsageClient
from usage_async.testing import FakeUsageServer, Quirks

NOW = 1_736_944_200


def test_the_fixture_serves_a_sync_test(fake_usage_server: FakeUsageServer) -> None:
    url = fake_usage_server.base_url + "/organization/costs?start_time=1736000000&limit=1"
    request = urllib.request.Request(url)  # noqa: S310 - http://127.0.0.1 only
    request.add_header("Authorization", f"Bearer {fake_usage_server.api_key}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        body = json.loads(response.read())
    assert body["object"] == "page"
    assert fake_usage_server.base_url.startswith("http://127.0.0.1:")


async def test_the_fixture_serves_an_async_test(fake_usage_server: FakeUsageServer) -> None:
    async with UsageClient(
        fake_usage_server.api_key, base_url=fake_usage_server.base_url
    ) as client:
        page = await client.costs(start_time=1_736_000_000, limit=1)
    assert len(page.data) == 1
    assert len(fake_usage_server.requests) == 1


@pytest.mark.fake_usage_server(seed=3, now=NOW, quirks=Quirks(amount_as_string=True))
def test_a_marker_passes_options_to_the_fixture(fake_usage_server: FakeUsageServer) -> None:
    assert fake_usage_server.now() == NOW
    assert fake_usage_server.quirks.amount_as_string is True
    assert fake_usage_server.organization == FakeUsageServer(seed=3).organization


USER_TESTS = """
import json
import urllib.request

import pytest

from usage_async import UsageClient


def test_sync(fake_usage_server):
    url = fake_usage_server.base_url + "/organization/usage/images?start_time=1736000000"
    request = urllib.request.Request(url)
    request.add_header("Authorization", "Bearer " + fake_usage_server.api_key)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as response:
        assert json.loads(response.read())["object"] == "page"


@pytest.mark.asyncio
async def test_async(fake_usage_server):
    async with UsageClient(fake_usage_server.api_key, base_url=fake_usage_server.base_url) as c:
        buckets = await c.completions.collect(start_time=1736000000, end_time=1736200000)
    assert buckets


def test_that_does_not_use_it():
    assert 1 + 1 == 2
"""


def _run_pytest(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_users_test_suite_gets_the_fixture_by_naming_it(tmp_path: Path) -> None:
    (tmp_path / "test_user.py").write_text(textwrap.dedent(USER_TESTS))
    result = _run_pytest(tmp_path, "-W", "error::ResourceWarning")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def test_a_suite_that_does_not_use_the_fixture_is_not_affected(tmp_path: Path) -> None:
    (tmp_path / "test_other.py").write_text("def test_nothing():\n    assert True\n")
    result = _run_pytest(tmp_path, "--strict-markers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout


def test_importing_the_plugin_is_cheap() -> None:
    code = (
        "import sys, usage_async.testing.pytest_plugin\n"
        "from usage_async.testing._spec import load_spec\n"
        "print(load_spec.cache_info().currsize, 'hypothesis' in sys.modules,"
        " 'jsonschema' in sys.modules)\n"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["0", "False", "False"]
