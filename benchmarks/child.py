"""The benchmark's child processes (workers, the page server, the simulator): one way to
talk to them in JSON lines and one way to end them, also when they hang."""

from __future__ import annotations

import contextlib
import json
import select
import subprocess
from typing import Any

__all__ = ["ChildGoneError", "ask", "end"]


class ChildGoneError(RuntimeError):
    """A child that exited or did not answer in time; ``what`` says which."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def ask(proc: subprocess.Popen[str], message: object, timeout: float) -> Any:
    """Send ``message`` as one JSON line and return the child's JSON answer line."""
    if proc.stdin is None or proc.stdout is None:
        raise ChildGoneError("has no pipes")
    try:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
    except OSError:
        raise ChildGoneError("exited") from None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        raise ChildGoneError("exited" if ready else f"did not answer in {timeout:g}s")
    return json.loads(line)


def end(proc: subprocess.Popen[str], goodbye: object = None) -> None:
    """End ``proc``: send ``goodbye`` (if any), close its input, wait 10 s, then terminate
    and, 5 s later, kill it; close its output."""
    if proc.stdin is not None:
        if goodbye is not None:
            with contextlib.suppress(OSError, ValueError):
                proc.stdin.write(json.dumps(goodbye) + "\n")
                proc.stdin.flush()
        with contextlib.suppress(OSError):
            proc.stdin.close()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
