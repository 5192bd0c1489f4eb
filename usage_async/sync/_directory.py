"""A directory snapshot as the store's directory tables take it. Pure.

One row per id the walk listed, with the values of :data:`DIRECTORY_TABLES` (see
``_schema``) taken from the objects as the admin lists returned them (``Name.item``); the
kinds the walk could not read in full are marked incomplete, so that they mark nothing
deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..directory import API_KEYS, PROJECTS, SERVICE_ACCOUNTS, USERS, Directory, Name
from ..models import AdminApiKey, Project, ProjectApiKey, ProjectServiceAccount, User
from ._schema import BOOL, DIRECTORY_TABLES, Dialect
from ._store_base import DirectoryKind, DirectoryWrite

__all__ = ["directory_write"]


def _project(name: Name) -> dict[str, Any]:
    item = name.item
    return {
        "name": name.name,
        "status": item.status if isinstance(item, Project) else None,
        "archived": name.archived,
        "archived_at": item.archived_at if isinstance(item, Project) else None,
        "created_at": item.created_at if isinstance(item, Project) else None,
    }


def _user(name: Name) -> dict[str, Any]:
    item = name.item
    user = item if isinstance(item, User) else None
    return {
        "email": user.email if user else None,
        "name": name.name,
        "role": user.role if user else None,
        "added_at": user.added_at if user else None,
    }


def _api_key(name: Name) -> dict[str, Any]:
    item = name.item
    owner = name.owner
    created = item.created_at if isinstance(item, (ProjectApiKey, AdminApiKey)) else None
    return {
        "name": name.name,
        "redacted_value": name.redacted_value,
        "project_id": name.project_id,  # None: an admin key
        "owner_type": owner.type if owner else None,
        "owner_id": owner.id if owner else None,
        "owner_name": owner.name if owner else None,
        "created_at": created,
    }


def _service_account(name: Name) -> dict[str, Any]:
    item = name.item
    account = item if isinstance(item, ProjectServiceAccount) else None
    return {
        "name": name.name,
        "project_id": name.project_id,
        "role": account.role if account else None,
        "created_at": account.created_at if account else None,
    }


_VALUES: Mapping[str, Callable[[Name], dict[str, Any]]] = {
    PROJECTS: _project,
    USERS: _user,
    API_KEYS: _api_key,
    SERVICE_ACCOUNTS: _service_account,
}


def directory_write(directory: Directory, dialect: Dialect, now: int) -> DirectoryWrite:
    """The write of one walk: every kind's rows in ``dialect``'s form, complete or not."""
    kinds = []
    for kind, table in DIRECTORY_TABLES.items():
        names: Mapping[str, Name] = getattr(directory, kind)
        values = _VALUES[kind]
        rows = {}
        for id_, name in names.items():
            found = values(name)
            rows[id_] = tuple(
                dialect.bool_out(found[column]) if column_kind == BOOL else found[column]
                for column, column_kind in table.fields
            )
        kinds.append(DirectoryKind(kind, rows, bool(directory.complete[kind])))
    return DirectoryWrite(tuple(kinds), now)
