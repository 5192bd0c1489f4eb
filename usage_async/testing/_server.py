"""``FakeUsageServer``: the simulator as an aiohttp application on 127.0.0.1.

The pieces stay apart: :class:`~._state.UsageState` holds the organization and the clock (no
HTTP), :mod:`._api` turns a query into a reply (pure), :mod:`._lists` does the same for the
admin list endpoints, :mod:`._faults` decides what goes wrong, and this module only wires
them into routes and one middleware:

    record -> script -> latency -> 401 / 403 -> 429 -> random 5xx -> endpoint -> drop / truncate

Every response, whatever produced it, carries an ``x-request-id`` (``req_`` + 32 hex digits)
and a ``Date`` from the simulator's clock.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as _dt
import email.utils
import hashlib
import hmac
import random
import threading
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

import attrs
from aiohttp import web

from . import _api, _lists
from ._admin_spec import ListDef, load_admin_spec
from ._faults import DROP, TRUNCATE, Decision, FaultInjector, Faults, Quirks, Scripted
from ._org import Organization
from ._spec import API_PREFIX, EndpointDef
from ._spend import SpendSettings, draw_spend, respond_spend_alerts, respond_spend_limit
from ._spend_spec import LimitDef, load_spend_spec
from ._state import UsageState

__all__ = ["FakeUsageServer", "RecordedRequest"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_STATUS_ERRORS: Mapping[int, tuple[str, str, str | None]] = MappingProxyType(
    {  # status -> (message, type, code), as OpenAI words them
        429: (
            "Rate limit reached for requests on the organization Usage API. "
            "Please try again later.",
            "requests",
            "rate_limit_exceeded",
        ),
        500: (
            "The server had an error while processing your request. Sorry about that!",
            "server_error",
            None,
        ),
        502: ("Bad gateway.", "server_error", None),
        503: (
            "The server is overloaded or not ready yet.",
            "server_error",
            None,
        ),
    }
)


@attrs.frozen
class RecordedRequest:
    """One request the server received: method, path, query pairs as sent, and headers
    without ``Authorization``."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]
    request_id: str

    def params(self) -> dict[str, list[str]]:
        """The query as ``{key: [values]}``, keys exactly as sent (``group_by[]`` stays so)."""
        out: dict[str, list[str]] = {}
        for key, value in self.query:
            out.setdefault(key, []).append(value)
        return out


def _status_reply(status: int, headers: Mapping[str, str] | None = None) -> _api.Reply:
    default = "server_error" if status >= 500 else "invalid_request_error"
    message, kind, code = _STATUS_ERRORS.get(status, (f"Simulated HTTP {status}.", default, None))
    return _api.error_reply(status, message, type=kind, code=code, headers=headers)


USAGE = "usage"
LIMITED_KEY_DENIES = frozenset({USAGE, "users"})
# The scope each area needs, as named in the real API's 403 (API-NOTES #19: usage; a restricted
# admin key reading the organization's projects needs "Organization Administration: Read",
# which the API names api.management.read). Which scope each list needs is not published;
# the simulator assumes that one for all of them.
SCOPES: Mapping[str, str] = MappingProxyType(
    {
        USAGE: "api.usage.read",
        **dict.fromkeys(
            ("projects", "users", "api_keys", "service_accounts", "admin_api_keys"),
            "api.management.read",
        ),
        # The spend endpoints' scope is not published either; assumed the same.
        **dict.fromkeys(("spend_limit", "spend_alerts"), "api.management.read"),
    }
)


def _restricted(keys: Mapping[str, Iterable[str]]) -> dict[str, frozenset[str]]:
    out = {}
    for key, denied in keys.items():
        areas = frozenset([denied] if isinstance(denied, str) else denied)
        unknown = areas - SCOPES.keys()
        if unknown:
            raise ValueError(
                f"restricted_keys: unknown areas {sorted(unknown)}; areas: {', '.join(SCOPES)}"
            )
        out[key] = areas
    return out


def _derive(seed: int, purpose: str) -> bytes:
    return hashlib.blake2b(f"{purpose}:{seed}".encode(), digest_size=16).digest()


class FakeUsageServer:
    """A local simulator of the Usage and Costs API: use ``async with FakeUsageServer() as srv``.

    ``srv.base_url`` (``http://127.0.0.1:PORT/v1``) and ``srv.api_key`` are what a client
    needs. ``seed`` fixes the synthetic organization and its usage; ``now`` (int Unix
    seconds or an aware datetime) fixes the clock, which otherwise follows the real time;
    :meth:`advance` moves it. ``faults`` and ``quirks`` may be replaced while it runs;
    :attr:`requests` records what it received.

    It also serves the organization's admin list endpoints (projects, users, each project's
    API keys and service accounts, admin API keys: see ``_lists``), which name what usage
    reports by id, and its spend limits and alerts (the organization's and each project's:
    see ``_spend``; ``spend=`` replaces the ones drawn from the seed). :attr:`limited_key`
    is a restricted admin key for permission tests; ``restricted_keys`` adds others, each
    mapped to what it may not read (``"usage"`` for every usage endpoint and Costs, a list's
    name such as ``"users"``, ``"spend_limit"`` or ``"spend_alerts"``): a 403 "Missing
    scopes".

    It binds ``host`` (default 127.0.0.1) on ``port`` (default 0: a free one); for a
    standalone process, ``await FakeUsageServer(port=8000).serve_forever()`` serves until
    cancelled. From synchronous code, ``with srv.serve_in_thread():`` runs it on a background
    thread with its own event loop.
    """

    def __init__(
        self,
        seed: int = 0,
        now: int | _dt.datetime | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        faults: Faults | None = None,
        quirks: Quirks | None = None,
        restricted_keys: Mapping[str, Iterable[str]] | None = None,
        spend: SpendSettings | None = None,
    ) -> None:
        self._quirks = quirks if quirks is not None else Quirks()
        self.state = UsageState(
            seed,
            now,
            late_data=self._quirks.late_data,
            mismatch_days=self._quirks.costs_mismatch_days,
            quantity_since=self._quirks.costs_quantity_since,
        )
        roster = self.state.org.roster
        assert roster is not None  # every Organization.from_seed has one
        self._spend = (
            spend if spend is not None else draw_spend(seed, roster, self.state.org.projects)
        )
        self._faults = FaultInjector(faults if faults is not None else Faults())
        self._host = host
        self._requested_port = port
        self._port: int | None = None
        default_key = "sk-admin-fake-" + _derive(seed, "key").hex()[:24]
        self._api_key = api_key if api_key is not None else default_key
        self._limited_key = "sk-admin-fake-limited-" + _derive(seed, "limited-key").hex()[:24]
        self._restricted = _restricted(
            {self._limited_key: LIMITED_KEY_DENIES, **(restricted_keys or {})}
        )
        self._secret = _derive(seed, "cursor")
        self._ids = random.Random(int.from_bytes(_derive(seed, "request-id"), "big"))  # noqa: S311
        self.requests: list[RecordedRequest] = []
        self._app = self._make_app()
        self._runner: web.AppRunner | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<FakeUsageServer {where}>"

    # -- what tests use -----------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The API root to give a client, ending in ``/v1``; known once started."""
        if self._port is None:
            raise RuntimeError("the server is not started: use `async with FakeUsageServer()`")
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}{API_PREFIX}"

    @property
    def port(self) -> int | None:
        """The bound port once started, else None."""
        return self._port

    @property
    def api_key(self) -> str:
        """The admin key the server accepts (``sk-admin-fake-...``, derived from the seed)."""
        return self._api_key

    @property
    def limited_key(self) -> str:
        """A restricted admin key the server also accepts, which may not read usage (403
        "Missing scopes: api.usage.read" on every usage endpoint and Costs) nor the users list;
        every other list reads as with :attr:`api_key`."""
        return self._limited_key

    @property
    def app(self) -> web.Application:
        """The aiohttp application, for mounting elsewhere or aiohttp's test utilities."""
        return self._app

    @property
    def organization(self) -> Organization:
        """The synthetic organization: its projects, users, API keys and vector stores."""
        return self.state.org

    @property
    def spend(self) -> SpendSettings:
        """The spend limits and alerts the spend endpoints serve (drawn from the seed unless
        given as ``spend=``)."""
        return self._spend

    @property
    def faults(self) -> Faults:
        """The faults in force; assign new ones at any time (this resets the script)."""
        return self._faults.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._faults = FaultInjector(faults)

    @property
    def quirks(self) -> Quirks:
        """The real API's quirks in force; assign new ones at any time."""
        return self._quirks

    @quirks.setter
    def quirks(self, quirks: Quirks) -> None:
        self._quirks = quirks
        self.state.late_data = quirks.late_data
        self.state.set_costs_quirks(quirks.costs_mismatch_days, quirks.costs_quantity_since)

    def script(self, *entries: Scripted) -> None:
        """Queue answers for the next requests, e.g. ``srv.script(503, 429, 200)``."""
        self._faults.extend_script(entries)

    @property
    def scripted_left(self) -> int:
        """How many scripted answers are still waiting for a request."""
        return self._faults.scripted_left

    def now(self) -> int:
        """The simulator's current time, in Unix seconds."""
        return self.state.now()

    def advance(self, seconds: int) -> None:
        """Move the simulator's clock forward (late data becomes visible, buckets fill)."""
        self.state.advance(seconds)

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Bind and start serving; the port is known when this returns."""
        if self._runner is not None:
            return
        runner = web.AppRunner(
            self._app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeUsageServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def serve_forever(self) -> None:
        """Serve until cancelled (Ctrl-C under ``asyncio.run``), then stop."""
        await self.start()
        try:
            await asyncio.get_running_loop().create_future()  # resolved by nothing: cancel only
        finally:
            await self.stop()

    @contextlib.contextmanager
    def serve_in_thread(self) -> Iterator[FakeUsageServer]:
        """Run the server on a background thread with its own event loop, for sync code."""
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="FakeUsageServer", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.start(), loop).result()
            try:
                yield self
            finally:
                asyncio.run_coroutine_threadsafe(self.stop(), loop).result()
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    # -- HTTP ---------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        # What each route reads, for restricted keys: "usage", or the list's name.
        self._areas: dict[str, str] = {}
        for endpoint in self.state.spec.endpoints.values():
            app.router.add_get(API_PREFIX + endpoint.path, self._endpoint_handler(endpoint))
            self._areas[API_PREFIX + endpoint.path] = USAGE
        for listdef in load_admin_spec().lists.values():
            app.router.add_get(API_PREFIX + listdef.path, self._list_handler(listdef))
            self._areas[API_PREFIX + listdef.path] = listdef.name
        spend = load_spend_spec()
        for limitdef in spend.limits.values():
            app.router.add_get(API_PREFIX + limitdef.path, self._limit_handler(limitdef))
            self._areas[API_PREFIX + limitdef.path] = "spend_limit"
        for alertdef in spend.alerts.values():
            app.router.add_get(API_PREFIX + alertdef.path, self._alerts_handler(alertdef))
            self._areas[API_PREFIX + alertdef.path] = "spend_alerts"
        return app

    def _limit_handler(self, limitdef: LimitDef) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            roster = self.state.org.roster
            assert roster is not None
            project_id = request.match_info.get("project_id")
            reply = respond_spend_limit(
                self._spend, roster, limitdef.tag, project_id, self.state.now()
            )
            return _to_response(reply)

        return handle

    def _alerts_handler(self, alertdef: ListDef) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            roster = self.state.org.roster
            assert roster is not None
            reply = respond_spend_alerts(
                alertdef,
                self._spend,
                roster,
                request.match_info.get("project_id"),
                list(request.query.items()),
                self.state.now(),
            )
            return _to_response(reply)

        return handle

    def _list_handler(self, listdef: ListDef) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            roster = self.state.org.roster
            assert roster is not None  # every Organization.from_seed has one
            reply = _lists.respond_list(
                listdef,
                roster,
                dict(request.match_info),
                list(request.query.items()),
                self.state.now(),
            )
            return _to_response(reply)

        return handle

    def _endpoint_handler(self, endpoint: EndpointDef) -> Handler:
        async def handle(request: web.Request) -> web.StreamResponse:
            reply = _api.respond(
                self.state,
                endpoint,
                list(request.query.items()),
                self._secret,
                amount_as_string=self._quirks.amount_as_string,
                costs_cursor_after_empty_tail=self._quirks.costs_cursor_after_empty_tail,
            )
            return _to_response(reply)

        return handle

    def _request_id(self) -> str:
        return f"req_{self._ids.getrandbits(128):032x}"

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id = self._request_id()
        self.requests.append(
            RecordedRequest(
                method=request.method,
                path=request.path,
                query=tuple(request.query.items()),
                headers=MappingProxyType(
                    {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
                ),
                request_id=request_id,
            )
        )
        injector, quirks = self._faults, self._quirks
        decision = Decision()
        scripted = injector.next_scripted()
        reply: _api.Reply | None = None
        if scripted is not None and scripted.status != 200:
            headers = dict(scripted.headers)
            if scripted.status == 429 and not quirks.rate_limit_without_retry_after:
                configured = injector.faults.retry_after
                headers.setdefault("Retry-After", str(1 if configured is None else configured))
            if scripted.body is not None:
                reply = _api.Reply(scripted.status, scripted.body, headers)
            else:
                reply = _status_reply(scripted.status, headers)
        if injector.faults.latency:
            await asyncio.sleep(injector.faults.latency)  # simulated network time, not a sync
        if reply is None:
            reply = self._authorise(request)
        limit_headers: dict[str, str] = {}
        if reply is None:
            reply = self._rate_limit_reply(request)
            # As the bucket is when it decided, as a server sends them.
            limit_headers = self._faults.rate_limit_headers(
                request.headers.get("Authorization", "")
            )
        if reply is None:
            decision = injector.draw()
            if decision.error_status is not None:
                reply = _status_reply(decision.error_status)
        if reply is None:
            reply = await _call(handler, request)
        drop = decision.drop or (scripted is not None and scripted.action == DROP)
        truncate = decision.truncate or (scripted is not None and scripted.action == TRUNCATE)
        headers = {
            "Content-Type": "application/json",
            **reply.headers,
            **(limit_headers if reply.status in (200, 429) else {}),
            "x-request-id": request_id,
            # The simulator's clock, not the machine's: a client comparing clocks sees it.
            "Date": email.utils.formatdate(self.state.now(), usegmt=True),
        }
        if drop:
            return await _drop(request, reply, headers)
        body = reply.body
        if truncate and reply.status == 200:
            body = body[: len(body) // 2]
        return web.Response(status=reply.status, body=body, headers=headers)

    def _authorise(self, request: web.Request) -> _api.Reply | None:
        """None for the admin key; a restricted key's 403 for what it may not read; else 401."""
        header = request.headers.get("Authorization")
        given = (header or "").partition(" ")[2].strip()
        for key, denied in self._restricted.items():
            if hmac.compare_digest(given.encode(), key.encode()):
                resource = request.match_info.route.resource
                area = self._areas.get(resource.canonical if resource is not None else "")
                return _api.missing_scope(SCOPES[area]) if area in denied else None
        return _api.authorise(header, self._api_key)

    def _rate_limit_reply(self, request: web.Request) -> _api.Reply | None:
        wait = self._faults.rate_limited(request.headers.get("Authorization", ""))
        if wait is None:
            return None
        headers = {}
        if not self._quirks.rate_limit_without_retry_after:
            configured = self._faults.faults.retry_after
            headers["Retry-After"] = str(wait if configured is None else configured)
        return _status_reply(429, headers)


def _to_response(reply: _api.Reply) -> web.Response:
    return web.Response(status=reply.status, body=reply.body, headers=dict(reply.headers))


async def _call(handler: Handler, request: web.Request) -> _api.Reply:
    """The route's reply, with aiohttp's 404 and 405 turned into OpenAI error bodies."""
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        message = f"Invalid URL ({request.method} {request.path})"
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return _api.error_reply(exc.status, message, headers=headers)
    assert isinstance(response, web.Response)  # every route returns a whole Response
    body = response.body if isinstance(response.body, bytes) else b""
    return _api.Reply(response.status, body, dict(response.headers))


async def _drop(
    request: web.Request, reply: _api.Reply, headers: Mapping[str, str]
) -> web.StreamResponse:
    """Send the headers and half the body, then close the connection."""
    response = web.StreamResponse(status=reply.status, headers=dict(headers))
    response.content_length = len(reply.body)
    await response.prepare(request)
    await response.write(reply.body[: len(reply.body) // 2])
    transport: Any = request.transport
    if transport is not None:
        transport.close()
    return response
