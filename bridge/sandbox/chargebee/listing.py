"""List endpoints: `limit` (1–100, default 10), opaque `offset`/`next_offset`, filters such as
`email[is]=…`, `updated_at[after]=…`, `event_type[in]=[…]`, and `sort_by[asc|desc]=…`."""

from __future__ import annotations

import bisect
import itertools
import json
from collections.abc import Callable, Iterable
from typing import Any

from bridge.sandbox.chargebee.errors import wrong_value
from bridge.sandbox.chargebee.forms import list_values

Json = dict[str, Any]
_NOT_FILTERS = {"limit", "offset", "sort_by", "include_deleted"}
_OPERATORS = {
    "is",
    "is_not",
    "starts_with",
    "in",
    "not_in",
    "after",
    "before",
    "on_or_after",
    "on_or_before",
    "between",
    "is_present",
}


Row = tuple[Any, int, Json]  # (sort value, insertion sequence, object)


def sort_rows(rows: Iterable[tuple[int, Json]], field: str) -> list[Row]:
    """Rows in ascending (value, sequence) order, the index `page` walks."""
    # Sequences are unique, so objects themselves are never compared.
    return sorted((obj.get(field) or 0, seq, obj) for seq, obj in rows)


def page(
    rows: Iterable[tuple[int, Json]],
    key: str,
    params: Json,
    *,
    default_sort: str = "created_at",
    sortable: tuple[str, ...] = ("created_at", "updated_at"),
    companions: Callable[[Json], Json] | None = None,
    index: Callable[[str], list[Row]] | None = None,
) -> Json:
    """One page of `rows` (pairs of insertion sequence and object) as Chargebee answers it.

    `index(field)`, when given, returns the rows already sorted by `field` (cached by the store),
    so a page costs a bisect plus `limit` steps instead of a sort of the whole list.
    """
    limit = _limit(params.get("limit"))
    field, descending = _sort(params.get("sort_by"), default_sort, sortable)
    filters = _filters(params)
    ordered = index(field) if index is not None else sort_rows(rows, field)
    offset = params.get("offset")
    after = _decode_offset(offset) if offset else None

    def position(row: Row) -> tuple[Any, int]:
        return row[0], row[1]

    walk: Iterable[Row]
    if descending:
        end = len(ordered) if after is None else bisect.bisect_left(ordered, after, key=position)
        walk = (ordered[i] for i in range(end - 1, -1, -1))
    else:
        start = 0 if after is None else bisect.bisect_right(ordered, after, key=position)
        walk = (ordered[i] for i in range(start, len(ordered)))
    if filters:
        walk = (row for row in walk if all(f(row[2]) for f in filters))
    window = list(itertools.islice(walk, limit + 1))
    chosen = window[:limit]
    # Some lists carry related objects next to each entry (subscriptions come with their customer).
    answer: Json = {"list": [{key: obj, **(companions(obj) if companions else {})} for _, _, obj in chosen]}
    if len(window) > limit:
        last = chosen[-1]
        answer["next_offset"] = json.dumps([str(last[0]), str(last[1])])
    return answer


def _limit(raw: object) -> int:
    if raw is None or raw == "":
        return 10
    try:
        limit = int(str(raw))
    except ValueError:
        raise wrong_value("limit", "must be a number") from None
    if not 1 <= limit <= 100:
        raise wrong_value("limit", "must be between 1 and 100")
    return limit


def _sort(raw: object, default: str, sortable: tuple[str, ...]) -> tuple[str, bool]:
    if not isinstance(raw, dict) or not raw:
        return default, True
    direction, field = next(iter(raw.items()))
    if direction not in ("asc", "desc"):
        raise wrong_value(f"sort_by[{direction}]", "unknown sort direction")
    if field not in sortable:
        raise wrong_value(f"sort_by[{direction}]", f"cannot sort by {field}")
    return str(field), direction == "desc"


def _decode_offset(raw: object) -> tuple[Any, int]:
    try:
        value, seq = json.loads(str(raw))
        number = int(value) if str(value).lstrip("-").isdigit() else value
        return number, int(seq)
    except (ValueError, TypeError):
        raise wrong_value("offset", "invalid offset") from None


def _filters(params: Json) -> list[Any]:
    checks: list[Any] = []
    for name, spec in params.items():
        if name in _NOT_FILTERS or not isinstance(spec, dict):
            continue
        for op, raw in spec.items():
            if op not in _OPERATORS:
                raise wrong_value(f"{name}[{op}]", "unknown filter operator")
            checks.append(_check(name, op, str(raw)))
    return checks


def _coerce(sample: object, raw: str, param: str) -> object:
    if isinstance(sample, bool):
        return raw.lower() == "true"
    if isinstance(sample, int):
        try:
            return int(raw)
        except ValueError:
            raise wrong_value(param, "must be a number") from None
    return raw


def _check(name: str, op: str, raw: str) -> Any:
    param = f"{name}[{op}]"
    if op in ("in", "not_in", "between"):
        values = list_values(raw)
        if op == "between" and len(values) != 2:
            raise wrong_value(param, "needs two values")

    def matches(obj: Json) -> bool:
        value = obj.get(name)
        if op == "is_present":
            return (value is not None) == (raw.lower() == "true")
        if value is None:
            return op in ("is_not", "not_in")
        if op in ("in", "not_in"):
            found = str(value) in values
            return found if op == "in" else not found
        if op == "starts_with":
            return str(value).startswith(raw)
        if op == "between":
            low, high = (_coerce(value, v, param) for v in values)
            return bool(low <= value <= high)
        target: Any = _coerce(value, raw, param)
        if op == "is":
            return bool(value == target)
        if op == "is_not":
            return bool(value != target)
        try:
            if op == "after":
                return bool(value > target)
            if op == "before":
                return bool(value < target)
            if op == "on_or_after":
                return bool(value >= target)
            return bool(value <= target)
        except TypeError:
            raise wrong_value(param, "cannot compare this field") from None

    return matches
