"""Field values as Salesforce deserializes them: JSON (REST) or CSV text (Bulk API 2.0)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

from bridge.salesforce.schema import FieldDef
from bridge.sandbox.salesforce.clock import sf_datetime

_TEXT = {"id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "reference"}
_NUMBER = {"double", "currency", "percent"}
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_JSON_KIND = {bool: "VALUE_TRUE", int: "VALUE_NUMBER_INT", float: "VALUE_NUMBER_FLOAT", str: "VALUE_STRING"}
_JAVA_TYPE = {
    "boolean": "boolean",
    "int": "int",
    "double": "double",
    "currency": "double",
    "percent": "double",
    "date": "date",
    "datetime": "datetime",
}


class BadValue(ValueError):
    """A value that cannot become the field's type; `kind` names the JSON token Salesforce saw."""

    def __init__(self, fdef: FieldDef, value: Any) -> None:
        self.fdef = fdef
        self.value = value
        if isinstance(value, dict):
            self.kind, shown = "START_OBJECT", "{"
        elif isinstance(value, list):
            self.kind, shown = "START_ARRAY", "["
        else:
            self.kind = _JSON_KIND.get(type(value), "VALUE_STRING")
            shown = str(value).lower() if isinstance(value, bool) else str(value)
        self.shown = shown
        super().__init__(f"{fdef.name}: {value!r}")

    def json_message(self) -> str:
        java = _JAVA_TYPE.get(self.fdef.type, "string")
        return (
            f"Cannot deserialize instance of {java} from {self.kind} value {self.shown} "
            "or request may be missing a required field"
        )

    def csv_message(self) -> str:
        return f"{self.fdef.name}: value not of required type: {self.shown}"


def parse_datetime(text: str) -> datetime:
    """ISO 8601 as Salesforce accepts it (`Z`, `+0000` or `+00:00`; no zone means UTC)."""
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    m = re.match(r"^(.*[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)([+-]\d{2})(\d{2})$", t)
    if m:
        t = f"{m.group(1)}{m.group(2)}:{m.group(3)}"
    dt = datetime.fromisoformat(t)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt


def from_json(fdef: FieldDef, value: Any) -> Any:
    """The stored form of a JSON value for `fdef`; raises `BadValue`."""
    if value is None:
        return None
    t = fdef.type
    if t in _TEXT:
        if isinstance(value, dict | list):
            raise BadValue(fdef, value)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)
    if t == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise BadValue(fdef, value)
    if t == "int":
        if isinstance(value, (bool, dict | list)):
            raise BadValue(fdef, value)
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise BadValue(fdef, value) from None
        if number != int(number):
            raise BadValue(fdef, value)
        return int(number)
    if t in _NUMBER:
        if isinstance(value, (bool, dict | list)):
            raise BadValue(fdef, value)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise BadValue(fdef, value) from None
    if t == "date":
        if not isinstance(value, str) or not _DATE_RE.match(value):
            raise BadValue(fdef, value)
        try:
            date.fromisoformat(value)
        except ValueError:
            raise BadValue(fdef, value) from None
        return value
    if t == "datetime":
        if not isinstance(value, str):
            raise BadValue(fdef, value)
        try:
            return sf_datetime(parse_datetime(value).timestamp())
        except ValueError:
            raise BadValue(fdef, value) from None
    raise BadValue(fdef, value)


def from_csv(fdef: FieldDef, text: str) -> Any:
    """The stored form of a Bulk API CSV cell (`#N/A` nulls a field, empty leaves it unset)."""
    if text == "#N/A":
        return None
    if fdef.type in _TEXT:
        return text
    if fdef.type == "boolean":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise BadValue(fdef, text)
    return from_json(fdef, text)


def to_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
