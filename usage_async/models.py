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


# -- the organization's directory: what the admin list endpoints return -------------------
# Named and shaped as in OpenAI's admin spec (usage_async/testing/spec/admin-openapi.json):
# the usage endpoints report ids, these name them. A field the spec requires has no default.

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Project:
    """A project of the organization: ``status`` is ``"active"`` or ``"archived"`` (then
    ``archived_at`` says since when; archived projects are listed only when asked for)."""

    object: ClassVar[str] = "organization.project"
    id: str
    created_at: int
    name: str | None = None
    archived_at: int | None = None
    status: str | None = None


@attrs.frozen(kw_only=True)
class User:
    """A member of the organization; ``role`` is ``"owner"`` or ``"reader"``."""

    object: ClassVar[str] = "organization.user"
    id: str
    added_at: int
    name: str | None = None
    email: str | None = None
    role: str | None = None


@attrs.frozen(kw_only=True)
class ProjectApiKeyOwnerUser:
    """The user who owns a project API key, with their role in that project."""

    id: str
    name: str
    email: str
    role: str
    created_at: int


@attrs.frozen(kw_only=True)
class ProjectApiKeyOwnerServiceAccount:
    """The project service account that owns a project API key."""

    id: str
    name: str
    role: str
    created_at: int


@attrs.frozen(kw_only=True)
class ProjectApiKeyOwner:
    """Who owns a project API key: ``type`` ``"user"`` (then ``user`` is set) or
    ``"service_account"`` (then ``service_account`` is)."""

    type: str | None = None
    user: ProjectApiKeyOwnerUser | None = None
    service_account: ProjectApiKeyOwnerServiceAccount | None = None


@attrs.frozen(kw_only=True)
class ProjectApiKey:
    """An API key of a project: its name, its redacted value (never the key) and its owner.

    ``owner_project_access`` (``"active"`` or ``"inactive"``: whether the owner still has
    access to the project) is required by the spec but is a recent field, so it may be None.
    """

    object: ClassVar[str] = "organization.project.api_key"
    id: str
    name: str
    redacted_value: str
    created_at: int
    last_used_at: int | None
    owner: ProjectApiKeyOwner
    owner_project_access: str | None = None


@attrs.frozen(kw_only=True)
class ProjectServiceAccount:
    """A service account of a project; ``role`` is ``"owner"``, ``"member"`` or ``"none"``."""

    object: ClassVar[str] = "organization.project.service_account"
    id: str
    name: str
    role: str
    created_at: int


@attrs.frozen(kw_only=True)
class AdminApiKeyOwner:
    """Who owns an admin API key (the spec requires none of these fields)."""

    type: str | None = None
    object: str | None = None
    id: str | None = None
    name: str | None = None
    created_at: int | None = None
    role: str | None = None


@attrs.frozen(kw_only=True)
class AdminApiKey:
    """An admin API key of the organization: its name, redacted value (never the key), owner."""

    object: ClassVar[str] = "organization.admin_api_key"
    id: str
    redacted_value: str
    created_at: int
    expires_at: int | None
    owner: AdminApiKeyOwner
    name: str | None = None
    last_used_at: int | None = None


@attrs.frozen
class ListPage(Generic[T]):
    """One response of an admin list endpoint: its objects, the ids of the first and last,
    and whether more follow (ask again with ``after=last_id``)."""

    object: ClassVar[str] = "list"
    data: list[T]
    first_id: str | None
    last_id: str | None
    has_more: bool


__all__ += [
    "AdminApiKey",
    "AdminApiKeyOwner",
    "ListPage",
    "Project",
    "ProjectApiKey",
    "ProjectApiKeyOwner",
    "ProjectApiKeyOwnerServiceAccount",
    "ProjectApiKeyOwnerUser",
    "ProjectServiceAccount",
    "User",
]


# -- spend limits and alerts: what the admin spend endpoints return -------------------------
# Named and shaped as in OpenAI's admin spec (usage_async/testing/spec/spend-openapi.json).
# Amounts come in cents (an integer, ``threshold_amount``), monthly, in USD (API-NOTES #20);
# ``threshold`` is the same amount in dollars, converted exactly.


def cents_to_dollars(cents: int) -> Decimal:
    """An integer number of cents as exact dollars: ``10000`` -> ``Decimal("100.00")``."""
    return Decimal(cents).scaleb(-2)


@attrs.frozen(kw_only=True)
class SpendLimitEnforcement:
    """Whether a hard spend limit is enforced now: ``status`` ``"enforcing"`` or
    ``"inactive"`` (other values are kept as sent)."""

    status: str


@attrs.frozen(kw_only=True)
class SpendLimit:
    """A hard spend limit: ``threshold_amount`` cents a ``interval`` (``"month"``) in
    ``currency`` (``"USD"``); ``threshold`` is that amount in dollars (exact)."""

    threshold_amount: int
    currency: str
    interval: str
    enforcement: SpendLimitEnforcement
    threshold: Decimal = attrs.field(init=False)

    @threshold.default
    def _threshold(self) -> Decimal:
        return cents_to_dollars(self.threshold_amount)


@attrs.frozen(kw_only=True)
class OrganizationSpendLimit(SpendLimit):
    """The organization's hard spend limit (``/organization/spend_limit``)."""

    object: ClassVar[str] = "organization.spend_limit"


@attrs.frozen(kw_only=True)
class ProjectSpendLimit(SpendLimit):
    """A project's hard spend limit (``/organization/projects/{id}/spend_limit``)."""

    object: ClassVar[str] = "project.spend_limit"


@attrs.frozen(kw_only=True)
class SpendAlertNotificationChannel:
    """Where a spend alert is sent: ``type`` ``"email"``, its recipients, and an optional
    subject prefix."""

    type: str
    recipients: list[str]
    subject_prefix: str | None = None


@attrs.frozen(kw_only=True)
class SpendAlert:
    """A spend alert: notify ``notification_channel`` when spend reaches
    ``threshold_amount`` cents a ``interval`` (``"month"``); ``threshold`` is that amount in
    dollars (exact)."""

    id: str
    threshold_amount: int
    currency: str
    interval: str
    notification_channel: SpendAlertNotificationChannel
    threshold: Decimal = attrs.field(init=False)

    @threshold.default
    def _threshold(self) -> Decimal:
        return cents_to_dollars(self.threshold_amount)


@attrs.frozen(kw_only=True)
class OrganizationSpendAlert(SpendAlert):
    """A spend alert of the organization (``/organization/spend_alerts``)."""

    object: ClassVar[str] = "organization.spend_alert"


@attrs.frozen(kw_only=True)
class ProjectSpendAlert(SpendAlert):
    """A spend alert of one project (``/organization/projects/{id}/spend_alerts``)."""

    object: ClassVar[str] = "project.spend_alert"


__all__ += [
    "OrganizationSpendAlert",
    "OrganizationSpendLimit",
    "ProjectSpendAlert",
    "ProjectSpendLimit",
    "SpendAlert",
    "SpendAlertNotificationChannel",
    "SpendLimit",
    "SpendLimitEnforcement",
    "cents_to_dollars",
]
