"""Check a client's key: what kind it is, and what it can read. One call, one typed answer.

``await client.check()`` (or :func:`check_key`) says, one :class:`Check` each:

* ``key_kind``: which kind of key the client was given, by its public prefix only (an admin
  key ``sk-admin-...`` is what the Usage and Costs API needs, API-NOTES #10);
* ``reaches_api``: whether any request got an HTTP answer (a refused connection, a timeout or
  a proxy in the way does not);
* ``authenticated``: whether the API accepted the key (no 401);
* ``usage_read``: whether it can read usage (Costs, one bucket): a 403 "Missing scopes" names
  the scope it lacks (``api.usage.read``, API-NOTES #19);
* ``list_projects``, ``list_users``, ``list_admin_api_keys``, ``list_project_api_keys``,
  ``list_project_service_accounts``: whether it can read each directory list (one object
  each; the per-project ones on the first active project, skipped without one);
* ``clock``: the server's clock (its ``Date`` header) against this machine's.

``main_job_ok`` is whether the key can do the main job, reading usage; the directory lists
only add names. Every request goes through the client (its retries and pace) and asks for
as little as the API allows; the key is never shown, only its kind.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import attrs

from ._convert import decode_list_page
from ._endpoints import ENDPOINTS, floor_to_width
from ._keys import ADMIN, PROJECT
from ._list_query import build_list_query
from ._lists import LISTS
from ._query import build_query
from ._transport import Response
from .errors import APIError, APIStatusError, error_from_response
from .models import Project

if TYPE_CHECKING:
    from .client import UsageClient

__all__ = ["MAX_CLOCK_SKEW", "Check", "KeyCheck", "check_key"]

MAX_CLOCK_SKEW = 120.0
"""Seconds the server's clock may differ from this machine's before the check says so (its
``Date`` has whole seconds, and "since 30d" and the newest bucket are computed locally)."""

KEY_KIND = "key_kind"
REACHES_API = "reaches_api"
AUTHENTICATED = "authenticated"
USAGE_READ = "usage_read"
CLOCK = "clock"
# check name -> the list it reads (per-project lists need a project id)
_LIST_CHECKS = {
    "list_projects": "projects",
    "list_users": "users",
    "list_admin_api_keys": "admin_api_keys",
}
_PROJECT_LIST_CHECKS = {
    "list_project_api_keys": "project_api_keys",
    "list_project_service_accounts": "project_service_accounts",
}
_KIND_DETAIL = {
    ADMIN: "an admin key (sk-admin-...): the kind the Usage and Costs API needs",
    PROJECT: (
        "a project key (sk-proj-... or sk-svcacct-...): the Usage and Costs API needs an "
        "organization admin key (sk-admin-...)"
    ),
}
_OTHER_DETAIL = (
    "not an organization admin key (no sk-admin- prefix): the Usage and Costs API needs one "
    "(sk-admin-...)"
)


@attrs.frozen
class Check:
    """One check: its name, whether it passed (None: skipped), and what was seen."""

    name: str
    ok: bool | None
    detail: str


@attrs.frozen
class KeyCheck:
    """The outcome of :func:`check_key`: one :class:`Check` per question, in order."""

    key_kind: str
    checks: tuple[Check, ...]
    main_job_ok: bool
    clock_skew: float | None  # the server's clock minus this machine's, in seconds

    @property
    def ok(self) -> bool:
        """Whether no check failed (skipped ones do not count)."""
        return all(c.ok is not False for c in self.checks)

    def check(self, name: str) -> Check:
        """The check called ``name`` (``"usage_read"``, ``"list_users"``, ...)."""
        for found in self.checks:
            if found.name == name:
                return found
        raise KeyError(f"no check {name!r}; checks: {', '.join(c.name for c in self.checks)}")


@attrs.frozen
class _Outcome:
    """One probe: the status and headers answered (None: no answer), the error, and the
    local time the answer arrived."""

    status: int | None
    headers: Mapping[str, str]
    error: APIError | None
    body: bytes
    at: float


def _raw(status: int, headers: Mapping[str, str], body: bytes) -> Response:
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body)
    return status, headers, body


async def _probe(
    client: UsageClient, path: str, query_string: str, now: Callable[[], float]
) -> _Outcome:
    try:
        status, headers, body = await client._request(path, query_string, _raw)
    except APIStatusError as exc:
        return _Outcome(exc.status_code, exc.headers, exc, b"", now())
    except APIError as exc:
        return _Outcome(None, {}, exc, b"", now())
    return _Outcome(status, headers, None, body, now())


def _verdict(name: str, outcome: _Outcome) -> Check:
    error = outcome.error
    if error is None:
        return Check(name, True, f"HTTP {outcome.status}")
    if isinstance(error, APIStatusError):
        if error.missing_scopes:
            why = f"the key lacks the scope {', '.join(error.missing_scopes)}"
        elif error.status_code == 401:
            why = "the key was refused"
        else:
            why = error.message
        return Check(name, False, f"HTTP {error.status_code}: {why}")
    return Check(name, False, f"no answer: {error}")


def _clock(outcomes: list[_Outcome]) -> tuple[Check, float | None]:
    for outcome in outcomes:
        date = outcome.headers.get("Date") or outcome.headers.get("date")
        parsed = email.utils.parsedate_tz(date) if date else None
        if parsed is None:
            continue
        skew = float(email.utils.mktime_tz(parsed)) - outcome.at
        ahead = "ahead of" if skew > 0 else "behind"
        detail = f"the server's clock is {_duration(abs(skew))} {ahead} this machine's"
        if abs(skew) <= MAX_CLOCK_SKEW:
            return Check(CLOCK, True, detail), skew
        return Check(CLOCK, False, f"{detail}: times computed here (--since, now) drift"), skew
    return Check(CLOCK, None, "no answer carried a Date header"), None


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.0f} days"
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.0f} hours"
    return f"{seconds:.0f} s"


def _first_active_project(outcome: _Outcome) -> str | None:
    if outcome.error is not None or outcome.status is None:
        return None
    try:
        page = decode_list_page(Project, outcome.status, outcome.headers, outcome.body)
    except APIError:
        return None
    for project in page.data:
        if project.status != "archived" and project.archived_at is None:
            return project.id
    return None


def _reached(base_url: str, outcomes: list[_Outcome]) -> list[Check]:
    """``reaches_api`` and ``authenticated``, from which probes got an answer, and which."""
    answered = [o for o in outcomes if o.status is not None]
    if not answered:
        why = next((o.error for o in outcomes if o.error is not None), None)
        return [
            Check(REACHES_API, False, f"no answer from {base_url}: {why}"),
            Check(AUTHENTICATED, None, "skipped: no answer"),
        ]
    reached = Check(
        REACHES_API, True, f"{len(answered)} of {len(outcomes)} requests answered by {base_url}"
    )
    if any(o.status == 401 for o in answered):
        return [reached, Check(AUTHENTICATED, False, "HTTP 401: the API refused the key")]
    return [reached, Check(AUTHENTICATED, True, "the API accepted the key")]


def judge(key_kind: str, base_url: str, results: Mapping[str, _Outcome]) -> KeyCheck:
    """The checks, from the probes' outcomes by check name: pure, no I/O."""
    usage = results[USAGE_READ]
    checks = [Check(KEY_KIND, key_kind == ADMIN, _KIND_DETAIL.get(key_kind, _OTHER_DETAIL))]
    checks += _reached(base_url, list(results.values()))
    checks.append(_verdict(USAGE_READ, usage))
    for name in (*_LIST_CHECKS, *_PROJECT_LIST_CHECKS):
        outcome = results.get(name)
        if outcome is None:
            checks.append(Check(name, None, "skipped: no active project to read it on"))
        else:
            checks.append(_verdict(name, outcome))
    clock, skew = _clock([usage, *results.values()])
    checks.append(clock)
    return KeyCheck(key_kind, tuple(checks), main_job_ok=usage.error is None, clock_skew=skew)


async def _probe_all(
    client: UsageClient, probes: Mapping[str, tuple[str, str]], now: Callable[[], float]
) -> dict[str, _Outcome]:
    """``{check name: (path, query string)}`` requested concurrently, by check name."""
    outcomes = await asyncio.gather(*(_probe(client, p, q, now) for p, q in probes.values()))
    return dict(zip(probes, outcomes, strict=True))


async def check_key(client: UsageClient, *, now: Callable[[], float] = time.time) -> KeyCheck:
    """Check the client's key: its kind, whether it reaches the API, whether it can read
    usage and each directory list, and the server's clock. Raises nothing for what the key
    may not do: each check says it; ``main_job_ok`` is whether it can read usage.

    Six requests at most (Costs for yesterday with ``limit=1``; each list with ``limit=1``),
    the per-project ones after the project list, through the client's retries and pace.
    """
    yesterday = floor_to_width(int(now()), "1d") - 86400
    costs = build_query(ENDPOINTS["costs"], {"start_time": yesterday, "limit": 1})
    probes = {USAGE_READ: (costs.endpoint.path, costs.query_string)}
    for name, list_name in _LIST_CHECKS.items():
        query = build_list_query(LISTS[list_name], {"limit": 1})
        probes[name] = (query.path, query.query_string)
    results = await _probe_all(client, probes, now)
    project_id = _first_active_project(results["list_projects"])
    if project_id is not None:
        per_project = {}
        for name, list_name in _PROJECT_LIST_CHECKS.items():
            args = {"project_id": project_id}
            query = build_list_query(LISTS[list_name], {"limit": 1}, path_args=args)
            per_project[name] = (query.path, query.query_string)
        results.update(await _probe_all(client, per_project, now))
    return judge(client.key_kind, client.base_url, results)
