"""The browser for the report's tests: Debian's headless Chromium, driven by ``cdp``.

Without a Chromium (``$USAGE_ASYNC_CHROMIUM``, else ``chromium`` on PATH) these tests skip,
and the end of the run says why; `.ci/run` installs Debian's ``chromium`` so that CI runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cdp import CHROMIUM_ENV, Browser, find_chromium

SKIP_REASON = (
    f"no Chromium found (${CHROMIUM_ENV}, or `chromium` on PATH): the report's browser tests "
    "were skipped (`apt-get install chromium` installs Debian's)"
)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a test module."""
    executable = find_chromium()
    if executable is None:
        pytest.skip(SKIP_REASON)
    with Browser(executable) as b:
        yield b


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say why the browser tests did not run, when they did not."""
    if find_chromium() is None:
        terminalreporter.write_line(f"usage_async.report: {SKIP_REASON}")
