"""The list table and models agree with OpenAI's admin spec; list queries are checked and
encoded before any request."""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any
from urllib.parse import parse_qsl

import attrs
import pytest

import usage_async as ua
from usage_async._list_query import build_list_query
from usage_async._lists import ENUM, LISTS, STREAM_LIMIT

SPEC = json.loads(
    resources.files("usage_async.testing").joinpath("spec/admin-openapi.json").read_text()
)
SCHEMAS = SPEC["components"]["schemas"]
# Spec-required fields the models leave optional, and why (see their docstrings).
RELAXED = {("ProjectApiKey", "owner_project_access")}  # a recent field (API-NOTES #11)


def _operation(path: str) -> dict[str, Any]:
    op: dict[str, Any] = SPEC["paths"][path]["get"]
    return op


def _query_params(path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in _operation(path)["parameters"] if p["in"] == "query"}


def _item_schema_name(path: str) -> str:
    ref = _operation(path)["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    items = SCHEMAS[ref.rsplit("/", 1)[1]]["properties"]["data"]["items"]["$ref"]
    return str(items.rsplit("/", 1)[1])


def q(name: str, stream: bool = False, **kwargs: Any) -> list[tuple[str, str]]:
    query = build_list_query(LISTS[name], kwargs, path_args={"project_id": "proj_1"}, stream=stream)
    return parse_qsl(query.query_string, keep_blank_values=True)


def refused(name: str, **kwargs: Any) -> ua.InvalidParameterError:
    with pytest.raises(ua.InvalidParameterError) as info:
        build_list_query(LISTS[name], kwargs, path_args={"project_id": "proj_1"})
    return info.value


# -- the table against the spec -----------------------------------------------------------


def test_every_list_path_of_the_spec_has_exactly_one_row() -> None:
    assert sorted(row.path for row in LISTS.values()) == sorted(SPEC["paths"])


@pytest.mark.parametrize("name", list(LISTS))
def test_query_parameters_match_the_spec(name: str) -> None:
    row = LISTS[name]
    spec = _query_params(row.path)
    assert set(row.params) == set(spec)
    for param, kind in row.params.items():
        schema = spec[param]["schema"]
        if kind == ENUM:
            assert row.enums[param] == tuple(schema["enum"])
        else:
            assert param not in row.enums


@pytest.mark.parametrize("name", list(LISTS))
def test_path_parameters_match_the_spec(name: str) -> None:
    row = LISTS[name]
    spec = [p["name"] for p in _operation(row.path)["parameters"] if p["in"] == "path"]
    assert list(row.path_params) == spec


@pytest.mark.parametrize("name", [n for n in LISTS if n != "admin_api_keys"])
def test_the_limit_bounds_are_the_specs(name: str) -> None:
    text = _query_params(LISTS[name].path)["limit"]["description"]
    assert re.search(r"between 1 and 100, and the default is 20", text)


@pytest.mark.parametrize("name", list(LISTS))
def test_each_row_returns_the_model_of_the_specs_items(name: str) -> None:
    row = LISTS[name]
    schema = SCHEMAS[_item_schema_name(row.path)]
    assert row.item_tag == schema["properties"]["object"]["enum"][0]


@pytest.mark.parametrize(
    ("model", "schema_name"),
    [
        (ua.Project, "Project"),
        (ua.User, "User"),
        (ua.ProjectApiKey, "ProjectApiKey"),
        (ua.ProjectApiKeyOwnerUser, "ProjectApiKeyOwnerUser"),
        (ua.ProjectApiKeyOwnerServiceAccount, "ProjectApiKeyOwnerServiceAccount"),
        (ua.ProjectServiceAccount, "ProjectServiceAccount"),
        (ua.AdminApiKey, "AdminApiKey"),
    ],
)
def test_model_fields_are_spec_properties_and_required_ones_have_no_default(
    model: type, schema_name: str
) -> None:
    schema = SCHEMAS[schema_name]
    fields = {f.name: f for f in attrs.fields(model)}
    assert set(fields) <= set(schema["properties"])
    for name in schema.get("required", []):
        if name == "object" or (schema_name, name) in RELAXED:
            continue
        assert name in fields, name
        assert fields[name].default is attrs.NOTHING, name
    for name, field in fields.items():
        if name not in schema.get("required", []):
            assert field.default is None, name


def test_the_owner_shapes_follow_the_spec() -> None:
    owner = SCHEMAS["ProjectApiKey"]["properties"]["owner"]["properties"]
    assert {f.name for f in attrs.fields(ua.ProjectApiKeyOwner)} == set(owner)
    admin_owner = SCHEMAS["AdminApiKey"]["properties"]["owner"]["properties"]
    assert {f.name for f in attrs.fields(ua.AdminApiKeyOwner)} == set(admin_owner)


def test_the_models_are_frozen_and_slotted() -> None:
    project = ua.Project(id="proj_1", created_at=1)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        project.name = "x"  # type: ignore[misc]
    assert not hasattr(project, "__dict__")


# -- what is sent -------------------------------------------------------------------------


def test_one_page_leaves_limit_to_the_api() -> None:
    assert q("projects") == []


def test_a_stream_asks_for_a_hundred_objects_a_page() -> None:
    assert q("users", stream=True) == [("limit", str(STREAM_LIMIT))]
    assert STREAM_LIMIT == 100
    assert q("users", stream=True, limit=7) == [("limit", "7")]


def test_project_api_keys_are_asked_for_with_owner_project_access_any() -> None:
    assert q("project_api_keys") == [("owner_project_access", "any")]
    assert q("project_api_keys", owner_project_access="active") == [
        ("owner_project_access", "active")
    ]


def test_include_archived_is_sent_as_true_only_when_asked() -> None:
    assert q("projects", include_archived=True) == [("include_archived", "true")]
    assert q("projects", include_archived=False) == [("include_archived", "false")]
    assert q("projects", include_archived=None) == []


def test_emails_are_sent_as_repeated_keys() -> None:
    assert q("users", emails=["a@x.org", "b@x.org"]) == [
        ("emails", "a@x.org"),
        ("emails", "b@x.org"),
    ]


def test_after_is_kept_apart_and_appended_per_request() -> None:
    query = build_list_query(LISTS["projects"], {"after": "proj_a b", "limit": 2})
    assert query.after == "proj_a b"
    assert query.query_string == "limit=2"
    assert query.query_for("proj_a b") == "limit=2&after=proj_a%20b"
    assert query.query_for(None) == "limit=2"


def test_a_project_id_is_quoted_whole_into_the_path() -> None:
    spec = LISTS["project_api_keys"]
    query = build_list_query(spec, {}, path_args={"project_id": "proj_x/../users"})
    assert query.path == "/organization/projects/proj_x%2F..%2Fusers/api_keys"


def test_extra_query_passes_through_after_the_known_parameters() -> None:
    assert q("projects", limit=3, extra_query={"new_filter": "x"}) == [
        ("limit", "3"),
        ("new_filter", "x"),
    ]


# -- what is refused, before any request ---------------------------------------------------


@pytest.mark.parametrize("limit", [0, 101, -1])
def test_a_limit_outside_1_to_100_is_refused(limit: int) -> None:
    err = refused("projects", limit=limit)
    assert err.param == "limit"
    assert "between 1 and 100" in str(err)


@pytest.mark.parametrize("limit", [True, 2.0, "5"])
def test_a_limit_that_is_not_an_int_is_refused(limit: object) -> None:
    assert refused("users", limit=limit).param == "limit"


def test_an_unknown_parameter_is_refused_naming_the_allowed_ones() -> None:
    err = refused("projects", archived=True)
    assert err.param == "archived"
    assert "include_archived, limit, after, extra_query" in str(err)


def test_owner_project_access_outside_its_enum_is_refused_naming_the_values() -> None:
    err = refused("project_api_keys", owner_project_access="all")
    assert err.param == "owner_project_access"
    assert "active, inactive, any" in str(err)


def test_include_archived_must_be_a_bool() -> None:
    assert refused("projects", include_archived="true").param == "include_archived"


def test_order_outside_asc_desc_is_refused() -> None:
    assert refused("admin_api_keys", order="newest").param == "order"


@pytest.mark.parametrize("after", ["", 5])
def test_an_empty_or_non_string_after_is_refused(after: object) -> None:
    assert refused("users", after=after).param == "after"


def test_a_bare_string_of_emails_is_refused() -> None:
    assert refused("users", emails="a@x.org").param == "emails"


@pytest.mark.parametrize("project_id", ["", None, 7])
def test_a_missing_or_empty_project_id_is_refused(project_id: object) -> None:
    with pytest.raises(ua.InvalidParameterError) as info:
        build_list_query(LISTS["project_api_keys"], {}, path_args={"project_id": project_id})
    assert info.value.param == "project_id"


def test_after_cannot_come_in_through_extra_query() -> None:
    assert refused("users", extra_query={"after": "user-x"}).param == "extra_query"
