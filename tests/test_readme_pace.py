"""The README's "Watching the pace" example runs against the simulator and prints the
retries, 429s and metrics it says it does."""

from __future__ import annotations

import functools
import re

import pytest
from helpers import readme_example

import usage_async as ua
from usage_async.testing import FakeUsageServer, Faults


async def test_the_pace_example_counts_the_retries_and_prints_the_metrics(
    capsys: pytest.CaptureFixture[str],
) -> None:
    namespace = readme_example("watched_costs")
    async with FakeUsageServer(seed=0, faults=Faults(retry_after=0)) as srv:
        srv.script(429, 503)
        # The example builds UsageClient() from the environment; point it at the simulator.
        namespace["UsageClient"] = functools.partial(
            ua.UsageClient, srv.api_key, base_url=srv.base_url
        )
        await namespace["watched_costs"]()

    out = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"[78] days", out[0])
    assert "usage_async_requests_total 3" in out
    assert "usage_async_rate_limited_total 1" in out
    assert "usage_async_paused 0" in out
    assert 'usage_async_retries_total{cause="429"} 1' in out
    assert 'usage_async_retries_total{cause="5xx"} 1' in out
    assert any(re.fullmatch(r"usage_async_pace_requests_per_second [\d.e+-]+", x) for x in out)
    assert out[-1] == "{'/organization/costs 429': 1, '/organization/costs 5xx': 1}"
