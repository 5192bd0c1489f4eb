"""Keep tests hermetic: no admin key from the developer's environment leaks in."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _no_ambient_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
