"""Checked by mypy (never run): the pace's snapshot and the retry hook are typed.

Each `# type: ignore[...]` line must be an error for mypy (`warn_unused_ignores`)."""

from __future__ import annotations

from collections.abc import Mapping

import usage_async as ua


def record(event: ua.RetryEvent) -> None:
    status: int | None = event.status
    waited: float = event.wait
    by_server: bool = event.server_wait
    request_id: str | None = event.request_id
    del status, waited, by_server, request_id


def accepted() -> None:
    client = ua.UsageClient("sk-admin-x", on_retry=record)
    stats: ua.PaceStats = client.pace_stats()
    rate: float | None = stats.rate
    by_cause: Mapping[str, int] = stats.retries_by_cause
    paused: bool = stats.paused
    until: float | None = stats.paused_until
    del rate, by_cause, paused, until


def no_argument() -> None:
    pass


def refused(client: ua.UsageClient) -> None:
    count: int = client.pace_stats().rate  # type: ignore[assignment]
    client.pace_stats().retries = 0  # type: ignore[misc]
    ua.UsageClient("sk-admin-x", on_retry=no_argument)  # type: ignore[arg-type]
    del count
