"""Chargebee's nested form names: `billing_address[city]`, `subscription_items[item_price_id][0]`.

Both request bodies and list filters (`email[is]=…`) use them; one parser serves both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_NAME = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def parse_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Turn flat form pairs into nested values.

    `a=v` → `{"a": v}`; `a[k]=v` → `{"a": {"k": v}}`; `a[k][0]=v` → `{"a": [{"k": v}]}`
    (Chargebee indexes list entries per field, so the list is rebuilt in index order).
    """
    out: dict[str, Any] = {}
    rows: dict[str, dict[int, dict[str, str]]] = {}
    for name, value in pairs:
        match = _NAME.match(name)
        if match is None:
            out[name] = value
            continue
        head, tail = match.group(1), match.group(2)
        keys = re.findall(r"\[([^\[\]]*)\]", tail)
        if not keys:
            out[head] = value
        elif len(keys) == 2 and keys[1].isdigit():
            rows.setdefault(head, {}).setdefault(int(keys[1]), {})[keys[0]] = value
        elif len(keys) == 1:
            group = out.setdefault(head, {})
            if isinstance(group, dict):
                group[keys[0]] = value
        else:
            out[name] = value
    for head, by_index in rows.items():
        out[head] = [{"_index": index, **fields} for index, fields in sorted(by_index.items())]
    return out


def list_values(raw: str) -> list[str]:
    """Values of an `in`/`not_in` filter: `["a","b"]` or the SDK's `['a', 'b']`."""
    inner = raw.strip()
    if inner.startswith("[") and inner.endswith("]"):
        inner = inner[1:-1]
    return [part.strip().strip("'\"") for part in inner.split(",") if part.strip()]
