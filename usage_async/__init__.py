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
    from .client import DEFAULT_BASE_URL, Endpoint, UsageClient
    from .errors import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
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

# Name -> the module it comes from, imported on first use.
_LAZY: dict[str, str] = {
    "ENDPOINTS": "._endpoints",
    "EndpointSpec": "._endpoints",
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
    "UsageClient": ".client",
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
    "ModerationsResult": ".models",
    "Page": ".models",
    "Result": ".models",
    "UnknownResult": ".models",
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

# -- the organization's directory: admin list endpoints, names for ids, the key check -----

if TYPE_CHECKING:
    from ._lists import LISTS, ListSpec
    from .client import ListEndpoint
    from .directory import Directory, Name, Owner, load_directory
    from .keycheck import Check, KeyCheck, check_key
    from .models import (
        AdminApiKey,
        AdminApiKeyOwner,
        ListPage,
        Project,
        ProjectApiKey,
        ProjectApiKeyOwner,
        ProjectApiKeyOwnerServiceAccount,
        ProjectApiKeyOwnerUser,
        ProjectServiceAccount,
        User,
    )

_DIRECTORY_NAMES: dict[str, str] = {
    "LISTS": "._lists",
    "ListSpec": "._lists",
    "ListEndpoint": ".client",
    "Directory": ".directory",
    "Name": ".directory",
    "Owner": ".directory",
    "load_directory": ".directory",
    "Check": ".keycheck",
    "KeyCheck": ".keycheck",
    "check_key": ".keycheck",
    "AdminApiKey": ".models",
    "AdminApiKeyOwner": ".models",
    "ListPage": ".models",
    "Project": ".models",
    "ProjectApiKey": ".models",
    "ProjectApiKeyOwner": ".models",
    "ProjectApiKeyOwnerServiceAccount": ".models",
    "ProjectApiKeyOwnerUser": ".models",
    "ProjectServiceAccount": ".models",
    "User": ".models",
}
_LAZY.update(_DIRECTORY_NAMES)
__all__ += [
    "LISTS",
    "AdminApiKey",
    "AdminApiKeyOwner",
    "Check",
    "Directory",
    "KeyCheck",
    "ListEndpoint",
    "ListPage",
    "ListSpec",
    "Name",
    "Owner",
    "Project",
    "ProjectApiKey",
    "ProjectApiKeyOwner",
    "ProjectApiKeyOwnerServiceAccount",
    "ProjectApiKeyOwnerUser",
    "ProjectServiceAccount",
    "User",
    "check_key",
    "load_directory",
]

# -- money a finance team can use: cost by model, grouping, local days, periods, budgets,
# reconciliation; spend limits and alerts ---------------------------------------------------

if TYPE_CHECKING:
    from .budgets import (
        BudgetLine,
        BudgetReport,
        BudgetSettings,
        Projection,
        budget_report,
        load_budget_settings,
    )
    from .line_items import LineItem, parse_line_item
    from .localtime import LocalDayBucket, load_zone, rebucket
    from .models import (
        OrganizationSpendAlert,
        OrganizationSpendLimit,
        ProjectSpendAlert,
        ProjectSpendLimit,
        SpendAlert,
        SpendAlertNotificationChannel,
        SpendLimit,
        SpendLimitEnforcement,
    )
    from .periods import Change, Comparison, Period, compare, period, previous
    from .prices import Price, PriceTable, load_prices
    from .reconcile import Estimate, ReconcileReport, Thresholds
    from .spend import SpendTable, SpendTableRow, group_spend

_MONEY_NAMES: dict[str, str] = {
    "BudgetLine": ".budgets",
    "BudgetReport": ".budgets",
    "BudgetSettings": ".budgets",
    "Projection": ".budgets",
    "budget_report": ".budgets",
    "load_budget_settings": ".budgets",
    "LineItem": ".line_items",
    "parse_line_item": ".line_items",
    "LocalDayBucket": ".localtime",
    "load_zone": ".localtime",
    "rebucket": ".localtime",
    "OrganizationSpendAlert": ".models",
    "OrganizationSpendLimit": ".models",
    "ProjectSpendAlert": ".models",
    "ProjectSpendLimit": ".models",
    "SpendAlert": ".models",
    "SpendAlertNotificationChannel": ".models",
    "SpendLimit": ".models",
    "SpendLimitEnforcement": ".models",
    "Change": ".periods",
    "Comparison": ".periods",
    "Period": ".periods",
    "compare": ".periods",
    "period": ".periods",
    "previous": ".periods",
    "Price": ".prices",
    "PriceTable": ".prices",
    "load_prices": ".prices",
    "Estimate": ".reconcile",
    "ReconcileReport": ".reconcile",
    "Thresholds": ".reconcile",
    "SpendTableRow": ".spend",
    "SpendTable": ".spend",
    "group_spend": ".spend",
}
# `reconcile()` stays in its module (`from usage_async.reconcile import reconcile`): a
# package attribute of that name would be replaced by the submodule once it is imported.
_LAZY.update(_MONEY_NAMES)
__all__ += [
    "BudgetLine",
    "BudgetReport",
    "BudgetSettings",
    "Change",
    "Comparison",
    "Estimate",
    "LineItem",
    "LocalDayBucket",
    "OrganizationSpendAlert",
    "OrganizationSpendLimit",
    "Period",
    "Price",
    "PriceTable",
    "ProjectSpendAlert",
    "ProjectSpendLimit",
    "Projection",
    "ReconcileReport",
    "SpendAlert",
    "SpendAlertNotificationChannel",
    "SpendLimit",
    "SpendLimitEnforcement",
    "SpendTable",
    "SpendTableRow",
    "Thresholds",
    "budget_report",
    "compare",
    "group_spend",
    "load_budget_settings",
    "load_prices",
    "load_zone",
    "parse_line_item",
    "period",
    "previous",
    "rebucket",
]
