"""The simulator's spend limits and alerts: spec-valid (checked with jsonschema against the
shipped excerpt itself), some projects with limits and some without, alerts paged like the
admin lists, and nothing else of the organization moved by them."""

from __future__ import annotations

import json
from collections.abc import Callable
from importlib import resources
from typing import Any

import aiohttp
import jsonschema  # type: ignore[import-untyped]
import pytest
import referencing
from referencing.jsonschema import DRAFT202012

from usage_async.testing import (
    AlertEntry,
    FakeUsageServer,
    LimitEntry,
    Organization,
    SpendSettings,
)
from usage_async.testing._spend import draw_spend
from usage_async.testing._spend_spec import load_spend_spec, parse_spend_spec

Validate = Callable[[Any], None]
SPEND_URI = "urn:spend-openapi"


def _document() -> dict[str, Any]:
    text = resources.files("usage_async.testing").joinpath("spec/spend-openapi.json").read_text()
    document: dict[str, Any] = json.loads(text)
    return document


@pytest.fixture(scope="module")
def spend_validator() -> Callable[[str], Validate]:
    registry = referencing.Registry().with_resource(
        SPEND_URI, DRAFT202012.create_resource(_document())
    )

    def validator(name: str) -> Validate:
        schema = {"$ref": f"{SPEND_URI}#/components/schemas/{name}"}
        validate: Validate = jsonschema.Draft202012Validator(schema, registry=registry).validate
        return validate

    return validator


async def get(
    session: aiohttp.ClientSession,
    srv: FakeUsageServer,
    path: str,
    pairs: list[tuple[str, str]] | None = None,
    key: str | None = None,
) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key or srv.api_key}"}
    async with session.get(srv.base_url + path, params=pairs or [], headers=headers) as resp:
        return resp.status, await resp.json()


def test_the_excerpt_holds_the_four_spend_operations_and_reads_as_the_spec_says() -> None:
    spec = load_spend_spec()
    assert sorted(d.path for d in spec.limits.values()) == [
        "/organization/projects/{project_id}/spend_limit",
        "/organization/spend_limit",
    ]
    assert {d.name: d.limit for d in spec.alerts.values()} == {
        "spend_alerts": (0, 100, 20),
        "project_spend_alerts": (0, 100, 20),
    }
    document = _document()
    assert set(document["paths"]) == {
        *(d.path for d in spec.limits.values()),
        *(d.path for d in spec.alerts.values()),
    }
    assert document["info"]["license"]["identifier"] == "MIT"


def test_a_list_whose_default_is_not_stated_fails_loudly() -> None:
    document = _document()
    param = document["paths"]["/organization/spend_alerts"]["get"]["parameters"][0]
    param["description"] = "A limit on the number of spend alerts to return."
    with pytest.raises(Exception, match="limit bounds"):
        parse_spend_spec(document)


async def test_every_spend_response_follows_the_spec(
    server: FakeUsageServer,
    session: aiohttp.ClientSession,
    spend_validator: Callable[[str], Validate],
    validate_error: Validate,
) -> None:
    status, body = await get(session, server, "/organization/spend_limit")
    assert status == 200
    spend_validator("OrganizationSpendLimitResource")(body)
    status, body = await get(session, server, "/organization/spend_alerts")
    assert status == 200
    spend_validator("OrganizationSpendAlertListResource")(body)
    answers = {200: 0, 404: 0}
    for project in server.organization.projects:
        status, body = await get(session, server, f"/organization/projects/{project}/spend_limit")
        answers[status] += 1
        if status == 200:
            spend_validator("ProjectSpendLimitResource")(body)
        else:
            validate_error(body)
            assert "No spend limit is set" in body["error"]["message"]
        status, body = await get(session, server, f"/organization/projects/{project}/spend_alerts")
        assert status == 200
        spend_validator("ProjectSpendAlertListResource")(body)
    assert answers[200] >= 1
    assert answers[404] >= 1


async def test_amounts_are_integer_cents_monthly_in_usd(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    _, limit = await get(session, server, "/organization/spend_limit")
    _, alerts = await get(session, server, "/organization/spend_alerts")
    configured = server.spend.organization_limit
    assert configured is not None
    assert isinstance(limit["threshold_amount"], int)
    assert limit["threshold_amount"] == configured.threshold_amount
    assert (limit["currency"], limit["interval"]) == ("USD", "month")
    assert limit["enforcement"] == {"status": "enforcing"}
    assert sorted(a["threshold_amount"] for a in alerts["data"]) == sorted(
        a.threshold_amount for a in server.spend.organization_alerts
    )
    assert all(a["currency"] == "USD" for a in alerts["data"])


def test_the_drawn_settings_have_limited_and_unlimited_projects_and_alerts() -> None:
    for seed in range(8):
        org = Organization.from_seed(seed)
        assert org.roster is not None
        settings = draw_spend(seed, org.roster, org.projects)
        assert settings == draw_spend(seed, org.roster, org.projects)  # reproducible
        assert org.projects[0] in settings.project_limits
        assert org.projects[-1] not in settings.project_limits
        assert settings.organization_limit is not None
        assert len(settings.organization_alerts) == 2
        assert org.projects[-1] in settings.project_alerts  # an alert without a limit
        assert all(
            alert.threshold_amount < settings.project_limits[p].threshold_amount
            for p, alerts in settings.project_alerts.items()
            if p in settings.project_limits
            for alert in alerts
        )


def test_drawing_spend_settings_moves_nothing_of_the_organization() -> None:
    # Drawn from a stream of their own: the organization (and so every usage and cost
    # number, and every name) is the one Organization.from_seed makes on its own.
    srv = FakeUsageServer(seed=3)
    assert srv.organization == Organization.from_seed(3)


async def test_alerts_page_by_after_and_before_with_limit_and_order(
    session: aiohttp.ClientSession,
) -> None:
    alerts = tuple(AlertEntry(f"alert_{i:02d}", 1000 * i, ("a@example.com",)) for i in range(1, 6))
    settings = SpendSettings(LimitEntry(100_000), organization_alerts=alerts)
    async with FakeUsageServer(seed=0, now=1_736_944_200, spend=settings) as srv:
        path = "/organization/spend_alerts"
        _, first = await get(session, srv, path, [("limit", "2")])
        assert [a["id"] for a in first["data"]] == ["alert_01", "alert_02"]
        assert (first["first_id"], first["last_id"], first["has_more"]) == (
            "alert_01",
            "alert_02",
            True,
        )
        _, rest = await get(session, srv, path, [("limit", "10"), ("after", "alert_02")])
        assert [a["id"] for a in rest["data"]] == ["alert_03", "alert_04", "alert_05"]
        assert rest["has_more"] is False
        _, back = await get(session, srv, path, [("limit", "2"), ("before", "alert_04")])
        assert [a["id"] for a in back["data"]] == ["alert_02", "alert_03"]
        _, desc = await get(session, srv, path, [("order", "desc"), ("limit", "1")])
        assert desc["data"][0]["id"] == "alert_05"
        status, body = await get(session, srv, path, [("after", "alert_99")])
        assert status == 400
        assert body["error"]["param"] == "after"
        status, body = await get(session, srv, path, [("limit", "101")])
        assert (status, body["error"]["code"]) == (400, "integer_above_max_value")


async def test_a_project_that_does_not_exist_is_a_404_on_both_paths(
    server: FakeUsageServer, session: aiohttp.ClientSession
) -> None:
    for tail in ("spend_limit", "spend_alerts"):
        status, body = await get(session, server, f"/organization/projects/proj_nope/{tail}")
        assert status == 404
        assert "No project found" in body["error"]["message"]


async def test_a_key_restricted_from_spend_gets_403_missing_scopes(
    session: aiohttp.ClientSession,
) -> None:
    key = "sk-admin-no-spend"
    async with FakeUsageServer(
        seed=0, now=1_736_944_200, restricted_keys={key: ("spend_limit", "spend_alerts")}
    ) as srv:
        for path in ("/organization/spend_limit", "/organization/spend_alerts"):
            status, body = await get(session, srv, path, key=key)
            assert status == 403
            assert "Missing scopes: api.management.read" in body["error"]["message"]
        status, _ = await get(session, srv, "/organization/projects", key=key)
        assert status == 200
