"""Every body the simulator sends validates against the spec's schemas (jsonschema, over HTTP)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from usage_async.testing import ORG_START, Organization
from usage_async.testing._api import GROUP_BY_SINCE
from usage_async.testing._spec import ARRAY, BOOLEAN, load_spec

NOW = 1_736_944_200  # the conftest servers' clock
DAY = 86400
SPEC = load_spec()
ORG = Organization.from_seed(0)
WIDTH_SECONDS = {"1m": 60, "1h": 3600, "1d": DAY}
IDS = {
    "project_ids": [*ORG.projects, "proj_unknown"],
    "user_ids": list(ORG.users),
    "api_key_ids": [k.id for k in ORG.api_keys],
    "vector_store_ids": [s.id for s in ORG.vector_stores],
    "models": ["gpt-4o-2024-08-06", "text-embedding-3-small", "dall-e-3", "tts-1", "whisper-1"],
}

examples = settings(max_examples=50, deadline=None)


def _encode(name: str, values: list[str], style: str) -> list[tuple[str, str]]:
    if style == "brackets":
        return [(f"{name}[]", v) for v in values]
    if style == "comma":
        return [(name, ",".join(values))]
    return [(name, v) for v in values]


@st.composite
def valid_queries(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    endpoint = SPEC.endpoints[draw(st.sampled_from(sorted(SPEC.endpoints)))]
    width = draw(st.sampled_from(endpoint.widths))
    seconds = WIDTH_SECONDS[width]
    start = draw(st.integers(ORG_START - 3 * DAY, NOW + DAY))
    pairs = [("start_time", str(start))]
    if draw(st.booleans()):
        pairs.append(("end_time", str(draw(st.integers(start + 1, start + 60 * seconds)))))
    if width != endpoint.default_width or draw(st.booleans()):
        pairs.append(("bucket_width", width))
    if draw(st.booleans()):
        pairs.append(("limit", str(draw(st.integers(1, endpoint.limits[width][1])))))
    style = draw(st.sampled_from(["repeat", "brackets", "comma"]))
    groups = [
        g
        for g in endpoint.group_by
        # refused before the date it works from (API-NOTES #14; tested in test_fake_directory)
        if start >= GROUP_BY_SINCE.get((endpoint.name, g), start)
    ]
    group_by = draw(st.lists(st.sampled_from(groups), unique=True))
    if group_by:
        pairs += _encode("group_by", group_by, style)
    for name, param in endpoint.params.items():
        if name == "group_by" or param.kind not in (ARRAY, BOOLEAN) or draw(st.integers(0, 3)):
            continue
        if param.kind == BOOLEAN:
            pairs.append((name, draw(st.sampled_from(["true", "false"]))))
            continue
        choices = list(param.enum) if param.enum else IDS[name]
        values = draw(st.lists(st.sampled_from(choices), min_size=1, max_size=3, unique=True))
        pairs += _encode(name, values, style)
    return endpoint.path, pairs


@examples
@given(query=valid_queries())
def test_every_page_validates_against_the_spec_and_holds_the_endpoints_results(
    get: Any, validate_page: Any, query: tuple[str, list[tuple[str, str]]]
) -> None:
    path, pairs = query
    tag = SPEC.by_path[path].result_tag
    status, _, body = get(path, pairs)
    assert status == 200, body
    for page in range(2):
        validate_page(body)
        assert all(r["object"] == tag for b in body["data"] for r in b["results"])
        if not body["has_more"]:
            assert body["next_page"] is None
            break
        assert isinstance(body["next_page"], str)
        if page == 0:
            status, _, body = get(path, [*pairs, ("page", body["next_page"])])
            assert status == 200, body


INVALID = [
    ("start_time", lambda pairs: [p for p in pairs if p[0] != "start_time"]),
    ("start_time", lambda pairs: [("start_time", "-5"), *pairs[1:]]),
    ("start_time", lambda pairs: [("start_time", "soon"), *pairs[1:]]),
    ("end_time", lambda pairs: [*pairs, ("end_time", pairs[0][1])]),
    ("bucket_width", lambda pairs: [*pairs, ("bucket_width", "2h")]),
    ("group_by", lambda pairs: [*pairs, ("group_by[]", "organization")]),
    ("limit", lambda pairs: [*pairs, ("limit", "0")]),
    ("limit", lambda pairs: [*pairs, ("limit", "181")]),
    (None, lambda pairs: [*pairs, ("page", "page_AAAAAGk9P4XXKcmpAAAAAGWDgAA=")]),
]


@examples
@given(
    endpoint=st.sampled_from(sorted(SPEC.endpoints)),
    case=st.sampled_from(INVALID),
    start=st.integers(ORG_START, NOW),
)
def test_every_refused_query_gets_a_400_that_validates_against_the_spec(
    get: Any, validate_error: Any, endpoint: str, case: Any, start: int
) -> None:
    param, spoil = case
    status, headers, body = get(SPEC.endpoints[endpoint].path, spoil([("start_time", str(start))]))
    assert status == 400
    validate_error(body)
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["param"] == param
    assert headers["x-request-id"].startswith("req_")


def test_error_bodies_of_other_statuses_validate_against_the_spec(
    get: Any, validate_error: Any
) -> None:
    for status, body in (
        get("/organization/costs", [("start_time", "0")], key="sk-admin-wrong")[::2],
        get("/organization/nothing-here")[::2],
    ):
        assert status in (401, 404)
        validate_error(body)
