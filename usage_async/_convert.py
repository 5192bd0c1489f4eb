"""The one private cattrs converter: every rule for turning the API's JSON into models.

Rules (OpenAI's spec, and ../API-NOTES #6 and #11 on how the real API drifts from it):

* the ``object`` tag picks the result class; an unknown tag, or a known one whose values
  do not fit, becomes :class:`UnknownResult` holding the raw dict (the latter logged at
  WARNING), so parsing never crashes on data;
* unknown fields are ignored (new API fields must not break old clients);
* counts are ``int``: numeric strings and integral floats are accepted, bools are not;
* bools accept ``"true"``/``"false"`` strings;
* money and other fractional quantities are :class:`~decimal.Decimal`, the JSON number as
  written (its digits and exponent: ``12.50`` stays ``Decimal("12.50")``), also when the API
  sends it as a string (``"12.50"``, ``"0E-6176"``); counts keep every digit however large.
  The same with or without the optional orjson (see :func:`decode_page`).

Speed: a page of 31 buckets x 20 results is ~620 results, so the result classes get a
structure function generated once per class (``_make_result_hook``) that reads all keys with
one ``itemgetter`` and fills a plain slotted builder that then becomes the frozen class
(``_builder_class``): about 1.3 us a result with 21 fields. cattrs' own generated hook
spends about 6x as long (measured: benchmarks/README.md), because it builds a kwargs dict,
calls a union handler per optional field and sets each slot of the frozen class through a
descriptor. Pages and buckets go through the converter's hooks too.
"""

from __future__ import annotations

import contextvars
import json
import linecache
import logging
import operator
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar, Union, get_args, get_origin

import attrs
import cattrs

from .errors import APIResponseValidationError, error_from_response
from .models import (
    AdminApiKey,
    Amount,
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    Bucket,
    CodeInterpreterSessionsResult,
    CompletionsResult,
    CostsResult,
    EmbeddingsResult,
    FileSearchCallsResult,
    ImagesResult,
    ListPage,
    ModerationsResult,
    Page,
    Project,
    ProjectApiKey,
    ProjectServiceAccount,
    Result,
    UnknownResult,
    User,
    VectorStoresResult,
    WebSearchCallsResult,
)

__all__ = ["FAST_LOADS", "RESULT_CLASSES", "converter", "decode_page", "structure_page"]

log = logging.getLogger("usage_async")

RESULT_CLASSES: tuple[type[Any], ...] = (
    CompletionsResult,
    EmbeddingsResult,
    ModerationsResult,
    ImagesResult,
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    VectorStoresResult,
    CodeInterpreterSessionsResult,
    FileSearchCallsResult,
    WebSearchCallsResult,
    CostsResult,
)

T = TypeVar("T")


_decode_json = json.JSONDecoder(parse_float=Decimal).decode


def _json_loads(body: bytes) -> Any:
    """The exact decoder: every fraction and exponent a Decimal as written."""
    # json.loads builds a new JSONDecoder on every call that passes parse_float.
    return _decode_json(body.decode())


FAST_LOADS: Callable[[bytes], Any] | None
try:  # the optional `speed` extra
    import orjson

    FAST_LOADS = orjson.loads
except ImportError:  # pragma: no cover - exercised when the extra is not installed
    FAST_LOADS = None


class _DataError(ValueError):
    """A value in a response that does not fit its field."""


class _NotExact(Exception):  # noqa: N818 - a signal to re-decode, not an error
    """The fast parser gave a float for a value the page keeps: the exact decoder decides."""


# A float reaching a scalar rule is, by default, refused (`_NotExact`): on the hot path it
# comes from the fast parser, a binary approximation of what the JSON says (12.50 as 12.5,
# 2**64 + 1 rounded), and the page is decoded again exactly. Refusing by default costs that
# path nothing; the entry points fed a caller's own objects (`structure_page`, the
# converter's hooks) allow floats, taken as the number their repr shows.
_FLOATS_ALLOWED: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "usage_async_floats_allowed", default=False
)


def _from_float(value: float) -> Decimal:
    if not _FLOATS_ALLOWED.get():
        raise _NotExact
    return Decimal(repr(value))


def _allowing_floats(hook: Callable[[Any], T], value: Any) -> T:
    allowed = _FLOATS_ALLOWED.set(True)
    try:
        return hook(value)
    finally:
        _FLOATS_ALLOWED.reset(allowed)


def _has_float(value: Any) -> bool:
    if value.__class__ is float:
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


# -- scalar rules: each takes a value whose class is not already the target ---------------


def to_int(value: Any) -> int:
    """A count: int, a numeric string, or an integral float/Decimal; never a bool."""
    cls = value.__class__
    if cls is int:
        return int(value)
    if cls is bool or value is None:
        raise _DataError(f"expected an integer, got {value!r}")
    if cls is str:
        try:
            return int(value)
        except ValueError:
            pass
    try:
        number = Decimal(value) if cls is not float else _from_float(value)
    except (InvalidOperation, TypeError, ValueError):
        raise _DataError(f"expected an integer, got {value!r}") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise _DataError(f"expected an integer, got {value!r}")
    return int(number)


def to_bool(value: Any) -> bool:
    """A flag: bool, or the strings ``"true"``/``"false"`` in any case."""
    if value.__class__ is bool:
        return bool(value)
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    raise _DataError(f"expected true or false, got {value!r}")


def to_str(value: Any) -> str:
    """An id or a name: str, or a number written as one."""
    if isinstance(value, str):
        return value
    if value.__class__ is float:
        return str(_from_float(value))
    if value.__class__ in (int, Decimal):
        return str(value)
    raise _DataError(f"expected a string, got {value!r}")


def to_decimal(value: Any) -> Decimal:
    """An exact number: JSON number (already Decimal, int, or float via ``repr``) or string."""
    cls = value.__class__
    if cls is Decimal:
        number: Decimal = value
    elif cls is float:
        number = _from_float(value)
    elif cls is int or cls is str:
        try:
            number = Decimal(value.strip() if cls is str else value)
        except InvalidOperation:
            raise _DataError(f"expected a number, got {value!r}") from None
    else:
        raise _DataError(f"expected a number, got {value!r}")
    if not number.is_finite():
        raise _DataError(f"expected a finite number, got {value!r}")
    return number


def to_amount(value: Any) -> Amount:
    """``{"value": <number or string>, "currency": "usd"}``."""
    if not isinstance(value, dict):
        raise _DataError(f"expected an amount object, got {value!r}")
    raw = value.get("value")
    number = raw if raw.__class__ is Decimal else to_decimal(raw)
    currency = value.get("currency")
    if currency.__class__ is not str:
        raise _DataError(f"expected a currency string, got {currency!r}")
    return Amount(number, currency)


# Target type -> (the class a JSON value already has when it needs no conversion, rule).
_SCALAR_RULES: dict[Any, tuple[type, Callable[[Any], Any]]] = {
    int: (int, to_int),
    bool: (bool, to_bool),
    str: (str, to_str),
    Decimal: (Decimal, to_decimal),
    Amount: (Amount, to_amount),
}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    if get_origin(tp) is Union or type(tp).__name__ == "UnionType":
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def _builder_class(cls: type[Any]) -> type[Any] | None:
    """A plain class with exactly ``cls``'s slots, whose instances may become ``cls``'s.

    Setting 20 slots of a plain slotted class is a plain attribute store each; on a frozen
    attrs class every store goes through a descriptor call. So a result is built as the
    builder, then its ``__class__`` is set to the frozen class: CPython allows that between
    classes of the same slot layout, and the object then is an ordinary frozen instance.
    None when this interpreter refuses the switch (the hook then sets the slots directly).
    Made once per class (``_BUILDERS``): both hooks of a class share it.
    """
    builder = type(f"_{cls.__name__}Builder", (), {"__slots__": tuple(cls.__slots__)})
    try:
        probe: Any = object.__new__(builder)
        probe.__class__ = cls
    except TypeError:
        return None
    return builder


_BUILDERS: dict[type[Any], type[Any] | None] = {}


def _make_result_hook(cls: type[Any], *, all_keys: bool = False) -> Callable[[dict[str, Any]], Any]:
    """Generate ``structure_<Class>(o)`` for one result class.

    Each key is read once: with ``o.get``, or, when ``all_keys``, all at once with one
    ``operator.itemgetter`` (faster, but a missing key raises ``KeyError``). A value already
    of the right class is stored as is, anything else goes through its scalar rule (which
    raises when it does not fit); a missing required field reaches its rule as None and
    raises. The instance is built as its builder class and then becomes the frozen class
    (see :func:`_builder_class`).
    """
    attrs.resolve_types(cls)
    name = f"structure_{cls.__name__}"
    if cls not in _BUILDERS:
        _BUILDERS[cls] = _builder_class(cls)
    builder = _BUILDERS[cls]
    fields = attrs.fields(cls)
    env: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_builder": builder}
    lines = [f"def {name}(o):"]
    if all_keys:
        env["_get"] = operator.itemgetter(*(f.name for f in fields))
        names = ", ".join(f"v_{f.name}" for f in fields)
        lines.append(f"    {names}{',' if len(fields) > 1 else ''} = _get(o)")
    else:
        lines.append("    g = o.get")
    lines.append("    s = _new(_builder)" if builder is not None else "    s = _new(_cls)")
    for field in fields:
        target, optional = _unwrap_optional(field.type)
        plain, rule = _SCALAR_RULES[target]
        env[f"_rule_{field.name}"] = rule
        env[f"_t_{field.name}"] = plain
        v = f"v_{field.name}" if all_keys else "v"
        if not all_keys:
            lines.append(f"    v = g({field.name!r})")
        test = f"{v}.__class__ is _t_{field.name}"
        if optional:
            test += f" or {v} is None"
        value = f"{v} if {test} else _rule_{field.name}({v})"
        if builder is not None:
            lines.append(f"    s.{field.name} = {value}")
        else:
            env[f"_set_{field.name}"] = getattr(cls, field.name).__set__
            lines.append(f"    _set_{field.name}(s, {value})")
    if builder is not None:
        lines.append("    s.__class__ = _cls")
    lines.append("    return s")
    source = "\n".join(lines) + "\n"
    filename = f"<usage_async generated {name}{' (all keys)' if all_keys else ''}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    exec(compile(source, filename, "exec"), env)  # noqa: S102 - generated from attrs fields
    hook: Callable[[dict[str, Any]], Any] = env[name]
    return hook


_RESULT_HOOKS: dict[str, Callable[[dict[str, Any]], Any]] = {
    cls.object: _make_result_hook(cls) for cls in RESULT_CLASSES
}
"""Tag -> structure function reading each key with ``.get``: right for any result."""

_FAST_HOOKS: dict[str, Callable[[dict[str, Any]], Any]] = {
    cls.object: _make_result_hook(cls, all_keys=True) for cls in RESULT_CLASSES
}
"""Tag -> the structure function tried first: the ``itemgetter`` one while the API sends
every field of that class (it does, with nulls, as a rule), the ``.get`` one once a result
that left an optional field out has been seen."""

_KEYS: dict[str, frozenset[str]] = {
    cls.object: frozenset(f.name for f in attrs.fields(cls)) for cls in RESULT_CLASSES
}


def _unknown(tag: str | None, obj: dict[str, Any]) -> UnknownResult:
    if not _FLOATS_ALLOWED.get() and _has_float(obj):
        raise _NotExact  # the raw dict is kept: it must hold the numbers as written
    return UnknownResult(tag, obj)


def _structure_result_slowly(obj: Any) -> Result:
    """One result, falling back to :class:`UnknownResult` (logged when the tag is known)."""
    if not isinstance(obj, dict):
        raise _DataError(f"expected a result object, got {obj!r}")
    tag = obj.get("object")
    if not isinstance(tag, str):
        return _unknown(None, obj)
    hook = _RESULT_HOOKS.get(tag)
    if hook is None:
        return _unknown(tag, obj)
    try:
        result: Result = hook(obj)
    except _NotExact:
        raise
    except Exception as exc:  # noqa: BLE001 - any misfit keeps the raw dict instead
        if not _FLOATS_ALLOWED.get():
            # A page the exact decoder may read again: let it log the misfit, once.
            raise _NotExact from None
        log.warning("kept a %s result as UnknownResult: %s", tag, exc)
        return UnknownResult(tag, obj)
    if _FAST_HOOKS[tag] is not hook and not _KEYS[tag] <= obj.keys():
        _FAST_HOOKS[tag] = hook  # this API leaves fields out: read them one by one from now on
    return result


def structure_results(items: Any) -> list[Result]:
    """A bucket's ``results``: fast path for well-formed data, per-item fallback otherwise."""
    hooks = _FAST_HOOKS
    try:
        return [hooks[o["object"]](o) for o in items]
    except _NotExact:
        raise
    except Exception:  # noqa: BLE001 - redo item by item to find and keep the misfits
        if not isinstance(items, list):
            raise _DataError(f"expected a list of results, got {items!r}") from None
        return [_structure_result_slowly(o) for o in items]


def _structure_bucket(obj: Any) -> Bucket[Any]:
    if not isinstance(obj, dict):
        raise _DataError(f"expected a bucket object, got {obj!r}")
    start, end = obj.get("start_time"), obj.get("end_time")
    results = obj.get("results")
    if results is None:
        # Read as empty, a lost `results` would be a day of spend silently reported as zero.
        raise _DataError("a bucket has no 'results'")
    return Bucket(
        start if start.__class__ is int else to_int(start),
        end if end.__class__ is int else to_int(end),
        structure_results(results),
    )


def structure_page(obj: Any) -> Page[Any]:
    """Turn a parsed response body into a :class:`Page`; raise ``ValueError`` if it is not one.

    ``data`` and ``has_more``, and each bucket's ``start_time``, ``end_time`` and ``results``,
    must be there; ``object`` tags of pages and buckets and a last page's ``next_page`` may
    be left out (real responses do). A float is taken as the number its repr shows.
    """
    return _allowing_floats(_structure_page, obj)


def _structure_page(obj: Any) -> Page[Any]:
    if not isinstance(obj, dict):
        raise _DataError(f"expected a page object, got {type(obj).__name__}")
    data = obj.get("data")
    if not isinstance(data, list):
        raise _DataError(f"expected 'data' to be a list of buckets, got {data!r:.80}")
    has_more = obj.get("has_more")
    if has_more.__class__ is not bool:
        has_more = to_bool(has_more)
    next_page = obj.get("next_page")
    if next_page is not None and not isinstance(next_page, str):
        raise _DataError(f"expected 'next_page' to be a string or null, got {next_page!r}")
    return Page([_structure_bucket(b) for b in data], has_more, next_page)


def _is_generic_of(cls: type) -> Callable[[Any], bool]:
    """A predicate matching ``cls`` and any ``cls[...]``."""
    return lambda t: t is cls or getattr(t, "__origin__", None) is cls


def _adapt(hook: Callable[[Any], Any]) -> Callable[[Any, Any], Any]:
    """A cattrs structure hook (value, type) from a one-argument function; it is fed a
    caller's objects, so floats are allowed."""
    return lambda value, _: _allowing_floats(hook, value)


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(detailed_validation=False)
    # Scalars first, so every class built from them follows the same rules.
    conv.register_structure_hook(Decimal, _adapt(to_decimal))
    conv.register_structure_hook(bool, _adapt(to_bool))
    conv.register_structure_hook(Amount, _adapt(to_amount))
    for tag, hook in _RESULT_HOOKS.items():
        cls = next(c for c in RESULT_CLASSES if c.object == tag)
        conv.register_structure_hook(cls, _adapt(hook))
    conv.register_structure_hook(UnknownResult, _adapt(_structure_result_slowly))
    conv.register_structure_hook_func(_is_generic_of(Bucket), _adapt(_structure_bucket))
    conv.register_structure_hook_func(_is_generic_of(Page), _adapt(_structure_page))
    conv.register_unstructure_hook(Decimal, lambda v: v)
    return conv


converter = _make_converter()
"""The package's converter. ``converter.unstructure(result)`` gives a dict of its fields
(Decimals kept); ``converter.structure(obj, Page)`` is :func:`structure_page`."""


def decode_page(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    fast_loads: Callable[[bytes], Any] | None = FAST_LOADS,
) -> Page[Any]:
    """The page of a 2xx response, or the exception for any other: pure, no I/O.

    A 2xx whose body is not JSON raises :class:`APIResponseValidationError` with
    ``json_error=True`` (a truncated body, say); JSON that is not a page raises it with
    ``json_error=False``. Both are retried.

    ``fast_loads`` (orjson's, when installed) parses first. It reads every fraction and
    exponent, and every integer beyond 64 bits, as a binary float, which loses digits
    (API-NOTES #17: amounts are 34-digit decimals) or trailing zeros (``12.50``): so when a
    value the page keeps comes out a float, and for any body it refuses or page it cannot
    structure, the exact decoder (``json`` with ``Decimal``) reads the body again and its
    page or error is the answer. Integer-only pages (all usage pages) keep the fast path;
    the result is the same with or without orjson, error messages included.
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body)
    # (Floats are refused here unless a caller's hook around us allowed them: then the fast
    # parser is not used at all.)
    if fast_loads is not None and not _FLOATS_ALLOWED.get():
        try:
            return _structure_page(fast_loads(body))
        except (_NotExact, ValueError, TypeError, AttributeError):
            pass  # in any doubt, the exact decoder decides
    request_id = headers.get("x-request-id")
    try:
        obj = _json_loads(body)
    except (ValueError, RecursionError) as exc:
        raise APIResponseValidationError(
            f"HTTP {status} with a body that is not JSON ({exc}): {body[:120]!r}",
            status_code=status,
            body=body,
            request_id=request_id,
            json_error=True,
            headers=headers,
        ) from None
    try:
        return structure_page(obj)
    except (ValueError, TypeError, AttributeError) as exc:
        raise APIResponseValidationError(
            f"HTTP {status} with JSON that is not a page: {exc}",
            status_code=status,
            body=body,
            request_id=request_id,
            headers=headers,
        ) from None


# -- the directory: pages of the admin list endpoints -------------------------------------
# The same rules as above (unknown fields ignored, tolerant scalars), applied by cattrs' own
# generated hooks: list pages are few and small, so they take the plain path. A field the
# spec requires that is missing, or a value that does not fit, makes the page an
# APIResponseValidationError: a directory with a silently dropped entry would name less
# than it says it does.

LIST_ITEM_CLASSES: tuple[type[Any], ...] = (
    Project,
    User,
    ProjectApiKey,
    ProjectServiceAccount,
    AdminApiKey,
)


def structure_list_page(obj: Any, item_type: type[T]) -> ListPage[T]:
    """Turn a parsed list response into a :class:`ListPage` of ``item_type``; raise
    ``ValueError`` (or ``KeyError`` for a missing required field) if it is not one."""
    if not isinstance(obj, dict):
        raise _DataError(f"expected a list object, got {type(obj).__name__}")
    data = obj.get("data")
    if not isinstance(data, list):
        raise _DataError(f"expected 'data' to be a list, got {data!r:.80}")
    has_more = obj.get("has_more")
    first_id, last_id = obj.get("first_id"), obj.get("last_id")
    return ListPage(
        [converter.structure(item, item_type) for item in data],
        None if first_id is None else to_str(first_id),
        None if last_id is None else to_str(last_id),
        has_more if has_more.__class__ is bool else to_bool(has_more),
    )


def _register_list_rules(conv: cattrs.Converter) -> None:
    # Only the cattrs-generated hooks of the directory's classes reach these two: the usage
    # results above have hooks of their own.
    conv.register_structure_hook(int, lambda v, _: to_int(v))
    conv.register_structure_hook(str, lambda v, _: to_str(v))

    def list_page(obj: Any, tp: Any) -> ListPage[Any]:
        args = get_args(tp)
        if not args:
            raise TypeError("structure a ListPage[ItemClass], such as ListPage[Project]")
        return structure_list_page(obj, args[0])

    conv.register_structure_hook_func(_is_generic_of(ListPage), list_page)


_register_list_rules(converter)


def decode_list_page(
    item_type: type[T], status: int, headers: Mapping[str, str], body: bytes
) -> ListPage[T]:
    """The list page of a 2xx response, or the exception for any other: pure, no I/O.

    As :func:`decode_page`: a body that is not JSON raises :class:`APIResponseValidationError`
    with ``json_error=True`` (retried); JSON that is not a list of ``item_type`` raises it with
    ``json_error=False``, naming the field.
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body)
    request_id = headers.get("x-request-id")
    try:
        obj = _json_loads(body)  # lists are few and small: the exact decoder, always
    except (ValueError, RecursionError) as exc:
        raise APIResponseValidationError(
            f"HTTP {status} with a body that is not JSON ({exc}): {body[:120]!r}",
            status_code=status,
            body=body,
            request_id=request_id,
            json_error=True,
            headers=headers,
        ) from None
    try:
        return structure_list_page(obj, item_type)
    except KeyError as exc:
        problem = f"an item has no {exc.args[0]!r}, which the spec requires"
    except (ValueError, TypeError, AttributeError) as exc:
        problem = str(exc)
    raise APIResponseValidationError(
        f"HTTP {status} with JSON that is not a list of {item_type.__name__}: {problem}",
        status_code=status,
        body=body,
        request_id=request_id,
        headers=headers,
    )


__all__ += ["LIST_ITEM_CLASSES", "decode_list_page", "structure_list_page"]


# -- one object: the spend limits ---------------------------------------------------------
# The same rules as the list items above, for an endpoint that answers with one object.


def decode_object(item_type: type[T], status: int, headers: Mapping[str, str], body: bytes) -> T:
    """The ``item_type`` object of a 2xx response, or the exception for any other: pure.

    As :func:`decode_list_page`: a body that is not JSON raises
    :class:`APIResponseValidationError` with ``json_error=True`` (retried); JSON that is not
    an ``item_type`` raises it with ``json_error=False``, naming the field.
    """
    if not 200 <= status < 300:
        raise error_from_response(status, headers, body)
    request_id = headers.get("x-request-id")
    try:
        obj = _json_loads(body)
    except (ValueError, RecursionError) as exc:
        raise APIResponseValidationError(
            f"HTTP {status} with a body that is not JSON ({exc}): {body[:120]!r}",
            status_code=status,
            body=body,
            request_id=request_id,
            json_error=True,
            headers=headers,
        ) from None
    try:
        if not isinstance(obj, dict):
            raise _DataError(f"expected an object, got {type(obj).__name__}")
        item: T = converter.structure(obj, item_type)
        return item
    except KeyError as exc:
        problem = f"it has no {exc.args[0]!r}, which the spec requires"
    except (ValueError, TypeError, AttributeError) as exc:
        problem = str(exc)
    raise APIResponseValidationError(
        f"HTTP {status} with JSON that is not a {item_type.__name__}: {problem}",
        status_code=status,
        body=body,
        request_id=request_id,
        headers=headers,
    )


__all__ += ["decode_object"]
