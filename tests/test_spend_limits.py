"""Spend limits and alerts in the client: models and list rows as the spend spec shapes them,
cents converted to dollars exactly, and the handles' requests against the simulator."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import attrs
import pytest

import usage_async as ua
from usage_async._convert import decode_object
from usage_async._lists import ENUM, SPEND_ALERT_LISTS
from usage_async.models import (
    OrganizationSpendAlert,
    OrganizationSpendLimit,
    ProjectSpendAlert,
    ProjectSpendLimit,
    SpendAlertNotificationChannel,
    SpendLimitEnforcement,
    cents_to_dollars,
)
from usage_async.testing import FakeUsageServer

SPEC = json.loads(
    resources.files("usage_async.testing").joinpath("spec/spend-openapi.json").read_text()
)
SCHEMAS = SPEC["components"]["schemas"]
NOW = 1_736_944_200
HEADERS = {"x-request-id": "req_1"}


# -- the models and rows against the spec -------------------------------------------------


@pytest.mark.parametrize(
    ("model", "schema_name"),
    [
        (OrganizationSpendLimit, "OrganizationSpendLimitResource"),
        (ProjectSpendLimit, "ProjectSpendLimitResource"),
        (SpendLimitEnforcement, "SpendLimitEnforcement"),
        (OrganizationSpendAlert, "OrganizationSpendAlert"),
        (ProjectSpendAlert, "ProjectSpendAlert"),
        (SpendAlertNotificationChannel, "SpendAlertNotificationChannel"),
    ],
)
def test_model_fields_are_spec_properties_and_required_ones_have_no_default(
    model: type, schema_name: str
) -> None:
    schema = SCHEMAS[schema_name]
    fields = {f.name: f for f in attrs.fields(model) if f.init}  # `threshold` is derived
    assert set(fields) <= set(schema["properties"])
    for name in schema.get("required", []):
        if name == "object":
            assert getattr(model, "object", None) == schema["properties"]["object"]["enum"][0]
            continue
        assert fields[name].default is attrs.NOTHING, name
    for name, field in fields.items():
        if name not in schema.get("required", []):
            assert field.default is None, name


def test_the_alert_list_rows_follow_the_spec_but_page_forwards_only() -> None:
    paths = sorted(p for p in SPEC["paths"] if p.endswith("spend_alerts"))
    assert sorted(row.path for row in SPEND_ALERT_LISTS.values()) == paths
    for row in SPEND_ALERT_LISTS.values():
        operation = SPEC["paths"][row.path]["get"]
        query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
        assert set(row.params) == set(query) - {"before"}
        for name, kind in row.params.items():
            if kind == ENUM:
                assert row.enums[name] == tuple(query[name]["schema"]["enum"])
        path_params = [p["name"] for p in operation["parameters"] if p["in"] == "path"]
        assert list(row.path_params) == path_params
        ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        items = SCHEMAS[ref.rsplit("/", 1)[1]]["properties"]["data"]["items"]["$ref"]
        item_schema = SCHEMAS[items.rsplit("/", 1)[1]]
        assert row.item_tag == item_schema["properties"]["object"]["enum"][0]


# -- cents, exactly -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "dollars"),
    [
        (10000, "100.00"),
        (1, "0.01"),
        (0, "0.00"),
        (123456789012345678901, "1234567890123456789.01"),
    ],
)
def test_cents_become_exact_dollars(cents: int, dollars: str) -> None:
    value = cents_to_dollars(cents)
    assert value == Decimal(dollars)
    assert str(value) == dollars


def _limit_body(**changes: Any) -> bytes:
    body = {
        "object": "organization.spend_limit",
        "threshold_amount": 250000,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "enforcing"},
        "a_new_field": True,
        **changes,
    }
    return json.dumps(body).encode()


def test_a_limit_decodes_with_its_dollars_and_ignores_new_fields() -> None:
    limit = decode_object(OrganizationSpendLimit, 200, HEADERS, _limit_body())
    assert limit.threshold == Decimal("2500.00")
    assert limit.threshold_amount == 250000
    assert limit.enforcement.status == "enforcing"
    as_string = decode_object(
        OrganizationSpendLimit, 200, HEADERS, _limit_body(threshold_amount="5")
    )
    assert as_string.threshold == Decimal("0.05")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{not json", "not JSON"),
        (_limit_body(threshold_amount=100.5), "expected an integer"),
        (json.dumps({"currency": "USD"}).encode(), "threshold_amount"),
        (b"[]", "expected an object"),
    ],
)
def test_a_body_that_is_not_a_limit_is_a_validation_error_saying_why(
    body: bytes, problem: str
) -> None:
    with pytest.raises(ua.APIResponseValidationError, match=problem) as info:
        decode_object(OrganizationSpendLimit, 200, HEADERS, body)
    assert info.value.request_id == "req_1"


def test_an_error_status_is_the_errors_class() -> None:
    body = json.dumps({"error": {"message": "No spend limit", "type": "x"}}).encode()
    with pytest.raises(ua.NotFoundError):
        decode_object(ProjectSpendLimit, 404, HEADERS, body)


# -- the handles against the simulator ----------------------------------------------------


async def test_the_handles_read_limits_and_alerts_in_exact_dollars() -> None:
    async with FakeUsageServer(seed=0, now=NOW) as srv:
        policy = ua.RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.01)
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url, retry=policy) as client:
            org = await client.organization_spend_limit()
            configured = srv.spend.organization_limit
            assert configured is not None
            assert org.threshold == Decimal(configured.threshold_amount) / 100
            assert isinstance(org, OrganizationSpendLimit)

            limited, unlimited = srv.organization.projects[0], srv.organization.projects[-1]
            project = await client.project_spend_limit(limited)
            assert project.threshold_amount == srv.spend.project_limits[limited].threshold_amount
            with pytest.raises(ua.NotFoundError):
                await client.project_spend_limit(unlimited)

            alerts = await client.spend_alerts.collect()
            assert sorted(a.threshold_amount for a in alerts) == sorted(
                a.threshold_amount for a in srv.spend.organization_alerts
            )
            assert all(isinstance(a, OrganizationSpendAlert) for a in alerts)
            mine = await client.project_spend_alerts(unlimited).collect()
            assert [a.id for a in mine] == [a.id for a in srv.spend.project_alerts[unlimited]]
            assert mine[0].notification_channel.type == "email"
            page = await client.spend_alerts(limit=1, order="desc")
            assert len(page.data) == 1
            assert page.has_more
        sent = [(r.path, dict(r.query)) for r in srv.requests]
    assert sent[:3] == [
        ("/v1/organization/spend_limit", {}),
        (f"/v1/organization/projects/{limited}/spend_limit", {}),
        (f"/v1/organization/projects/{unlimited}/spend_limit", {}),
    ]
    assert sent[-1] == ("/v1/organization/spend_alerts", {"order": "desc", "limit": "1"})
    assert ("/v1/organization/spend_alerts", {"limit": "100"}) in sent  # a stream's pages


async def test_parameters_are_checked_before_any_request() -> None:
    async with FakeUsageServer(seed=0, now=NOW) as srv:
        async with ua.UsageClient(srv.api_key, base_url=srv.base_url) as client:
            with pytest.raises(ua.InvalidParameterError, match="project_id"):
                client.project_spend_limit("")
            with pytest.raises(ua.InvalidParameterError, match="order"):
                client.spend_alerts(order="sideways")
            with pytest.raises(ua.InvalidParameterError, match="before"):
                client.spend_alerts(before="alert_1")
        assert srv.requests == []


async def test_a_project_id_is_quoted_whole_into_the_path() -> None:
    client = ua.UsageClient("sk-admin-x", base_url="http://127.0.0.1:9/v1")
    sent: list[str] = []

    async def record(path: str, query: str, decode: Any) -> Any:
        sent.append(path)

    client._request = record  # type: ignore[method-assign]
    await client.project_spend_limit("proj/../x?y")
    assert sent == ["/organization/projects/proj%2F..%2Fx%3Fy/spend_limit"]
