"""One page of a billing list endpoint and the cursor to the next (backfill checkpoints it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Page:
    """The items of one list call; `next_cursor` is None on the last page.

    The cursor is the vendor's own opaque value (Orb `next_cursor`, Chargebee `next_offset`),
    so a run can resume from it later.
    """

    items: list[dict[str, Any]]
    next_cursor: str | None
