"""Constructing a client: the key, the base URL, and the other settings."""

from __future__ import annotations

import pytest

import usage_async as ua


def test_the_key_falls_back_to_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env")
    client = ua.UsageClient()
    assert client._transport._headers["Authorization"] == "Bearer sk-admin-from-env"


def test_an_explicit_key_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env")
    client = ua.UsageClient("sk-admin-explicit")
    assert client._transport._headers["Authorization"] == "Bearer sk-admin-explicit"


@pytest.mark.parametrize("key", [None, ""])
def test_no_key_at_all_names_the_environment_variable(key: str | None) -> None:
    with pytest.raises(ua.ConfigurationError, match="OPENAI_ADMIN_KEY"):
        ua.UsageClient(key)


def test_repr_never_shows_the_key() -> None:
    client = ua.UsageClient("sk-admin-secret-123")
    assert "sk-admin-secret-123" not in repr(client)
    assert "sk-admin-secret-123" not in repr(client.costs)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1",
        "http://127.9.9.9/v1",
        "http://localhost:8000/v1",
        "http://LOCALHOST/v1",
        "http://[::1]:8000/v1",
        "https://api.openai.com/v1",
        "https://proxy.example.com/openai/v1/",
    ],
)
def test_https_and_loopback_http_base_urls_are_accepted(url: str) -> None:
    client = ua.UsageClient("sk-admin-x", base_url=url)
    assert client.base_url.lower() == url.rstrip("/").lower()


@pytest.mark.parametrize(
    "url",
    ["http://api.openai.com/v1", "http://10.0.0.5/v1", "http://localhost.evil.com/v1"],
)
def test_plain_http_to_another_host_is_refused(url: str) -> None:
    with pytest.raises(ua.ConfigurationError, match="allow_http"):
        ua.UsageClient("sk-admin-x", base_url=url)


def test_allow_http_opts_in_to_plain_http() -> None:
    client = ua.UsageClient("sk-admin-x", base_url="http://simulator:8000/v1", allow_http=True)
    assert client.base_url == "http://simulator:8000/v1"


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "api.openai.com/v1", "https:///v1"])
def test_a_base_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ua.ConfigurationError):
        ua.UsageClient("sk-admin-x", base_url=url)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_concurrency": 0},
        {"max_concurrency": 2.5},
        {"timeout": 0},
        {"timeout": -1.0},
        {"retry": {"max_attempts": 3}},
        {"rate_limit": "fast"},
        {"rate_limit": 0},
    ],
)
def test_nonsense_settings_are_configuration_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ua.ConfigurationError):
        ua.UsageClient("sk-admin-x", **kwargs)  # type: ignore[arg-type]


def test_endpoint_lookup_by_name() -> None:
    client = ua.UsageClient("sk-admin-x")
    assert client.endpoint("costs") is client.costs
    with pytest.raises(KeyError, match="completions"):
        client.endpoint("completion")


def test_whitespace_around_the_key_is_stripped() -> None:
    client = ua.UsageClient("  sk-admin-from-a-file\r\n")
    assert client._transport._headers["Authorization"] == "Bearer sk-admin-from-a-file"


def test_a_trailing_newline_in_the_environment_key_is_stripped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env\n")
    client = ua.UsageClient()
    assert client._transport._headers["Authorization"] == "Bearer sk-admin-from-env"


def test_a_key_of_only_whitespace_is_no_key() -> None:
    with pytest.raises(ua.ConfigurationError, match="OPENAI_ADMIN_KEY"):
        ua.UsageClient(" \n")


@pytest.mark.parametrize(
    ("secret", "kind"),
    [
        ("Xq7secretPART\nsecondHALF9", "control character"),
        ("Xq7secretPART\x00secondHALF9", "control character"),
        ("Xq7secretPART\x7fsecondHALF9", "control character"),
        ("Xq7secretPART secondHALF9", "whitespace"),
        ("Xq7secretPART\u00e9secondHALF9", "non-ASCII"),
    ],
)
def test_a_key_with_a_character_no_header_can_carry_is_refused_without_showing_it(
    secret: str, kind: str
) -> None:
    with pytest.raises(ua.ConfigurationError, match=kind) as info:
        ua.UsageClient("sk-admin-" + secret)
    for text in (str(info.value), repr(info.value), repr(info.value.args)):
        for part in ("Xq7", "secretPART", "secondHALF9"):
            assert part not in text


def test_an_organization_with_a_trailing_newline_is_stripped() -> None:
    client = ua.UsageClient("sk-admin-x", organization="org-123\n")
    assert client._transport._headers["OpenAI-Organization"] == "org-123"


def test_an_organization_with_a_control_character_is_refused() -> None:
    with pytest.raises(ua.ConfigurationError, match="organization"):
        ua.UsageClient("sk-admin-x", organization="org\x00123")
