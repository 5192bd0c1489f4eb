"""Names for the ids usage reports: a snapshot of the organization's directory.

The Usage and Costs endpoints report ids only (``proj_...``, ``user-...``, ``key_...``,
API-NOTES #9); the admin list endpoints name them, but page differently (``after=<last_id>``),
hide archived projects unless asked, list project keys per project only and never list a
deleted key (API-NOTES #18). :func:`load_directory` (``await client.directory()``) reads them
all once into a :class:`Directory`:

* the projects (archived included), the users and the admin keys, and for every project its
  API keys (``owner_project_access=any``) and, unless it is archived (the API refuses that
  list for an archived project), its service accounts; the per-project lists run
  concurrently, through the client's pace, concurrency limit and retries;
* a list that still fails after the client's retries (a 403 for a missing scope, a 5xx, a
  dropped connection) never fails the snapshot: that kind is marked incomplete in
  ``complete``, one warning says why (also logged), and its ids show as ids;
* a lookup never raises: an id the snapshot cannot name (a deleted key, a project the key may
  not read) is a :class:`Name` with ``known=False``, shown as the id and a marker;
* ids are matched exactly, and names are data: shown as the API gave them, never parsed.

Its cost is bounded and reported (``requests``): one request per page of the projects, users
and admin keys lists, then one per page of each project's keys and of each active project's
service accounts; with the default 100 objects a page that is ``3 + 2 x projects`` for an
organization with fewer than 100 of each. Retries come on top (each logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import logging
import time
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeVar

import attrs

from .errors import APIError, APIStatusError, InvalidParameterError, PaginationError, UsageError
from .models import (
    AdminApiKey,
    ListPage,
    Project,
    ProjectApiKey,
    ProjectServiceAccount,
    User,
)

if TYPE_CHECKING:
    from .client import UsageClient

__all__ = [
    "API_KEYS",
    "DEFAULT_MAX_AGE",
    "KINDS",
    "NAMED_FIELDS",
    "PROJECTS",
    "SERVICE_ACCOUNTS",
    "UNKNOWN_MARKER",
    "USERS",
    "Directory",
    "Name",
    "Owner",
    "build_directory",
    "load_directory",
]

log = logging.getLogger("usage_async")

PROJECTS = "projects"
USERS = "users"
API_KEYS = "api_keys"
SERVICE_ACCOUNTS = "service_accounts"
KINDS = (PROJECTS, USERS, API_KEYS, SERVICE_ACCOUNTS)
NAMED_FIELDS: Mapping[str, str] = MappingProxyType(
    {"project_id": PROJECTS, "user_id": USERS, "api_key_id": API_KEYS}
)
"""The usage and costs result fields whose ids a directory names, and the kind of each."""
UNKNOWN_MARKER = "(unknown)"
DEFAULT_MAX_AGE = _dt.timedelta(minutes=10)

T = TypeVar("T")
Item = Project | User | ProjectApiKey | AdminApiKey | ProjectServiceAccount


@attrs.frozen
class Owner:
    """Who owns an API key: ``type`` ``"user"`` or ``"service_account"``, and their id and name
    as the key's own listing gives them."""

    type: str | None
    id: str | None
    name: str | None


@attrs.frozen
class Name:
    """What a snapshot says about one id.

    ``known`` is False for an id the snapshot could not name; ``name`` is then None and
    :attr:`label` is the id followed by ``UNKNOWN_MARKER``. For an API key, ``redacted_value``
    (never the key), ``owner`` and ``project_id`` (None for an admin key); for a service
    account, ``project_id``; for a project, ``archived``. ``item`` is the object as the list
    endpoint returned it.
    """

    id: str
    kind: str
    known: bool
    name: str | None = None
    redacted_value: str | None = None
    owner: Owner | None = None
    project_id: str | None = None
    archived: bool = False
    item: Item | None = None

    @property
    def label(self) -> str:
        """The name to show: the name as given, the id when it has none, or the id and the
        marker when the snapshot does not know it."""
        if not self.known:
            return f"{self.id} {UNKNOWN_MARKER}"
        return self.name if self.name else self.id

    def __str__(self) -> str:
        return self.label


def _lookup(names: Mapping[str, Name], kind: str, id: str) -> Name:
    found = names.get(id)
    return found if found is not None else Name(id, kind, known=False)


@attrs.frozen
class Directory:
    """A snapshot of the organization's directory: projects, users, API keys (project and
    admin keys) and service accounts, by id.

    ``complete[kind]`` is True when every list of that kind was read to its end; otherwise
    ``warnings`` says why (one warning per list kind that failed) and ids of that kind may
    show as unknown. ``requests`` is how many page requests the snapshot took (retries not
    counted); ``taken_at`` when it was taken (UTC).
    """

    projects: Mapping[str, Name]
    users: Mapping[str, Name]
    api_keys: Mapping[str, Name]
    service_accounts: Mapping[str, Name]
    complete: Mapping[str, bool]
    warnings: tuple[str, ...]
    requests: int
    taken_at: _dt.datetime

    def project(self, id: str) -> Name:
        """The project ``id`` (``known=False`` when the snapshot cannot name it)."""
        return _lookup(self.projects, PROJECTS, id)

    def user(self, id: str) -> Name:
        """The user ``id`` (``known=False`` when the snapshot cannot name it)."""
        return _lookup(self.users, USERS, id)

    def api_key(self, id: str) -> Name:
        """The API key ``id``, project or admin key (``known=False`` for a deleted key, say)."""
        return _lookup(self.api_keys, API_KEYS, id)

    def service_account(self, id: str) -> Name:
        """The service account ``id`` (``known=False`` when the snapshot cannot name it)."""
        return _lookup(self.service_accounts, SERVICE_ACCOUNTS, id)

    def for_field(self, field: str, id: str) -> Name:
        """The name of ``id`` found in the usage result field ``field`` (``"project_id"``,
        ``"user_id"`` or ``"api_key_id"``, see ``NAMED_FIELDS``); raises ``KeyError`` for a
        field a directory does not name (``"model"``, ``"vector_store_id"``)."""
        kind = NAMED_FIELDS[field]
        return _lookup(getattr(self, kind), kind, id)

    @property
    def is_complete(self) -> bool:
        """Whether every kind was read in full."""
        return all(self.complete.values())


# -- names of each kind of object ---------------------------------------------------------


def _project_name(p: Project) -> Name:
    archived = p.status == "archived" or p.archived_at is not None
    return Name(p.id, PROJECTS, True, name=p.name, archived=archived, item=p)


def _user_name(u: User) -> Name:
    return Name(u.id, USERS, True, name=u.name, item=u)


def _project_key_name(k: ProjectApiKey, project_id: str) -> Name:
    owner = k.owner
    if owner.user is not None:
        who = Owner(owner.type or "user", owner.user.id, owner.user.name)
    elif owner.service_account is not None:
        account = owner.service_account
        who = Owner(owner.type or "service_account", account.id, account.name)
    else:
        who = Owner(owner.type, None, None)
    return Name(
        k.id,
        API_KEYS,
        True,
        name=k.name,
        redacted_value=k.redacted_value,
        owner=who,
        project_id=project_id,
        item=k,
    )


def _admin_key_name(k: AdminApiKey) -> Name:
    owner = Owner(k.owner.type, k.owner.id, k.owner.name)
    return Name(
        k.id, API_KEYS, True, name=k.name, redacted_value=k.redacted_value, owner=owner, item=k
    )


def _service_account_name(a: ProjectServiceAccount, project_id: str) -> Name:
    return Name(a.id, SERVICE_ACCOUNTS, True, name=a.name, project_id=project_id, item=a)


# -- the walk -----------------------------------------------------------------------------


def _why(exc: UsageError) -> str:
    """Why a list failed, in a few words: the status and the scope it lacks, or the error."""
    if isinstance(exc, APIStatusError):
        if exc.missing_scopes:
            return f"HTTP {exc.status_code}: the key lacks {', '.join(exc.missing_scopes)}"
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        said = error.get("message") if isinstance(error, dict) else None
        return f"HTTP {exc.status_code}" + (f": {said}" if said else "")
    return f"{type(exc).__name__}: {exc}"


class _Walk:
    """One reading of every list; failures recorded per kind, never raised."""

    def __init__(self, client: UsageClient, limit: int | None) -> None:
        self.client = client
        self.page = {} if limit is None else {"limit": limit}  # objects a page
        self.requests = 0
        self.names: dict[str, dict[str, Name]] = {kind: {} for kind in KINDS}
        self.complete = dict.fromkeys(KINDS, True)
        self.failures: dict[str, list[tuple[str, UsageError]]] = {}

    async def _read(
        self, kind: str, what: str, pages: AsyncGenerator[ListPage[T], None]
    ) -> tuple[list[T], bool]:
        """Every object of one list, and whether it was read to its end: on a failure (after
        the client's retries), what came before it and False."""
        items: list[T] = []
        try:
            async with contextlib.aclosing(pages):
                async for page in pages:
                    self.requests += 1
                    items.extend(page.data)
        except (APIError, PaginationError) as exc:
            self.requests += 1  # the request that failed, or brought a page refused
            self.complete[kind] = False
            self.failures.setdefault(kind, []).append((what, exc))
            return items, False
        return items, True

    async def run(self) -> None:
        await _together(self._users(), self._admin_keys(), self._projects())

    async def _users(self) -> None:
        users, _ = await self._read(USERS, "the user list", self.client.users.pages(**self.page))
        self.names[USERS].update((u.id, _user_name(u)) for u in users)

    async def _admin_keys(self) -> None:
        pages = self.client.admin_api_keys.pages(**self.page)
        keys, _ = await self._read(API_KEYS, "the admin key list", pages)
        self.names[API_KEYS].update((k.id, _admin_key_name(k)) for k in keys)

    async def _projects(self) -> None:
        pages = self.client.projects.pages(include_archived=True, **self.page)
        projects, whole = await self._read(PROJECTS, "the project list", pages)
        if not whole:
            # Keys and service accounts are listed per project: those of projects not listed
            # cannot be named (the project list's warning says why).
            self.complete[API_KEYS] = self.complete[SERVICE_ACCOUNTS] = False
        self.names[PROJECTS].update((p.id, _project_name(p)) for p in projects)
        walks = [self._keys(p.id) for p in projects]
        # The API refuses the service accounts list of an archived project (its spec says so).
        walks += [self._accounts(p.id) for p in projects if not _project_name(p).archived]
        await _together(*walks)

    async def _keys(self, project_id: str) -> None:
        pages = self.client.project_api_keys(project_id).pages(**self.page)
        keys, _ = await self._read(API_KEYS, project_id, pages)
        self.names[API_KEYS].update((k.id, _project_key_name(k, project_id)) for k in keys)

    async def _accounts(self, project_id: str) -> None:
        pages = self.client.project_service_accounts(project_id).pages(**self.page)
        accounts, _ = await self._read(SERVICE_ACCOUNTS, project_id, pages)
        named = ((a.id, _service_account_name(a, project_id)) for a in accounts)
        self.names[SERVICE_ACCOUNTS].update(named)

    def warnings(self) -> tuple[str, ...]:
        """One warning per kind of list that failed, saying which lists and why."""
        out = []
        for kind, failures in self.failures.items():
            whole_lists = [what for what, _ in failures if what.startswith("the ")]
            per_project = [what for what, _ in failures if not what.startswith("the ")]
            label = kind.replace("_", " ")
            if per_project:
                whole_lists.append(
                    f"the {label} lists of {len(per_project)} project(s) (first: {per_project[0]})"
                )
            also = ""
            if kind == PROJECTS:
                also = "; API keys and service accounts of projects not listed show as ids too"
            out.append(
                f"{kind}: {' and '.join(whole_lists)} could not be read "
                f"({_why(failures[0][1])}); those {label} show as ids{also}"
            )
        return tuple(out)


async def _together(*walks: Awaitable[None]) -> None:
    """Run ``walks`` concurrently; if one raises, cancel the others and raise it."""
    tasks = [asyncio.ensure_future(w) for w in walks]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def build_directory(
    client: UsageClient, *, limit: int | None = None, now: Callable[[], float] = time.time
) -> Directory:
    """A new snapshot of the directory, read through ``client`` (no cache: see
    :func:`load_directory`); ``limit`` objects a page (default 100, the most the API allows)."""
    walk = _Walk(client, limit)
    await walk.run()
    warnings = walk.warnings()
    for warning in warnings:
        log.warning("directory: %s", warning)
    return Directory(
        projects=MappingProxyType(walk.names[PROJECTS]),
        users=MappingProxyType(walk.names[USERS]),
        api_keys=MappingProxyType(walk.names[API_KEYS]),
        service_accounts=MappingProxyType(walk.names[SERVICE_ACCOUNTS]),
        complete=MappingProxyType(dict(walk.complete)),
        warnings=warnings,
        requests=walk.requests,
        taken_at=_dt.datetime.fromtimestamp(now(), _dt.timezone.utc),
    )


# -- the cache ----------------------------------------------------------------------------


class _Cache:
    """One client's latest snapshot, and the one being taken (shared by concurrent callers)."""

    def __init__(self) -> None:
        self.snapshot: Directory | None = None
        self.taken: float = 0.0  # monotonic time the snapshot was taken
        self.pending: asyncio.Future[Directory] | None = None


_CACHES: weakref.WeakKeyDictionary[UsageClient, _Cache] = weakref.WeakKeyDictionary()


def _seconds(max_age: float | _dt.timedelta | None) -> float:
    if max_age is None:
        return DEFAULT_MAX_AGE.total_seconds()
    if isinstance(max_age, _dt.timedelta):
        return max_age.total_seconds()
    if isinstance(max_age, bool) or not isinstance(max_age, (int, float)) or max_age < 0:
        raise InvalidParameterError(
            f"max_age: expected seconds >= 0 or a timedelta, got {max_age!r}", param="max_age"
        )
    return float(max_age)


async def load_directory(
    client: UsageClient,
    *,
    max_age: float | _dt.timedelta | None = None,
    limit: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Directory:
    """The client's directory snapshot, taken anew when the cached one is older than
    ``max_age`` (seconds or a timedelta; default ``DEFAULT_MAX_AGE``, 10 minutes; 0 takes a
    new one); ``limit`` objects a page (default 100). Concurrent callers share one walk.
    Never raises for a list the key may not read or that keeps failing (see
    :class:`Directory`); a walk that fails otherwise (the client was closed, say) raises and
    leaves the cache as it was.
    """
    fresh_for = _seconds(max_age)
    cache = _CACHES.get(client)
    if cache is None:
        cache = _CACHES[client] = _Cache()
    snapshot = cache.snapshot
    if snapshot is not None and fresh_for > 0 and clock() - cache.taken <= fresh_for:
        return snapshot
    if cache.pending is None:
        started = clock()
        cache.pending = asyncio.ensure_future(build_directory(client, limit=limit))

        def done(task: asyncio.Future[Directory], cache: _Cache = cache) -> None:
            cache.pending = None
            if not task.cancelled() and task.exception() is None:
                cache.snapshot, cache.taken = task.result(), started

        cache.pending.add_done_callback(done)
    # Shielded: one caller giving up does not cancel the walk the others wait for.
    return await asyncio.shield(cache.pending)
