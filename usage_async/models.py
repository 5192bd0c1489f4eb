"""The typed values a stream hands out: pages, buckets and one result class per ``object`` tag.

Plain frozen, slotted attrs classes, named and shaped as in OpenAI's OpenAPI description of
the Usage and Costs API. They know nothing about JSON: every parsing rule lives on the
private converter in ``_convert.py``. Times are int Unix seconds (UTC), as in the API; money
and other fractional quantities are :class:`decimal.Decimal`.

A field the spec marks as required has no default; any other field is None when the API
left it out (for example ``project_id`` unless the query grouped by ``project_id``). Result
classes have no ``__weakref__`` slot: without it, the converter can build them at the cost
of plain attribute stores (see ``_convert._builder_class``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar, Generic, TypeVar

import attrs

__all__ = [
    "Amount",
    "AudioSpeechesResult",
    "AudioTranscriptionsResult",
    "Bucket",
    "CodeInterpreterSessionsResult",
    "CompletionsResult",
    "CostsResult",
    "EmbeddingsResult",
    "FileSearchCallsResult",
    "ImagesResult",
    "ModerationsResult",
    "Page",
    "Result",
    "UnknownResult",
    "VectorStoresResult",
    "WebSearchCallsResult",
]


@attrs.frozen(kw_only=True, weakref_slot=False)
class CompletionsResult:
    """Completions usage of one bucket (and one group, when grouped)."""

    object: ClassVar[str] = "organization.usage.completions.result"
    input_tokens: int
    output_tokens: int
    num_model_requests: int
    input_cached_tokens: int | None = None
    input_cache_write_tokens: int | None = None
    input_uncached_tokens: int | None = None
    input_text_tokens: int | None = None
    output_text_tokens: int | None = None
    input_cached_text_tokens: int | None = None
    input_audio_tokens: int | None = None
    input_cached_audio_tokens: int | None = None
    output_audio_tokens: int | None = None
    input_image_tokens: int | None = None
    input_cached_image_tokens: int | None = None
    output_image_tokens: int | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    batch: bool | None = None
    service_tier: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class EmbeddingsResult:
    """Embeddings usage of one bucket."""

    object: ClassVar[str] = "organization.usage.embeddings.result"
    input_tokens: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class ModerationsResult:
    """Moderations usage of one bucket."""

    object: ClassVar[str] = "organization.usage.moderations.result"
    input_tokens: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class ImagesResult:
    """Images usage of one bucket."""

    object: ClassVar[str] = "organization.usage.images.result"
    images: int
    num_model_requests: int
    source: str | None = None
    size: str | None = None
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class AudioSpeechesResult:
    """Audio speeches (text to speech) usage of one bucket."""

    object: ClassVar[str] = "organization.usage.audio_speeches.result"
    characters: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class AudioTranscriptionsResult:
    """Audio transcriptions usage of one bucket."""

    object: ClassVar[str] = "organization.usage.audio_transcriptions.result"
    seconds: int
    num_model_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class VectorStoresResult:
    """Vector stores storage of one bucket: a gauge (bytes stored), not a counter."""

    object: ClassVar[str] = "organization.usage.vector_stores.result"
    usage_bytes: int
    project_id: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class CodeInterpreterSessionsResult:
    """Code interpreter sessions of one bucket."""

    object: ClassVar[str] = "organization.usage.code_interpreter_sessions.result"
    num_sessions: int
    project_id: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class FileSearchCallsResult:
    """File search tool calls of one bucket."""

    object: ClassVar[str] = "organization.usage.file_searches.result"
    num_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    vector_store_id: str | None = None


@attrs.frozen(kw_only=True, weakref_slot=False)
class WebSearchCallsResult:
    """Web search tool calls of one bucket."""

    object: ClassVar[str] = "organization.usage.web_searches.result"
    num_model_requests: int
    num_requests: int
    project_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    context_level: str | None = None


@attrs.frozen
class Amount:
    """A sum of money: an exact Decimal and a lowercase ISO 4217 currency (``"usd"``)."""

    value: Decimal
    currency: str


@attrs.frozen(kw_only=True, weakref_slot=False)
class CostsResult:
    """Spend of one bucket (and one project, line item or API key, when grouped).

    ``line_item`` is kept verbatim (for example ``"gpt-4o, input"``); Costs, not the usage
    endpoints, is the financial source of truth.
    """

    object: ClassVar[str] = "organization.costs.result"
    amount: Amount | None = None
    line_item: str | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None


@attrs.frozen
class UnknownResult:
    """A result the client could not type: an unknown ``object`` tag, or a known tag whose
    values do not fit its class. ``data`` is the raw JSON object, untouched."""

    object: str | None
    data: dict[str, Any]


Result = (
    CompletionsResult
    | EmbeddingsResult
    | ModerationsResult
    | ImagesResult
    | AudioSpeechesResult
    | AudioTranscriptionsResult
    | VectorStoresResult
    | CodeInterpreterSessionsResult
    | FileSearchCallsResult
    | WebSearchCallsResult
    | CostsResult
    | UnknownResult
)
"""Any result a bucket can hold."""

R = TypeVar("R")


@attrs.frozen
class Bucket(Generic[R]):
    """One time bucket: ``[start_time, end_time)`` in Unix seconds, and its results
    (one per group; empty when nothing was used)."""

    object: ClassVar[str] = "bucket"
    start_time: int
    end_time: int
    results: list[R]


@attrs.frozen
class Page(Generic[R]):
    """One response of the API: its buckets, and the cursor to the next page."""

    object: ClassVar[str] = "page"
    data: list[Bucket[R]]
    has_more: bool
    next_page: str | None
