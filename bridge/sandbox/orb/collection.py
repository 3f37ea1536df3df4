"""One kind of Orb object in memory, listed newest first with Orb's cursor pagination."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from bridge.sandbox.orb.errors import invalid

JSON = dict[str, Any]
MAX_LIMIT = 100
DEFAULT_LIMIT = 20


def encode_cursor(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The value inside an opaque cursor; a cursor we did not hand out is a validation error."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid("cursor", "is not a cursor this API returned") from exc


def parse_limit(raw: str | None) -> int:
    """`limit` as Orb takes it: an integer from 1 to 100, 20 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError as exc:
        raise invalid("limit", "value is not a valid integer") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid("limit", f"ensure this value is between 1 and {MAX_LIMIT}")
    return limit


def page_of(items: list[JSON], has_more: bool, last_id: str | None) -> JSON:
    return {
        "data": items,
        "pagination_metadata": {
            "has_more": has_more,
            "next_cursor": encode_cursor(last_id) if has_more and last_id else None,
        },
    }


class Collection:
    """Objects of one kind by id, remembering creation order (lists answer newest first)."""

    def __init__(self) -> None:
        self.items: dict[str, JSON] = {}
        self.order: list[str] = []
        self._pos: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.items)

    def __contains__(self, key: object) -> bool:
        return key in self.items

    def add(self, key: str, obj: JSON) -> JSON:
        self._pos[key] = len(self.order)
        self.order.append(key)
        self.items[key] = obj
        return obj

    def position(self, key: str) -> int | None:
        """Where `key` stands in creation order (O(1))."""
        return self._pos.get(key)

    def get(self, key: str) -> JSON | None:
        return self.items.get(key)

    def newest_first(self, subset: Sequence[str] | None, after: str | None) -> Iterator[str]:
        """Ids newest first, starting after the id `after` (a decoded cursor)."""
        order = self.order if subset is None else subset
        if after is None:
            start = len(order) - 1
        else:
            index = self._pos.get(after) if subset is None else _index(subset, after)
            if index is None:
                raise invalid("cursor", "is not a cursor this API returned")
            start = index - 1
        for i in range(start, -1, -1):
            yield order[i]

    def page(
        self,
        *,
        cursor: str | None,
        limit: int,
        render: Callable[[JSON], JSON],
        keep: Callable[[JSON], bool] | None = None,
        subset: Sequence[str] | None = None,
    ) -> JSON:
        """One page of `render(obj)` for objects that `keep`, newest first."""
        after = decode_cursor(cursor) if cursor else None
        out: list[JSON] = []
        last: str | None = None
        for key in self.newest_first(subset, after):
            obj = self.items[key]
            if keep is not None and not keep(obj):
                continue
            if len(out) == limit:
                return page_of(out, True, last)
            out.append(render(obj))
            last = key
        return page_of(out, False, None)


def _index(order: Sequence[str], key: str) -> int | None:
    try:
        return list(order).index(key)
    except ValueError:
        return None
