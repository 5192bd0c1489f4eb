"""error_from_response and parse_retry_after: pure functions of status, headers and body."""

from __future__ import annotations

import email.utils
import json

import pytest
from helpers import STATUS_CLASSES

import usage_async as ua
from usage_async.errors import error_from_response, parse_retry_after


def _body(message: str = "bad thing", **extra: object) -> bytes:
    error = {"message": message, "type": "invalid_request_error", "param": None, "code": None}
    error.update(extra)
    return json.dumps({"error": error}).encode()


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        *STATUS_CLASSES,
        (503, ua.InternalServerError),
        (599, ua.InternalServerError),
        (302, ua.APIStatusError),
    ],
)
def test_each_status_maps_to_its_class(status: int, cls: type[ua.APIStatusError]) -> None:
    err = error_from_response(status, {}, _body())
    assert type(err) is cls
    assert isinstance(err, ua.APIError)
    assert isinstance(err, ua.UsageError)
    assert err.status_code == status


def test_error_fields_come_from_the_openai_error_body() -> None:
    body = _body("Invalid value for bucket_width", param="bucket_width", code="invalid_value")
    err = error_from_response(400, {"x-request-id": "req_123"}, body)
    assert err.request_id == "req_123"
    assert err.type == "invalid_request_error"
    assert err.param == "bucket_width"
    assert err.code == "invalid_value"
    assert err.body["error"]["message"] == "Invalid value for bucket_width"
    assert "Invalid value for bucket_width" in str(err)


def test_str_starts_with_the_request_id() -> None:
    err = error_from_response(500, {"x-request-id": "req_abc"}, _body("boom"))
    assert str(err).startswith("req_abc")


def test_str_without_request_id_still_names_the_status() -> None:
    err = error_from_response(502, {}, b"<html>bad gateway</html>")
    assert str(err).startswith("HTTP 502")
    assert err.body == "<html>bad gateway</html>"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_say_an_admin_key_is_needed(status: int) -> None:
    err = error_from_response(status, {}, _body("Incorrect API key provided"))
    assert "sk-admin-" in str(err)
    assert "admin key" in str(err)


def test_a_redirect_is_an_error_naming_where_it_pointed() -> None:
    err = error_from_response(301, {"location": "https://elsewhere.example/v1"}, b"")
    assert type(err) is ua.APIStatusError
    assert "not followed" in str(err)


def test_retry_after_is_read_onto_the_error() -> None:
    assert error_from_response(429, {"retry-after": "3"}, b"").retry_after == 3.0
    assert error_from_response(429, {}, b"").retry_after is None


def test_retry_after_ms_comes_first() -> None:
    assert parse_retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_seconds_may_be_fractional() -> None:
    assert parse_retry_after({"retry-after": "1.5"}) == 1.5


def test_retry_after_as_http_date_counts_from_now() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30.0)


def test_retry_after_date_in_the_past_is_zero() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == 0.0


@pytest.mark.parametrize("value", ["soon", "-1", "nan", ""])
def test_unreadable_retry_after_counts_as_none(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None


def test_invalid_parameter_error_is_a_value_error() -> None:
    assert issubclass(ua.InvalidParameterError, ValueError)
    assert issubclass(ua.InvalidParameterError, ua.UsageError)


def test_exception_tree_matches_the_contract() -> None:
    assert issubclass(ua.APITimeoutError, ua.APIConnectionError)
    assert issubclass(ua.APIConnectionError, ua.APIError)
    assert issubclass(ua.APIResponseValidationError, ua.APIError)
    assert issubclass(ua.APIStatusError, ua.APIError)
    for cls in (ua.ConfigurationError, ua.PaginationError, ua.APIError):
        assert issubclass(cls, ua.UsageError)
