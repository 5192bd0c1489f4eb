"""A tiny Costs API on 127.0.0.1 whose answers a test writes: results per day, as JSON.

The simulator's data follows its seed; the collector's deletion and overlap rules need a
bucket to lose a row, gain an untyped result or change between two reads on cue. This
serves ``/v1/organization/costs`` only, one page per request (tests keep ranges under the
client's ``limit``), with a ``Date`` header from its own clock, ``now``.
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiohttp import web

from usage_async import UsageClient

DAY = 86400
KEY = "sk-admin-costs-server"


def cost(project: str, value: str, line_item: str = "gpt-4o, input") -> str:
    """One costs result as the API sends it, as JSON text (``value`` an exact JSON number)."""
    return (
        '{"object": "organization.costs.result", '
        f'"amount": {{"value": {value}, "currency": "usd"}}, '
        f"{json.dumps('line_item')}: {json.dumps(line_item)}, "
        f'"project_id": {json.dumps(project)}}}'
    )


class CostsServer:
    """``days[start_time]`` holds the results of that day's bucket, each as JSON text
    (written as is, so a number keeps every digit); a day not in it is an empty bucket."""

    def __init__(self, now: int) -> None:
        self.now = now
        self.days: dict[int, list[str]] = {}
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        start = int(request.query["start_time"])
        end = int(request.query.get("end_time", self.now))
        buckets = [
            f'{{"object": "bucket", "start_time": {day}, "end_time": {day + DAY}, '
            f'"results": [{", ".join(self.days.get(day, []))}]}}'
            for day in range(start - start % DAY, end, DAY)
        ]
        text = (
            f'{{"object": "page", "data": [{", ".join(buckets)}], '
            '"has_more": false, "next_page": null}'
        )
        headers = {"Date": email.utils.formatdate(self.now, usegmt=True)}
        return web.Response(text=text, content_type="application/json", headers=headers)


@asynccontextmanager
async def costs_server(now: int) -> AsyncIterator[tuple[CostsServer, UsageClient]]:
    """A running :class:`CostsServer` and a client of it (no retries, no pacing)."""
    server = CostsServer(now)
    app = web.Application()
    app.router.add_get("/v1/organization/costs", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        async with UsageClient(KEY, base_url=f"http://127.0.0.1:{port}/v1", rate_limit=None) as c:
            yield server, c
    finally:
        await runner.cleanup()


__all__ = ["DAY", "KEY", "CostsServer", "cost", "costs_server"]
