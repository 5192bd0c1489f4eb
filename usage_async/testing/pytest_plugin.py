"""pytest plugin: a running simulator of the Usage and Costs API as the ``fake_usage_server``
fixture, in sync and async tests alike.

Installed with the package (entry point ``pytest11``), so naming the fixture is enough. The
server runs on a background thread with its own event loop and is stopped after the test.
Options go in a marker::

    @pytest.mark.fake_usage_server(seed=3, now=1735689600, quirks=Quirks(late_data=3600))
    def test_something(fake_usage_server): ...

Importing this module is cheap: the simulator is built only when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._server import FakeUsageServer

__all__ = ["fake_usage_server"]

MARKER = "fake_usage_server"


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker, so ``--strict-markers`` runs accept it."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**options): FakeUsageServer options (seed, now, api_key, faults, quirks, "
        "restricted_keys) "
        "for the fake_usage_server fixture",
    )


@pytest.fixture
def fake_usage_server(request: pytest.FixtureRequest) -> Iterator[FakeUsageServer]:
    """A started :class:`~usage_async.testing.FakeUsageServer` on 127.0.0.1, a free port."""
    from ._server import FakeUsageServer  # imported here to keep the plugin import cheap

    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    with FakeUsageServer(**options).serve_in_thread() as server:
        yield server
