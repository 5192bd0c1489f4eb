"""The CLI's progress line: retries from the client's on_retry hook, 429s, pace, time paused.

In-process (``main()``), so that the test can do what a subprocess would hide: filter the
library's log records away, and still see every retry counted on the line.
"""

from __future__ import annotations

import io
import re
import sys

import pytest
from helpers import Terminal

from usage_async.cli import main
from usage_async.testing import FakeUsageServer, Faults

RANGE = ("--since", "2025-01-01", "--until", "2025-01-04")


def run_costs(server: FakeUsageServer, stderr: io.StringIO, monkeypatch: pytest.MonkeyPatch) -> int:
    """``usage-async costs`` against ``server``, in this process, its stderr ``stderr``.

    Set here, in the test's call: pytest swaps its own capture back in after fixtures.
    """
    monkeypatch.setattr(sys, "stderr", stderr)
    options = ["--base-url", server.base_url, "--api-key", server.api_key]
    return main(["costs", *RANGE, "--format", "csv", *options])


def last_line(terminal: Terminal) -> str:
    """The last status line drawn before the line was cleared."""
    drawn = re.findall(r"\r([^\r\x1b]+)\x1b\[K", terminal.getvalue())
    return str(drawn[-1])


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=0))
def test_retries_are_counted_from_the_hook_even_with_the_library_logs_filtered_away(
    fake_usage_server: FakeUsageServer,
    no_library_logs: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fake_usage_server.script(500, 503, 502)
    terminal = Terminal()

    assert run_costs(fake_usage_server, terminal, monkeypatch) == 0

    assert last_line(terminal) == "costs: 1 page, 3 buckets, 3 retries"
    assert "warning" not in terminal.getvalue()
    assert capsys.readouterr().out.startswith("start_time,")


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=1))
def test_the_line_shows_the_429s_the_pace_and_the_time_paused(
    fake_usage_server: FakeUsageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_usage_server.script(429)  # with Retry-After: 1, then the real answer
    terminal = Terminal()

    assert run_costs(fake_usage_server, terminal, monkeypatch) == 0

    line = last_line(terminal)
    assert line.startswith("costs: 1 page, 3 buckets, 1 retry, 1 429, pace ")
    match = re.search(r", paused (\d+\.\d)s$", line)
    assert match is not None, line
    assert 0.9 <= float(match.group(1)) < 5.0
    # While the pause was under way (drawn at the retry), the line said how long it had left.
    assert re.search(r"paused \d+\.\ds \(\d+s more\)", terminal.getvalue())


@pytest.mark.fake_usage_server(seed=0)
def test_nothing_about_the_pace_is_shown_while_nothing_was_throttled(
    fake_usage_server: FakeUsageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    terminal = Terminal()

    assert run_costs(fake_usage_server, terminal, monkeypatch) == 0

    assert last_line(terminal) == "costs: 1 page, 3 buckets, 0 retries"


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=0))
def test_when_piped_each_retry_is_still_one_warning_line(
    fake_usage_server: FakeUsageServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = io.StringIO()
    fake_usage_server.script(500, 500)

    assert run_costs(fake_usage_server, piped, monkeypatch) == 0

    lines = piped.getvalue().splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith("usage-async: warning: retrying /organization/costs") for line in lines
    )
