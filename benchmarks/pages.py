"""Render a dataset's pages once, as the bytes the page server sends: pure, no I/O.

Results are shaped like the ``x-oaiMeta`` example of OpenAI's ``UsageCompletionsResult``
(every token field, ``project_id``, ``user_id``, ``api_key_id``, ``model``, ``batch``,
``service_tier``); pages are ``{"object": "page", "data", "has_more", "next_page"}`` with
``next_page`` null on the last page. Values come from arithmetic on the bucket and result
index, so a dataset renders the same in every process and fast (S1 is 186,000 results).
JSON is compact: the smallest body for the same data, so a client's own overhead is the
largest share it can be.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .scenarios import BUCKET_SECONDS, START_TIME, Dataset

__all__ = ["RATE_LIMITED_BODY", "RenderedDataset", "completions_result", "cursor", "render"]

RESULT_OBJECT = "organization.usage.completions.result"
MODELS = ("gpt-4o-mini-2024-07-18", "gpt-4o-2024-08-06", "gpt-4.1-2025-04-14", "o3-2025-04-16")
SERVICE_TIERS = ("default", "default", "flex", "priority", "scale")

RATE_LIMITED_BODY = json.dumps(
    {
        "error": {
            "message": "Rate limit reached for requests (benchmark page server).",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
).encode()
"""The body of every 429: OpenAI's ``ErrorResponse``."""


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def completions_result(stream: int, bucket: int, index: int, project: str | None) -> dict[str, Any]:
    """Result ``index`` of bucket ``bucket`` (counted over the whole stream) of ``stream``.

    The token fields add up as OpenAI documents them: input = cached + cache-write +
    uncached, uncached = text + audio + image, and so on.
    """
    h = (bucket * 2_654_435_761 + index * 40_503 + stream * 97) % 1_000_003
    cached_text, cached_audio, cached_image = h % 1500, h % 97, h % 53
    text, audio, image = 1000 + h % 9000, h % 301, h % 211
    cache_write = h % 257
    cached = cached_text + cached_audio + cached_image
    uncached = text + audio + image
    out_text, out_audio, out_image = 100 + h % 2000, h % 89, h % 31
    return {
        "object": RESULT_OBJECT,
        "input_tokens": cached + cache_write + uncached,
        "input_cached_tokens": cached,
        "input_cache_write_tokens": cache_write,
        "input_uncached_tokens": uncached,
        "output_tokens": out_text + out_audio + out_image,
        "input_text_tokens": text,
        "output_text_tokens": out_text,
        "input_cached_text_tokens": cached_text,
        "input_audio_tokens": audio,
        "input_cached_audio_tokens": cached_audio,
        "output_audio_tokens": out_audio,
        "input_image_tokens": image,
        "input_cached_image_tokens": cached_image,
        "output_image_tokens": out_image,
        "num_model_requests": 1 + h % 40,
        "project_id": project if project is not None else f"proj_{h % 7:04d}",
        "user_id": f"user-{h % 11:04d}",
        "api_key_id": f"key_{h % 13:04d}",
        "model": MODELS[h % len(MODELS)],
        "batch": h % 5 == 0,
        "service_tier": SERVICE_TIERS[h % len(SERVICE_TIERS)],
    }


def cursor(dataset: str, stream: int, page: int) -> str:
    """The opaque ``next_page`` token that leads to ``page`` of ``stream``.

    Base64 with padding, as the real API's tokens, so clients have to quote ``=``.
    """
    digest = hashlib.blake2b(f"{dataset}:{stream}:{page}".encode(), digest_size=16).digest()
    return "page_" + base64.b64encode(digest).decode()


@dataclass(frozen=True)
class RenderedDataset:
    """A dataset's bytes and the maps the server looks them up by.

    ``pages[stream][index]`` is one response body; ``cursors`` maps a token to
    ``(stream, index)``, ``projects`` a ``project_ids`` value to its stream.
    ``results[stream]`` and ``input_tokens[stream]`` are what reading the stream must sum to.
    """

    dataset: Dataset
    pages: list[list[bytes]]
    cursors: dict[str, tuple[int, int]]
    projects: dict[str, int]
    results: list[int]
    input_tokens: list[int]

    def info(self) -> dict[str, Any]:
        """Sizes and expected totals, as plain values (sent to the runner)."""
        sizes = [len(body) for stream in self.pages for body in stream]
        return {
            "pages": len(sizes),
            "page_bytes_mean": sum(sizes) / len(sizes),
            "page_bytes_max": max(sizes),
            "results": self.results,
            "input_tokens": self.input_tokens,
        }


def render(dataset: Dataset) -> RenderedDataset:
    """Every page of every stream of ``dataset``, rendered once."""
    pages: list[list[bytes]] = []
    cursors: dict[str, tuple[int, int]] = {}
    projects: dict[str, int] = {}
    results: list[int] = []
    tokens: list[int] = []
    for stream in range(dataset.streams):
        project = dataset.project(stream)
        if project is not None:
            projects[project] = stream
        bodies: list[bytes] = []
        n_results = n_tokens = 0
        for index in range(dataset.pages):
            data = []
            for b in range(dataset.buckets):
                bucket = index * dataset.buckets + b
                start = START_TIME + bucket * BUCKET_SECONDS
                items = [
                    completions_result(stream, bucket, r, project) for r in range(dataset.results)
                ]
                n_results += len(items)
                n_tokens += sum(item["input_tokens"] for item in items)
                data.append(
                    {
                        "object": "bucket",
                        "start_time": start,
                        "end_time": start + BUCKET_SECONDS,
                        "results": items,
                    }
                )
            last = index == dataset.pages - 1
            token = None if last else cursor(dataset.name, stream, index + 1)
            if token is not None:
                cursors[token] = (stream, index + 1)
            bodies.append(
                _dumps({"object": "page", "data": data, "has_more": not last, "next_page": token})
            )
        pages.append(bodies)
        results.append(n_results)
        tokens.append(n_tokens)
    return RenderedDataset(dataset, pages, cursors, projects, results, tokens)
