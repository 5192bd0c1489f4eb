"""``UsageClient`` and its endpoint handles: the one place that composes the pieces.

query (``_query``) -> pace and retry (``_pacing``, ``retry``) -> one GET (``_transport``)
-> decode (``_convert``) -> pages and buckets (``_pagination``).
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import functools
import hashlib
import inspect
import logging
import os
import platform
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
from yarl import URL

from . import _pacing
from ._convert import decode_list_page, decode_object, decode_page
from ._endpoints import ENDPOINTS, EndpointSpec
from ._keys import key_kind
from ._list_query import ListQuery, build_list_query
from ._lists import LISTS, SPEND_ALERT_LISTS, ListSpec
from ._pagination import iter_buckets, iter_list_items, iter_list_pages, iter_pages
from ._query import Query, build_query
from ._transport import HeldBackError, Response, Transport, is_loopback
from ._version import __version__
from .errors import (
    ClientClosedError,
    ConfigurationError,
    InvalidParameterError,
    UsageError,
    error_from_response,
)
from .models import (
    AdminApiKey,
    Bucket,
    ListPage,
    OrganizationSpendAlert,
    OrganizationSpendLimit,
    Page,
    Project,
    ProjectApiKey,
    ProjectServiceAccount,
    ProjectSpendAlert,
    ProjectSpendLimit,
    User,
)
from .retry import RetryEvent, RetryPolicy, build_retrying, should_retry

if TYPE_CHECKING:
    from types import TracebackType

    from ._params import (
        AudioSpeechesEndpoint,
        AudioTranscriptionsEndpoint,
        CodeInterpreterSessionsEndpoint,
        CompletionsEndpoint,
        CostsEndpoint,
        EmbeddingsEndpoint,
        FileSearchCallsEndpoint,
        ImagesEndpoint,
        ModerationsEndpoint,
        VectorStoresEndpoint,
        WebSearchCallsEndpoint,
    )
    from .directory import Directory
    from .keycheck import KeyCheck

__all__ = ["DEFAULT_BASE_URL", "Endpoint", "ListEndpoint", "PaceStats", "UsageClient"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"
API_KEY_ENV = "OPENAI_ADMIN_KEY"

log = logging.getLogger("usage_async")

R = TypeVar("R")
T = TypeVar("T")


def _check_base_url(base_url: str, allow_http: bool) -> URL:
    url = URL(base_url.rstrip("/"))
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url must be an http(s) URL with a host, got {base_url!r}")
    if url.query_string or url.fragment:
        raise ConfigurationError(f"base_url must not have a query or fragment, got {base_url!r}")
    if url.scheme == "http" and not allow_http and not is_loopback(url.host):
        raise ConfigurationError(
            f"base_url {base_url!r} is plain http to a host that is not loopback: the admin "
            "key would travel unencrypted. Use https, or pass allow_http=True if you mean it "
            "(a simulator in another container, say)."
        )
    return url


def _check_key(key: object) -> str:
    """The key without surrounding whitespace (a key read from a file ends with a newline).

    Any other character that cannot go in an ``Authorization`` header is refused before any
    request, with a message that says what is wrong but shows no part of the key.
    """
    if key is not None and not isinstance(key, str):
        raise ConfigurationError(f"api_key must be a string, got {type(key).__name__}")
    key = key.strip() if key is not None else ""
    if not key:
        raise ConfigurationError(
            f"no API key: pass api_key= or set the {API_KEY_ENV} environment variable "
            "to an organization admin key (sk-admin-...)"
        )
    bad = _bad_header_char(key)
    if bad is not None:
        raise ConfigurationError(
            f"the API key contains {bad}, which cannot be sent in an HTTP header: check how "
            "it was copied or read (the key is not shown here)"
        )
    return key


def _check_header(name: str, value: str) -> str:
    bad = _bad_header_char(value)
    if bad is not None:
        raise ConfigurationError(f"{name} contains {bad}: {value!r}")
    return value


def _bad_header_char(text: str) -> str | None:
    """What kind of character of ``text`` a header value cannot carry, or None.

    Keys and organization ids are printable ASCII without spaces; anything else is a
    copying mistake (aiohttp would refuse control characters with a bare ValueError).
    """
    for char in text:
        if "!" <= char <= "~":
            continue
        if char == " ":
            return "whitespace inside it"
        if char.isascii() or not char.isprintable():
            return "a control character"
        return "a non-ASCII character"
    return None


@attrs.frozen
class PaceStats:
    """What a client's pace is doing, and what it has met so far: :meth:`UsageClient.pace_stats`.

    Counts run from the client's creation; the rest is as of the call.
    """

    rate: float | None
    """Requests per second the pace allows now; None while unpaced (``rate_limit=None``, or
    ``"adaptive"`` before its first 429)."""
    window: int | None
    """The most requests in flight that adaptive pacing allows before its first 429 (slow
    start), or None for no such cap (``max_concurrency`` still applies)."""
    in_flight: int
    """Requests sent and not yet answered."""
    waiting: int
    """Requests waiting for their turn: the pace, the window, or a server's pause."""
    requests: int
    """Requests sent, every attempt counted."""
    rate_limited: int
    """Responses with status 429."""
    retries: int
    """Retries made, for any cause (a wait before one counts it)."""
    retries_by_cause: Mapping[str, int] = attrs.field(hash=False)
    """``retries`` by :attr:`RetryEvent.cause` (``"429"``, ``"5xx"``, ``"timeout"``, ...), a
    read-only copy."""
    wait_seconds: float
    """Seconds requests spent waiting for their turn, summed over requests (two requests
    waiting for one second count two); waits still under way are not in it yet."""
    pause_seconds: float
    """Seconds the client was paused by servers' waits (a 429's ``Retry-After``), as wall
    time: overlapping pauses count once."""
    paused_until: float | None
    """When the server's pause under way ends, as Unix time; None when none is."""

    @property
    def paused(self) -> bool:
        """Whether a server's wait pauses the client now."""
        return self.paused_until is not None


class _PaceMeter:
    """The counters behind :meth:`UsageClient.pace_stats`, kept by each request: loop time."""

    __slots__ = (
        "_paused",
        "pause_end",
        "pause_start",
        "rate_limited",
        "retries",
        "waited",
        "waiting",
    )

    def __init__(self) -> None:
        self.waiting = 0
        self.waited = 0.0
        self.rate_limited = 0
        self.retries: dict[str, int] = {}
        self._paused = 0.0  # seconds of the server pauses that are over
        self.pause_start = self.pause_end = 0.0  # the latest server pause

    def pause_until(self, now: float, until: float) -> None:
        """The pace is paused until ``until`` (later than :attr:`pause_end`): a new pause,
        or the one under way made longer."""
        if self.pause_end < now:  # the last pause is over: this is a new one
            self._paused += self.pause_end - self.pause_start
            self.pause_start = now
        self.pause_end = until

    def paused(self, now: float) -> float:
        """Seconds spent paused by servers up to ``now``."""
        return self._paused + max(0.0, min(now, self.pause_end) - self.pause_start)


class Endpoint(Generic[R]):
    """One endpoint of a client: await it for one page, or stream its pages or buckets.

    Every method takes the endpoint's query parameters as keyword arguments, named as in the
    API; they are checked when the method is called, before any request.
    """

    __slots__ = ("_client", "_spec")

    def __init__(self, client: UsageClient, spec: EndpointSpec) -> None:
        self._client = client
        self._spec = spec

    def __repr__(self) -> str:
        return f"<usage_async endpoint {self._spec.name} {self._spec.path}>"

    @property
    def spec(self) -> EndpointSpec:
        """The endpoint's row: path, filters, ``group_by`` values, bucket widths, limits."""
        return self._spec

    def __call__(self, **params: Any) -> Awaitable[Page[R]]:
        """One request: the page at ``page=`` (or the first), without following cursors.

        ``limit`` is sent only when given (the API's default page otherwise).
        """
        query = build_query(self._spec, params)
        return self._client._fetch(query, query.page)

    def pages(self, **params: Any) -> AsyncGenerator[Page[R], None]:
        """Every page, following ``next_page`` while ``has_more`` is true.

        Without ``limit``, each request asks for the most buckets a page may hold.
        """
        query = build_query(self._spec, params, largest_pages=True)
        return iter_pages(self._client._prefetch, query)

    def buckets(self, **params: Any) -> AsyncGenerator[Bucket[R], None]:
        """Every bucket of every page, in order, each exactly once (largest pages by default)."""
        query = build_query(self._spec, params, largest_pages=True)
        return iter_buckets(iter_pages(self._client._prefetch, query))

    def collect(self, **params: Any) -> Awaitable[list[Bucket[R]]]:
        """All buckets of all pages, as one list (largest pages by default)."""
        query = build_query(self._spec, params, largest_pages=True)
        return _collect(iter_buckets(iter_pages(self._client._prefetch, query)))


async def _collect(buckets: AsyncGenerator[Bucket[R], None]) -> list[Bucket[R]]:
    return [bucket async for bucket in buckets]


class UsageClient:
    """An asyncio client for OpenAI's organization Usage and Costs API.

    Use it as ``async with UsageClient() as client:``, or keep one for an app's lifetime and
    ``await client.aclose()`` at shutdown. ``async with client:`` nests: only the outermost
    exit closes the client (``aclose()`` closes it at once). All requests of a client share
    one connection pool, at most ``max_concurrency`` requests in flight, one retry policy and
    one rate pace.

    ``api_key`` falls back to the ``OPENAI_ADMIN_KEY`` environment variable; surrounding
    whitespace is stripped, and a key with any other character a header cannot carry is a
    ``ConfigurationError`` that does not show the key. ``session``
    borrows an existing ``aiohttp.ClientSession`` (never closed by the client). ``timeout``
    bounds each attempt, from connecting to the last byte. Plain ``http://`` base URLs are
    refused unless the host is loopback or ``allow_http=True``. ``rate_limit`` is
    ``"adaptive"`` (default: no pacing until the first 429, then one shared, adaptive rate),
    a number of requests per second, or None for no pacing.

    ``on_retry`` is called with a :class:`~usage_async.RetryEvent` before each retry's
    wait: a plain function, called synchronously in the request's task, so it must not block
    (to do async work, start a task from it). An exception it raises is logged once (at
    WARNING; later ones at DEBUG) and does not affect the request. :meth:`pace_stats` counts
    retries with or without it.
    """

    completions: CompletionsEndpoint
    embeddings: EmbeddingsEndpoint
    moderations: ModerationsEndpoint
    images: ImagesEndpoint
    audio_speeches: AudioSpeechesEndpoint
    audio_transcriptions: AudioTranscriptionsEndpoint
    vector_stores: VectorStoresEndpoint
    code_interpreter_sessions: CodeInterpreterSessionsEndpoint
    file_search_calls: FileSearchCallsEndpoint
    web_search_calls: WebSearchCallsEndpoint
    costs: CostsEndpoint

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str = DEFAULT_BASE_URL,
        organization: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008 - frozen, so one shared default is safe
        max_concurrency: int = 8,
        session: aiohttp.ClientSession | None = None,
        allow_http: bool = False,
        rate_limit: float | str | None = "adaptive",
        on_retry: Callable[[RetryEvent], object] | None = None,
    ) -> None:
        key = _check_key(api_key if api_key is not None else os.environ.get(API_KEY_ENV))
        if not isinstance(retry, RetryPolicy):
            raise ConfigurationError(f"retry must be a RetryPolicy, got {type(retry).__name__}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ConfigurationError(f"max_concurrency must be an int, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ConfigurationError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ConfigurationError(f"timeout must be a positive number, got {timeout!r}")
        _check_hook(on_retry)
        self._base_url = _check_base_url(base_url, allow_http)
        self._base = str(self._base_url)
        headers = {
            "Authorization": f"Bearer {key}",
            "Accept": "application/json",
            "User-Agent": (
                f"usage-async/{__version__} (python {platform.python_version()}; "
                f"aiohttp {aiohttp.__version__})"
            ),
        }
        self._organization: str | None = None
        if organization is not None and organization.strip():
            self._organization = _check_header("organization", organization.strip())
            headers["OpenAI-Organization"] = self._organization
        # One-way: a prefix of the key's SHA-256, never the key (what a database stores).
        self._key_fingerprint = hashlib.sha256(key.encode()).hexdigest()[:12]
        self._key_kind = key_kind(key)
        self._date_header: str | None = None
        self._server_date: int | None = None
        self._transport = Transport(
            headers=headers,
            timeout=float(timeout),
            max_concurrency=max_concurrency,
            session=session,
        )
        self._retry = retry
        self._entries = 0  # `async with` entries not yet exited
        self._pacer = _pacing.make_pacer(rate_limit, max_pause=retry.max_retry_after)
        self._sleepers: set[asyncio.Future[None]] = set()  # retries waiting to be made
        self._meter = _PaceMeter()
        self._on_retry = on_retry
        self._hook_failed = False
        self._retrying = build_retrying(
            retry, paced_429=rate_limit == "adaptive", sleep=self._sleep, on_retry=self._retried
        )
        for name, spec in ENDPOINTS.items():
            setattr(self, name, Endpoint(self, spec))

    def __repr__(self) -> str:
        return f"<UsageClient {self._base}>"

    @property
    def base_url(self) -> str:
        """The API root requests go to (``https://api.openai.com/v1`` by default)."""
        return self._base

    @property
    def organization(self) -> str | None:
        """The ``organization`` setting (sent as ``OpenAI-Organization``), or None."""
        return self._organization

    @property
    def key_fingerprint(self) -> str:
        """The first 12 hex digits of the key's SHA-256: tells keys apart, safe to store.

        One-way: the key cannot be recovered from it (48 bits of a hash of a key with far
        more entropy), so it may be written to a database or a log, unlike the key.
        """
        return self._key_fingerprint

    @property
    def last_server_date(self) -> int | None:
        """The newest ``Date`` header any response carried, as Unix seconds (None before one).

        The API's own clock, to check a local clock against (RFC 9110 section 6.6.1: a
        server's ``Date`` is when it made the response, to the second).
        """
        return self._server_date

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy of every request of this client."""
        return self._retry

    def pace_stats(self) -> PaceStats:
        """The client's pace now, and its requests, 429s, retries and waits so far.

        Cheap (no lock, no I/O: a metrics scrape may call it often) and safe to call from
        any thread; each value is consistent on its own, read in the client's event loop
        they are consistent together. Outside a running loop the pace is read at
        ``time.monotonic()``, the clock of asyncio's own loops.
        """
        try:
            now = asyncio.get_running_loop().time()
        except RuntimeError:
            now = time.monotonic()
        rate, window, until = self._pacer.snapshot(now)
        meter = self._meter
        retries = MappingProxyType(dict(meter.retries))
        return PaceStats(
            rate=rate,
            window=None if window is None else int(window),
            in_flight=self._transport.in_flight,
            waiting=meter.waiting,
            requests=self._pacer.requests,
            rate_limited=meter.rate_limited,
            retries=sum(retries.values()),
            retries_by_cause=retries,
            wait_seconds=meter.waited,
            pause_seconds=meter.paused(now),
            paused_until=time.time() + (until - now) if until > now else None,
        )

    def _retried(self, event: RetryEvent) -> None:
        """Count a retry, and tell the ``on_retry`` hook; its failure is not the request's."""
        retries = self._meter.retries
        retries[event.cause] = retries.get(event.cause, 0) + 1
        hook = self._on_retry
        if hook is None:
            return
        try:
            result = hook(event)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()  # never run: no "never awaited" warning either
                raise TypeError("on_retry returned an awaitable; it must be a plain function")
        except Exception:
            if not self._hook_failed:
                self._hook_failed = True
                log.warning(
                    "on_retry hook failed (later failures are logged at DEBUG)", exc_info=True
                )
            else:
                log.debug("on_retry hook failed", exc_info=True)

    def endpoint(self, name: str) -> Endpoint[Any]:
        """The endpoint handle called ``name`` (``"costs"``, ``"completions"``, ...)."""
        if name not in ENDPOINTS:
            raise KeyError(f"unknown endpoint {name!r}; endpoints: {', '.join(ENDPOINTS)}")
        handle: Endpoint[Any] = getattr(self, name)
        return handle

    async def __aenter__(self) -> UsageClient:
        """Open the client (again, after ``aclose``); entries nest: see :meth:`__aexit__`."""
        self._entries += 1
        self._transport.reopen()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the client on leaving the outermost ``async with`` of it.

        A helper that enters a client the whole app shares (``async with client:``) leaves
        it open for everyone else: entries are counted, across tasks too, and only the exit
        that balances the first entry closes it.
        """
        self._entries -= 1
        if self._entries == 0:
            await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool if the client created it; a borrowed session stays open.

        It closes whatever the ``async with`` nesting, for apps that keep one client and
        close it at shutdown. Requests the closing cuts (in flight, or waiting for their
        pace, a concurrency slot or a retry) end at once with :class:`ClientClosedError`,
        unretried; so does every later request, until ``async with`` enters it again. A
        client on a borrowed session cuts nothing: the session and its requests are the
        lender's.
        """
        await self._transport.aclose()
        if self._transport.closed:  # its own session: nothing more may be sent
            self._pacer.fail_waiters(ClientClosedError)
            for sleeper in self._sleepers:
                if not sleeper.done():
                    sleeper.set_exception(
                        ClientClosedError("this UsageClient was closed before a retry")
                    )

    async def _sleep(self, seconds: float) -> None:
        """The wait before a retry, ended early by :meth:`aclose`."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._sleepers.discard(waiter)

    def _url(self, query: Query, cursor: str | None) -> URL:
        url = self._base + query.endpoint.path
        qs = query.query_string
        if cursor is not None:
            cursor_part = "page=" + quote(cursor, safe="")
            qs = f"{qs}&{cursor_part}" if qs else cursor_part
        return URL(f"{url}?{qs}" if qs else url, encoded=True)

    async def _get(self, url: URL, attempt: int = 1) -> Response:
        """One paced GET: the raw response, or the transport's error; logged at DEBUG."""
        if self._transport.closed:
            raise ClientClosedError("this UsageClient is closed")
        meter, clock, pacer = self._meter, asyncio.get_running_loop().time, self._pacer
        while True:
            queued = clock()
            meter.waiting += 1
            try:
                ticket = await pacer.acquire()
            finally:
                meter.waiting -= 1
            meter.waited += clock() - queued
            started = time.perf_counter()
            hold = functools.partial(pacer.overtaken, ticket)
            try:
                response = await self._transport.get(url, hold)
            except HeldBackError:
                # A 429 overtook its turn while it waited for a slot or a connection.
                pacer.withdraw(ticket)
                continue
            except BaseException as exc:
                pacer.release(ticket, None, {})
                if log.isEnabledFor(logging.DEBUG):
                    log.debug(
                        "GET %s failed after %.0f ms: %s (attempt %d)",
                        url.raw_path_qs,
                        (time.perf_counter() - started) * 1000,
                        type(exc).__name__,
                        attempt,
                    )
                raise
            break
        pacer.release(ticket, response[0], response[1])
        if response[0] == 429:
            meter.rate_limited += 1
        if pacer.paused_until > meter.pause_end:  # a server's wait pauses the client
            meter.pause_until(clock(), pacer.paused_until)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "GET %s -> %d in %.0f ms (x-request-id %s, attempt %d)",
                url.raw_path_qs,
                response[0],
                (time.perf_counter() - started) * 1000,
                response[1].get("x-request-id"),
                attempt,
            )
        date = response[1].get("Date")
        if date is not None and date != self._date_header:  # parse once per new second
            self._note_server_date(date)
        if response[0] in (401, 403):
            # Say which kind of key was refused and what it lacks (never the key itself).
            raise error_from_response(*response, key_kind=self._key_kind)
        return response

    def _note_server_date(self, header: str) -> None:
        self._date_header = header
        try:
            parsed = email.utils.parsedate_to_datetime(header)
        except (TypeError, ValueError, IndexError, OverflowError):
            return  # a malformed Date is no evidence of the server's clock
        if parsed.tzinfo is None:  # "-0000" or no zone: HTTP dates are always GMT
            parsed = parsed.replace(tzinfo=datetime.timezone.utc)
        when = int(parsed.timestamp())
        if self._server_date is None or when > self._server_date:
            self._server_date = when

    async def _attempt(self, path: str, url: URL, attempt: int) -> Page[Any]:
        return decode_page(*await self._get(url, attempt))

    async def _finish(self, first: Awaitable[Response], path: str, url: URL) -> Page[Any]:
        """The page of a first attempt already under way, retried as the policy says."""
        # The first attempt runs outside tenacity: most requests succeed, and the retry
        # machinery (a copy of AsyncRetrying and its state per call) then costs nothing.
        try:
            return decode_page(*await first)
        except UsageError as exc:
            if not should_retry(exc) or self._retry.max_attempts == 1:
                raise
            first_failure = exc
        replay = _ReplayFirst(first_failure, self._attempt)
        page: Page[Any] = await self._retrying.copy()(replay, path, url)
        return page

    async def _fetch(self, query: Query, cursor: str | None) -> Page[Any]:
        """One page, now."""
        path, url = query.endpoint.path, self._url(query, cursor)
        return await self._finish(self._get(url), path, url)

    def _prefetch(self, query: Query, cursor: str | None) -> _PageRequest:
        """One page whose request starts now and whose body is decoded when it is awaited."""
        path, url = query.endpoint.path, self._url(query, cursor)
        return _PageRequest(asyncio.ensure_future(self._get(url)), self._finish, path, url)

    # -- the organization's directory: the admin list endpoints, and what uses them ---------

    @property
    def key_kind(self) -> str:
        """``"admin"``, ``"project"`` or ``"other"``: the kind of the client's key, from its
        public prefix alone (the key itself is never shown)."""
        return self._key_kind

    async def _request(self, path: str, query_string: str, decode: Callable[..., T]) -> T:
        """One paced, retried GET of ``path`` (below the base URL), its response decoded by
        ``decode(status, headers, body)``, which raises for what is not a success.

        The same pace, concurrency limit and retry policy as every usage page; the seam the
        list endpoints and the key check go through.
        """
        target = f"{self._base}{path}?{query_string}" if query_string else self._base + path
        url = URL(target, encoded=True)  # path and query string are quoted already

        calls = 0

        async def attempt(what: str, url: URL) -> T:
            nonlocal calls
            calls += 1
            return decode(*await self._get(url, calls))

        result: T = await self._retrying.copy()(attempt, path, url)
        return result

    def _fetch_list(self, query: ListQuery, after: str | None) -> Awaitable[ListPage[Any]]:
        decode = functools.partial(decode_list_page, query.spec.item_type)
        return self._request(query.path, query.query_for(after), decode)

    @property
    def projects(self) -> ListEndpoint[Project]:
        """The organization's projects (``/organization/projects``; archived ones only with
        ``include_archived=True``)."""
        return ListEndpoint(self, LISTS["projects"])

    @property
    def users(self) -> ListEndpoint[User]:
        """The organization's users (``/organization/users``)."""
        return ListEndpoint(self, LISTS["users"])

    @property
    def admin_api_keys(self) -> ListEndpoint[AdminApiKey]:
        """The organization's admin API keys (``/organization/admin_api_keys``)."""
        return ListEndpoint(self, LISTS["admin_api_keys"])

    def project_api_keys(self, project_id: str) -> ListEndpoint[ProjectApiKey]:
        """The API keys of one project (sent with ``owner_project_access=any`` unless told
        otherwise: without it the API hides keys whose owner left the project)."""
        return ListEndpoint(self, LISTS["project_api_keys"], project_id=project_id)

    def project_service_accounts(self, project_id: str) -> ListEndpoint[ProjectServiceAccount]:
        """The service accounts of one project."""
        return ListEndpoint(self, LISTS["project_service_accounts"], project_id=project_id)

    def directory(
        self, *, max_age: float | datetime.timedelta | None = None, limit: int | None = None
    ) -> Awaitable[Directory]:
        """A snapshot naming the organization's projects, users, API keys and service
        accounts by id, cached for ``max_age`` (seconds or a timedelta; default 10 minutes; 0
        takes a new one); ``limit`` objects a page (default 100). Never fails for a name it
        cannot find. See :mod:`usage_async.directory`."""
        from .directory import load_directory  # the resolver is built on this module

        return load_directory(self, max_age=max_age, limit=limit)

    def check(self) -> Awaitable[KeyCheck]:
        """Check the client's key: its kind, whether it reaches the API, reads usage and each
        directory list, and the server's clock. See :func:`usage_async.keycheck.check_key`."""
        from .keycheck import check_key  # built on this module

        return check_key(self)

    # -- spend limits and alerts: the admin spend endpoints ---------------------------------

    def organization_spend_limit(self) -> Awaitable[OrganizationSpendLimit]:
        """The organization's hard monthly spend limit (``/organization/spend_limit``), in
        cents (``threshold_amount``) and exact dollars (``threshold``)."""
        decode = functools.partial(decode_object, OrganizationSpendLimit)
        return self._request("/organization/spend_limit", "", decode)

    def project_spend_limit(self, project_id: str) -> Awaitable[ProjectSpendLimit]:
        """A project's hard monthly spend limit (``/organization/projects/{id}/spend_limit``).

        The spec documents only the 200 answer; any other (a 404 for a project without a
        limit, say) is raised as its :class:`~usage_async.APIStatusError`, never read as "no
        limit"."""
        if not isinstance(project_id, str) or not project_id:
            raise InvalidParameterError(
                f"project_id: expected a non-empty id string, got {project_id!r}",
                param="project_id",
            )
        path = f"/organization/projects/{quote(project_id, safe='')}/spend_limit"
        return self._request(path, "", functools.partial(decode_object, ProjectSpendLimit))

    @property
    def spend_alerts(self) -> ListEndpoint[OrganizationSpendAlert]:
        """The organization's spend alerts (``/organization/spend_alerts``), paged by
        ``after``; thresholds in cents and exact dollars."""
        return ListEndpoint(self, SPEND_ALERT_LISTS["spend_alerts"])

    def project_spend_alerts(self, project_id: str) -> ListEndpoint[ProjectSpendAlert]:
        """The spend alerts of one project (``/organization/projects/{id}/spend_alerts``)."""
        return ListEndpoint(self, SPEND_ALERT_LISTS["project_spend_alerts"], project_id=project_id)


def _check_hook(on_retry: object) -> None:
    if on_retry is None:
        return
    if not callable(on_retry):
        raise ConfigurationError(
            f"on_retry must be a function taking a RetryEvent, got {type(on_retry).__name__}"
        )
    call = getattr(on_retry, "__call__", None)  # noqa: B004 - a callable object's method
    if inspect.iscoroutinefunction(on_retry) or inspect.iscoroutinefunction(call):
        raise ConfigurationError(
            "on_retry must be a plain function (it is called before each retry's wait, "
            "in the request's task), not an async one; start a task from it for async work"
        )


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class _PageRequest:
    """A page read ahead: its first request runs in a task at once (``request``), but the
    body is decoded (and any retry made) only in the task that awaits the page, when it does.

    So a page fetched ahead of the consumer waits as one ``bytes`` object, not as a tree of
    dicts and typed results that would age in memory (and through the garbage collector's
    generations) while the consumer works on the page before it. Cancelling ``request``
    drops the page; awaiting it afterwards raises ``CancelledError``.
    """

    __slots__ = ("_finish", "_path", "_url", "request")

    def __init__(
        self,
        request: asyncio.Future[Response],
        finish: Callable[[Awaitable[Response], str, URL], Awaitable[Page[Any]]],
        path: str,
        url: URL,
    ) -> None:
        self.request = request
        self._finish = finish
        self._path = path
        self._url = url

    def __await__(self) -> Generator[Any, None, Page[Any]]:
        return self._finish(self.request, self._path, self._url).__await__()


class _ReplayFirst:
    """An attempt function whose first call re-raises a failure that already happened, so
    tenacity counts it, waits and logs as if it had made that attempt itself; the later
    calls are attempts 2, 3, ..."""

    __slots__ = ("_attempt", "_calls", "_failure")

    def __init__(
        self, failure: UsageError, attempt: Callable[[str, URL, int], Awaitable[Page[Any]]]
    ) -> None:
        self._failure: UsageError | None = failure
        self._attempt = attempt
        self._calls = 0

    async def __call__(self, path: str, url: URL) -> Page[Any]:
        self._calls += 1
        failure, self._failure = self._failure, None
        if failure is not None:
            raise failure
        return await self._attempt(path, url, self._calls)


class ListEndpoint(Generic[T]):
    """One admin list of a client: await it for one page, or stream its pages or objects.

    These lists page by object id (``after=<last_id>`` while ``has_more``), not by the usage
    endpoints' time-bucket cursors; every method takes the list's query parameters as keyword
    arguments, named as in the API (``limit`` 1..100, ``after``, and the list's filters), and
    checks them when called, before any request. A stream asks for 100 objects a page unless
    given ``limit``; an error raised out of one carries ``.cursor``, the ``after`` to continue
    from.
    """

    __slots__ = ("_client", "_path_args", "_spec")

    def __init__(self, client: UsageClient, spec: ListSpec, **path_args: str) -> None:
        self._client = client
        self._spec = spec
        self._path_args = path_args

    def __repr__(self) -> str:
        return f"<usage_async list {self._spec.name} {self._spec.path} {self._path_args or ''}>"

    @property
    def spec(self) -> ListSpec:
        """The list's row: path, item class, filters."""
        return self._spec

    def _query(self, params: dict[str, Any], *, stream: bool) -> ListQuery:
        return build_list_query(self._spec, params, path_args=self._path_args, stream=stream)

    def __call__(self, **params: Any) -> Awaitable[ListPage[T]]:
        """One request: the page after ``after=`` (or the first), ``limit`` as the API's default."""
        query = self._query(params, stream=False)
        return self._client._fetch_list(query, query.after)

    def pages(self, **params: Any) -> AsyncGenerator[ListPage[T], None]:
        """Every page, following ``after=last_id`` while ``has_more`` is true."""
        return iter_list_pages(self._client._fetch_list, self._query(params, stream=True))

    def items(self, **params: Any) -> AsyncGenerator[T, None]:
        """Every object of every page, in order, each exactly once."""
        query = self._query(params, stream=True)
        return iter_list_items(iter_list_pages(self._client._fetch_list, query))

    def collect(self, **params: Any) -> Awaitable[list[T]]:
        """All objects of all pages, as one list."""
        query = self._query(params, stream=True)
        return _collect_items(iter_list_items(iter_list_pages(self._client._fetch_list, query)))


async def _collect_items(items: AsyncGenerator[T, None]) -> list[T]:
    return [item async for item in items]
