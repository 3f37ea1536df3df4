"""Value transforms (billing → Salesforce) and the kind of value each produces. Pure.

A transform raises `ValueError` on a value it cannot convert (the engine turns that into
`BadInput` naming the field) and `Skip` when the value is fine but must not be written
(an `external_customer_id` that is not a Salesforce Account Id).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import orjson

from bridge.mapping.model import Scalar, Transform

Kind = Literal["string", "text", "number", "int", "bool", "datetime", "date", "id"]

# Salesforce Account Ids start with 001 and are 15 or 18 characters.
_ACCOUNT_ID = re.compile(r"^001[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?$")


class Skip(Exception):
    """The value is valid but not to be written."""


def _str(v: Any) -> str:
    if isinstance(v, dict | list):
        return orjson.dumps(v, option=orjson.OPT_SORT_KEYS).decode()
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _lines(v: Any) -> str:
    if isinstance(v, list):
        return "\n".join(str(x) for x in v if x not in (None, ""))
    return _str(v)


def _decimal(v: Any) -> float:
    if isinstance(v, bool):
        raise ValueError(f"expected a number, got {v!r}")
    try:
        return float(Decimal(str(v)))
    except InvalidOperation as exc:
        raise ValueError(f"expected a decimal number, got {v!r}") from exc


def _cents(v: Any) -> float:
    # Chargebee sends amounts in the currency's minor unit (cents for 2-decimal currencies).
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"expected an amount in cents, got {v!r}")
    try:
        return float(Decimal(str(v)) / 100)
    except InvalidOperation as exc:
        raise ValueError(f"expected an amount in cents, got {v!r}") from exc


def _int(v: Any) -> int:
    if isinstance(v, bool):
        raise ValueError(f"expected an integer, got {v!r}")
    if isinstance(v, float) and not v.is_integer():
        raise ValueError(f"expected an integer, got {v!r}")
    try:
        return int(Decimal(str(v)))
    except (InvalidOperation, ValueError) as exc:
        raise ValueError(f"expected an integer, got {v!r}") from exc


def _bool(v: Any) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, str) and v.lower() in ("true", "on", "yes", "1"):
        return True
    if isinstance(v, str) and v.lower() in ("false", "off", "no", "0"):
        return False
    raise ValueError(f"expected true/false, got {v!r}")


def _unix(v: Any) -> datetime:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ValueError(f"expected Unix seconds, got {v!r}")
    return datetime.fromtimestamp(v, UTC)


def _iso(v: Any) -> datetime:
    if not isinstance(v, str):
        raise ValueError(f"expected an ISO 8601 timestamp, got {v!r}")
    try:
        parsed = datetime.fromisoformat(v)
    except ValueError as exc:
        raise ValueError(f"expected an ISO 8601 timestamp, got {v!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def sf_datetime(value: datetime) -> str:
    """Salesforce's datetime text: UTC with milliseconds and Z."""
    value = value.astimezone(UTC)
    return f"{value:%Y-%m-%dT%H:%M:%S}.{value.microsecond // 1000:03d}Z"


def sf_date(value: date) -> str:
    """Salesforce's date text."""
    return f"{value:%Y-%m-%d}"


def _account_id(v: Any) -> str:
    if isinstance(v, str) and _ACCOUNT_ID.match(v):
        return v
    raise Skip


TRANSFORMS: dict[Transform, tuple[Kind, Callable[[Any], Any]]] = {
    Transform.STR: ("string", _str),
    Transform.TEXT: ("text", _str),
    Transform.LINES: ("text", _lines),
    Transform.DECIMAL: ("number", _decimal),
    Transform.CENTS: ("number", _cents),
    Transform.INT: ("int", _int),
    Transform.BOOL: ("bool", _bool),
    Transform.UNIX_DATETIME: ("datetime", lambda v: sf_datetime(_unix(v))),
    Transform.UNIX_DATE: ("date", lambda v: sf_date(_unix(v).date())),
    Transform.ISO_DATETIME: ("datetime", lambda v: sf_datetime(_iso(v))),
    Transform.ISO_DATE: ("date", lambda v: sf_date(_iso(v).date())),
    Transform.ACCOUNT_ID: ("id", _account_id),
}


def apply(transform: Transform, value: Any) -> Any:
    """Convert `value` (never None) with `transform`."""
    return TRANSFORMS[transform][1](value)


def kind_of(transform: Transform) -> Kind:
    """The kind of value `transform` produces."""
    return TRANSFORMS[transform][0]


def kind_of_constant(value: Scalar | None) -> Kind | None:
    """The kind of a constant (None fits every field)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "number"
    return "string"


# Which Salesforce field types accept each kind of value. Types in none of these (address,
# location, base64, time, …) take nothing the transforms produce: check reports them.
FITS: dict[Kind, frozenset[str]] = {
    "string": frozenset(
        {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist"}
        | {"combobox", "encryptedstring"}
    ),
    "text": frozenset({"textarea", "string"}),
    "number": frozenset({"double", "currency", "percent"}),
    "int": frozenset({"int", "long", "double", "currency", "percent"}),
    "bool": frozenset({"boolean"}),
    "datetime": frozenset({"datetime"}),
    "date": frozenset({"date"}),
    "id": frozenset({"reference", "id"}),
}


def timestamp_ms(value: Any) -> int:
    """Epoch milliseconds of an ISO text, a datetime, or Unix seconds (versions)."""
    if isinstance(value, datetime):
        dt = value if value.tzinfo else value.replace(tzinfo=UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1000)
    else:
        dt = _iso(value)
    return int(dt.timestamp() * 1000)
