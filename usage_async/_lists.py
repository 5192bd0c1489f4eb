"""The table of the organization's admin list endpoints: one row each, data only.

The usage endpoints (``_endpoints.py``) page by time-bucket cursors (``page=``); these page by
object id (``after=<last_id>`` while ``has_more``), take ``limit`` 1..100 and a few filters of
their own. Every row follows OpenAI's admin spec (``usage_async/testing/spec/admin-openapi.json``);
``tests/test_lists.py`` checks the table against that file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import attrs

from . import models
from ._endpoints import BOOL, INT, STR, STR_LIST

__all__ = ["ENUM", "LISTS", "LIST_LIMIT_MAX", "STREAM_LIMIT", "ListSpec"]

ENUM = "enum"  # one of the row's enum values (owner_project_access, order)
LIST_LIMIT_MAX = 100  # the spec: "Limit can range between 1 and 100"
STREAM_LIMIT = 100  # a stream asks for the fullest pages: the fewest requests
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@attrs.frozen
class ListSpec:
    """One list endpoint: where it lives, what it returns, which query parameters it takes.

    ``defaults`` are sent unless the caller gives another value: project API keys are listed
    with ``owner_project_access=any``, because without it the API hides the keys of owners
    who have left the project (API-NOTES #18), and those keys still appear in usage.
    """

    name: str
    path: str  # with {placeholders} for path parameters, as in the spec
    item_type: type
    filters: Mapping[str, str] = attrs.field(factory=dict)  # name -> kind
    enums: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    defaults: Mapping[str, Any] = attrs.field(factory=dict)
    # Prepared once from the fields above.
    path_params: tuple[str, ...] = attrs.field(init=False)
    params: Mapping[str, str] = attrs.field(init=False)  # name -> kind, in the order sent

    @path_params.default
    def _path_params(self) -> tuple[str, ...]:
        return tuple(_PLACEHOLDER.findall(self.path))

    @params.default
    def _params(self) -> Mapping[str, str]:
        return MappingProxyType({**self.filters, "limit": INT, "after": STR})

    @property
    def item_tag(self) -> str:
        """The ``object`` tag of this list's items."""
        tag: str = self.item_type.object  # type: ignore[attr-defined]
        return tag


LISTS: Mapping[str, ListSpec] = MappingProxyType(
    {
        row.name: row
        for row in (
            ListSpec(
                name="projects",
                path="/organization/projects",
                item_type=models.Project,
                filters={"include_archived": BOOL},
            ),
            ListSpec(
                name="users",
                path="/organization/users",
                item_type=models.User,
                filters={"emails": STR_LIST},
            ),
            ListSpec(
                name="project_api_keys",
                path="/organization/projects/{project_id}/api_keys",
                item_type=models.ProjectApiKey,
                filters={"owner_project_access": ENUM},
                enums={"owner_project_access": ("active", "inactive", "any")},
                defaults={"owner_project_access": "any"},
            ),
            ListSpec(
                name="project_service_accounts",
                path="/organization/projects/{project_id}/service_accounts",
                item_type=models.ProjectServiceAccount,
            ),
            ListSpec(
                name="admin_api_keys",
                path="/organization/admin_api_keys",
                item_type=models.AdminApiKey,
                filters={"order": ENUM},
                enums={"order": ("asc", "desc")},
            ),
        )
    }
)
"""Every list endpoint, by the name of its ``UsageClient`` handle."""


SPEND_ALERT_LISTS: Mapping[str, ListSpec] = MappingProxyType(
    {
        row.name: row
        for row in (
            ListSpec(
                name="spend_alerts",
                path="/organization/spend_alerts",
                item_type=models.OrganizationSpendAlert,
                filters={"order": ENUM},
                enums={"order": ("asc", "desc")},
            ),
            ListSpec(
                name="project_spend_alerts",
                path="/organization/projects/{project_id}/spend_alerts",
                item_type=models.ProjectSpendAlert,
                filters={"order": ENUM},
                enums={"order": ("asc", "desc")},
            ),
        )
    }
)
"""The spend alert lists (``usage_async/testing/spec/spend-openapi.json``), apart from
:data:`LISTS` (the directory's lists): they page the same way (``after=<last_id>``). The
spec's ``before`` (paging backwards) is left out: a stream pages forwards."""

__all__ += ["SPEND_ALERT_LISTS"]
