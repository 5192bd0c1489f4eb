"""Costs line items read as a model and a charge kind: every form the simulator produces, every
real form found in public material (with its source), and no guess for anything else."""

from __future__ import annotations

import pytest

from usage_async.line_items import (
    BATCH_KINDS,
    KINDS,
    MODEL_LESS_KINDS,
    TOKEN_KINDS,
    LineItem,
    base_kind,
    parse_line_item,
)
from usage_async.testing._prices import (
    AUDIO_SPEECH_PRICES,
    COMPLETIONS_PRICES,
    EMBEDDINGS_PRICES,
    IMAGE_PRICES,
    TRANSCRIPTION_PRICES,
    WEB_SEARCH_CALL,
)
from usage_async.testing._state import Selection, UsageState

# -- real line items, as the Costs API returned them -------------------------------------
# (text, model, kind, prefix, detail, source). Sources:
#   COOKBOOK: openai/openai-cookbook, examples/completions_usage_api.ipynb, the output of
#     "Visualize Costs by Line Item" (a real organization, 2025-01-11..12; also rendered on
#     developers.openai.com/cookbook).
#   JAVA769: openai/openai-java#769 samples, as quoted in API-NOTES #7.
#   CAPTURED: a public repository's parser comment: "OpenAI cost-report line_item strings look
#     like ... Captured 2026-05-17 against the real Admin API" (search index file 58513215117).
#   VERIFIED67: a public dashboard's parser: "Verified against this org's real line items (67
#     distinct values, 66 parse cleanly)", whose regex also admits "cache writes" (index file
#     67135211823).
#   LANES: a public cost monitor's docstring: "Line items look like
#     'gpt-audio-mini-2025-12-15 audio, input' or 'gpt-5.4-mini-2026-03-17, cached input'"
#     (index file 70197070367).
#   LIVE_IMAGE: a public test named "live image billing labels" (index file 71432455454).
#   OBSERVED: a public cost importer's notes: "observed shapes include ... a bare
#     'input_tokens'" (index file 59672761977).
COOKBOOK = "openai/openai-cookbook examples/completions_usage_api.ipynb"
JAVA769 = "openai/openai-java#769 (API-NOTES #7)"
CAPTURED = "public parser comment, captured 2026-05-17 (index 58513215117)"
VERIFIED67 = "public parser, verified on 67 real line items (index 67135211823)"
LANES = "public cost monitor docstring (index 70197070367)"
LIVE_IMAGE = "public test of live image billing labels (index 71432455454)"
OBSERVED = "public importer's observed shapes (index 59672761977)"

REAL = [
    ("ft-gpt-4o-2024-08-06, input", "ft-gpt-4o-2024-08-06", "input", None, None, COOKBOOK),
    ("ft-gpt-4o-2024-08-06, output", "ft-gpt-4o-2024-08-06", "output", None, None, COOKBOOK),
    (
        "evals | gpt-4o-mini-2024-07-18, input",
        "gpt-4o-mini-2024-07-18",
        "input",
        "evals",
        None,
        COOKBOOK,
    ),
    # The text says a product, not what was counted: no kind is guessed.
    ("assistants api | file search", None, None, None, None, COOKBOOK),
    ("gpt-4o, input", "gpt-4o", "input", None, None, JAVA769),
    ("gpt-5.5-2026-04-23, input", "gpt-5.5-2026-04-23", "input", None, None, CAPTURED),
    (
        "gpt-5.5-2026-04-23, cached input",
        "gpt-5.5-2026-04-23",
        "cached_input",
        None,
        None,
        CAPTURED,
    ),
    ("gpt-4.1-2025-04-14, output", "gpt-4.1-2025-04-14", "output", None, None, CAPTURED),
    ("web search tool calls", None, "tool_call", None, "web search", CAPTURED),
    (
        "priority | gpt-5.6-sol, output, long context",
        "gpt-5.6-sol",
        "output",
        "priority",
        "long context",
        VERIFIED67,
    ),
    (
        "gpt-4o-mini-2024-07-18, cached input",
        "gpt-4o-mini-2024-07-18",
        "cached_input",
        None,
        None,
        VERIFIED67,
    ),
    (
        "gpt-audio-mini-2025-12-15 audio, input",
        "gpt-audio-mini-2025-12-15",
        "audio_input",
        None,
        None,
        LANES,
    ),
    (
        "gpt-5.4-mini-2026-03-17, cached input",
        "gpt-5.4-mini-2026-03-17",
        "cached_input",
        None,
        None,
        LANES,
    ),
    (
        "gpt-image-2.5-flare image, output",
        "gpt-image-2.5-flare",
        "image_output",
        None,
        None,
        LIVE_IMAGE,
    ),
    (
        "gpt-image-2.5-sunburst text, cached input",
        "gpt-image-2.5-sunburst",
        "cached_input",
        None,
        None,
        LIVE_IMAGE,
    ),
    ("Vector storage", None, "storage", None, None, LIVE_IMAGE),
    ("gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06", "input", None, None, OBSERVED),
    ("evals | gpt-4o-mini, input", "gpt-4o-mini", "input", "evals", None, OBSERVED),
    ("input_tokens", None, None, None, None, OBSERVED),
]


@pytest.mark.parametrize(("text", "model", "kind", "prefix", "detail", "source"), REAL)
def test_every_real_line_item_is_read_as_its_source_shows(
    text: str,
    model: str | None,
    kind: str | None,
    prefix: str | None,
    detail: str | None,
    source: str,
) -> None:
    assert parse_line_item(text) == LineItem(text, model, kind, prefix, detail), source


def test_the_cache_writes_charge_that_real_parsers_admit_is_its_own_kind() -> None:
    # VERIFIED67's pattern: (input|output|cached input|cache writes).
    assert parse_line_item("gpt-5.6-sol, cache writes").kind == "cache_write"


# -- every form the simulator bills -------------------------------------------------------


def _simulator_forms() -> dict[str, tuple[str | None, str, str | None]]:
    """Every line item the simulator's price table can produce -> (model, kind, detail),
    enumerated from ``_prices`` and the bill functions' wording in ``_org``."""
    forms: dict[str, tuple[str | None, str, str | None]] = {}
    names = ("input", "cached input", "output", "audio input", "audio output")
    kinds = ("input", "cached_input", "output", "audio_input", "audio_output")
    for model in COMPLETIONS_PRICES:
        for name, kind in zip(names, kinds, strict=True):
            forms[f"{model}, {name}"] = (model, kind, None)
            forms[f"{model}, batch {name}"] = (model, f"batch_{kind}", None)
    for model in EMBEDDINGS_PRICES:
        forms[f"{model}, input"] = (model, "input", None)
    for model, size in IMAGE_PRICES:
        forms[f"{model}, {size}"] = (model, "image", size)
    for model in AUDIO_SPEECH_PRICES:
        forms[f"{model}, characters"] = (model, "characters", None)
    for model in TRANSCRIPTION_PRICES:
        forms[f"{model}, seconds"] = (model, "seconds", None)
    forms["code interpreter sessions"] = (None, "session", None)
    forms["file search tool calls"] = (None, "tool_call", "file search")
    for level in WEB_SEARCH_CALL:
        forms[f"web search tool calls, {level} context"] = (
            None,
            "tool_call",
            f"web search, {level} context",
        )
    forms["vector store storage"] = (None, "storage", None)
    return forms


SIMULATOR_FORMS = _simulator_forms()


@pytest.mark.parametrize("text", sorted(SIMULATOR_FORMS))
def test_every_form_the_simulator_bills_is_read_whole(text: str) -> None:
    model, kind, detail = SIMULATOR_FORMS[text]
    assert parse_line_item(text) == LineItem(text, model, kind, None, detail)


def test_the_enumerated_forms_are_the_ones_the_simulator_actually_bills() -> None:
    state = UsageState(seed=0, now=1_736_944_200)  # 2025-01-15T12:30Z
    day = 1_736_035_200  # 2025-01-05, a Sunday, and the two weeks before it
    seen = {
        row["line_item"]
        for bucket in state.buckets(
            "costs", day - 14 * 86400, 86400, 15, Selection(group_by=("line_item",))
        )
        for row in bucket
    }
    assert seen <= set(SIMULATOR_FORMS)
    assert len(seen) > 40  # every kind of charge shows up in two weeks
    assert {parse_line_item(t).kind for t in seen} >= {
        "input",
        "cached_input",
        "output",
        "audio_input",
        "audio_output",
        "batch_input",
        "batch_output",
        "image",
        "characters",
        "seconds",
        "session",
        "tool_call",
        "storage",
    }


# -- never a guess --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "GPT-4o",  # a display name, no charge
        "GPT-4o mini, input",  # two words that are not a model and a modality
        "whisper-1, audio",  # "audio" alone does not say input or output
        "gpt-4o, input, something else",  # an unknown third part
        "gpt-4o audio, audio input",  # a modality twice
        "gpt-4o audio, 1024x1024",  # a modality on a per-image charge
        "gpt-4o, batch cache writes",  # not a charge the API is known to bill
        "Promotional credit",
        "Priority | gpt-4o, input",  # a prefix is lowercase words
        "flex | gpt-5-mini",  # a prefix and a model, but no charge
        "gpt-4o,",
        ", input",
    ],
)
def test_what_is_not_a_known_form_keeps_the_whole_text_and_no_model(text: str) -> None:
    item = parse_line_item(text)
    assert item == LineItem(text, None, None)
    assert not item.recognised


def test_the_text_is_kept_verbatim_and_letter_case_of_the_charge_does_not_matter() -> None:
    item = parse_line_item("  GPT-4o-2024-08-06 ,  Cached Input ")
    assert item.text == "  GPT-4o-2024-08-06 ,  Cached Input "
    assert (item.model, item.kind) == ("GPT-4o-2024-08-06", "cached_input")


def test_the_kinds_are_a_closed_set_and_batch_kinds_name_their_base() -> None:
    assert TOKEN_KINDS | MODEL_LESS_KINDS | {"image", "characters", "seconds"} == KINDS
    assert {base_kind(k) for k in BATCH_KINDS} <= TOKEN_KINDS
    assert base_kind("batch_cached_input") == "cached_input"
    assert base_kind("input") == "input"
    texts = [row[0] for row in REAL] + list(SIMULATOR_FORMS)
    assert {parse_line_item(text).kind for text in texts} - {None} <= KINDS


def test_parsing_is_cached() -> None:
    parse_line_item.cache_clear()
    parse_line_item("gpt-4o, input")
    parse_line_item("gpt-4o, input")
    assert parse_line_item.cache_info().hits == 1
