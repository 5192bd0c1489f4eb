"""The simulator's admin list endpoints as pure functions: the roster, a path and query pairs
in, a :class:`~._api.Reply` out.

Rules, as the admin spec and the real API have them (API-NOTES #18):

* Objects are listed oldest first (creation time, then id); ``after=<id>`` starts the page
  after that object, and an id the list does not hold is a 400. ``limit`` takes the spec's
  bounds (1..100, default 20). ``has_more`` says whether objects follow the page;
  ``first_id``/``last_id`` are the ids of its first and last objects (null when empty).
* The lists follow the simulator's clock: an object appears when it is created; a deleted key
  disappears for good; a project is archived from its ``archived_at`` on.
* ``/organization/projects`` hides archived projects unless ``include_archived=true``.
* ``/organization/projects/{id}/api_keys`` without ``owner_project_access`` hides keys whose
  owner has left the project (the spec's "membership-based visibility rules, which may exclude
  some enabled keys"); ``any`` lists every enabled key, ``active``/``inactive`` filter by it.
* ``/organization/projects/{id}/service_accounts`` of an archived project is a 400 (the spec
  documents that response); a project that does not exist (yet) is a 404 on both project lists.
* ``/organization/users`` filters by ``emails`` when given; ``/organization/admin_api_keys``
  takes ``order=asc|desc``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ._admin_spec import ListDef
from ._api import INVALID_REQUEST, QueryError, Reply, _boolean, _enum, _integer, encode_json
from ._api import error_reply as _error_reply
from ._roster import KeyEntry, ProjectEntry, Roster, ServiceAccountEntry, UserEntry
from ._spec import ARRAY, BOOLEAN, INTEGER

__all__ = ["respond_list"]

HOUR = 3600


def _values(listdef: ListDef, pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """The checked query: scalars once each, arrays in any spelling; unknown keys ignored."""
    raw: dict[str, list[str]] = {}
    for key, value in pairs:
        name = key[:-2] if key.endswith("[]") else key
        param = listdef.params.get(name)
        if param is None:
            continue  # the real API ignores parameters it does not have
        if param.kind == ARRAY:
            raw.setdefault(name, []).extend(v for v in value.split(",") if v)
        else:
            raw.setdefault(name, []).append(value)
    values: dict[str, Any] = {}
    for name, items in raw.items():
        param = listdef.params[name]
        if param.kind == ARRAY:
            values[name] = frozenset(items)
            continue
        if len(items) != 1:
            raise QueryError(
                f"Invalid value for '{name}': expected one value, got {len(items)}.",
                param=name,
                code="invalid_value",
            )
        if param.kind == INTEGER:
            values[name] = _integer(name, items[0])
        elif param.kind == BOOLEAN:
            values[name] = _boolean(name, items[0])
        else:
            values[name] = _enum(param, items[0])
    low, high, default = listdef.limit
    limit = values.setdefault("limit", default)
    if not low <= limit <= high:
        below = limit < low
        raise QueryError(
            f"Invalid 'limit': integer {'below minimum' if below else 'above maximum'} value. "
            f"Expected a value {f'>= {low}' if below else f'<= {high}'}, but got {limit} "
            "instead.",
            param="limit",
            code="integer_below_min_value" if below else "integer_above_max_value",
        )
    return values


def _last_used(key: KeyEntry, end: int | None, now: int) -> int | None:
    last = min(now, end) if end is not None else now
    return last - last % HOUR if last > key.created_at else None


def _project(p: ProjectEntry, now: int) -> dict[str, Any]:
    archived = p.archived_at is not None and p.archived_at <= now
    return {
        "id": p.id,
        "object": "organization.project",
        "name": p.name,
        "created_at": p.created_at,
        "archived_at": p.archived_at if archived else None,
        "status": "archived" if archived else "active",
    }


def _user(u: UserEntry) -> dict[str, Any]:
    return {
        "object": "organization.user",
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role,
        "added_at": u.added_at,
    }


def _service_account(a: ServiceAccountEntry) -> dict[str, Any]:
    return {
        "object": "organization.project.service_account",
        "id": a.id,
        "name": a.name,
        "role": a.role,
        "created_at": a.created_at,
    }


class _Render:
    """Turns roster entries into the JSON objects of the spec, at the simulator's ``now``."""

    def __init__(self, roster: Roster, now: int) -> None:
        self.now = now
        self.users = {u.id: u for u in roster.users}
        self.accounts = {a.id: a for a in roster.service_accounts}
        self.archived = {p.id: p.archived_at for p in roster.projects if p.archived_at}

    def project_key(self, k: KeyEntry) -> dict[str, Any]:
        if k.owner_type == "user":
            u = self.users[k.owner_id]
            owner: dict[str, Any] = {
                "type": "user",
                "user": {
                    "id": u.id,
                    "email": u.email,
                    "name": u.name,
                    "created_at": u.added_at,
                    "role": k.owner_role,
                },
            }
        else:
            a = self.accounts[k.owner_id]
            owner = {
                "type": "service_account",
                "service_account": {
                    "id": a.id,
                    "name": a.name,
                    "created_at": a.created_at,
                    "role": a.role,
                },
            }
        end = k.deleted_at or self.archived.get(k.project_id or "")
        return {
            "object": "organization.project.api_key",
            "redacted_value": k.redacted_value,
            "name": k.name,
            "created_at": k.created_at,
            "last_used_at": _last_used(k, end, self.now),
            "id": k.id,
            "owner_project_access": k.owner_project_access,
            "owner": owner,
        }

    def admin_key(self, k: KeyEntry) -> dict[str, Any]:
        u = self.users[k.owner_id]
        return {
            "object": "organization.admin_api_key",
            "id": k.id,
            "name": k.name,
            "redacted_value": k.redacted_value,
            "created_at": k.created_at,
            "expires_at": None,
            "last_used_at": _last_used(k, None, self.now),
            "owner": {
                "type": "user",
                "object": "organization.user",
                "id": u.id,
                "name": u.name,
                "created_at": u.added_at,
                "role": k.owner_role,
            },
        }


def _page(objects: Sequence[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    start = 0
    after = values.get("after")
    if after is not None:
        ids = [o["id"] for o in objects]
        if after not in ids:
            raise QueryError(
                f"Invalid 'after': no object with id '{after}' in this list.",
                param="after",
                code="invalid_value",
            )
        start = ids.index(after) + 1
    data = list(objects[start : start + values["limit"]])
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + len(data) < len(objects),
    }


def _oldest_first(entries: Iterable[Any], created: Callable[[Any], int]) -> list[Any]:
    return sorted(entries, key=lambda e: (created(e), e.id))


def _listed(key: KeyEntry, now: int) -> bool:
    return key.created_at <= now and (key.deleted_at is None or now < key.deleted_at)


def _objects(
    listdef: ListDef,
    roster: Roster,
    project_id: str | None,
    values: Mapping[str, Any],
    now: int,
) -> list[dict[str, Any]]:
    render = _Render(roster, now)
    name = listdef.name
    if name == "projects":
        include_archived = values.get("include_archived", False)
        return [
            _project(p, now)
            for p in _oldest_first(roster.projects, lambda p: p.created_at)
            if p.created_at <= now
            and (include_archived or p.archived_at is None or p.archived_at > now)
        ]
    if name == "users":
        emails = values.get("emails")
        return [
            _user(u)
            for u in _oldest_first(roster.users, lambda u: u.added_at)
            if u.added_at <= now and (emails is None or u.email in emails)
        ]
    if name == "admin_api_keys":
        keys = _oldest_first(roster.admin_keys, lambda k: k.created_at)
        if values.get("order") == "desc":
            keys.reverse()
        return [render.admin_key(k) for k in keys if _listed(k, now)]
    if name == "api_keys":
        access = values.get("owner_project_access")
        return [
            render.project_key(k)
            for k in _oldest_first(roster.project_keys, lambda k: k.created_at)
            if k.project_id == project_id
            and _listed(k, now)
            and (
                access == "any"
                or k.owner_project_access == (access if access is not None else "active")
            )
        ]
    if name == "service_accounts":
        return [
            _service_account(a)
            for a in _oldest_first(roster.service_accounts, lambda a: a.created_at)
            if a.project_id == project_id and a.created_at <= now
        ]
    raise ValueError(f"the simulator does not serve the list {listdef.path}")


def _project_error(listdef: ListDef, roster: Roster, project_id: str, now: int) -> Reply | None:
    project = next((p for p in roster.projects if p.id == project_id), None)
    if project is None or project.created_at > now:
        return _error_reply(404, f"No project found with id '{project_id}'.", param="project_id")
    archived = project.archived_at is not None and project.archived_at <= now
    if archived and listdef.name == "service_accounts":
        return _error_reply(
            400,
            f"Project '{project_id}' is archived: its service accounts cannot be listed.",
            type=INVALID_REQUEST,
            param="project_id",
        )
    return None


def respond_list(
    listdef: ListDef,
    roster: Roster,
    path_params: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    now: int,
) -> Reply:
    """The reply to an authorised GET of one list endpoint."""
    project_id = path_params.get("project_id")
    if project_id is not None:
        refused = _project_error(listdef, roster, project_id, now)
        if refused is not None:
            return refused
    try:
        values = _values(listdef, pairs)
        body = _page(_objects(listdef, roster, project_id, values, now), values)
    except QueryError as exc:
        return exc.reply
    return Reply(200, encode_json(body), {"Content-Type": "application/json"})
