"""The simulator reads its endpoints from the shipped spec, and refuses one it cannot serve."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from usage_async.testing._spec import SpecError, load_spec, parse_spec
from usage_async.testing._state import UsageState

USAGE_ENDPOINTS = {
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "file_search_calls",
    "web_search_calls",
}


def test_all_eleven_endpoints_of_the_spec_are_read() -> None:
    spec = load_spec()
    assert set(spec.endpoints) == USAGE_ENDPOINTS | {"costs"}
    assert spec.endpoints["costs"].path == "/organization/costs"
    assert spec.endpoints["images"].path == "/organization/usage/images"


def test_the_endpoint_rows_match_the_spec_document(spec_document: dict[str, Any]) -> None:
    spec = load_spec()
    for path, item in spec_document["paths"].items():
        endpoint = spec.by_path[path]
        names = [p["name"] for p in item["get"]["parameters"]]
        assert list(endpoint.params) == names
        group_by = next(p for p in item["get"]["parameters"] if p["name"] == "group_by")
        assert endpoint.group_by == tuple(group_by["schema"]["items"]["enum"])


def test_result_tags_come_from_the_spec_including_the_irregular_ones() -> None:
    spec = load_spec()
    assert (
        spec.endpoints["file_search_calls"].result_tag == "organization.usage.file_searches.result"
    )
    assert spec.endpoints["web_search_calls"].result_tag == "organization.usage.web_searches.result"
    assert spec.endpoints["costs"].result_tag == "organization.costs.result"


def test_limit_defaults_and_maxima_are_read_from_the_spec_descriptions() -> None:
    spec = load_spec()
    assert dict(spec.endpoints["completions"].limits) == {
        "1d": (7, 31),
        "1h": (24, 168),
        "1m": (60, 1440),
    }
    assert dict(spec.endpoints["costs"].limits) == {"1d": (7, 180)}


def test_filters_select_on_the_result_field_of_the_same_name() -> None:
    images = load_spec().endpoints["images"]
    assert dict(images.filters) == {
        "sources": "source",
        "sizes": "size",
        "project_ids": "project_id",
        "user_ids": "user_id",
        "api_key_ids": "api_key_id",
        "models": "model",
    }
    assert load_spec().endpoints["completions"].filters["batch"] == "batch"


def test_a_limit_description_it_cannot_read_fails_loudly(spec_document: dict[str, Any]) -> None:
    document = copy.deepcopy(spec_document)
    limit = next(
        p
        for p in document["paths"]["/organization/costs"]["get"]["parameters"]
        if p["name"] == "limit"
    )
    limit["description"] = "Some buckets."
    with pytest.raises(SpecError, match="limit bounds"):
        parse_spec(document)


def test_a_result_field_the_simulator_does_not_make_is_refused(
    spec_document: dict[str, Any],
) -> None:
    document = copy.deepcopy(spec_document)
    schema = document["components"]["schemas"]["UsageEmbeddingsResult"]
    schema["properties"]["input_audio_tokens"] = {"type": "integer"}
    with pytest.raises(SpecError, match="input_audio_tokens"):
        UsageState(spec=parse_spec(document))


def test_an_endpoint_the_simulator_does_not_know_is_refused(
    spec_document: dict[str, Any],
) -> None:
    document = copy.deepcopy(spec_document)
    document["paths"]["/organization/usage/decisions"] = document["paths"][
        "/organization/usage/moderations"
    ]
    with pytest.raises(SpecError, match="decisions"):
        UsageState(spec=parse_spec(document))
