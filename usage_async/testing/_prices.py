"""The simulator's price table: how its ``/organization/costs`` line items follow from usage.

Every cost is a usage quantity times a price below, computed per usage event (and per vector
store and hour for storage), rounded half up to the nanodollar (1e-9 USD). A bucket's amount
is the exact sum of those integers, so costs add up across buckets and groups the same way
usage does. The prices are list prices of the time, fixed here for reproducible tests; they
are not a promise about OpenAI's prices.

=============================================  ===========  =================  ==============
line item                                      price (USD)  per                quantity_unit
=============================================  ===========  =================  ==============
``{model}, input``                             table below  1M tokens          tokens
``{model}, cached input``                      table below  1M tokens          tokens
``{model}, output``                            table below  1M tokens          tokens
``{model}, audio input`` / ``audio output``    table below  1M tokens          tokens
``{model}, batch input`` / ``batch output``    half price   1M tokens          tokens
``{model}, input`` (embeddings)                table below  1M tokens          tokens
``{model}, {size}`` (images)                   table below  image              images
``{model}, characters`` (speech)               table below  1M characters      characters
``{model}, seconds`` (transcriptions)          table below  second             duration_seconds
``code interpreter sessions``                  0.03         session            (null)
``file search tool calls``                     2.50         1,000 calls        (null)
``web search tool calls, {level} context``     25 / 27.50   1,000 calls        (null)
                                               / 30
``vector store storage``                       0.10         GiB-day            gibibyte_hours
=============================================  ===========  =================  ==============

Completions, in USD per 1M tokens (input, cached input, output, audio input, audio output):

- ``gpt-4o-2024-08-06``: 2.50, 1.25, 10.00, 40.00, 80.00
- ``gpt-4o-mini-2024-07-18``: 0.15, 0.075, 0.60, 10.00, 20.00
- ``gpt-4.1-2025-04-14``: 2.00, 0.50, 8.00, 40.00, 80.00
- ``o3-mini-2025-01-31``: 1.10, 0.55, 4.40, 40.00, 80.00
- ``gpt-4o-audio-preview-2024-12-17``: 2.50, 1.25, 10.00, 40.00, 80.00

``input`` counts uncached text and image input plus cache-write tokens; ``cached input`` all
cached input; ``output`` text and image output. Batch requests are billed at half the input
and output prices as ``batch input``/``batch output``; every service tier pays the default
price. Moderations are free (no line item). Storage is billed per vector store and hour at
the store's size at the start of the hour; its quantity is GiB-hours rounded to 1e-6.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType

import attrs

__all__ = [
    "AUDIO_SPEECH_PRICES",
    "CODE_INTERPRETER_SESSION",
    "COMPLETIONS_PRICES",
    "EMBEDDINGS_PRICES",
    "FILE_SEARCH_CALL",
    "IMAGE_PRICES",
    "STORAGE",
    "TRANSCRIPTION_PRICES",
    "WEB_SEARCH_CALL",
    "Price",
]

NANO_PER_USD = 10**9


@attrs.frozen
class Price:
    """A price: ``usd`` for every ``per`` units of usage, billed as ``quantity_unit``."""

    usd: Decimal
    per: int
    quantity_unit: str | None
    _num: int = attrs.field(init=False, repr=False)
    _den: int = attrs.field(init=False, repr=False)

    @_num.default
    def _ratio_num(self) -> int:
        return Fraction(self.usd * NANO_PER_USD / self.per).numerator

    @_den.default
    def _ratio_den(self) -> int:
        return Fraction(self.usd * NANO_PER_USD / self.per).denominator

    def nanodollars(self, quantity: int, *, scale: int = 1) -> int:
        """The cost of ``quantity / scale`` units in nanodollars, rounded half up."""
        num = quantity * self._num
        den = self._den * scale
        return (2 * num + den) // (2 * den)


def _per_million(usd: str, unit: str) -> Price:
    return Price(Decimal(usd), 1_000_000, unit)


def _completion(*usd: str) -> tuple[Price, ...]:
    return tuple(_per_million(price, "tokens") for price in usd)


COMPLETIONS_PRICES: Mapping[str, tuple[Price, ...]] = MappingProxyType(
    {  # input, cached input, output, audio input, audio output
        "gpt-4o-2024-08-06": _completion("2.50", "1.25", "10.00", "40.00", "80.00"),
        "gpt-4o-mini-2024-07-18": _completion("0.15", "0.075", "0.60", "10.00", "20.00"),
        "gpt-4.1-2025-04-14": _completion("2.00", "0.50", "8.00", "40.00", "80.00"),
        "o3-mini-2025-01-31": _completion("1.10", "0.55", "4.40", "40.00", "80.00"),
        "gpt-4o-audio-preview-2024-12-17": _completion("2.50", "1.25", "10.00", "40.00", "80.00"),
    }
)
EMBEDDINGS_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "text-embedding-3-small": _per_million("0.02", "tokens"),
        "text-embedding-3-large": _per_million("0.13", "tokens"),
    }
)
IMAGE_PRICES: Mapping[tuple[str, str], Price] = MappingProxyType(
    {
        (model, size): Price(Decimal(usd), 1, "images")
        for model, size, usd in (
            ("dall-e-2", "256x256", "0.016"),
            ("dall-e-2", "512x512", "0.018"),
            ("dall-e-2", "1024x1024", "0.020"),
            ("dall-e-3", "1024x1024", "0.040"),
            ("dall-e-3", "1024x1792", "0.080"),
            ("dall-e-3", "1792x1792", "0.120"),
        )
    }
)
AUDIO_SPEECH_PRICES: Mapping[str, Price] = MappingProxyType(
    {
        "tts-1": _per_million("15.00", "characters"),
        "tts-1-hd": _per_million("30.00", "characters"),
    }
)
TRANSCRIPTION_PRICES: Mapping[str, Price] = MappingProxyType(
    {  # 0.006 USD a minute
        "whisper-1": Price(Decimal("0.006"), 60, "duration_seconds"),
        "gpt-4o-transcribe": Price(Decimal("0.006"), 60, "duration_seconds"),
    }
)
CODE_INTERPRETER_SESSION = Price(Decimal("0.03"), 1, None)
FILE_SEARCH_CALL = Price(Decimal("2.50"), 1000, None)
WEB_SEARCH_CALL: Mapping[str, Price] = MappingProxyType(
    {
        "low": Price(Decimal("25.00"), 1000, None),
        "medium": Price(Decimal("27.50"), 1000, None),
        "high": Price(Decimal("30.00"), 1000, None),
    }
)
STORAGE = Price(Decimal("0.10"), 24, "gibibyte_hours")  # per GiB-day, billed per GiB-hour
BATCH_DISCOUNT = 2  # batch input and output cost 1/2
