"""Rows for a warehouse or a FinOps tool: an endpoint's results as flat rows (as
:func:`usage_async.rows` gives them), costs also in FOCUS 1.2 columns, and Parquet files with
money as a decimal type (the ``parquet`` extra, pyarrow), never a float.

FOCUS (the FinOps Foundation's FinOps Open Cost and Usage Specification) columns of one costs
row: ``BilledCost`` is the amount the API reports, and ``EffectiveCost``, ``ListCost`` and
``ContractedCost`` equal it (the API reports one amount; no discount or commitment shows in
it); ``ChargePeriodStart``/``End`` are the bucket, ``BillingPeriodStart``/``End`` its UTC
month; ``ChargeDescription`` is the line item, verbatim; the sub-account is the project
(``SubAccountId``, ``SubAccountName`` when a directory names it, ``SubAccountType``
"Project"); the service is the OpenAI API; quantities are the API's ``quantity`` and
``quantity_unit``; the API key, when grouped by it, is the custom column ``x_ApiKeyId``.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import decimal
import os
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["FOCUS_COLUMNS", "FOCUS_MONEY", "focus_row", "pyarrow", "write_parquet"]

FOCUS_MONEY = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")
FOCUS_COLUMNS = (
    *FOCUS_MONEY,
    "BillingCurrency",
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ConsumedQuantity",
    "ConsumedUnit",
    "PricingQuantity",
    "PricingUnit",
    "InvoiceIssuerName",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "x_ApiKeyId",
)
"""The FOCUS 1.2 columns of :func:`focus_row`, in order."""
_UTC = _dt.timezone.utc


def pyarrow() -> Any:
    """The ``pyarrow`` module, or ImportError naming the extra that brings it."""
    try:
        import pyarrow as module
    except ImportError:
        raise ImportError("Parquet needs pyarrow: pip install 'usage-async[parquet]'") from None
    return module


def _month(when: _dt.datetime) -> tuple[_dt.datetime, _dt.datetime]:
    start = _dt.datetime(when.year, when.month, 1, tzinfo=_UTC)
    end = _dt.datetime(when.year + (when.month == 12), when.month % 12 + 1, 1, tzinfo=_UTC)
    return start, end


def focus_row(
    row: Mapping[str, Any], *, account: str, names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """One costs row (``rows()``'s keys) in FOCUS 1.2 columns; ``account`` is the billing
    account (the organization), ``names`` project names by id."""
    amount = row.get("amount_value")
    start: _dt.datetime = row["start_time"]
    period = _month(start)
    project = row.get("project_id") or None
    currency = row.get("amount_currency")
    return {
        **dict.fromkeys(FOCUS_MONEY, amount),
        "BillingCurrency": currency.upper() if currency else None,
        "BillingAccountId": account,
        "BillingAccountName": None,
        "BillingPeriodStart": period[0],
        "BillingPeriodEnd": period[1],
        "ChargePeriodStart": start,
        "ChargePeriodEnd": row["end_time"],
        "ChargeCategory": "Usage",
        "ChargeClass": None,
        "ChargeDescription": row.get("line_item") or None,
        "ChargeFrequency": "Usage-Based",
        "ConsumedQuantity": row.get("quantity"),
        "ConsumedUnit": row.get("quantity_unit"),
        "PricingQuantity": row.get("quantity"),
        "PricingUnit": row.get("quantity_unit"),
        "InvoiceIssuerName": "OpenAI",
        "ProviderName": "OpenAI",
        "PublisherName": "OpenAI",
        "ServiceCategory": "AI and Machine Learning",
        "ServiceName": "OpenAI API",
        "SubAccountId": project,
        "SubAccountName": (names or {}).get(project) if project else None,
        "SubAccountType": "Project" if project else None,
        "x_ApiKeyId": row.get("api_key_id") or None,
    }


def decimal_type(values: Iterable[decimal.Decimal | None]) -> Any:
    """The narrowest Arrow decimal type holding every value exactly: ``decimal128(38, s)``
    for the largest scale ``s`` found, ``decimal256(76, s)`` past 38 digits; ValueError
    beyond (never a rounded amount)."""
    pa = pyarrow()
    scale = whole = 0
    for value in values:
        if value is None:
            continue
        _sign, digits, exponent = value.as_tuple()
        if not isinstance(exponent, int):
            raise ValueError(f"{value} is not a finite amount")
        scale = max(scale, -exponent)
        whole = max(whole, len(digits) + exponent)
    if whole + scale <= 38:
        return pa.decimal128(38, scale)
    if whole + scale <= 76:
        return pa.decimal256(76, scale)
    raise ValueError(f"an amount needs {whole + scale} digits: more than Parquet's 76")


def _arrow_type(values: list[Any]) -> Any:
    pa = pyarrow()
    present = [v for v in values if v is not None]
    if any(isinstance(v, decimal.Decimal) for v in present):
        return decimal_type(present)
    if any(isinstance(v, _dt.datetime) for v in present):
        return pa.timestamp("s", tz="UTC")
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return pa.int64()
    return pa.string()


def write_parquet(path: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """Write ``rows`` to a Parquet file at ``path``, whole or not at all (a temporary file in
    the same folder, renamed when complete). Decimals become a decimal type wide enough for
    every value (:func:`decimal_type`), times ``timestamp[s, UTC]``."""
    pa = pyarrow()
    import pyarrow.parquet as pq

    arrays = []
    fields = []
    for name in columns:
        values = [row.get(name) for row in rows]
        kind = _arrow_type(values)
        if pa.types.is_string(kind):
            values = [None if v is None else str(v) for v in values]
        arrays.append(pa.array(values, type=kind))
        fields.append(pa.field(name, kind))
    table = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    folder, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
