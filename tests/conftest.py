"""Keep tests hermetic: no admin key from the developer's environment leaks in."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


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
