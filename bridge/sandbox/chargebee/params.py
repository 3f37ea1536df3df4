"""Validation of request parameters, failing with 400 `param_wrong_value` naming the parameter."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bridge.sandbox.chargebee.errors import blank, wrong_value
from bridge.sandbox.chargebee.operations import ItemRequest

Json = dict[str, Any]
Check = Callable[[str, str], Any]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def text(limit: int = 150) -> Check:
    """A string of at most `limit` characters."""

    def check(param: str, raw: str) -> str:
        if len(raw) > limit:
            raise wrong_value(param, f"cannot be more than {limit} characters")
        return raw

    return check


def email(param: str, raw: str) -> str:
    """An email address."""
    if raw and not _EMAIL.match(raw):
        raise wrong_value(param, "invalid email format")
    return raw


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    """A whole number within bounds."""

    def check(param: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise wrong_value(param, "must be a number") from None
        if minimum is not None and value < minimum:
            raise wrong_value(param, f"cannot be less than {minimum}")
        if maximum is not None and value > maximum:
            raise wrong_value(param, f"cannot be more than {maximum}")
        return value

    return check


def boolean(param: str, raw: str) -> bool:
    """`true` or `false`."""
    if raw.lower() not in ("true", "false"):
        raise wrong_value(param, "must be true or false")
    return raw.lower() == "true"


def one_of(*allowed: str) -> Check:
    """One of a fixed set of values."""

    def check(param: str, raw: str) -> str:
        if raw not in allowed:
            raise wrong_value(param, f"invalid value {raw!r}; allowed: {', '.join(allowed)}")
        return raw

    return check


def country(param: str, raw: str) -> str:
    """An ISO 3166 alpha-2 country code."""
    if not re.fullmatch(r"[A-Z]{2}", raw):
        raise wrong_value(param, "invalid country code")
    return raw


def fields(params: Json, spec: dict[str, Check], *, prefix: str | None = None) -> Json:
    """The parameters named in `spec`, converted; custom fields `cf_*` pass through at top level."""
    out: Json = {}
    for name, raw in params.items():
        param = f"{prefix}[{name}]" if prefix else name
        if name in spec:
            if not isinstance(raw, str):
                raise wrong_value(param, "must be a single value")
            out[name] = spec[name](param, raw)
        elif prefix is None and name.startswith("cf_") and isinstance(raw, str):
            out[name] = raw
    return out


def required(params: Json, name: str) -> str:
    """A mandatory single value."""
    raw = params.get(name)
    if not isinstance(raw, str) or raw == "":
        raise blank(name)
    return raw


def optional(params: Json, name: str) -> str | None:
    """An optional single value (blank counts as absent)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise wrong_value(name, "must be a single value")
    return raw


def indexed(params: Json, name: str) -> list[str]:
    """`name[0]=a&name[1]=b` (parsed as a dict of indexes) as a list in index order."""
    raw = params.get(name)
    if raw is None:
        return []
    if isinstance(raw, dict) and all(k.isdigit() for k in raw):
        return [str(raw[k]) for k in sorted(raw, key=int)]
    raise wrong_value(name, "must be indexed as name[0], name[1], ...")


def item_requests(
    params: Json, name: str = "subscription_items", *, required_list: bool = True
) -> list[ItemRequest]:
    """`subscription_items[item_price_id][i]` / `[quantity][i]` entries."""
    rows = params.get(name)
    if not rows:
        if required_list:
            raise blank(f"{name}[item_price_id][0]")
        return []
    if not isinstance(rows, list):
        raise wrong_value(name, "must be indexed as subscription_items[item_price_id][0]")
    out = []
    for row in rows:
        index = int(row["_index"])
        price_id = row.get("item_price_id")
        if not price_id:
            raise blank(f"{name}[item_price_id][{index}]")
        quantity = row.get("quantity")
        qty = integer(1, 1_000_000)(f"{name}[quantity][{index}]", quantity) if quantity else None
        out.append(ItemRequest(price_id, qty, index))
    return out
