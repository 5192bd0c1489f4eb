"""The simulator's list endpoints, read from the admin OpenAPI file shipped beside it. Pure.

Paths, query parameters, enums, ``limit`` bounds, and the schemas of each list and of its
items come from ``spec/admin-openapi.json`` (an excerpt of OpenAI's published description,
copied unchanged), never from ``usage_async._lists``: the client's table and the simulator are
checked against the same source separately, as for the usage endpoints (``_spec.py``).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType
from typing import Any

import attrs

from ._spec import ParamDef, SpecError, _param

__all__ = ["AdminSpec", "ListDef", "load_admin_spec", "parse_admin_spec"]

ADMIN_SPEC_FILE = "admin-openapi.json"

# Every list but the admin keys states its bounds in prose; this reads them (a spec that words
# them differently fails loudly at load time instead of being guessed at).
_LIST_LIMIT = re.compile(r"Limit can range between (\d+) and (\d+), and the default is (\d+)")
# The admin API keys list states a default but no bounds ("Maximum number of keys to
# return."); the admin lists take 1..100 (API-NOTES #18), so the simulator holds it to that.
_UNSTATED_BOUNDS = (1, 100)


@attrs.frozen
class ListDef:
    """One list endpoint as the spec describes it."""

    name: str  # the last path segment: "projects", "users", "api_keys", ...
    path: str  # as in the spec, without /v1, with its {placeholders}
    path_params: tuple[str, ...]
    params: Mapping[str, ParamDef]  # query parameters only
    limit: tuple[int, int, int]  # (minimum, maximum, default)
    list_schema: str  # the component schema of a page: "ProjectListResponse"
    item_schema: str  # ... and of one item: "Project"
    item_tag: str  # the `object` of its items: "organization.project"
    error_statuses: tuple[int, ...]  # statuses the spec documents besides 200


@attrs.frozen
class AdminSpec:
    """Every list endpoint of the admin spec, and the schemas responses must follow."""

    lists: Mapping[str, ListDef]  # by name
    components: Mapping[str, Any]


def _ref_name(schema: Mapping[str, Any]) -> str:
    ref: str = schema["$ref"]
    return ref.rsplit("/", 1)[1]


def _limit(param: Mapping[str, Any]) -> tuple[int, int, int]:
    default = int(param["schema"]["default"])
    text = param.get("description") or param["schema"].get("description", "")
    match = _LIST_LIMIT.search(text)
    if match is None:
        if "Maximum number" not in text:
            raise SpecError(f"cannot read the limit bounds from {text!r}")
        return (*_UNSTATED_BOUNDS, default)
    low, high, stated_default = (int(g) for g in match.groups())
    if stated_default != default:
        raise SpecError(f"limit default {default} disagrees with its description {text!r}")
    return low, high, default


def _list(path: str, operation: Mapping[str, Any], schemas: Mapping[str, Any]) -> ListDef:
    raw = operation["parameters"]
    path_params = tuple(p["name"] for p in raw if p["in"] == "path")
    query = {p["name"]: p for p in raw if p["in"] == "query"}
    for required in ("limit", "after"):
        if required not in query:
            raise SpecError(f"{path}: a list without `{required}` is not one the simulator pages")
    responses = operation["responses"]
    list_schema = _ref_name(responses["200"]["content"]["application/json"]["schema"])
    item_schema = _ref_name(schemas[list_schema]["properties"]["data"]["items"])
    tag_enum = schemas[item_schema]["properties"]["object"]["enum"]
    if len(tag_enum) != 1:
        raise SpecError(f"{item_schema}: expected one object tag, got {tag_enum}")
    return ListDef(
        name=path.rsplit("/", 1)[1],
        path=path,
        path_params=path_params,
        params=MappingProxyType({name: _param(p) for name, p in query.items()}),
        limit=_limit(query["limit"]),
        list_schema=list_schema,
        item_schema=item_schema,
        item_tag=str(tag_enum[0]),
        error_statuses=tuple(int(s) for s in responses if s != "200"),
    )


def parse_admin_spec(document: Mapping[str, Any]) -> AdminSpec:
    """Read the list endpoints out of an OpenAPI document."""
    schemas = document["components"]["schemas"]
    lists = [_list(path, item["get"], schemas) for path, item in document["paths"].items()]
    return AdminSpec(
        lists=MappingProxyType({d.name: d for d in lists}),
        components=MappingProxyType(document["components"]),
    )


def read_admin_document() -> dict[str, Any]:
    """The admin OpenAPI document shipped in ``usage_async/testing/spec/``, freshly parsed."""
    spec_dir = resources.files(__package__).joinpath("spec")
    document: dict[str, Any] = json.loads(spec_dir.joinpath(ADMIN_SPEC_FILE).read_text("utf-8"))
    return document


@functools.cache
def load_admin_spec() -> AdminSpec:
    """The shipped admin spec's list endpoints, read once on first use (never at import)."""
    return parse_admin_spec(read_admin_document())
