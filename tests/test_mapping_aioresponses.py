"""Unit-level mapping with aioresponses: what URL is requested, which error comes back."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aioresponses import aioresponses
from helpers import KEY, STATUS_CLASSES, bucket, completions_result, page
from yarl import URL

import usage_async as ua

BASE = "https://api.openai.com/v1"
NO_RETRY = ua.RetryPolicy(max_attempts=1)


def _requested(mocked: aioresponses) -> list[URL]:
    return [url for (_method, url) in mocked.requests]


async def test_the_request_url_is_the_base_url_path_and_encoded_query() -> None:
    with aioresponses() as mocked:
        mocked.get(re.compile(r".*"), payload=page([bucket(0, results=[completions_result()])]))
        async with ua.UsageClient(KEY, retry=NO_RETRY) as client:
            await client.images(start_time=5, sizes=["1024x1024", "256x256"], group_by=["size"])
    [url] = _requested(mocked)
    assert url.host == "api.openai.com"
    assert url.path == "/v1/organization/usage/images"
    assert url.query.getall("sizes") == ["1024x1024", "256x256"]
    assert url.query.getall("group_by") == ["size"]
    assert url.query["start_time"] == "5"


@pytest.mark.parametrize(
    ("status", "cls"),
    STATUS_CLASSES,
)
async def test_each_status_reaches_the_caller_as_its_class(
    status: int, cls: type[ua.APIStatusError]
) -> None:
    body: dict[str, Any] = {
        "error": {"message": "m", "type": "t", "param": "p", "code": "c"},
    }
    with aioresponses() as mocked:
        mocked.get(
            re.compile(r".*"), status=status, payload=body, headers={"x-request-id": "req_9"}
        )
        async with ua.UsageClient(KEY, retry=NO_RETRY) as client:
            with pytest.raises(cls) as info:
                await client.costs(start_time=0)
    err = info.value
    assert type(err) is cls
    assert (err.status_code, err.request_id, err.type, err.code, err.param) == (
        status,
        "req_9",
        "t",
        "c",
        "p",
    )


async def test_validation_errors_send_nothing() -> None:
    with aioresponses() as mocked:
        async with ua.UsageClient(KEY) as client:
            with pytest.raises(ua.InvalidParameterError):
                await client.costs(start_time=0, limit=181)
    assert _requested(mocked) == []
