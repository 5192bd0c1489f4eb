"""The clients under test, one module each, all with ``async def run(workload) -> tallies``.

This module imports the standard library only: a worker measures its RSS before and after
importing one client module, so that module's imports are all the difference.

Every client reads each stream of the workload to the end and tallies, per bucket, its
``start_time``, its number of results and their ``input_tokens``: the same small work in
every client, checked by the runner against what the server rendered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Tally", "Workload", "describe", "record_errors"]


@dataclass
class Workload:
    """What one run reads: the base URL, one query per stream, and the client settings.

    ``concurrency`` is usage-async's ``max_concurrency`` (None: its default);
    ``openai_retries`` the SDK's ``max_retries`` (None: its default). ``mark`` is called
    once, when stream 0 has delivered ``mark_at`` buckets (the memory scenario's
    one-page steady state). ``throttled``, when a list (usage-async only): for each request
    that met a 429, the loop time its headers were written and its answer came, appended.
    """

    base_url: str
    streams: list[dict[str, Any]]
    concurrency: int | None = None
    openai_retries: int | None = 0
    mark_at: int = -1
    mark: Callable[[], None] = field(default=lambda: None)
    throttled: list[tuple[float, float]] | None = None


@dataclass
class Tally:
    """What one stream delivered; ``error`` is the exception that ended it early, if any."""

    starts: list[int] = field(default_factory=list)
    results: int = 0
    input_tokens: int = 0
    error: str | None = None


def describe(exc: BaseException) -> str:
    """An exception as ``Type: message``, for a run's record."""
    return f"{type(exc).__name__}: {exc}"[:300]


def record_errors(tallies: list[Tally], outcomes: list[Any]) -> list[Tally]:
    """Note on each stream's tally the exception that ended it (``gather`` with
    ``return_exceptions=True`` gives one outcome per stream); return the tallies."""
    for tally, outcome in zip(tallies, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            tally.error = describe(outcome)
    return tallies
