"""The simulator's spend limits and alerts: who has which, and the replies. Pure.

:func:`draw_spend` gives the synthetic organization a hard monthly spend limit, limits on some
of its projects (not all: the first project always has one, the last never), and spend alerts
(two for the organization, one for each project with a limit, and one for a project without a
limit), all in cents of USD as the spec has them (API-NOTES #20). They are drawn from a random
stream of their own (``"spend"`` and the seed), so no usage, cost or name moves.

Replies (the spec documents only the 200 answers; the rest follow the admin lists):

* ``/organization/spend_limit``: the organization's limit.
* ``/organization/projects/{id}/spend_limit``: the project's limit; a project without one
  answers 404 "No spend limit is set for project ...". The spec does not say what the real API
  answers then: a client must not read a 404 as "no limit" without saying so.
* the alert lists page as the admin lists do (``after``/``before`` an alert id, ``limit`` of the
  spec's 0..100, default 20, ``order`` asc or desc by id); a project that does not exist is a
  404 on every per-project path.
"""

from __future__ import annotations

import hashlib
import random
import string
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs

from ._admin_spec import ListDef
from ._api import QueryError, Reply, encode_json
from ._api import error_reply as _error_reply
from ._lists import _values
from ._roster import Roster

__all__ = [
    "AlertEntry",
    "LimitEntry",
    "SpendSettings",
    "draw_spend",
    "respond_spend_alerts",
    "respond_spend_limit",
]

_ID_CHARS = string.ascii_letters + string.digits
_ORG_LIMITS = (150_000, 200_000, 250_000, 300_000)  # cents: $1,500 to $3,000 a month
_PROJECT_LIMITS = (5_000, 10_000, 25_000, 50_000, 100_000)  # $50 to $1,000 a month
_PREFIXES = ("OpenAI spend alert", None)


@attrs.frozen
class LimitEntry:
    """A hard spend limit of ``threshold_amount`` cents a month; ``enforcing`` or inactive."""

    threshold_amount: int
    enforcing: bool = True


@attrs.frozen
class AlertEntry:
    """A spend alert at ``threshold_amount`` cents a month, emailed to ``recipients``."""

    id: str
    threshold_amount: int
    recipients: tuple[str, ...]
    subject_prefix: str | None = None


@attrs.frozen
class SpendSettings:
    """The organization's and its projects' spend limits and alerts."""

    organization_limit: LimitEntry | None
    project_limits: Mapping[str, LimitEntry] = attrs.field(factory=dict)
    organization_alerts: tuple[AlertEntry, ...] = ()
    project_alerts: Mapping[str, tuple[AlertEntry, ...]] = attrs.field(factory=dict)


def _rng(seed: int) -> random.Random:
    digest = hashlib.blake2b(f"spend:{seed}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))  # noqa: S311 - reproducible, not secret


def draw_spend(seed: int, roster: Roster, projects: Sequence[str]) -> SpendSettings:
    """The spend settings of the organization of ``seed``, whose first ``projects`` (the ones
    with usage from the start) get limits and alerts; same seed, same settings."""
    rng = _rng(seed)

    def alert(cents: int) -> AlertEntry:
        recipients = tuple(sorted(rng.sample([u.email for u in roster.users], 2)))
        return AlertEntry(
            "alert_" + "".join(rng.choices(_ID_CHARS, k=24)),
            cents,
            recipients,
            rng.choice(_PREFIXES),
        )

    org_cents = rng.choice(_ORG_LIMITS)
    limited = [p for i, p in enumerate(projects) if i == 0 or rng.random() < 0.6]
    limited = [p for p in limited if p != projects[-1]]
    limits = {p: LimitEntry(rng.choice(_PROJECT_LIMITS)) for p in limited}
    if len(limited) > 1:  # one limit set but not enforced
        limits[limited[-1]] = attrs.evolve(limits[limited[-1]], enforcing=False)
    project_alerts = {p: (alert(limits[p].threshold_amount * 3 // 4),) for p in limited}
    project_alerts[projects[-1]] = (alert(rng.choice(_PROJECT_LIMITS)),)
    return SpendSettings(
        organization_limit=LimitEntry(org_cents),
        project_limits=MappingProxyType(limits),
        organization_alerts=(alert(org_cents // 2), alert(org_cents * 4 // 5)),
        project_alerts=MappingProxyType(project_alerts),
    )


def _limit_body(tag: str, entry: LimitEntry) -> dict[str, Any]:
    return {
        "object": tag,
        "threshold_amount": entry.threshold_amount,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "enforcing" if entry.enforcing else "inactive"},
    }


def _no_project(roster: Roster, project_id: str, now: int) -> Reply | None:
    project = next((p for p in roster.projects if p.id == project_id), None)
    if project is None or project.created_at > now:
        return _error_reply(404, f"No project found with id '{project_id}'.", param="project_id")
    return None


def respond_spend_limit(
    settings: SpendSettings, roster: Roster, tag: str, project_id: str | None, now: int
) -> Reply:
    """The reply to a GET of the organization's (``project_id`` None) or a project's limit."""
    if project_id is None:
        entry = settings.organization_limit
        if entry is None:
            return _error_reply(404, "No spend limit is set for this organization.")
    else:
        missing = _no_project(roster, project_id, now)
        if missing is not None:
            return missing
        entry = settings.project_limits.get(project_id)
        if entry is None:
            return _error_reply(
                404, f"No spend limit is set for project '{project_id}'.", param="project_id"
            )
    return Reply(200, encode_json(_limit_body(tag, entry)), {"Content-Type": "application/json"})


def _alert_body(tag: str, entry: AlertEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "object": tag,
        "threshold_amount": entry.threshold_amount,
        "currency": "USD",
        "interval": "month",
        "notification_channel": {
            "type": "email",
            "recipients": list(entry.recipients),
            "subject_prefix": entry.subject_prefix,
        },
    }


def _window(objects: list[dict[str, Any]], values: Mapping[str, Any]) -> dict[str, Any]:
    ids = [o["id"] for o in objects]
    start, stop = 0, len(objects)
    for name in ("after", "before"):
        cursor = values.get(name)
        if cursor is None:
            continue
        if cursor not in ids:
            raise QueryError(
                f"Invalid '{name}': no spend alert with id '{cursor}' in this list.",
                param=name,
                code="invalid_value",
            )
        if name == "after":
            start = ids.index(cursor) + 1
        else:
            stop = ids.index(cursor)
    limit = values["limit"]
    if values.get("before") is not None and values.get("after") is None:
        start = max(start, stop - limit)  # the page just before the cursor
    data = objects[start : min(stop, start + limit)]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + len(data) < stop,
    }


def respond_spend_alerts(
    listdef: ListDef,
    settings: SpendSettings,
    roster: Roster,
    project_id: str | None,
    pairs: Sequence[tuple[str, str]],
    now: int,
) -> Reply:
    """The reply to a GET of the organization's (``project_id`` None) or a project's alerts."""
    if project_id is None:
        entries = settings.organization_alerts
    else:
        missing = _no_project(roster, project_id, now)
        if missing is not None:
            return missing
        entries = settings.project_alerts.get(project_id, ())
    try:
        values = _values(listdef, pairs)
    except QueryError as exc:
        return exc.reply
    ordered = sorted(entries, key=lambda e: e.id, reverse=values.get("order") == "desc")
    objects = [_alert_body(listdef.item_tag, e) for e in ordered]
    try:
        body = _window(objects, values)
    except QueryError as exc:
        return exc.reply
    return Reply(200, encode_json(body), {"Content-Type": "application/json"})
