"""``usage-async sync``'s progress says how the requests go, as the other commands' line does:
the retries so far (the client's on_retry hook, never log text), the 429s, the pace and the
time paused, on the live line and at the end of ``--progress lines``' page lines.

In-process (``main()``) against the simulator on a thread, its faults scripted, so that the
test can drop the library's log records and still see every retry counted.
"""

from __future__ import annotations

import io
import re
import sys
from pathlib import Path

import pytest
from helpers import Terminal

from usage_async.cli import main
from usage_async.testing import FakeUsageServer, Faults

# The end of a line once a 503 and then a 429 (Retry-After: 1) were retried.
PACE = r"pace [\d.]+/(s|min)"
SO_FAR = rf"; so far 2 retries, 1 429, {PACE}, paused 1\.\ds"


def run_sync(
    server: FakeUsageServer,
    tmp_path: Path,
    stderr: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
    *options: str,
) -> int:
    """``usage-async sync`` of costs (4 daily buckets, 2 a page: 2 pages) against ``server``,
    in this process, its stderr ``stderr``, its report in a file."""
    monkeypatch.setattr(sys, "stderr", stderr)
    return main([
        "sync", "--db", f"sqlite:///{tmp_path}/usage.db", "--endpoints", "costs",
        "--since", "3d", "--limit", "2", "--no-names",
        "--format", "json", "-o", str(tmp_path / "report.json"),
        "--base-url", server.base_url, "--api-key", server.api_key, *options,
    ])  # fmt: skip


def drawn(terminal: Terminal) -> list[str]:
    """Every live line drawn, in order."""
    return re.findall(r"\r\x1b\[K([^\r\x1b]+)", terminal.getvalue())


# -- --progress lines ---------------------------------------------------------------------


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=1))
def test_page_lines_end_with_the_retries_429s_pace_and_pause_so_far(
    fake_usage_server: FakeUsageServer,
    tmp_path: Path,
    no_library_logs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_usage_server.script(503, 429)  # the first page's request fails twice, then answers
    piped = io.StringIO()

    assert run_sync(fake_usage_server, tmp_path, piped, monkeypatch, "--progress", "lines") == 0

    start, first, second, done = piped.getvalue().splitlines()
    assert re.fullmatch(r"start costs 1d from \S+ \(2 pages\)", start)
    assert re.fullmatch(r"page costs 1/2 up to \S+ inserted=\d+ changed=0" + SO_FAR, first)
    assert re.fullmatch(r"page costs 2/2 up to \S+ inserted=\d+ changed=0" + SO_FAR, second)
    assert re.fullmatch(r"done costs pages=2" + SO_FAR, done)


@pytest.mark.fake_usage_server(seed=0)
def test_page_lines_say_nothing_more_while_every_request_went_through(
    fake_usage_server: FakeUsageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = io.StringIO()

    assert run_sync(fake_usage_server, tmp_path, piped, monkeypatch, "--progress", "lines") == 0

    lines = piped.getvalue().splitlines()
    assert len(lines) == 4
    assert not any("so far" in line for line in lines)
    assert lines[-1] == "done costs pages=2"


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=0))
def test_page_lines_count_retries_of_5xx_without_any_429(
    fake_usage_server: FakeUsageServer,
    tmp_path: Path,
    no_library_logs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_usage_server.script(500, 502)
    piped = io.StringIO()

    assert run_sync(fake_usage_server, tmp_path, piped, monkeypatch, "--progress", "lines") == 0

    assert piped.getvalue().splitlines()[-1] == "done costs pages=2; so far 2 retries"


# -- the live line on a terminal ----------------------------------------------------------


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=1))
def test_the_live_line_shows_the_retries_429s_pace_and_pause(
    fake_usage_server: FakeUsageServer,
    tmp_path: Path,
    no_library_logs: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake_usage_server.script(503, 429)
    terminal = Terminal()

    assert run_sync(fake_usage_server, tmp_path, terminal, monkeypatch) == 0

    lines = drawn(terminal)
    assert lines[0] == "sync: 0/2 pages, 0 rows written, 0 retries; reading costs"
    assert lines[1] == "sync: 0/2 pages, 0 rows written, 1 retry; reading costs"
    # Drawn at the 429's retry: the pause under way says how long it has left.
    assert re.fullmatch(
        rf"sync: 0/2 pages, 0 rows written, 2 retries, 1 429, {PACE}, "
        r"paused \d\.\ds \(\d+s more\); reading costs",
        lines[2],
    )
    assert re.fullmatch(
        rf"sync: 2/2 pages, [\d,]+ rows written, 2 retries, 1 429, {PACE}, paused 1\.\ds",
        lines[-1],
    )
    assert terminal.getvalue().endswith("\r\x1b[K")  # cleared at the end


@pytest.mark.fake_usage_server(seed=0, faults=Faults(retry_after=0))
def test_on_a_terminal_retries_are_on_the_line_not_printed(
    fake_usage_server: FakeUsageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_usage_server.script(500)
    terminal = Terminal()

    assert run_sync(fake_usage_server, tmp_path, terminal, monkeypatch) == 0

    assert "retrying" not in terminal.getvalue()
    assert drawn(terminal)[-1].endswith(" rows written, 1 retry")


@pytest.mark.fake_usage_server(seed=0)
def test_on_a_terminal_other_log_lines_are_printed_above_the_line(
    fake_usage_server: FakeUsageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_usage_server.script(400)  # not retried: the target stops, and the log says so
    terminal = Terminal()

    assert run_sync(fake_usage_server, tmp_path, terminal, monkeypatch) == 1

    shown = terminal.getvalue()
    assert re.search(r"\r\x1b\[Kcosts stopped: [^\r\x1b]+\n\r\x1b\[Ksync: ", shown), shown
