"""Cost by model: a Costs ``line_item`` read as a model and a charge kind, where it names one.

The Costs endpoint groups by ``line_item`` but has no ``model`` field: the model is only in
the line item's text, such as ``"gpt-4o-2024-08-06, input"`` (API-NOTES #7). That text is a
label for people, not a schema, so :func:`parse_line_item` reads only the forms below and
never guesses: what it does not recognise keeps the whole text, with ``model`` and ``kind``
None. The text itself is always kept verbatim in :attr:`LineItem.text`.

Rules, in order (the forms are the simulator's and those seen in real Costs data; see
``tests/test_line_items.py`` for every one, with its source):

1. A prefix before ``" | "`` made of lowercase words (``"priority | "``, ``"flex | "``,
   ``"evals | "``, ``"assistants api | "``) is set apart as :attr:`LineItem.prefix`; the rest
   is read by the rules below. A prefix says where or how a charge was made, not what it is.
2. Charges that name no model, matched whole and in any letter case:
   ``"code interpreter sessions"`` (kind ``session``), ``"file search tool calls"`` and
   ``"web search tool calls"`` (kind ``tool_call``, the tool in :attr:`~LineItem.detail`),
   ``"web search tool calls, low|medium|high context"`` (detail ``"web search, low
   context"``), ``"vector store storage"`` and ``"vector storage"`` (kind ``storage``).
3. Otherwise ``"<model>, <charge>[, long context]"``: ``<model>`` is one word of letters,
   digits and ``. _ - : /`` (``ft-`` and dated names kept as written), optionally followed by
   a modality word ``audio``, ``image`` or ``text``; ``<charge>`` (any letter case) is one of
   the token charges (``input``, ``cached input``, ``output``, ``audio input``, ``audio
   output``, ``cache writes``, and ``batch`` before any of the first five), an image size
   ``<width>x<height>`` (kind ``image``, the size in ``detail``), ``characters`` or
   ``seconds``. A modality word turns a token charge into that modality's kind (``"<model>
   audio, input"`` is ``audio_input``; ``text`` is the plain kind). A third part
   ``long context`` goes to ``detail``; any other third part, a second modality, or a
   charge not listed here makes the whole line item unrecognised.

Anything else (a bare ``"input_tokens"``, ``"GPT-4o"``, ``"assistants api | file search"``,
whose unit the text does not say) is unrecognised: ``model`` None, ``kind`` None. The kinds
are a closed set, :data:`KINDS`; a new form of the API means a new rule here, never a guess.

Parsing is pure and cached (a Costs stream repeats the same few dozen line items).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from types import MappingProxyType

import attrs

__all__ = [
    "BATCH_KINDS",
    "KINDS",
    "MODEL_LESS_KINDS",
    "TOKEN_KINDS",
    "LineItem",
    "base_kind",
    "parse_line_item",
]

TOKEN_KINDS: frozenset[str] = frozenset(
    {
        "input",  # uncached input tokens (text, and image for models that bill it so)
        "cached_input",
        "cache_write",  # input tokens written to the cache, where billed apart
        "output",
        "audio_input",
        "audio_cached_input",
        "audio_output",
        "image_input",
        "image_cached_input",
        "image_output",
        "batch_input",
        "batch_cached_input",
        "batch_output",
        "batch_audio_input",
        "batch_audio_output",
    }
)
"""Kinds counted in tokens."""

BATCH_KINDS: frozenset[str] = frozenset(k for k in TOKEN_KINDS if k.startswith("batch_"))
"""Token kinds of the Batch API (billed at the batch price)."""

MODEL_LESS_KINDS: frozenset[str] = frozenset({"session", "tool_call", "storage"})
"""Kinds of charges that name no model."""

KINDS: frozenset[str] = TOKEN_KINDS | MODEL_LESS_KINDS | {"image", "characters", "seconds"}
"""Every kind :func:`parse_line_item` gives: token kinds, ``image`` (per image, the size in
``detail``), ``characters`` (text to speech), ``seconds`` (transcription), ``session`` (code
interpreter), ``tool_call`` (file or web search, the tool in ``detail``) and ``storage``
(vector stores)."""


@attrs.frozen
class LineItem:
    """A Costs line item as read by :func:`parse_line_item`.

    ``text`` is the line item exactly as the API sent it. ``model`` and ``kind`` are None
    when the text is not one of the documented forms (never a guess); ``kind`` alone is set
    for charges that name no model (a session, a tool call, storage). ``prefix`` is what came
    before ``" | "`` (``"priority"``, ``"evals"``); ``detail`` is a qualifier the text adds:
    an image size, the tool of a tool call, ``"long context"``.
    """

    text: str
    model: str | None
    kind: str | None
    prefix: str | None = None
    detail: str | None = None

    @property
    def recognised(self) -> bool:
        """Whether the text is one of the documented forms."""
        return self.kind is not None


_PREFIX = re.compile(r"[a-z][a-z0-9_-]*(?: [a-z0-9_-]+)*")
_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]*")
_SIZE = re.compile(r"\d{2,5}x\d{2,5}")
_WEB_SEARCH_CONTEXT = re.compile(r"web search tool calls?, (low|medium|high) context")
_MODALITIES = frozenset({"audio", "image", "text"})

_SERVICES: Mapping[str, tuple[str, str | None]] = MappingProxyType(
    {
        "code interpreter sessions": ("session", None),
        "file search tool calls": ("tool_call", "file search"),
        "web search tool calls": ("tool_call", "web search"),
        "vector store storage": ("storage", None),
        "vector storage": ("storage", None),
    }
)

# The charge words after the model, lowercased, and the kind each names.
_TOKEN_CHARGES: Mapping[str, str] = MappingProxyType(
    {
        "input": "input",
        "cached input": "cached_input",
        "output": "output",
        "audio input": "audio_input",
        "audio output": "audio_output",
        "cache writes": "cache_write",
        "batch input": "batch_input",
        "batch cached input": "batch_cached_input",
        "batch output": "batch_output",
        "batch audio input": "batch_audio_input",
        "batch audio output": "batch_audio_output",
    }
)
_UNIT_CHARGES: Mapping[str, str] = MappingProxyType(
    {"characters": "characters", "seconds": "seconds"}
)
# A modality word after the model turns these token kinds into the modality's own.
_BY_MODALITY: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("audio", "input"): "audio_input",
        ("audio", "cached_input"): "audio_cached_input",
        ("audio", "output"): "audio_output",
        ("image", "input"): "image_input",
        ("image", "cached_input"): "image_cached_input",
        ("image", "output"): "image_output",
        ("text", "input"): "input",
        ("text", "cached_input"): "cached_input",
        ("text", "output"): "output",
        ("text", "cache_write"): "cache_write",
    }
)
_SUFFIXES = frozenset({"long context"})


def _unrecognised(text: str) -> LineItem:
    return LineItem(text, None, None)


@functools.lru_cache(maxsize=4096)
def parse_line_item(text: str) -> LineItem:
    """Read a Costs ``line_item`` as a model and a charge kind (see the module's rules).

    >>> parse_line_item("gpt-4o-2024-08-06, cached input")
    LineItem(text='gpt-4o-2024-08-06, cached input', model='gpt-4o-2024-08-06', kind='cached_input', prefix=None, detail=None)
    >>> parse_line_item("input_tokens").model is None
    True
    """  # noqa: E501 - a doctest line is as long as its repr
    rest = text.strip()
    prefix = None
    head, bar, tail = rest.partition(" | ")
    if bar:
        if not _PREFIX.fullmatch(head.strip()):
            return _unrecognised(text)
        prefix, rest = head.strip(), tail.strip()
    lowered = rest.lower()
    service = _SERVICES.get(lowered)
    if service is not None:
        return LineItem(text, None, service[0], prefix, service[1])
    context = _WEB_SEARCH_CONTEXT.fullmatch(lowered)
    if context is not None:
        return LineItem(text, None, "tool_call", prefix, f"web search, {context[1]} context")
    parts = [part.strip() for part in rest.split(",")]
    if len(parts) < 2 or len(parts) > 3:
        return _unrecognised(text)
    words = parts[0].split()
    if not words or len(words) > 2 or not _MODEL.fullmatch(words[0]):
        return _unrecognised(text)
    model = words[0]
    modality = words[1].lower() if len(words) == 2 else None
    if modality is not None and modality not in _MODALITIES:
        return _unrecognised(text)
    detail = None
    if len(parts) == 3:
        if parts[2].lower() not in _SUFFIXES:
            return _unrecognised(text)
        detail = parts[2].lower()
    charge = parts[1].lower()
    kind = _TOKEN_CHARGES.get(charge)
    if kind is not None:
        if modality is not None:
            kind = _BY_MODALITY.get((modality, kind))  # "audio, audio input": not a form
            if kind is None:
                return _unrecognised(text)
        return LineItem(text, model, kind, prefix, detail)
    if modality is not None or detail is not None:
        return _unrecognised(text)
    if _SIZE.fullmatch(charge):
        return LineItem(text, model, "image", prefix, charge)
    unit_kind = _UNIT_CHARGES.get(charge)
    if unit_kind is not None:
        return LineItem(text, model, unit_kind, prefix)
    return _unrecognised(text)


def base_kind(kind: str) -> str:
    """A kind without its ``batch_`` part: ``batch_input`` -> ``input``."""
    return kind[len("batch_") :] if kind.startswith("batch_") else kind
