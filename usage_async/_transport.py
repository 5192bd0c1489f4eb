"""The only aiohttp client code: one session (owned or borrowed), one concurrency limit.

``Transport.get(url)`` sends one GET and returns the raw ``(status, headers, body)``; it
maps aiohttp's errors to ours and never decides anything about the response.
"""

from __future__ import annotations

import asyncio
import contextvars
import ipaddress
import urllib.request
from collections.abc import Callable, Mapping

import aiohttp
from aiohttp.client_reqrep import ClientRequest
from aiohttp.connector import Connection
from aiohttp.tracing import Trace
from yarl import URL

from .errors import APIConnectionError, APITimeoutError, ClientClosedError, ConfigurationError

__all__ = ["HeldBackError", "PacingConnector", "Response", "Transport", "is_loopback", "proxy_for"]

Response = tuple[int, Mapping[str, str], bytes]
"""``(status, headers, body)`` of one GET."""

# The request the current task is sending: whether to hold it back once its connection is
# ready (see PacingConnector). A context variable, as aiohttp hands a connector nothing of
# the caller's but the request.
_hold: contextvars.ContextVar[Callable[[], bool] | None] = contextvars.ContextVar(
    "usage_async_hold", default=None
)


class HeldBackError(Exception):
    """The request was held back once its connection was ready (nothing was written)."""


class PacingConnector(aiohttp.TCPConnector):
    """An ``aiohttp.TCPConnector`` that lets a :class:`~usage_async.UsageClient` hold back a
    request once its connection is ready, before anything is written.

    A request waits for a connection of its own when none is idle (a new one takes a
    handshake; 30 streams started at once each open one). A 429 read meanwhile may have cut
    the client's pace or paused it: the request then waits for a new turn instead of going
    on the old one and meeting a 429 of its own. The client's own session uses this
    connector; borrow a session built on one (``aiohttp.ClientSession(connector=
    PacingConnector(limit=...))``) to keep that, as a session on any other connector sends
    such requests anyway. Requests other than a client's are never held back.
    """

    async def connect(
        self, req: ClientRequest, traces: list[Trace], timeout: aiohttp.ClientTimeout
    ) -> Connection:
        """A connection for ``req`` (from the pool or new), unless its client holds it back
        now (:class:`HeldBackError`; the connection goes back to the pool)."""
        connection = await super().connect(req, traces, timeout)
        hold = _hold.get()
        if hold is not None and hold():
            connection.release()
            raise HeldBackError
        return connection


class Transport:
    """Sends GETs through one ``aiohttp.ClientSession`` with at most ``max_concurrency`` in flight.

    A session passed in is borrowed: used as is and never closed. Otherwise the transport
    creates one on first use and closes it in :meth:`aclose`; the proxy for the API's host
    is read from the environment (``HTTPS_PROXY``/``HTTP_PROXY``, ``NO_PROXY``) then, once.
    aiohttp's ``trust_env=True`` would do that on every request, in a worker thread, and
    also apply ``~/.netrc`` credentials, which clash with the Authorization header.

    A loopback host is never reached through a proxy: plain ``http://`` is allowed there
    only because the key does not leave the machine, and a proxy is a hop that may. A
    borrowed session that would send such a request through its proxy (its own ``proxy=``,
    or the environment's with ``trust_env=True``) is refused with ``ConfigurationError``:
    aiohttp has no way to tell one request to go direct.
    """

    def __init__(
        self,
        *,
        headers: Mapping[str, str],
        timeout: float,
        max_concurrency: int,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        # The owned session's default headers (aiohttp then copies them per request instead
        # of merging a dict into them); passed with each request to a borrowed session.
        self._headers = dict(headers)
        self._request_headers: dict[str, str] | None = self._headers
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._max_concurrency = max_concurrency
        self._slots = asyncio.Semaphore(max_concurrency)
        self._in_flight = 0
        self._session = session
        self._owns_session = session is None
        self._proxy: str | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` closed the transport's own session (until :meth:`reopen`)."""
        return self._closed

    @property
    def in_flight(self) -> int:
        """How many requests hold a concurrency slot right now."""
        return self._in_flight

    def _get_session(self, url: URL) -> aiohttp.ClientSession:
        session = self._session
        if session is None:
            if self._closed:
                # A stream still running after its client was closed (a sibling of a failed
                # gather, say) must not open a session nobody will close.
                raise ClientClosedError("this UsageClient is closed")
            self._proxy = proxy_for(url)
            session = self._session = aiohttp.ClientSession(
                connector=PacingConnector(limit=self._max_concurrency),
                headers=self._headers,
            )
            self._request_headers = None
        return session

    async def get(self, url: URL, hold: Callable[[], bool] | None = None) -> Response:
        """Send one GET and read the whole response; redirects are not followed.

        Holds a concurrency slot from before connecting until the body is read. ``hold``
        is asked once the connection is ready (with a :class:`PacingConnector`): True
        raises :class:`HeldBackError`, and nothing is sent.
        """
        async with self._slots:
            session = self._get_session(url)  # after any wait for a slot: aclose may have run
            if session.closed:
                raise ConfigurationError("this UsageClient's session is closed")
            if not self._owns_session and url.scheme == "http":
                _refuse_proxy_in_clear(session, url)
            self._in_flight += 1
            held = _hold.set(hold)
            try:
                async with session.get(
                    url,
                    headers=self._request_headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                    proxy=self._proxy,
                ) as resp:
                    body = await resp.read()
                    return resp.status, resp.headers, body
            except (asyncio.TimeoutError, aiohttp.ClientError) as exc:
                if self._closed:
                    # Cut by our own aclose(): not a network failure, and not to be retried.
                    raise ClientClosedError(
                        "this UsageClient was closed during the request"
                    ) from exc
                if isinstance(exc, asyncio.TimeoutError):
                    raise APITimeoutError(
                        f"no complete response within {self._timeout.total}s"
                    ) from exc
                raise APIConnectionError(f"connection failed: {exc}") from exc
            finally:
                _hold.reset(held)
                self._in_flight -= 1

    def reopen(self) -> None:
        """Allow a new session after :meth:`aclose` (``async with client`` entered again)."""
        self._closed = False

    async def aclose(self) -> None:
        """Close the session if this transport created it; a borrowed one is left open.

        Requests in flight on it end with :class:`ClientClosedError`; until :meth:`reopen`,
        every request is refused with it.
        """
        if not self._owns_session:
            return
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def proxy_for(url: URL) -> str | None:
    """The proxy for ``url``: the environment's (its scheme's ``*_PROXY``) unless
    ``NO_PROXY`` exempts its host, and never one for a loopback host."""
    if url.host is not None and is_loopback(url.host):
        return None
    return _env_proxy(url)


def _env_proxy(url: URL) -> str | None:
    proxy = urllib.request.getproxies().get(url.scheme)
    if not proxy or (url.host and urllib.request.proxy_bypass(url.host)):
        return None
    return proxy


def _refuse_proxy_in_clear(session: aiohttp.ClientSession, url: URL) -> None:
    """Refuse a plain-http request to a loopback host that a borrowed session would send
    through a proxy: the key would leave the machine unencrypted."""
    if url.host is None or not is_loopback(url.host):
        return  # plain http elsewhere needed allow_http=True: the caller's consent
    # aiohttp >= 3.10 keeps a session's own proxy= here (no public accessor).
    own = getattr(session, "_default_proxy", None)
    if own is None and not (session.trust_env and _env_proxy(url)):
        return
    raise ConfigurationError(
        f"the borrowed session would send this plain-http request to {url.host} through a "
        "proxy, and the admin key with it, unencrypted, off this machine; add the host to "
        "NO_PROXY, or borrow a session without a proxy (trust_env=False)"
    )


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, or the name ``localhost``; decided without any DNS look-up."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
