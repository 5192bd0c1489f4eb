"""Which kind of key a string is, by prefix only; what a 401/403 or an api_key_id 400 adds."""

from __future__ import annotations

import json

import pytest

import usage_async as ua
from usage_async._keys import key_kind, key_prefix
from usage_async.errors import (
    ADMIN_KEY_HINT,
    API_KEY_GROUPING_HINT,
    error_from_response,
    missing_scopes,
)


@pytest.mark.parametrize(
    ("key", "kind", "prefix"),
    [
        ("sk-admin-abcdef", "admin", "sk-admin-"),
        ("sk-proj-abcdef", "project", "sk-proj-"),
        ("sk-svcacct-abcdef", "project", "sk-svcacct-"),
        ("sk-abcdef", "other", "sk-"),
        ("sk-administrator", "other", "sk-"),
        ("abcdef", "other", ""),
        ("", "other", ""),
    ],
)
def test_the_kind_and_prefix_come_from_the_prefix_alone(key: str, kind: str, prefix: str) -> None:
    assert key_kind(key) == kind
    assert key_prefix(key) == prefix
    assert len(key_prefix(key)) <= 11


def _body(message: str, param: str | None = None) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": param, "code": None}
    return json.dumps({"error": error}).encode()


def test_missing_scopes_are_read_from_the_message_without_the_full_stop() -> None:
    assert missing_scopes("Missing scopes: api.usage.read. Check that ...") == ("api.usage.read",)
    assert missing_scopes("Missing scopes: api.responses.read, api.responses.write") == (
        "api.responses.read",
        "api.responses.write",
    )
    assert missing_scopes("Incorrect API key provided") == ()


def test_without_a_key_kind_the_generic_admin_key_hint_is_kept() -> None:
    err = error_from_response(401, {}, _body("Incorrect API key provided"))
    assert ADMIN_KEY_HINT in str(err)
    assert err.key_kind is None


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("project", "the key given is a project key"),
        ("other", "the key given is not an organization admin key"),
        ("admin", "the key given is an admin key (sk-admin-...), but it was refused"),
    ],
)
def test_a_401_says_the_kind_of_key_it_saw_and_what_is_needed(kind: str, said: str) -> None:
    err = error_from_response(401, {}, _body("Incorrect API key provided"), key_kind=kind)
    assert isinstance(err, ua.AuthenticationError)
    assert said in str(err)
    assert "sk-admin-" in str(err)
    assert err.key_kind == kind


def test_a_403_missing_a_scope_names_it_on_the_error() -> None:
    message = (
        "You have insufficient permissions for this operation. Missing scopes: api.usage.read."
    )
    err = error_from_response(403, {}, _body(message), key_kind="admin")
    assert err.missing_scopes == ("api.usage.read",)
    assert "without the scope api.usage.read:" in str(err)


def test_a_403_without_scopes_for_an_admin_key_points_at_its_permissions() -> None:
    err = error_from_response(403, {}, _body("Forbidden."), key_kind="admin")
    assert "may not read this" in str(err)
    assert err.missing_scopes == ()


def test_a_400_refusing_api_key_id_grouping_says_from_when_it_works() -> None:
    message = "Grouping by 'api_key_id' is only supported for data from 2025-12-06 onwards."
    err = error_from_response(400, {}, _body(message, param="group_by"))
    assert isinstance(err, ua.BadRequestError)
    assert str(err).endswith(f"({API_KEY_GROUPING_HINT})")
    assert "2025-12-06 (Unix 1764979200)" in API_KEY_GROUPING_HINT


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ("Invalid value: 'x'. Supported values are: 'project_id', 'line_item'.", "group_by"),
        ("api_key_ids must be a list", "api_key_ids"),
    ],
)
def test_other_400s_get_no_grouping_hint(message: str, param: str) -> None:
    assert API_KEY_GROUPING_HINT not in str(error_from_response(400, {}, _body(message, param)))
