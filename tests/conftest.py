"""Keep tests hermetic: no admin key from the developer's environment leaks in, and no
ignored Ctrl-C either."""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterator

import pytest

# A shell starts a background job (`pytest &`, `bash .ci/run &`) with SIGINT ignored, and a
# process started by one that ignores it ignores it too: the tests that interrupt the CLI
# with Ctrl-C found it deaf (exit 0, or no exit at all). A handler, unlike an ignore, is not
# inherited across exec, so with one here each CLI the tests start gets Python's own.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)


@pytest.fixture
def no_library_logs() -> Iterator[None]:
    """Every ``usage_async`` log record dropped before any handler sees it."""
    logger = logging.getLogger("usage_async")

    def drop(record: logging.LogRecord) -> bool:
        return False

    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)
