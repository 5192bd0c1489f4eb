"""A tiny DevTools-protocol client for headless Chromium, over ``--remote-debugging-pipe``.

Chromium's own headless mode, driven through the pipe (file descriptors 3 and 4, one JSON
message per NUL-terminated record): no port is opened, no driver is downloaded, and the
browser is Debian's ``/usr/bin/chromium``. The protocol gives what ``--dump-dom`` cannot:
console messages and uncaught exceptions (``Runtime.consoleAPICalled``,
``Runtime.exceptionThrown``) and the browser's own log (``Log.entryAdded``: failed loads,
Content-Security-Policy violations), the page's rendered geometry, and screenshots.

Chromium starts with the flags that keep it off the network (no background networking,
component updates, sync or QUIC) and a new empty profile.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_FLAGS", "Browser", "Page", "find_chromium"]

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--remote-debugging-pipe",
)
CHROMIUM_ENV = "USAGE_ASYNC_CHROMIUM"


def find_chromium() -> str | None:
    """``$USAGE_ASYNC_CHROMIUM``, else ``chromium`` (Debian's) or ``chromium-browser`` on PATH."""
    given = os.environ.get(CHROMIUM_ENV)
    if given:
        return given if os.access(given, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


class ProtocolError(Exception):
    """The browser answered a command with an error, or not in time."""


class Browser:
    """One headless Chromium process; ``with Browser(path) as b: page = b.page()``."""

    def __init__(self, executable: str, timeout: float = 30.0) -> None:
        self.executable = executable
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._next_id = 0
        self._buffer = b""
        self._profile = tempfile.mkdtemp(prefix="usage-async-chromium-")
        # Our ends: we write commands to `to_browser`, read replies from `from_browser`.
        browser_reads, self._to_browser = os.pipe()
        self._from_browser, browser_writes = os.pipe()

        def wire() -> None:  # in the child: the pipe ends as fd 3 (commands) and 4 (replies)
            # Out of the way first: either end may itself be fd 3 or 4.
            reads = fcntl.fcntl(browser_reads, fcntl.F_DUPFD, 10)
            writes = fcntl.fcntl(browser_writes, fcntl.F_DUPFD, 10)
            os.dup2(reads, 3)  # os.dup2 makes the copy inheritable
            os.dup2(writes, 4)

        self._process = subprocess.Popen(  # noqa: S603 - the test's own browser
            [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=wire,
            # Kept open across exec: fds 3 and 4 (dup2 makes them inheritable); every other
            # descriptor of ours is non-inheritable (PEP 446) and closes at exec.
            close_fds=False,
        )
        os.close(browser_reads)
        os.close(browser_writes)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Ask the browser to close, then make sure it did; remove its profile."""
        try:
            if self._process.poll() is None:
                self.send("Browser.close", timeout=5)
        except (ProtocolError, OSError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        for fd in (self._to_browser, self._from_browser):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ProtocolError("the browser did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if not ready:
                continue
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise ProtocolError("the browser closed the pipe")
            self._buffer += chunk
        record, self._buffer = self._buffer.split(b"\0", 1)
        message: dict[str, Any] = json.loads(record)
        return message

    def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        session: str | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:
        """Send one command and return its result; events that arrive meanwhile are kept in
        :attr:`events`."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise ProtocolError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float | None = None) -> dict[str, Any]:
        """The first event ``method`` of ``session`` not yet waited for."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self.events):
                if event["method"] == method and event.get("sessionId") == session:
                    del self.events[i]
                    self.events.append({**event, "method": f"(seen) {method}"})
                    return event
            self.events.append(self._read_message(deadline))

    def page(self, width: int = 1000, height: int = 800) -> Page:
        """A new tab of ``width`` CSS pixels, with the console and the browser log on."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session)
        for domain in ("Page", "Runtime", "Log"):
            page.send(f"{domain}.enable")
        page.resize(width, height)
        return page


class Page:
    """One tab of a :class:`Browser`."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """A command to this tab."""
        return self.browser.send(method, params, self.session)

    def resize(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Lay the page out at ``width`` x ``height`` CSS pixels (a phone with ``mobile``)."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
        )

    def open(self, path: Path) -> None:
        """Load a file and wait for its load event."""
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.browser.wait_for("Page.loadEventFired", self.session)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-able values only)."""
        reply = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in reply:
            raise ProtocolError(f"evaluate: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def errors(self) -> list[str]:
        """Every console error, uncaught exception and browser log error of this tab so far."""
        found = []
        for event in self.browser.events:
            if event.get("sessionId") != self.session:
                continue
            method, params = event["method"], event.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                found.append("console: " + " ".join(str(a.get("value", a)) for a in args))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                found.append("exception: " + str(details.get("exception", details)))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                entry = params["entry"]
                found.append(f"log ({entry.get('source')}): {entry.get('text')}")
        return found

    def screenshot(self, path: Path, *, full_height: bool = True, max_height: int = 0) -> None:
        """A PNG of the page (all of it with ``full_height``, cut at ``max_height`` if set)."""
        params: dict[str, Any] = {"format": "png"}
        if full_height:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            height = size["height"] if not max_height else min(size["height"], max_height)
            params["clip"] = {
                "x": 0,
                "y": 0,
                "width": size["width"],
                "height": height,
                "scale": 1,
            }
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))

    def print_media(self) -> None:
        """Lay the page out as for printing."""
        self.send("Emulation.setEmulatedMedia", {"media": "print"})

    def pdf(self, path: Path) -> None:
        """Print the page to a PDF file."""
        data = self.send("Page.printToPDF", {"printBackground": True})["data"]
        path.write_bytes(base64.b64decode(data))
