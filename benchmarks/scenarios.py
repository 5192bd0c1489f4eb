"""The scenarios and their sizes: data only, no I/O (issue 4's list, in one table).

A :class:`Dataset` is what the page server serves under ``/<name>/<run>/v1``; a
:class:`Scenario` says which dataset a measurement reads, with which clients, and what it
measures. ``SIZES`` holds three presets: ``full`` (the issue's sizes), ``quick`` (about a
fifth) and ``tiny`` (the smoke test: a few requests each, counts only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "API_KEY",
    "BUCKET_SECONDS",
    "CLIENTS",
    "FLOOR",
    "GROUP_BY",
    "OPENAI",
    "PATH",
    "SIZES",
    "START_TIME",
    "UA_JSON",
    "UA_ORJSON",
    "Dataset",
    "Scenario",
    "base_url",
    "scenarios",
]

API_KEY = "sk-admin-bench"
PATH = "/organization/usage/completions"
START_TIME = 946_684_800  # 2000-01-01T00:00:00Z: 9,300 daily buckets end in 2025
BUCKET_SECONDS = 86_400  # bucket_width="1d"
GROUP_BY = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")

# The clients under test, by key; each runs in a worker process of its own.
FLOOR = "floor"
UA_JSON = "usage-async-json"
UA_ORJSON = "usage-async-orjson"
OPENAI = "openai"
CLIENTS: dict[str, str] = {
    FLOOR: "floor",
    UA_JSON: "usage-async (json)",
    UA_ORJSON: "usage-async (orjson)",
    OPENAI: "openai",
}
"""Client key -> the label printed in tables."""


def base_url(port: int, dataset: str, run: str) -> str:
    """The ``base_url`` of one run of one dataset on the page server."""
    return f"http://127.0.0.1:{port}/{dataset}/{run}/v1"


@dataclass(frozen=True)
class Dataset:
    """Pages the server pre-renders and serves: ``streams`` x ``pages`` x ``buckets`` x ``results``.

    Stream ``i`` of a multi-stream dataset is selected by ``project_ids=proj_<i>``; a
    single stream needs no filter. ``latency`` delays every answer; ``rate`` (requests per
    second, a token bucket holding ``burst``) answers 429 to what it does not admit, with
    ``Retry-After: <retry_after>`` when that is set; with ``exact_wait`` the 429 says the
    wait the bucket needs for its next token (``retry-after-ms``, and ``Retry-After`` in whole
    seconds rounded up, as OpenAI sends them); with ``ratelimit_headers`` every answer
    carries OpenAI's ``x-ratelimit-{limit,remaining,reset}-requests``. ``success_delay``
    delays each 200 further, after the bucket admitted it (a page takes longer to send
    than a 429).
    """

    name: str
    streams: int
    pages: int
    buckets: int
    results: int
    latency: float = 0.0
    rate: float | None = None
    burst: int = 5
    retry_after: int | None = None
    exact_wait: bool = False
    ratelimit_headers: bool = False
    success_delay: float = 0.0

    @property
    def total_pages(self) -> int:
        """Pages of all streams: the number of 200 responses one run needs."""
        return self.streams * self.pages

    @property
    def buckets_per_stream(self) -> int:
        """Buckets one stream delivers."""
        return self.pages * self.buckets

    def project(self, stream: int) -> str | None:
        """The ``project_ids`` filter that selects ``stream`` (None for a single stream)."""
        return f"proj_{stream:04d}" if self.streams > 1 else None

    def stream_params(self, stream: int) -> dict[str, Any]:
        """The query of ``stream``, as keyword arguments named as in the API."""
        params: dict[str, Any] = {
            "start_time": START_TIME,
            "end_time": START_TIME + self.buckets_per_stream * BUCKET_SECONDS,
            "bucket_width": "1d",
            "limit": self.buckets,
            "group_by": list(GROUP_BY),
        }
        project = self.project(stream)
        if project is not None:
            params["project_ids"] = [project]
        return params

    def expected_starts(self) -> range:
        """The ``start_time`` of every bucket of a stream, in order (the same for each stream)."""
        end = START_TIME + self.buckets_per_stream * BUCKET_SECONDS
        return range(START_TIME, end, BUCKET_SECONDS)


@dataclass(frozen=True)
class Scenario:
    """One measurement: a dataset, the clients that read it, and what is measured.

    ``kind`` is ``cpu`` (CPU per page or request), ``wall``, ``memory`` (fresh process per
    repeat) or ``rate`` (wall against ``bound_s`` and the 429s). ``warmup`` is the dataset
    of the untimed warm-up run (default: the scenario's own).
    ``concurrency`` is usage-async's ``max_concurrency`` (None: its default).
    ``openai_retries`` is the SDK's ``max_retries`` (None: its default).
    ``usage_async_once`` runs only the first usage-async variant installed: a rate
    scenario measures waiting, not parsing.
    """

    id: str
    title: str
    kind: str
    dataset: Dataset
    clients: tuple[str, ...]
    warmup: Dataset | None = None
    concurrency: int | None = None
    openai_retries: int | None = 0
    bound_s: float | None = None
    usage_async_once: bool = False

    @property
    def warmup_dataset(self) -> Dataset:
        """The dataset of the warm-up run."""
        return self.warmup if self.warmup is not None else self.dataset


ALL = (FLOOR, UA_JSON, UA_ORJSON, OPENAI)
USAGE_ASYNC = (UA_JSON, UA_ORJSON)

SIZES: dict[str, dict[str, int]] = {
    "full": {"s1": 300, "s2_streams": 40, "s2": 10, "s3": 2000, "s5_streams": 100, "s5": 3},
    "quick": {"s1": 60, "s2_streams": 20, "s2": 5, "s3": 400, "s5_streams": 30, "s5": 2},
    "tiny": {"s1": 3, "s2_streams": 3, "s2": 2, "s3": 5, "s5_streams": 3, "s5": 2},
}
"""Size presets: ``full`` is the issue's, ``quick`` for a fast look, ``tiny`` for the smoke test."""


def scenarios(size: str = "full") -> dict[str, Scenario]:
    """Every scenario at one size preset, by id (``S1`` ... ``S5b``), in running order."""
    n = SIZES[size]
    tiny = size == "tiny"
    s1 = Dataset("s1", 1, n["s1"], 4 if tiny else 31, 3 if tiny else 20)
    s2 = Dataset("s2", n["s2_streams"], n["s2"], 4 if tiny else 31, 2 if tiny else 5, latency=0.02)
    s3 = Dataset("s3", 1, n["s3"], 1, 1)
    # Warm-ups read a tenth of the pages (at least 2): enough to import and touch every
    # code path, at a fraction of the cost.
    s1w, s3w = (replace(d, name=d.name + "w", pages=max(2, d.pages // 10)) for d in (s1, s3))
    s2w = replace(s2, name="s2w", pages=2)
    s5 = Dataset("s5w", n["s5_streams"], n["s5"], 1, 1)
    s5a = replace(s5, name="s5a", rate=50.0, burst=5)
    s5b = replace(s5a, name="s5b", retry_after=1)
    bound = s5.total_pages / 50.0
    # The SDK's own backoff only adds sleeping to the smoke test, not coverage.
    s5_clients = (UA_ORJSON, UA_JSON) if tiny else (UA_ORJSON, UA_JSON, OPENAI)
    found = [
        Scenario("S1", "sequential: 1 stream of big pages", "cpu", s1, ALL, warmup=s1w),
        Scenario(
            "S2", "fan-out: streams gathered, 20 ms latency", "wall", s2, ALL, s2w, concurrency=40
        ),
        Scenario("S3", "small pages: 1 bucket x 1 result", "cpu", s3, ALL, warmup=s3w),
        Scenario(
            "S4", "memory: S1 bucket by bucket, fresh process", "memory", s1, (FLOOR, *USAGE_ASYNC)
        ),
        Scenario(
            "S5a",
            "rate-limited fan-out, 429 without Retry-After",
            "rate",
            s5a,
            s5_clients,
            warmup=s5,
            concurrency=s5.streams,
            openai_retries=None,
            bound_s=bound,
            usage_async_once=True,
        ),
        Scenario(
            "S5b",
            "rate-limited fan-out, 429 with Retry-After: 1",
            "rate",
            s5b,
            s5_clients,
            warmup=s5,
            concurrency=s5.streams,
            openai_retries=None,
            bound_s=bound,
            usage_async_once=True,
        ),
    ]
    return {s.id: s for s in found}
