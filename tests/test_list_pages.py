"""Admin list pages: decoded by the one converter, and streamed by their own flat loop over an
injected fetch (object-id cursors, ``after=last_id`` while ``has_more``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest

import usage_async as ua
from usage_async._convert import converter, decode_list_page
from usage_async._list_query import ListQuery, build_list_query
from usage_async._lists import LISTS
from usage_async._pagination import iter_list_items, iter_list_pages
from usage_async.models import ListPage

KEY = {
    "object": "organization.project.api_key",
    "redacted_value": "sk-proj-abc...wxyz",
    "name": "prod",
    "created_at": 1711471533,
    "last_used_at": None,
    "id": "key_abc",
    "owner_project_access": "active",
    "owner": {
        "type": "service_account",
        "service_account": {"id": "svc_acct_1", "name": "ci", "created_at": 1, "role": "member"},
    },
}


def body(items: list[Any], *, has_more: bool = False, **extra: Any) -> bytes:
    page = {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
        **extra,
    }
    return json.dumps(page).encode()


# -- decoding -----------------------------------------------------------------------------


def test_a_page_of_project_keys_decodes_with_its_owner() -> None:
    page = decode_list_page(ua.ProjectApiKey, 200, {}, body([KEY]))
    (key,) = page.data
    assert key.id == "key_abc"
    assert key.redacted_value == "sk-proj-abc...wxyz"
    assert key.owner.type == "service_account"
    assert key.owner.user is None
    assert key.owner.service_account == ua.ProjectApiKeyOwnerServiceAccount(
        id="svc_acct_1", name="ci", created_at=1, role="member"
    )
    assert (page.first_id, page.last_id, page.has_more) == ("key_abc", "key_abc", False)


def test_unknown_fields_are_ignored_on_pages_items_and_owners() -> None:
    item = {**KEY, "scopes": ["x"], "owner": {**KEY["owner"], "since": 3}}
    page = decode_list_page(ua.ProjectApiKey, 200, {}, body([item], cursor_v2="z"))
    assert page.data[0].name == "prod"


def test_numeric_strings_are_read_as_counts_and_bools_are_not() -> None:
    project = {"object": "organization.project", "id": "proj_1", "created_at": "1711471533"}
    page = decode_list_page(ua.Project, 200, {}, body([project]))
    assert page.data[0].created_at == 1711471533
    with pytest.raises(ua.APIResponseValidationError, match="expected an integer, got True"):
        decode_list_page(ua.Project, 200, {}, body([{**project, "created_at": True}]))


def test_a_missing_required_field_is_a_validation_error_naming_it() -> None:
    item = {k: v for k, v in KEY.items() if k != "redacted_value"}
    with pytest.raises(ua.APIResponseValidationError) as info:
        decode_list_page(ua.ProjectApiKey, 200, {"x-request-id": "req_1"}, body([item]))
    assert "'redacted_value'" in str(info.value)
    assert "ProjectApiKey" in str(info.value)
    assert info.value.json_error is False
    assert str(info.value).startswith("req_1")


def test_a_body_that_is_not_json_is_a_retryable_validation_error() -> None:
    with pytest.raises(ua.APIResponseValidationError) as info:
        decode_list_page(ua.User, 200, {}, b'{"object": "list", "da')
    assert info.value.json_error is True


def test_an_error_status_is_the_error_of_its_class() -> None:
    error = json.dumps({"error": {"message": "nope", "type": "x", "param": None, "code": None}})
    with pytest.raises(ua.PermissionDeniedError):
        decode_list_page(ua.User, 403, {}, error.encode())


def test_the_converter_structures_a_list_page_of_a_given_class() -> None:
    user = {"object": "organization.user", "id": "user-1", "added_at": 5, "name": "Ada"}
    page = converter.structure(json.loads(body([user], has_more=True)), ListPage[ua.User])
    assert page == ListPage(
        [ua.User(id="user-1", added_at=5, name="Ada")], "user-1", "user-1", True
    )


# -- the stream ---------------------------------------------------------------------------


def p(*ids: str, more: bool = False, last: str | None = "") -> ListPage[str]:
    """A page of ``ids``; ``last`` overrides its last_id (None: none)."""
    last_id = (ids[-1] if ids else None) if last == "" else last
    return ListPage(list(ids), ids[0] if ids else None, last_id, more)


class FakeFetch:
    """Answers ``fetch(query, after)`` from ``script``: after -> page or exception; a call
    whose ``after`` is in ``hang`` waits until cancelled (and is then recorded as such)."""

    def __init__(self, script: dict[str | None, Any], hang: tuple[str, ...] = ()) -> None:
        self.script = script
        self.hang = hang
        self.calls: list[str | None] = []
        self.cancelled: list[str | None] = []
        self.arrived: dict[str | None, asyncio.Event] = {}

    async def __call__(self, query: ListQuery, after: str | None) -> ListPage[Any]:
        self.calls.append(after)
        self.arrived.setdefault(after, asyncio.Event()).set()
        if after in self.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled.append(after)
                raise
        answer = self.script[after]
        if isinstance(answer, BaseException):
            raise answer
        return answer  # type: ignore[no-any-return]

    async def wait_for(self, after: str | None) -> None:
        await self.arrived.setdefault(after, asyncio.Event()).wait()


def query(**kwargs: Any) -> ListQuery:
    return build_list_query(LISTS["projects"], kwargs, stream=True)


async def drain(fetch: FakeFetch, q: ListQuery) -> list[str]:
    return [x async for x in iter_list_items(iter_list_pages(fetch, q))]


async def until_error(fetch: FakeFetch, q: ListQuery) -> tuple[list[str], ua.UsageError]:
    got: list[str] = []
    try:
        async for item in iter_list_items(iter_list_pages(fetch, q)):
            got.append(item)
    except ua.UsageError as exc:
        return got, exc
    raise AssertionError(f"no error after {got}")


def server_error() -> ua.InternalServerError:
    return ua.InternalServerError("HTTP 503", status_code=503, headers={}, body=None)


async def test_pages_follow_last_id_while_has_more() -> None:
    fetch = FakeFetch({None: p("a", "b", more=True), "b": p("c", more=True), "c": p("d")})
    assert await drain(fetch, query()) == ["a", "b", "c", "d"]
    assert fetch.calls == [None, "b", "c"]


async def test_has_more_false_ends_the_stream_whatever_last_id_says() -> None:
    fetch = FakeFetch({None: p("a", "b")})
    assert await drain(fetch, query()) == ["a", "b"]
    assert fetch.calls == [None]


async def test_a_stream_given_after_starts_there() -> None:
    fetch = FakeFetch({"x": p("y", more=True), "y": p("z")})
    assert await drain(fetch, query(after="x")) == ["y", "z"]
    assert fetch.calls == ["x", "y"]


async def test_has_more_without_a_last_id_is_a_pagination_error_before_delivery() -> None:
    fetch = FakeFetch({None: p("a", more=True), "a": p("b", more=True, last=None)})
    got, err = await until_error(fetch, query())
    assert isinstance(err, ua.PaginationError)
    assert got == ["a"]  # the suspect page's objects were not delivered
    assert err.cursor == "a"  # ask again after "a"


async def test_a_repeated_last_id_is_a_pagination_error() -> None:
    fetch = FakeFetch({None: p("a", more=True), "a": p("a", more=True)})
    got, err = await until_error(fetch, query())
    assert isinstance(err, ua.PaginationError)
    assert "repeated" in str(err)
    assert got == ["a"]
    assert err.cursor == "a"


async def test_a_failure_carries_the_after_cursor_to_resume_from() -> None:
    fetch = FakeFetch({None: p("a", more=True), "a": p("b", more=True), "b": server_error()})
    got, err = await until_error(fetch, query())
    assert got == ["a", "b"]
    assert err.cursor == "b"
    fetch.script["b"] = p("c")
    assert await drain(fetch, query(after=err.cursor)) == ["c"]  # nothing lost or repeated


async def test_a_failure_of_the_first_page_carries_no_cursor() -> None:
    fetch = FakeFetch({None: server_error()})
    _, err = await until_error(fetch, query())
    assert err.cursor is None


async def test_the_next_page_is_requested_before_the_current_one_is_delivered() -> None:
    fetch = FakeFetch({None: p("a", more=True), "a": p("b", more=True), "b": p("c")})
    pages = iter_list_pages(fetch, query())
    async with contextlib.aclosing(pages):
        first = await pages.__anext__()
        await fetch.wait_for("a")
        assert first.data == ["a"]
        assert fetch.calls == [None, "a"]  # one page ahead, not more


async def test_closing_a_stream_cancels_the_page_read_ahead() -> None:
    fetch = FakeFetch({None: p("a", more=True)}, hang=("a",))
    pages = iter_list_pages(fetch, query())
    first = await pages.__anext__()
    await fetch.wait_for("a")
    await pages.aclose()
    assert first.data == ["a"]
    assert fetch.cancelled == ["a"]
