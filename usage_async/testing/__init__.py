"""A local simulator of the Usage and Costs API, for tests and benchmarks.

``async with FakeUsageServer(seed=0, now=...) as srv:`` serves all eleven endpoints on
127.0.0.1 with a deterministic synthetic organization, the admin lists that name its
projects, users, keys and service accounts, and its spend limits and alerts; point a client
at ``srv.base_url`` with ``srv.api_key``. pytest users get it running as the
``fake_usage_server`` fixture.
"""

from ._faults import Faults, Quirks, Scripted, ScriptedResponse
from ._org import ORG_START, ApiKey, Organization, VectorStore
from ._server import FakeUsageServer, RecordedRequest
from ._spend import AlertEntry, LimitEntry, SpendSettings

__all__ = [
    "ORG_START",
    "ApiKey",
    "FakeUsageServer",
    "Faults",
    "Organization",
    "Quirks",
    "RecordedRequest",
    "Scripted",
    "ScriptedResponse",
    "VectorStore",
]
__all__ += ["AlertEntry", "LimitEntry", "SpendSettings"]
