"""Fixtures for the simulator's own tests: a server on loopback, clients, and spec validators.

Responses are checked against the spec file itself (via ``jsonschema``), never against the
simulator's or the client's reading of it.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from importlib import resources
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

from usage_async import RetryPolicy, UsageClient
from usage_async.testing import FakeUsageServer

NOW = 1_736_944_200  # 2025-01-15T12:30:00Z, a Wednesday
SPEC_URI = "urn:usage-openapi"

Validate = Callable[[Any], None]


def _spec_document() -> dict[str, Any]:
    text = (
        resources.files("usage_async.testing")
        .joinpath("spec")
        .joinpath("usage-openapi.json")
        .read_text("utf-8")
    )
    document: dict[str, Any] = json.loads(text)
    return document


def _validator(schema_name: str) -> Validate:
    document = _spec_document()
    registry = referencing.Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(document))
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    validate: Validate = validator.validate
    return validate


@pytest.fixture(scope="session")
def spec_document() -> dict[str, Any]:
    """The OpenAPI document as shipped, parsed independently of the simulator."""
    return _spec_document()


@pytest.fixture(scope="session")
def validate_page() -> Validate:
    """Raise unless the value is a valid ``UsageResponse`` of the spec."""
    return _validator("UsageResponse")


@pytest.fixture(scope="session")
def validate_error() -> Validate:
    """Raise unless the value is a valid ``ErrorResponse`` of the spec."""
    return _validator("ErrorResponse")


@pytest.fixture
async def server() -> AsyncIterator[FakeUsageServer]:
    """A simulator on 127.0.0.1 with seed 0 and the clock fixed at NOW."""
    async with FakeUsageServer(seed=0, now=NOW) as srv:
        yield srv


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session, for requests the client would never send."""
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def client(server: FakeUsageServer) -> AsyncIterator[UsageClient]:
    """A UsageClient pointed at ``server``, retrying fast."""
    policy = RetryPolicy(max_attempts=4, initial_delay=0.001, max_delay=0.01)
    async with UsageClient(server.api_key, base_url=server.base_url, retry=policy) as usage:
        yield usage


@pytest.fixture(scope="module")
def threaded_server() -> Iterator[FakeUsageServer]:
    """One simulator per module on a background thread, for synchronous (hypothesis) tests."""
    with FakeUsageServer(seed=0, now=NOW).serve_in_thread() as srv:
        yield srv


class SyncGet:
    """Blocking GETs against a server, with no proxy and the server's key."""

    def __init__(self, srv: FakeUsageServer) -> None:
        self.srv = srv
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def __call__(
        self, path: str, pairs: Sequence[tuple[str, str]] = (), *, key: str | None = None
    ) -> tuple[int, dict[str, str], Any]:
        url = self.srv.base_url + path
        if pairs:
            url += "?" + urllib.parse.urlencode(list(pairs))
        request = urllib.request.Request(url)  # noqa: S310 - always http://127.0.0.1
        request.add_header("Authorization", f"Bearer {key or self.srv.api_key}")
        try:
            with self._opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), json.loads(response.read())
        except urllib.error.HTTPError as error:
            with error:
                return error.code, dict(error.headers), json.loads(error.read())


@pytest.fixture(scope="module")
def get(threaded_server: FakeUsageServer) -> SyncGet:
    """``get(path, pairs)`` -> (status, headers, parsed body) from the threaded server."""
    return SyncGet(threaded_server)


ADMIN_SPEC_URI = "urn:admin-openapi"


def _admin_document() -> dict[str, Any]:
    text = (
        resources.files("usage_async.testing")
        .joinpath("spec")
        .joinpath("admin-openapi.json")
        .read_text("utf-8")
    )
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.fixture(scope="session")
def admin_document() -> dict[str, Any]:
    """The admin OpenAPI excerpt as shipped, parsed independently of the simulator."""
    return _admin_document()


@pytest.fixture(scope="session")
def admin_validator(admin_document: dict[str, Any]) -> Callable[[str], Validate]:
    """``admin_validator(name)`` raises unless a value is a valid ``name`` of the admin spec."""
    resource = DRAFT202012.create_resource(admin_document)
    registry = referencing.Registry().with_resource(ADMIN_SPEC_URI, resource)

    def validator(schema_name: str) -> Validate:
        schema = {"$ref": f"{ADMIN_SPEC_URI}#/components/schemas/{schema_name}"}
        validate: Validate = jsonschema.Draft202012Validator(schema, registry=registry).validate
        return validate

    return validator
