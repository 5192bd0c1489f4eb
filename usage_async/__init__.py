"""usage_async: an asyncio client for OpenAI's organization Usage and Costs API.

Every endpoint is a stream of buckets: ``await client.costs(...)`` for one page,
``client.costs.pages(...)``/``.buckets(...)`` to follow every cursor, ``.collect(...)`` for
all buckets as a list.
"""

import logging

from ._endpoints import ENDPOINTS, EndpointSpec
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
from ._version import __version__
from .client import DEFAULT_BASE_URL, Endpoint, UsageClient
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
from .models import (
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
    ModerationsResult,
    Page,
    Result,
    UnknownResult,
    VectorStoresResult,
    WebSearchCallsResult,
)
from .retry import RetryPolicy

# A library's logger gets a NullHandler (the logging HOWTO, "Configuring Logging for a
# Library"): in an app that set up no logging, retries are not printed to stderr.
logging.getLogger("usage_async").addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_BASE_URL",
    "ENDPOINTS",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "Amount",
    "AudioSpeechesParams",
    "AudioSpeechesResult",
    "AudioTranscriptionsParams",
    "AudioTranscriptionsResult",
    "AuthenticationError",
    "BadRequestError",
    "Bucket",
    "ClientClosedError",
    "CodeInterpreterSessionsParams",
    "CodeInterpreterSessionsResult",
    "CompletionsParams",
    "CompletionsResult",
    "ConfigurationError",
    "ConflictError",
    "CostsParams",
    "CostsResult",
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
    "ModerationsParams",
    "ModerationsResult",
    "NotFoundError",
    "Page",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "Result",
    "RetryPolicy",
    "Row",
    "TimeLike",
    "UnknownResult",
    "UnprocessableEntityError",
    "UsageClient",
    "UsageError",
    "VectorStoresParams",
    "VectorStoresResult",
    "WebSearchCallsParams",
    "WebSearchCallsResult",
    "__version__",
    "arows",
    "columns",
    "rows",
]
