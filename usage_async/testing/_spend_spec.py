"""The simulator's spend endpoints, read from the spend OpenAPI excerpt shipped beside it. Pure.

Paths, path and query parameters, ``limit`` bounds and the response schemas come from
``spec/spend-openapi.json`` (an excerpt of OpenAI's published description, copied unchanged),
never from the client's tables, as for the other endpoints (``_spec.py``, ``_admin_spec.py``).
Two kinds of operation: a spend limit answers with one object; a spend alert list pages by
``after`` like the admin lists.
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

from ._admin_spec import ListDef
from ._spec import SpecError, _param

__all__ = ["LimitDef", "SpendSpec", "load_spend_spec", "parse_spend_spec", "read_spend_document"]

SPEND_SPEC_FILE = "spend-openapi.json"
# The alert lists state their default in prose ("Defaults to 20.") and their bounds in the
# schema (minimum, maximum); a spec that says it otherwise fails loudly at load time.
_DEFAULT = re.compile(r"Defaults to (\d+)\.")


@attrs.frozen
class LimitDef:
    """One spend limit endpoint: its path, path parameters, schema and ``object`` tag."""

    name: str  # "spend_limit" or "project_spend_limit"
    path: str
    path_params: tuple[str, ...]
    schema: str  # "OrganizationSpendLimitResource"
    tag: str  # "organization.spend_limit"


@attrs.frozen
class SpendSpec:
    """The spend limit endpoints and the spend alert lists, and the schemas they follow."""

    limits: Mapping[str, LimitDef]
    alerts: Mapping[str, ListDef]
    components: Mapping[str, Any]


def _ref(schema: Mapping[str, Any]) -> str:
    ref: str = schema["$ref"]
    return ref.rsplit("/", 1)[1]


def _name(path: str) -> str:
    last = path.rsplit("/", 1)[1]
    return f"project_{last}" if "{project_id}" in path else last


def _limit_bounds(param: Mapping[str, Any]) -> tuple[int, int, int]:
    schema = param["schema"]
    match = _DEFAULT.search(param.get("description", ""))
    if match is None or "minimum" not in schema or "maximum" not in schema:
        raise SpecError(f"cannot read the limit bounds of {param!r}")
    return int(schema["minimum"]), int(schema["maximum"]), int(match[1])


def parse_spend_spec(document: Mapping[str, Any]) -> SpendSpec:
    """Read the spend operations out of an OpenAPI document."""
    schemas = document["components"]["schemas"]
    limits: dict[str, LimitDef] = {}
    alerts: dict[str, ListDef] = {}
    for path, item in document["paths"].items():
        operation = item["get"]
        raw = operation.get("parameters", [])
        path_params = tuple(p["name"] for p in raw if p["in"] == "path")
        query = {p["name"]: p for p in raw if p["in"] == "query"}
        responses = operation["responses"]
        schema = _ref(responses["200"]["content"]["application/json"]["schema"])
        properties = schemas[schema]["properties"]
        if "data" not in properties:
            tag = properties["object"]["enum"]
            if len(tag) != 1:
                raise SpecError(f"{schema}: expected one object tag, got {tag}")
            name = _name(path)
            limits[name] = LimitDef(name, path, path_params, schema, str(tag[0]))
            continue
        item_schema = _ref(properties["data"]["items"])
        tag = schemas[item_schema]["properties"]["object"]["enum"]
        if len(tag) != 1 or "after" not in query or "limit" not in query:
            raise SpecError(f"{path}: not a list the simulator pages")
        name = _name(path)
        alerts[name] = ListDef(
            name=name,
            path=path,
            path_params=path_params,
            params=MappingProxyType({n: _param(p) for n, p in query.items()}),
            limit=_limit_bounds(query["limit"]),
            list_schema=schema,
            item_schema=item_schema,
            item_tag=str(tag[0]),
            error_statuses=tuple(int(s) for s in responses if s != "200"),
        )
    return SpendSpec(
        limits=MappingProxyType(limits),
        alerts=MappingProxyType(alerts),
        components=MappingProxyType(document["components"]),
    )


def read_spend_document() -> dict[str, Any]:
    """The spend OpenAPI excerpt shipped in ``usage_async/testing/spec/``, freshly parsed."""
    spec_dir = resources.files(__package__).joinpath("spec")
    document: dict[str, Any] = json.loads(spec_dir.joinpath(SPEND_SPEC_FILE).read_text("utf-8"))
    return document


@functools.cache
def load_spend_spec() -> SpendSpec:
    """The shipped spend excerpt's endpoints, read once on first use (never at import)."""
    return parse_spend_spec(read_spend_document())
