"""Who the synthetic organization is, by name: projects, users, service accounts, keys. Pure.

The usage endpoints report ids only; the admin list endpoints name them. The roster is what
those lists hold, with the lifetimes the real lists hide things by (API-NOTES #18):

* every project has a name; one project, created on ``LATER_START``, is archived on
  ``ARCHIVED_AT``: its usage runs until then, and ``/organization/projects`` lists it only with
  ``include_archived=true`` (archived projects also refuse their service accounts list, as the
  spec documents);
* users have names, emails and roles; keys are owned by a user or by a project service
  account (``owner.type``); one user-owned key's owner has left its project
  (``owner_project_access: inactive``), so it is listed only with ``owner_project_access`` of
  ``any`` or ``inactive``;
* one key, created on ``LATER_START``, is deleted on ``DELETED_AT``: its usage runs until
  then, and no list ever shows it afterwards;
* a few admin keys, which make no usage.

Names are chosen to be awkward as data (a comma, quotes, non-ASCII letters, a leading ``=``,
one that looks like a project id) and are never meant to be interpreted.

Everything here is drawn from the organization's random stream *after* everything that decides
the usage of the original projects, users and keys (``Organization.from_seed`` draws the
roster last), so adding it moved no count or cost reported before ``LATER_START``.
"""

from __future__ import annotations

import random
import string
import unicodedata

import attrs

__all__ = [
    "ARCHIVED_AT",
    "DELETED_AT",
    "LATER_START",
    "KeyEntry",
    "ProjectEntry",
    "Roster",
    "ServiceAccountEntry",
    "UserEntry",
    "draw_roster",
]

LATER_START = 1_748_736_000  # 2025-06-01T00:00:00Z: the entities added for the directory start
ARCHIVED_AT = 1_766_188_800  # 2025-12-20T00:00:00Z: the archived project is archived
DELETED_AT = 1_766_793_600  # 2025-12-27T00:00:00Z: the deleted key is deleted
DAY = 86400

_ID_CHARS = string.ascii_letters + string.digits
_PROJECT_NAMES = (
    "Search",
    "Billing, EU",
    'Support "bot"',
    "Ünïcödé research",
    "=SUM(A1:A9)",
    "proj_000000000000000000000000",
    "Mobile app",
    "Internal tools",
)
_USER_NAMES = (
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Zoë Ødegård",
    "Barbara Liskov",
    "Edsger Dijkstra",
    "Radia Perlman",
    "Frances Allen",
    "Ken Thompson",
    "Margaret Hamilton",
)
_KEY_NAMES = ("prod", "staging", "laptop", "notebook, shared", "ci", "batch jobs", "Demo 🚀")
_SERVICE_ACCOUNT_NAMES = ("ci-deployer", "nightly-batch", "eval-runner", "support-bot")


@attrs.frozen
class ProjectEntry:
    """A project: listed from ``created_at``; archived from ``archived_at`` when set."""

    id: str
    name: str
    created_at: int
    archived_at: int | None = None


@attrs.frozen
class UserEntry:
    """A member of the organization."""

    id: str
    name: str
    email: str
    role: str  # "owner" or "reader"
    added_at: int


@attrs.frozen
class ServiceAccountEntry:
    """A project's service account."""

    id: str
    project_id: str
    name: str
    role: str  # "owner" or "member"
    created_at: int


@attrs.frozen
class KeyEntry:
    """An API key: a project key (``project_id`` set) or an admin key (``project_id`` None).

    ``owner_type`` is ``"user"`` or ``"service_account"``, ``owner_id`` that owner's id. A key
    is listed from ``created_at`` until ``deleted_at`` (never, when None).
    """

    id: str
    project_id: str | None
    name: str
    redacted_value: str
    created_at: int
    owner_type: str
    owner_id: str
    owner_role: str
    owner_project_access: str = "active"
    deleted_at: int | None = None


@attrs.frozen
class Roster:
    """Everything the admin list endpoints know about the organization."""

    projects: tuple[ProjectEntry, ...]
    users: tuple[UserEntry, ...]
    service_accounts: tuple[ServiceAccountEntry, ...]
    project_keys: tuple[KeyEntry, ...]
    admin_keys: tuple[KeyEntry, ...]

    @property
    def archived_project(self) -> ProjectEntry:
        """The project that is archived on ``ARCHIVED_AT``."""
        return next(p for p in self.projects if p.archived_at is not None)

    @property
    def deleted_key(self) -> KeyEntry:
        """The key that is deleted on ``DELETED_AT`` (usage names it, no list does later)."""
        return next(k for k in self.project_keys if k.deleted_at is not None)


def _new_id(rng: random.Random, prefix: str, length: int) -> str:
    return prefix + "".join(rng.choices(_ID_CHARS, k=length))


def _redacted(rng: random.Random, prefix: str) -> str:
    # Shaped like the spec's examples ("sk-abc...def", "sk-admin...xyz"): a few characters of
    # each end of a secret that, here, never existed.
    return (
        prefix + "".join(rng.choices(_ID_CHARS, k=3)) + "..." + "".join(rng.choices(_ID_CHARS, k=4))
    )


def draw_roster(
    rng: random.Random,
    org_start: int,
    projects: tuple[str, ...],
    users: tuple[str, ...],
    keys: tuple[tuple[str, str, str], ...],
) -> Roster:
    """Name the organization's ``projects``, ``users`` and ``keys`` ((id, project, user), all
    there since before ``org_start``) and
    add the entities the directory needs: an archived project with keys, service accounts with
    keys, a key owned by a user who left the project, a deleted key and admin keys."""
    project_names = rng.sample(_PROJECT_NAMES, len(projects))
    entries = [
        ProjectEntry(pid, name, created_at=org_start - rng.randrange(30, 400) * DAY)
        for pid, name in zip(projects, project_names, strict=True)
    ]
    archived = ProjectEntry(
        _new_id(rng, "proj_", 24), "Legacy chatbot", LATER_START, archived_at=ARCHIVED_AT
    )
    entries.append(archived)

    user_entries: list[UserEntry] = []
    for uid, name in zip(users, rng.sample(_USER_NAMES, len(users)), strict=True):
        ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
        email = ascii_name.lower().replace(" ", ".") + "@example.com"
        role = "owner" if not user_entries else rng.choice(("owner", "reader", "reader"))
        added_at = org_start - rng.randrange(1, 500) * DAY
        user_entries.append(UserEntry(uid, name, email, role, added_at))

    def user_key(
        kid: str, project: str, user: str, created_at: int, deleted_at: int | None = None
    ) -> KeyEntry:
        return KeyEntry(
            id=kid,
            project_id=project,
            name=rng.choice(_KEY_NAMES),
            redacted_value=_redacted(rng, "sk-proj-"),
            created_at=created_at,
            owner_type="user",
            owner_id=user,
            owner_role=rng.choice(("owner", "member")),
            deleted_at=deleted_at,
        )

    created = {p.id: p.created_at for p in entries}
    project_keys = [
        # within 29 days of its project, so before org_start: the key has usage from then on
        user_key(kid, project, user, created[project] + rng.randrange(30) * DAY)
        for kid, project, user in keys
    ]
    # One key whose owner has left its project: listed with owner_project_access=any|inactive.
    inactive = rng.randrange(len(project_keys))
    project_keys[inactive] = attrs.evolve(project_keys[inactive], owner_project_access="inactive")

    accounts = [
        ServiceAccountEntry(
            id=_new_id(rng, "svc_acct_", 24),
            project_id=project,
            name=rng.choice(_SERVICE_ACCOUNT_NAMES),
            role=rng.choice(("owner", "member")),
            created_at=LATER_START + rng.randrange(60) * DAY,
        )
        for i, project in enumerate(projects)
        for _ in range(rng.randint(1 if i == 0 else 0, 2))
    ]
    for account in accounts:
        project_keys.append(
            KeyEntry(
                id=_new_id(rng, "key_", 16),
                project_id=account.project_id,
                name=account.name + " key",
                redacted_value=_redacted(rng, "sk-svcacct-"),
                created_at=account.created_at,
                owner_type="service_account",
                owner_id=account.id,
                owner_role=account.role,
            )
        )
    for user in rng.sample(users, 2):
        project_keys.append(
            user_key(
                _new_id(rng, "key_", 16), archived.id, user, LATER_START + rng.randrange(5) * DAY
            )
        )
    project_keys.append(
        user_key(
            _new_id(rng, "key_", 16),
            projects[rng.randrange(len(projects))],
            rng.choice(users),
            LATER_START + rng.randrange(5) * DAY,
            deleted_at=DELETED_AT,
        )
    )

    owner = next(u for u in user_entries if u.role == "owner")
    admin_keys = tuple(
        KeyEntry(
            id=_new_id(rng, "key_", 16),
            project_id=None,
            name=name,
            redacted_value=_redacted(rng, "sk-admin-"),
            created_at=created_at,
            owner_type="user",
            owner_id=owner.id,
            owner_role="owner",
        )
        for name, created_at in (
            ("Usage exporter", org_start - 3 * DAY),
            ("Terraform", LATER_START + 10 * DAY),
        )
    )
    return Roster(
        projects=tuple(entries),
        users=tuple(user_entries),
        service_accounts=tuple(accounts),
        project_keys=tuple(project_keys),
        admin_keys=admin_keys,
    )
