"""Parsing rules of the converter: tags, Decimals, tolerant scalars, UnknownResult."""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any, ClassVar

import attrs
import pytest
from helpers import bucket, completions_result, page
from hypothesis import given, settings
from hypothesis import strategies as st

import usage_async as ua
from usage_async import _convert
from usage_async._convert import decode_page, structure_page


def decode(obj: Any, status: int = 200) -> ua.Page[Any]:
    return decode_page(status, {"x-request-id": "req_1"}, json.dumps(obj).encode())


def one_result(result: dict[str, Any]) -> Any:
    return structure_page(page([bucket(0, results=[result])])).data[0].results[0]


def costs(value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": "usd"},
        **extra,
    }


SPEC_EXAMPLES: list[tuple[type, dict[str, Any]]] = [
    (
        ua.CompletionsResult,
        completions_result(
            input_cached_tokens=1800,
            model="gpt-4o-mini-2024-07-18",
            batch=False,
            service_tier="default",
        ),
    ),
    (
        ua.EmbeddingsResult,
        {
            "object": "organization.usage.embeddings.result",
            "input_tokens": 20,
            "num_model_requests": 2,
        },
    ),
    (
        ua.ModerationsResult,
        {
            "object": "organization.usage.moderations.result",
            "input_tokens": 20,
            "num_model_requests": 2,
        },
    ),
    (
        ua.ImagesResult,
        {
            "object": "organization.usage.images.result",
            "images": 2,
            "num_model_requests": 2,
            "size": "1024x1024",
            "source": "image.generation",
        },
    ),
    (
        ua.AudioSpeechesResult,
        {
            "object": "organization.usage.audio_speeches.result",
            "characters": 45,
            "num_model_requests": 1,
        },
    ),
    (
        ua.AudioTranscriptionsResult,
        {
            "object": "organization.usage.audio_transcriptions.result",
            "seconds": 10,
            "num_model_requests": 1,
        },
    ),
    (
        ua.VectorStoresResult,
        {"object": "organization.usage.vector_stores.result", "usage_bytes": 1024},
    ),
    (
        ua.CodeInterpreterSessionsResult,
        {"object": "organization.usage.code_interpreter_sessions.result", "num_sessions": 1},
    ),
    (
        ua.FileSearchCallsResult,
        {
            "object": "organization.usage.file_searches.result",
            "num_requests": 3,
            "vector_store_id": "vs_1",
        },
    ),
    (
        ua.WebSearchCallsResult,
        {
            "object": "organization.usage.web_searches.result",
            "num_model_requests": 2,
            "num_requests": 3,
            "context_level": "low",
        },
    ),
    (ua.CostsResult, costs(0.06, line_item="input_tokens", quantity=10000, quantity_unit="tokens")),
]


@pytest.mark.parametrize(("cls", "raw"), SPEC_EXAMPLES, ids=lambda v: getattr(v, "__name__", ""))
def test_the_object_tag_picks_the_result_class(cls: type, raw: dict[str, Any]) -> None:
    result = one_result(raw)
    assert type(result) is cls
    assert result.object == raw["object"]
    for name, value in raw.items():
        if name not in ("object", "amount", "quantity"):
            assert getattr(result, name) == value


def test_fields_left_out_are_none() -> None:
    result = one_result(completions_result())
    assert result.input_cached_tokens is None
    assert result.project_id is None


def test_results_are_frozen() -> None:
    result = one_result(completions_result())
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.input_tokens = 3


def test_money_is_an_exact_decimal_from_a_json_number() -> None:
    result = decode(page([bucket(0, results=[costs(0.06)])])).data[0].results[0]
    assert result.amount == ua.Amount(Decimal("0.06"), "usd")
    assert str(result.amount.value) == "0.06"


def test_money_parses_from_a_json_number_with_the_stdlib_parser() -> None:
    body = b'{"object":"page","has_more":false,"next_page":null,"data":[{"object":"bucket",'
    body += b'"start_time":0,"end_time":1,"results":[{"object":"organization.costs.result",'
    body += b'"amount":{"value":0.1234567890123456789,"currency":"usd"},"quantity":1.5}]}]}'
    result = decode_page(200, {}, body, fast_loads=None).data[0].results[0]
    assert result.amount.value == Decimal("0.1234567890123456789")
    assert result.quantity == Decimal("1.5")


# -- exact numbers, with or without orjson -----------------------------------------------------

_exact_json = json.JSONDecoder(parse_float=Decimal).decode


def _exactly(body: bytes) -> ua.Page[Any]:
    """The page as the standard library's exact decoder reads it: the reference."""
    return structure_page(_exact_json(body.decode()))


def _costs_page(value: str, quantity: str = "1.5") -> bytes:
    return (
        b'{"object":"page","has_more":false,"next_page":null,"data":[{"object":"bucket",'
        b'"start_time":0,"end_time":86400,"results":[{"object":"organization.costs.result",'
        b'"amount":{"value":%s,"currency":"usd"},"quantity":%s}]}]}'
        % (value.encode(), quantity.encode())
    )


def _counts_page(count: str) -> bytes:
    return (
        b'{"object":"page","has_more":false,"next_page":null,"data":[{"object":"bucket",'
        b'"start_time":0,"end_time":86400,"results":[{"object":'
        b'"organization.usage.completions.result","input_tokens":%s,"output_tokens":1,'
        b'"num_model_requests":1,"model":"gpt-3.5-turbo"},{"object":"organization.usage.'
        b'teleports.result","jumps":%s}]}]}' % (count.encode(), count.encode())
    )


@pytest.mark.parametrize(
    "literal",
    [
        "12345678.123456789012",  # 20 significant digits
        "12.50",  # a float keeps no trailing zero
        "0.003627500000000000000000000000000000",  # Decimal128, as the API stores amounts
        "0E-6176",
        "1e-7",
        "-0.0",
        "0.06",  # survives a float: the fast path may keep it, the result is the same
    ],
)
def test_money_is_the_number_as_written_with_the_default_parser(literal: str) -> None:
    body = _costs_page(literal)
    [result] = decode_page(200, {}, body).data[0].results
    assert result.amount.value.as_tuple() == Decimal(literal).as_tuple()
    assert repr(decode_page(200, {}, body)) == repr(_exactly(body))


@pytest.mark.parametrize("count", [2**64 + 1, -(2**63) - 1, 2**64 - 1, 10**30, -(10**25)], ids=str)
def test_counts_keep_every_digit_with_the_default_parser(count: int) -> None:
    body = _counts_page(str(count))
    completions, teleports = decode_page(200, {}, body).data[0].results
    assert completions.input_tokens == count
    assert teleports.data["jumps"] == count
    assert repr(decode_page(200, {}, body)) == repr(_exactly(body))


_NUMBER = r"-?(0|[1-9][0-9]{0,24})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,3})?"


@settings(max_examples=300, deadline=None)
@given(
    value=st.from_regex(_NUMBER, fullmatch=True),
    quantity=st.from_regex(_NUMBER, fullmatch=True),
    count=st.integers(min_value=-(2**70), max_value=2**70).map(str)
    | st.from_regex(_NUMBER, fullmatch=True),
)
def test_every_number_parses_the_same_with_orjson_and_with_the_standard_library(
    value: str, quantity: str, count: str
) -> None:
    orjson = pytest.importorskip("orjson")
    for body in (_costs_page(value, quantity), _counts_page(count)):
        with_orjson = decode_page(200, {}, body, fast_loads=orjson.loads)
        without = decode_page(200, {}, body, fast_loads=None)
        # repr shows each Decimal's digits and exponent (12.50 is not 12.5) and int vs float
        assert repr(with_orjson) == repr(without) == repr(_exactly(body))


def test_a_page_of_integers_is_structured_from_the_fast_parse_alone() -> None:
    orjson = pytest.importorskip("orjson")
    parses: list[bytes] = []

    def fast(body: bytes) -> Any:
        parses.append(body)
        return orjson.loads(body)

    assert decode_page(200, {}, _counts_page("42"), fast_loads=fast).data[0].results
    assert len(parses) == 1


def test_a_misfit_on_a_page_read_twice_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    orjson = pytest.importorskip("orjson")
    body = _counts_page('"many"').replace(b'"jumps":"many"', b'"jumps":0.5')
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        results = decode_page(200, {}, body, fast_loads=orjson.loads).data[0].results
    assert type(results[0]) is ua.UnknownResult
    assert repr(results[1].data["jumps"]) == "Decimal('0.5')"
    assert len(caplog.records) == 1


@pytest.mark.parametrize(("raw", "expected"), [("12.50", "12.50"), ("0E-6176", "0E-6176")])
def test_money_sent_as_a_string_parses_too(raw: str, expected: str) -> None:
    result = one_result(costs(raw))
    assert result.amount.value == Decimal(expected)
    assert isinstance(result.amount.value, Decimal)


def test_quantity_is_a_decimal() -> None:
    assert one_result(costs(1, quantity=0.5)).quantity == Decimal("0.5")


def test_numeric_strings_are_accepted_for_counts() -> None:
    result = one_result(completions_result(input_tokens="42", output_tokens=7.0))
    assert result.input_tokens == 42
    assert result.output_tokens == 7
    assert type(result.output_tokens) is int


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("false", False), ("False", False)])
def test_true_and_false_strings_are_accepted_for_bools(raw: str, expected: bool) -> None:
    assert one_result(completions_result(batch=raw)).batch is expected


def test_unknown_fields_are_ignored() -> None:
    result = one_result(completions_result(api_source="agents_api", brand_new={"x": 1}))
    assert type(result) is ua.CompletionsResult


def test_an_unknown_object_tag_becomes_unknown_result(caplog: pytest.LogCaptureFixture) -> None:
    raw = {"object": "organization.usage.teleports.result", "jumps": 3}
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        result = one_result(raw)
    assert result == ua.UnknownResult("organization.usage.teleports.result", raw)
    assert not caplog.records


@pytest.mark.parametrize(
    "raw",
    [
        completions_result(input_tokens="many"),
        completions_result(input_tokens=1.5),
        completions_result(input_tokens=True),
        completions_result(batch="maybe"),
        {"object": "organization.usage.completions.result", "output_tokens": 1},
        costs("twelve"),
        costs("NaN"),
        {"object": "organization.costs.result", "amount": {"value": 1}},
    ],
)
def test_a_known_tag_whose_values_do_not_fit_becomes_unknown_result_with_a_warning(
    raw: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        result = one_result(raw)
    assert result == ua.UnknownResult(raw["object"], raw)
    assert any("UnknownResult" in r.getMessage() for r in caplog.records)


def test_one_misfit_does_not_spoil_the_other_results_of_its_bucket() -> None:
    raw = page([bucket(0, results=[completions_result(), completions_result(input_tokens="x")])])
    results = structure_page(raw).data[0].results
    assert type(results[0]) is ua.CompletionsResult
    assert type(results[1]) is ua.UnknownResult


def test_a_page_has_its_buckets_and_cursor() -> None:
    result = decode(page([bucket(0), bucket(86400)], next_page="cur_2"))
    assert result.has_more is True
    assert result.next_page == "cur_2"
    assert [(b.start_time, b.end_time) for b in result.data] == [(0, 86400), (86400, 172800)]
    assert result.data[0].results == []


def test_a_missing_next_page_reads_as_none() -> None:
    raw = {"object": "page", "data": [], "has_more": False}
    assert decode(raw).next_page is None


@pytest.mark.parametrize(
    "raw",
    [[], {"data": "nope", "has_more": False}, {"data": [], "has_more": "perhaps"}, {"data": [1]}],
)
def test_json_that_is_not_a_page_is_a_validation_error(raw: Any) -> None:
    with pytest.raises(ua.APIResponseValidationError) as info:
        decode(raw)
    assert info.value.json_error is False
    assert info.value.request_id == "req_1"


@pytest.mark.parametrize(
    "broken",
    [
        lambda p: p.pop("data"),
        lambda p: p.pop("has_more"),
        lambda p: p["data"][0].pop("start_time"),
        lambda p: p["data"][0].pop("end_time"),
        lambda p: p["data"][0].pop("results"),
    ],
    ids=["data", "has_more", "start_time", "end_time", "results"],
)
def test_a_page_missing_a_key_that_carries_data_is_a_validation_error(broken: Any) -> None:
    raw = page([bucket(0, results=[completions_result()])])
    broken(raw)
    with pytest.raises(ua.APIResponseValidationError):
        decode(raw)


def test_keys_that_carry_no_data_may_be_left_out() -> None:
    raw = {"data": [{"start_time": 0, "end_time": 86400, "results": []}], "has_more": False}
    assert decode(raw) == ua.Page([ua.Bucket(0, 86400, [])], False, None)


def test_a_body_that_is_not_json_is_a_retryable_validation_error() -> None:
    with pytest.raises(ua.APIResponseValidationError) as info:
        decode_page(200, {}, b'{"object": "page", "da')
    assert info.value.json_error is True


@pytest.mark.parametrize("fast_loads", [_convert.FAST_LOADS, None], ids=["default", "json"])
def test_a_body_nested_too_deep_to_parse_is_a_retryable_validation_error(fast_loads: Any) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    with pytest.raises(ua.APIResponseValidationError) as info:
        decode_page(200, {}, body, fast_loads=fast_loads)
    assert info.value.json_error is True


def test_an_error_status_decodes_to_its_exception() -> None:
    with pytest.raises(ua.RateLimitError):
        decode_page(429, {}, b"{}")


def test_the_converter_structures_and_unstructures_models() -> None:
    conv = _convert.converter
    raw = page([bucket(0, results=[costs("1.10", project_id="proj_1")])])
    structured = conv.structure(raw, ua.Page[ua.CostsResult])
    result = structured.data[0].results[0]
    assert conv.unstructure(result)["amount"] == {"value": Decimal("1.10"), "currency": "usd"}


def test_a_structured_result_is_an_ordinary_frozen_instance_of_its_class() -> None:
    result = one_result(completions_result(model="gpt-4o"))
    assert type(result) is ua.CompletionsResult
    assert result == ua.CompletionsResult(
        input_tokens=10, output_tokens=5, num_model_requests=1, model="gpt-4o"
    )
    assert hash(result) == hash(
        ua.CompletionsResult(input_tokens=10, output_tokens=5, num_model_requests=1, model="gpt-4o")
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        result.model = "other"
    assert attrs.evolve(result, model="o3").model == "o3"


def test_every_result_class_is_built_without_its_descriptors_where_python_allows() -> None:
    hooks = [*_convert._RESULT_HOOKS.items(), *_convert._FAST_HOOKS.items()]
    for tag, hook in hooks:
        builder = hook.__globals__["_builder"]
        assert builder is not None, tag  # CPython 3.10+ allows the class switch
        assert set(builder.__slots__) == set(attrs.fields_dict(builder_target(tag)))


def builder_target(tag: str) -> type:
    return next(cls for cls in _convert.RESULT_CLASSES if cls.object == tag)


@attrs.frozen(kw_only=True)
class _WithWeakref:
    object: ClassVar[str] = "test.weakref.result"
    count: int
    name: str | None = None


def test_a_class_whose_layout_refuses_the_switch_is_built_through_its_descriptors() -> None:
    hook = _convert._make_result_hook(_WithWeakref)
    assert hook.__globals__["_builder"] is None  # the weakref slot changes the layout
    built = hook({"count": "3", "name": "x", "extra": 1})
    assert built == _WithWeakref(count=3, name="x")


def _every_field(cls: type, **values: Any) -> dict[str, Any]:
    return {f.name: None for f in attrs.fields(cls)} | {"object": cls.object} | values


def test_results_with_every_field_keep_the_all_keys_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    tag = ua.CompletionsResult.object
    fast = _convert._make_result_hook(ua.CompletionsResult, all_keys=True)
    monkeypatch.setitem(_convert._FAST_HOOKS, tag, fast)
    full = _every_field(
        ua.CompletionsResult, input_tokens=1, output_tokens="2", num_model_requests=3
    )
    assert (
        _convert.structure_results([full, full])
        == [ua.CompletionsResult(input_tokens=1, output_tokens=2, num_model_requests=3)] * 2
    )
    assert _convert._FAST_HOOKS[tag] is fast


def test_a_result_that_leaves_an_optional_field_out_switches_to_reading_key_by_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tag = ua.CompletionsResult.object
    fast = _convert._make_result_hook(ua.CompletionsResult, all_keys=True)
    monkeypatch.setitem(_convert._FAST_HOOKS, tag, fast)
    full = _every_field(ua.CompletionsResult, input_tokens=1, output_tokens=2, num_model_requests=3)
    partial = {k: v for k, v in full.items() if k != "model"}
    with pytest.raises(KeyError):
        fast(partial)
    expected = ua.CompletionsResult(input_tokens=1, output_tokens=2, num_model_requests=3)
    assert _convert.structure_results([full, partial, full]) == [expected] * 3
    assert _convert._FAST_HOOKS[tag] is _convert._RESULT_HOOKS[tag]


def test_a_result_missing_a_required_field_is_kept_raw_and_switches_nothing(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tag = ua.CompletionsResult.object
    fast = _convert._make_result_hook(ua.CompletionsResult, all_keys=True)
    monkeypatch.setitem(_convert._FAST_HOOKS, tag, fast)
    broken = _every_field(ua.CompletionsResult, input_tokens=1, output_tokens=2)
    del broken["num_model_requests"]
    with caplog.at_level(logging.WARNING, logger="usage_async"):
        (result,) = structure_page(page([bucket(0, results=[broken])])).data[0].results
    assert result == ua.UnknownResult(tag, broken)
    assert _convert._FAST_HOOKS[tag] is fast
