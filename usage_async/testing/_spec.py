"""The simulator's endpoint rows, read from the OpenAPI file shipped beside it. Pure.

Everything the fake knows about paths, parameters, enums, limits and result fields comes from
``spec/usage-openapi.json`` (OpenAI's published description, copied unchanged), never from
``usage_async._endpoints``: the client's table and the fake are checked against the same
source separately, so one mistake cannot hide in both.
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

__all__ = ["ApiSpec", "EndpointDef", "ParamDef", "load_spec"]

SPEC_FILE = "usage-openapi.json"
API_PREFIX = "/v1"

# Kinds of query parameter, from each parameter's `schema.type`.
INTEGER = "integer"
STRING = "string"
BOOLEAN = "boolean"
ARRAY = "array"

# The `limit` descriptions state the bounds in prose; these read them (a spec that words them
# differently fails loudly at load time instead of being guessed at).
_USAGE_LIMIT = re.compile(r"`bucket_width=(\w+)`: default: (\d+), max: (\d+)")
_COSTS_LIMIT = re.compile(r"range between (\d+) and (\d+), and the default is (\d+)")


class SpecError(ValueError):
    """The OpenAPI file does not say something the simulator needs, in a form it reads."""


@attrs.frozen
class ParamDef:
    """One query parameter: its kind, whether it is required, and its allowed values."""

    name: str
    kind: str
    required: bool = False
    enum: tuple[str, ...] | None = None  # of the value, or of each item of an array
    default: Any = None


@attrs.frozen
class EndpointDef:
    """One endpoint as the spec describes it."""

    name: str  # the last path segment: "completions", "costs", ...
    path: str  # as in the spec, without /v1: "/organization/usage/completions"
    result_tag: str  # the `object` of its results
    params: Mapping[str, ParamDef]
    widths: tuple[str, ...]
    default_width: str
    limits: Mapping[str, tuple[int, int]]  # width -> (default, max)
    group_by: tuple[str, ...]
    filters: Mapping[str, str]  # filter parameter -> the result field it selects on
    result_fields: tuple[str, ...]  # the result schema's properties, without `object`
    required_fields: tuple[str, ...]


@attrs.frozen
class ApiSpec:
    """Every endpoint of the spec, and the schemas responses must follow."""

    endpoints: Mapping[str, EndpointDef]  # by name
    by_path: Mapping[str, EndpointDef]  # by spec path
    components: Mapping[str, Any]  # the spec's `components`, for validators


def _param(raw: Mapping[str, Any]) -> ParamDef:
    schema = raw["schema"]
    kind = schema["type"]
    enum = schema.get("enum")
    if kind == ARRAY:
        enum = schema["items"].get("enum")
    return ParamDef(
        name=raw["name"],
        kind=kind,
        required=bool(raw.get("required", False)),
        enum=tuple(enum) if enum is not None else None,
        default=schema.get("default"),
    )


def _limits(param: Mapping[str, Any], widths: tuple[str, ...]) -> dict[str, tuple[int, int]]:
    text = param["description"]
    per_width = {w: (int(d), int(m)) for w, d, m in _USAGE_LIMIT.findall(text)}
    if per_width:
        if set(per_width) != set(widths):
            raise SpecError(f"limit bounds {per_width} do not match bucket widths {widths}")
        return per_width
    match = _COSTS_LIMIT.search(text)
    if match is None or len(widths) != 1 or int(match.group(1)) != 1:
        raise SpecError(f"cannot read the limit bounds from {text!r}")
    return {widths[0]: (int(match.group(3)), int(match.group(2)))}


def _result_tag(operation: Mapping[str, Any]) -> str:
    # The paths all return the shared `UsageResponse`; which result type an endpoint holds is
    # only said by its example response.
    example = json.loads(operation["x-oaiMeta"]["examples"]["response"])
    tags = {r["object"] for bucket in example["data"] for r in bucket["results"]}
    if len(tags) != 1:
        raise SpecError(f"{operation['operationId']}: example results have tags {tags}")
    tag: str = tags.pop()
    return tag


def _result_schema(schemas: Mapping[str, Any], tag: str) -> Mapping[str, Any]:
    for schema in schemas.values():
        tag_enum = schema.get("properties", {}).get("object", {}).get("enum")
        if tag_enum == [tag]:
            found: Mapping[str, Any] = schema
            return found
    raise SpecError(f"no result schema has object tag {tag!r}")


def _endpoint(path: str, operation: Mapping[str, Any], schemas: Mapping[str, Any]) -> EndpointDef:
    raw_params = {p["name"]: p for p in operation["parameters"]}
    params = {name: _param(raw) for name, raw in raw_params.items()}
    width_param = params["bucket_width"]
    widths = width_param.enum or ()
    tag = _result_tag(operation)
    schema = _result_schema(schemas, tag)
    fields = tuple(name for name in schema["properties"] if name != "object")
    group_by = params["group_by"].enum or ()
    filters: dict[str, str] = {}
    for param in params.values():
        if param.name in ("group_by", "page") or param.kind not in (ARRAY, BOOLEAN):
            continue
        # `project_ids` selects on `project_id`, `sizes` on `size`, `batch` on `batch`.
        field = param.name[:-1] if param.kind == ARRAY else param.name
        if field not in fields:
            raise SpecError(f"{path}: filter {param.name} has no result field {field}")
        filters[param.name] = field
    for field in group_by:
        if field not in fields:
            raise SpecError(f"{path}: group_by {field} is not a result field")
    return EndpointDef(
        name=path.rsplit("/", 1)[1],
        path=path,
        result_tag=tag,
        params=MappingProxyType(params),
        widths=tuple(widths),
        default_width=str(width_param.default),
        limits=MappingProxyType(_limits(raw_params["limit"], tuple(widths))),
        group_by=tuple(group_by),
        filters=MappingProxyType(filters),
        result_fields=fields,
        required_fields=tuple(f for f in schema.get("required", ()) if f != "object"),
    )


def parse_spec(document: Mapping[str, Any]) -> ApiSpec:
    """Read the endpoint rows out of an OpenAPI document."""
    schemas = document["components"]["schemas"]
    endpoints = [_endpoint(path, item["get"], schemas) for path, item in document["paths"].items()]
    return ApiSpec(
        endpoints=MappingProxyType({e.name: e for e in endpoints}),
        by_path=MappingProxyType({e.path: e for e in endpoints}),
        components=MappingProxyType(document["components"]),
    )


def read_document() -> dict[str, Any]:
    """The OpenAPI document shipped in ``usage_async/testing/spec/``, freshly parsed."""
    text = resources.files(__package__).joinpath("spec").joinpath(SPEC_FILE).read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


@functools.cache
def load_spec() -> ApiSpec:
    """The shipped spec's endpoint rows, read once on first use (never at import)."""
    return parse_spec(read_document())
