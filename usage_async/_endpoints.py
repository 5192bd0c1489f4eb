"""The table of endpoints: one row each, data only.

Every row follows OpenAI's OpenAPI description of the Usage and Costs API
(``usage_async/testing/spec/usage-openapi.json``); ``tests/test_endpoints.py`` checks the
table against that file, so a new endpoint or enum value is a new row or a new string here.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import attrs

from . import models

# Per-request bucket limits, (default, max) by bucket width: the spec's `limit` description
# and API-NOTES #3.
USAGE_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType(
    {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
)
COSTS_LIMITS: Mapping[str, tuple[int, int]] = MappingProxyType({"1d": (7, 180)})
COSTS_PAGE_BUCKETS = 31  # a Costs page holds at most this many, whatever its limit: API-NOTES #13
DEFAULT_BUCKET_WIDTH = "1d"
WIDTH_SECONDS: Mapping[str, int] = MappingProxyType({"1m": 60, "1h": 3600, "1d": 86400})


def floor_to_width(seconds: int, width: str) -> int:
    """``seconds`` floored to the UTC boundary of a bucket of ``width`` (bucket grids are UTC)."""
    return seconds - seconds % WIDTH_SECONDS[width]


# Kinds of query parameter, which decide how a value is checked and sent.
TIME = "time"  # int Unix seconds, aware datetime, or date
WIDTH = "width"  # one of the row's bucket widths
INT = "int"  # limit
STR = "str"  # page
BOOL = "bool"  # batch
STR_LIST = "str_list"  # ids and model names: any strings
ENUM_LIST = "enum_list"  # group_by, sizes, sources, context_levels: the spec's enum

_ID_FILTERS = ("project_ids", "user_ids", "api_key_ids")
_USAGE_GROUPS = ("project_id", "user_id", "api_key_id", "model")


@attrs.frozen
class EndpointSpec:
    """One endpoint: where it lives, what it returns, and which query parameters it takes."""

    name: str
    path: str
    result_type: type
    group_by: tuple[str, ...]
    id_filters: tuple[str, ...] = ()
    enum_filters: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    bool_filters: tuple[str, ...] = ()
    limits: Mapping[str, tuple[int, int]] = USAGE_LIMITS
    page_buckets: int | None = None  # the most buckets a page holds, whatever its limit
    # Prepared once from the fields above: parameter name -> kind, in the order sent.
    params: Mapping[str, str] = attrs.field(init=False)
    enums: Mapping[str, tuple[str, ...]] = attrs.field(init=False)

    @params.default
    def _params(self) -> Mapping[str, str]:
        params = {"start_time": TIME, "end_time": TIME, "bucket_width": WIDTH}
        params.update(dict.fromkeys(self.id_filters, STR_LIST))
        params.update(dict.fromkeys(self.bool_filters, BOOL))
        params.update(dict.fromkeys(self.enum_filters, ENUM_LIST))
        params.update({"group_by": ENUM_LIST, "limit": INT, "page": STR})
        return MappingProxyType(params)

    @enums.default
    def _enums(self) -> Mapping[str, tuple[str, ...]]:
        return MappingProxyType({**self.enum_filters, "group_by": self.group_by})

    def buckets_per_page(self, limit: int) -> int:
        """How many buckets a full page of ``limit`` holds: ``limit``, or less where the API
        answers fewer whatever the limit (Costs: 31, API-NOTES #13)."""
        return limit if self.page_buckets is None else min(limit, self.page_buckets)

    @property
    def bucket_widths(self) -> tuple[str, ...]:
        """The widths this endpoint accepts for ``bucket_width``."""
        return tuple(self.limits)

    @property
    def result_tag(self) -> str:
        """The ``object`` tag of this endpoint's results."""
        tag: str = self.result_type.object  # type: ignore[attr-defined]
        return tag


ENDPOINTS: Mapping[str, EndpointSpec] = MappingProxyType(
    {
        row.name: row
        for row in (
            EndpointSpec(
                name="completions",
                path="/organization/usage/completions",
                result_type=models.CompletionsResult,
                id_filters=(*_ID_FILTERS, "models"),
                bool_filters=("batch",),
                group_by=(*_USAGE_GROUPS, "batch", "service_tier"),
            ),
            EndpointSpec(
                name="embeddings",
                path="/organization/usage/embeddings",
                result_type=models.EmbeddingsResult,
                id_filters=(*_ID_FILTERS, "models"),
                group_by=_USAGE_GROUPS,
            ),
            EndpointSpec(
                name="moderations",
                path="/organization/usage/moderations",
                result_type=models.ModerationsResult,
                id_filters=(*_ID_FILTERS, "models"),
                group_by=_USAGE_GROUPS,
            ),
            EndpointSpec(
                name="images",
                path="/organization/usage/images",
                result_type=models.ImagesResult,
                id_filters=(*_ID_FILTERS, "models"),
                enum_filters={
                    "sources": ("image.generation", "image.edit", "image.variation"),
                    "sizes": ("256x256", "512x512", "1024x1024", "1792x1792", "1024x1792"),
                },
                group_by=(*_USAGE_GROUPS, "size", "source"),
            ),
            EndpointSpec(
                name="audio_speeches",
                path="/organization/usage/audio_speeches",
                result_type=models.AudioSpeechesResult,
                id_filters=(*_ID_FILTERS, "models"),
                group_by=_USAGE_GROUPS,
            ),
            EndpointSpec(
                name="audio_transcriptions",
                path="/organization/usage/audio_transcriptions",
                result_type=models.AudioTranscriptionsResult,
                id_filters=(*_ID_FILTERS, "models"),
                group_by=_USAGE_GROUPS,
            ),
            EndpointSpec(
                name="vector_stores",
                path="/organization/usage/vector_stores",
                result_type=models.VectorStoresResult,
                id_filters=("project_ids",),
                group_by=("project_id",),
            ),
            EndpointSpec(
                name="code_interpreter_sessions",
                path="/organization/usage/code_interpreter_sessions",
                result_type=models.CodeInterpreterSessionsResult,
                id_filters=("project_ids",),
                group_by=("project_id",),
            ),
            EndpointSpec(
                name="file_search_calls",
                path="/organization/usage/file_search_calls",
                result_type=models.FileSearchCallsResult,
                id_filters=(*_ID_FILTERS, "vector_store_ids"),
                group_by=("project_id", "user_id", "api_key_id", "vector_store_id"),
            ),
            EndpointSpec(
                name="web_search_calls",
                path="/organization/usage/web_search_calls",
                result_type=models.WebSearchCallsResult,
                id_filters=(*_ID_FILTERS, "models"),
                enum_filters={"context_levels": ("low", "medium", "high")},
                group_by=(*_USAGE_GROUPS, "context_level"),
            ),
            EndpointSpec(
                name="costs",
                path="/organization/costs",
                result_type=models.CostsResult,
                id_filters=("project_ids", "api_key_ids"),
                group_by=("project_id", "line_item", "api_key_id"),
                limits=COSTS_LIMITS,
                page_buckets=COSTS_PAGE_BUCKETS,
            ),
        )
    }
)
"""Every endpoint, by the name of its ``UsageClient`` attribute."""
