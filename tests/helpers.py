"""Test helpers: a scripted loopback server and page builders."""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
from aiohttp import web

import usage_async as ua

KEY = "sk-admin-test-key-0123456789"

STATUS_CLASSES: list[tuple[int, type[ua.APIStatusError]]] = [
    (400, ua.BadRequestError),
    (401, ua.AuthenticationError),
    (403, ua.PermissionDeniedError),
    (404, ua.NotFoundError),
    (409, ua.ConflictError),
    (422, ua.UnprocessableEntityError),
    (429, ua.RateLimitError),
    (500, ua.InternalServerError),
    (418, ua.APIStatusError),
]
"""Each status the error tree names, with its class (and 418 for "any other")."""


def completions_result(**fields: Any) -> dict[str, Any]:
    """A completions result as the API sends it."""
    base = {
        "object": "organization.usage.completions.result",
        "input_tokens": 10,
        "output_tokens": 5,
        "num_model_requests": 1,
    }
    base.update(fields)
    return base


def bucket(start: int, width: int = 86400, results: list[Any] | None = None) -> dict[str, Any]:
    """A bucket dict ``[start, start + width)``."""
    return {
        "object": "bucket",
        "start_time": start,
        "end_time": start + width,
        "results": results if results is not None else [],
    }


def page(buckets: list[Any], next_page: str | None = None, has_more: bool | None = None) -> dict:
    """A page dict; ``has_more`` defaults to whether there is a ``next_page``."""
    return {
        "object": "page",
        "data": buckets,
        "has_more": bool(next_page) if has_more is None else has_more,
        "next_page": next_page,
    }


@attrs.define
class Reply:
    """One scripted response."""

    status: int = 200
    body: Any = None  # dict/list -> JSON, bytes/str -> as is
    headers: dict[str, str] = attrs.field(factory=dict)
    delay: float = 0.0

    def to_response(self) -> web.StreamResponse:
        if isinstance(self.body, (dict, list)):
            data = json.dumps(self.body).encode()
            ctype = "application/json"
        elif isinstance(self.body, str):
            data, ctype = self.body.encode(), "text/plain"
        else:
            data, ctype = (self.body or b""), "application/json"
        headers = {"x-request-id": "req_test", **self.headers}
        return web.Response(status=self.status, body=data, headers=headers, content_type=ctype)


@attrs.define
class Recorded:
    """One request the server received."""

    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]

    @property
    def page(self) -> str | None:
        return dict(self.query).get("page")


Handler = Callable[[web.Request, int], "Reply | Any"]


class ScriptedServer:
    """A loopback aiohttp server answering from a list of replies or a handler function.

    ``replies`` are served in order (the last one repeats); a ``handler(request, n)``
    returning a :class:`Reply` (or a dict for a 200 JSON body) takes precedence.
    """

    def __init__(self, replies: list[Reply] | None = None, handler: Handler | None = None):
        self.replies = list(replies or [])
        self.handler = handler
        self.requests: list[Recorded] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._arrived = asyncio.Condition()
        self.port = 0

    async def wait_for_requests(self, count: int) -> None:
        """Return once the server has received ``count`` requests."""
        async with self._arrived:
            await self._arrived.wait_for(lambda: len(self.requests) >= count)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        n = len(self.requests)
        self.requests.append(
            Recorded(
                request.path,
                list(request.query.items()),
                dict(request.headers),
            )
        )
        async with self._arrived:
            self._arrived.notify_all()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.handler is not None:
                reply = self.handler(request, n)
                if asyncio.iscoroutine(reply):
                    reply = await reply
                if isinstance(reply, web.StreamResponse):
                    return reply
                if not isinstance(reply, Reply):
                    reply = Reply(body=reply)
            else:
                reply = self.replies[min(n, len(self.replies) - 1)]
            if reply.delay:
                await asyncio.sleep(reply.delay)
            return reply.to_response()
        finally:
            self.in_flight -= 1

    async def __aenter__(self) -> ScriptedServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


class Terminal(io.StringIO):
    """A stream that says it is a terminal (the CLI draws its live progress line there)."""

    def isatty(self) -> bool:
        return True


README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def readme_blocks(language: str) -> list[str]:
    """The README's fenced code blocks in ``language``, in order."""
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def readme_example(defines: str) -> dict[str, Any]:
    """Execute the README's Python block that defines ``defines``; return its namespace."""
    for block in readme_blocks("python"):
        if re.search(rf"^(async )?def {defines}\(", block, flags=re.MULTILINE):
            namespace: dict[str, Any] = {"__name__": "readme_example"}
            exec(compile(block, f"README.md:{defines}", "exec"), namespace)  # noqa: S102
            return namespace
    raise AssertionError(f"no Python block in README.md defines {defines}()")
