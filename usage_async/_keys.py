"""Which kind of OpenAI key a string is, by its public prefix only. Pure.

OpenAI's keys start with a prefix that says what they are: ``sk-admin-`` an organization admin
key (the only kind the Usage and Costs API and the organization's lists accept, API-NOTES
#10), ``sk-proj-`` a project key, ``sk-svcacct-`` a project service account's key (a project
key too). Nothing past the prefix is ever read, kept or shown.
"""

from __future__ import annotations

__all__ = ["ADMIN", "OTHER", "PROJECT", "key_kind", "key_prefix"]

ADMIN = "admin"
PROJECT = "project"
OTHER = "other"

# Longest first: "sk-" is a prefix of all of them.
_PREFIXES = (
    ("sk-admin-", ADMIN),
    ("sk-svcacct-", PROJECT),
    ("sk-proj-", PROJECT),
    ("sk-", OTHER),
)


def key_prefix(key: str) -> str:
    """The public prefix of ``key`` (``"sk-admin-"``, ``"sk-proj-"``, ``"sk-svcacct-"``,
    ``"sk-"``), or ``""`` when it has none of them: never a character more."""
    for prefix, _ in _PREFIXES:
        if key.startswith(prefix):
            return prefix
    return ""


def key_kind(key: str) -> str:
    """``"admin"``, ``"project"`` or ``"other"``, from the key's prefix alone."""
    for prefix, kind in _PREFIXES:
        if key.startswith(prefix):
            return kind
    return OTHER
