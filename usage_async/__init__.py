"""usage_async: an asyncio client for OpenAI's organization Usage and Costs API.

Every endpoint is a stream of buckets: ``await client.costs(...)`` for one page,
``client.costs.pages(...)``/``.buckets(...)`` to follow every cursor, ``.collect(...)`` for
all buckets as a list.

Names are imported when first used (PEP 562), so that ``import usage_async`` (and the
``usage-async`` command's start-up, which Ctrl-C may interrupt) costs only what is used.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ConfigurationError,
    ConflictError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    UnprocessableEntityError,
    UsageError,
)

if TYPE_CHECKING:
    from ._endpoints import ENDPOINTS, EndpointSpec
    from ._lists import LISTS, ListSpec
    from ._params import (
        AudioSpeechesParams,
        AudioTranscriptionsParams,
        CodeInterpreterSessionsParams,
        CompletionsParams,
        CostsParams,
        EmbeddingsParams,
        FileSearchCallsParams,
        ImagesParams,
        ModerationsParams,
        TimeLike,
        VectorStoresParams,
        WebSearchCallsParams,
    )
    from ._rows import Row, arows, columns, rows
    from .client import DEFAULT_BASE_URL, Endpoint, ListEndpoint, UsageClient
    from .directory import Directory, Name, Owner, load_directory
    from .keycheck import Check, KeyCheck, check_key
    from .models import (
        AdminApiKey,
        AdminApiKeyOwner,
        Amount,
        AudioSpeechesResult,
        AudioTranscriptionsResult,
        Bucket,
        CodeInterpreterSessionsResult,
        CompletionsResult,
        CostsResult,
        EmbeddingsResult,
        FileSearchCallsResult,
        ImagesResult,
        ListPage,
        ModerationsResult,
        Page,
        Project,
        ProjectApiKey,
        ProjectApiKeyOwner,
        ProjectApiKeyOwnerServiceAccount,
        ProjectApiKeyOwnerUser,
        ProjectServiceAccount,
        Result,
        UnknownResult,
        User,
        VectorStoresResult,
        WebSearchCallsResult,
    )
    from .retry import RetryPolicy

# Name -> the module it comes from, imported on first use.
_LAZY: dict[str, str] = {
    "ENDPOINTS": "._endpoints",
    "EndpointSpec": "._endpoints",
    "LISTS": "._lists",
    "ListSpec": "._lists",
    "AudioSpeechesParams": "._params",
    "AudioTranscriptionsParams": "._params",
    "CodeInterpreterSessionsParams": "._params",
    "CompletionsParams": "._params",
    "CostsParams": "._params",
    "EmbeddingsParams": "._params",
    "FileSearchCallsParams": "._params",
    "ImagesParams": "._params",
    "ModerationsParams": "._params",
    "TimeLike": "._params",
    "VectorStoresParams": "._params",
    "WebSearchCallsParams": "._params",
    "Row": "._rows",
    "arows": "._rows",
    "columns": "._rows",
    "rows": "._rows",
    "DEFAULT_BASE_URL": ".client",
    "Endpoint": ".client",
    "ListEndpoint": ".client",
    "UsageClient": ".client",
    "Directory": ".directory",
    "Name": ".directory",
    "Owner": ".directory",
    "load_directory": ".directory",
    "Check": ".keycheck",
    "KeyCheck": ".keycheck",
    "check_key": ".keycheck",
    "AdminApiKey": ".models",
    "AdminApiKeyOwner": ".models",
    "Amount": ".models",
    "AudioSpeechesResult": ".models",
    "AudioTranscriptionsResult": ".models",
    "Bucket": ".models",
    "CodeInterpreterSessionsResult": ".models",
    "CompletionsResult": ".models",
    "CostsResult": ".models",
    "EmbeddingsResult": ".models",
    "FileSearchCallsResult": ".models",
    "ImagesResult": ".models",
    "ListPage": ".models",
    "ModerationsResult": ".models",
    "Page": ".models",
    "Project": ".models",
    "ProjectApiKey": ".models",
    "ProjectApiKeyOwner": ".models",
    "ProjectApiKeyOwnerServiceAccount": ".models",
    "ProjectApiKeyOwnerUser": ".models",
    "ProjectServiceAccount": ".models",
    "Result": ".models",
    "UnknownResult": ".models",
    "User": ".models",
    "VectorStoresResult": ".models",
    "WebSearchCallsResult": ".models",
    "RetryPolicy": ".retry",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


# A library's logger gets a NullHandler (the logging HOWTO, "Configuring Logging for a
# Library"): in an app that set up no logging, retries are not printed to stderr.
logging.getLogger("usage_async").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "LISTS",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AdminApiKey",
    "AdminApiKeyOwner",
    "Amount",
    "AudioSpeechesParams",
    "AudioSpeechesResult",
    "AudioTranscriptionsParams",
    "AudioTranscriptionsResult",
    "AuthenticationError",
    "BadRequestError",
    "Bucket",
    "Check",
    "ClientClosedError",
    "CodeInterpreterSessionsParams",
    "CodeInterpreterSessionsResult",
    "CompletionsParams",
    "CompletionsResult",
    "ConfigurationError",
    "ConflictError",
    "CostsParams",
    "CostsResult",
    "Directory",
    "EmbeddingsParams",
    "EmbeddingsResult",
    "Endpoint",
    "EndpointSpec",
    "FileSearchCallsParams",
    "FileSearchCallsResult",
    "ImagesParams",
    "ImagesResult",
    "InternalServerError",
    "InvalidParameterError",
    "KeyCheck",
    "ListEndpoint",
    "ListPage",
    "ListSpec",
    "ModerationsParams",
    "ModerationsResult",
    "Name",
    "NotFoundError",
    "Owner",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "Project",
    "ProjectApiKey",
    "ProjectApiKeyOwner",
    "ProjectApiKeyOwnerServiceAccount",
    "ProjectApiKeyOwnerUser",
    "ProjectServiceAccount",
    "RateLimitError",
    "Result",
    "RetryPolicy",
    "Row",
    "TimeLike",
    "UnknownResult",
    "UnprocessableEntityError",
    "UsageClient",
    "UsageError",
    "User",
    "VectorStoresParams",
    "VectorStoresResult",
    "WebSearchCallsParams",
    "WebSearchCallsResult",
    "__version__",
    "arows",
    "check_key",
    "columns",
    "load_directory",
    "rows",
]
