"""The endpoint table and the models agree with OpenAI's published OpenAPI description."""

from __future__ import annotations

import json
import typing
from importlib import resources
from typing import Any

import attrs
import pytest

import usage_async as ua
from usage_async._endpoints import ENDPOINTS, ENUM_LIST

SPEC = json.loads(
    resources.files("usage_async.testing").joinpath("spec/usage-openapi.json").read_text()
)
SCHEMAS = SPEC["components"]["schemas"]


def _operation(path: str) -> dict[str, Any]:
    op: dict[str, Any] = SPEC["paths"][path]["get"]
    return op


def _params(path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in _operation(path)["parameters"]}


def _enum(schema: dict[str, Any]) -> list[str]:
    return list(schema.get("items", schema)["enum"])


def _result_schema(tag: str) -> dict[str, Any]:
    for schema in SCHEMAS.values():
        if schema.get("properties", {}).get("object", {}).get("enum") == [tag]:
            return schema
    raise LookupError(tag)


def test_every_spec_path_has_exactly_one_row() -> None:
    assert sorted(row.path for row in ENDPOINTS.values()) == sorted(SPEC["paths"])


def test_the_client_has_an_attribute_per_row() -> None:
    client = ua.UsageClient("sk-admin-x")
    for name, row in ENDPOINTS.items():
        assert getattr(client, name).spec is row


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_parameters_match_the_spec(name: str) -> None:
    row = ENDPOINTS[name]
    assert set(row.params) == set(_params(row.path))


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_enums_and_bucket_widths_match_the_spec(name: str) -> None:
    row = ENDPOINTS[name]
    params = _params(row.path)
    for param, kind in row.params.items():
        if kind == ENUM_LIST:
            assert list(row.enums[param]) == _enum(params[param]["schema"]), param
    assert sorted(row.bucket_widths) == sorted(_enum(params["bucket_width"]["schema"]))
    assert params["start_time"]["required"] is True


def test_limits_match_the_spec_descriptions() -> None:
    costs_limit = _params("/organization/costs")["limit"]
    assert costs_limit["schema"]["default"] == ENDPOINTS["costs"].limits["1d"][0]
    assert "between 1 and 180" in costs_limit["description"]
    usage_limit = _params("/organization/usage/completions")["limit"]["description"]
    for width, (default, maximum) in ENDPOINTS["completions"].limits.items():
        assert f"`bucket_width={width}`: default: {default}, max: {maximum}" in usage_limit


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_each_result_class_has_the_spec_fields_and_tag(name: str) -> None:
    cls = ENDPOINTS[name].result_type
    schema = _result_schema(cls.object)
    spec_fields = set(schema["properties"]) - {"object"}
    assert {f.name for f in attrs.fields(cls)} == spec_fields
    required = set(schema["required"]) - {"object"}
    for field in attrs.fields(cls):
        assert (field.default is attrs.NOTHING) == (field.name in required), field.name


def test_every_result_schema_of_the_spec_has_a_class() -> None:
    refs = SCHEMAS["UsageTimeBucket"]["properties"]["results"]["items"]["oneOf"]
    tags = {SCHEMAS[r["$ref"].rsplit("/", 1)[1]]["properties"]["object"]["enum"][0] for r in refs}
    assert tags == {row.result_tag for row in ENDPOINTS.values()}


def test_the_params_typeddicts_list_every_parameter() -> None:
    for name, row in ENDPOINTS.items():
        camel = "".join(part.capitalize() for part in name.split("_"))
        typed = getattr(ua, f"{camel}Params")
        assert set(typing.get_type_hints(typed)) == {*row.params, "extra_query"}
        assert typed.__required_keys__ == frozenset({"start_time"})
