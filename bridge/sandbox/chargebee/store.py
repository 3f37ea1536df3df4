"""In-memory state of one Chargebee site: resources by kind, events, and version stamps.

Every stored resource carries `resource_version` (milliseconds, strictly increasing across the
site, as Chargebee documents) and `updated_at` (seconds).
"""

from __future__ import annotations

import copy
import random
import string
from dataclasses import dataclass
from typing import Any

from bridge.sandbox.chargebee import listing
from bridge.sandbox.chargebee.clock import SandboxClock
from bridge.sandbox.chargebee.errors import not_found

Json = dict[str, Any]


@dataclass(frozen=True)
class Kind:
    """One resource type: its JSON key, its URL segment and its label in errors."""

    key: str
    plural: str


KINDS: dict[str, Kind] = {
    k.plural: k
    for k in (
        Kind("customer", "customers"),
        Kind("item", "items"),
        Kind("item_price", "item_prices"),
        Kind("subscription", "subscriptions"),
        Kind("quote", "quotes"),
        Kind("invoice", "invoices"),
        Kind("coupon", "coupons"),
        Kind("credit_note", "credit_notes"),
        Kind("transaction", "transactions"),
    )
}
_ALPHABET = string.ascii_letters + string.digits


class Store:
    """All resources of the site, plus the event log that webhooks are delivered from."""

    def __init__(self, clock: SandboxClock, *, seed: int = 0) -> None:
        self.clock = clock
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Forget everything (ids restart deterministically from the seed)."""
        self.objects: dict[str, dict[str, Json]] = {kind.key: {} for kind in KINDS.values()}
        self.order: dict[str, dict[str, int]] = {kind.key: {} for kind in KINDS.values()}
        self.events: list[Json] = []
        self.events_by_id: dict[str, Json] = {}
        self._sequence = 0
        self._last_version = 0
        # Bumped on every save: list pages reuse a sorted index until the data changes.
        self.revision = 0
        self._sorted: dict[tuple[str, str], tuple[int, list[listing.Row]]] = {}
        self._ids = random.Random(self._seed)
        self._numbers: dict[str, int] = {"invoice": 1000, "credit_note": 0, "quote": 0}

    def new_id(self, prefix: str = "") -> str:
        """A Chargebee-looking random id (16 alphanumerics), deterministic per seed."""
        return prefix + "".join(self._ids.choices(_ALPHABET, k=16))

    def next_number(self, kind: str) -> str:
        """Sequential ids for invoices (`1001`), credit notes (`CN-1`) and quotes (`Q-1`)."""
        self._numbers[kind] += 1
        number = self._numbers[kind]
        return {"credit_note": f"CN-{number}", "quote": f"Q-{number}"}.get(kind, str(number))

    def bump_numbers(self, kind: str, at_least: int) -> None:
        """Keep sequential ids ahead of loaded data."""
        self._numbers[kind] = max(self._numbers[kind], at_least)

    def next_version(self) -> int:
        """A `resource_version`: sandbox time in ms, bumped so it never repeats or goes back."""
        version = max(int(self.clock.now() * 1000), self._last_version + 1)
        self._last_version = version
        return version

    def observe_version(self, version: int) -> None:
        """Keep later versions above those of loaded data."""
        self._last_version = max(self._last_version, version)

    def save(self, kind: str, obj: Json, *, stamp: bool = True) -> Json:
        """Insert or replace `obj`; stamp a fresh version and `updated_at` unless loading."""
        if stamp:
            version = self.next_version()
            obj["resource_version"] = version
            obj["updated_at"] = version // 1000
        else:
            self.observe_version(int(obj.get("resource_version", 0)))
        self.revision += 1
        table = self.objects[kind]
        if obj["id"] not in table:
            self._sequence += 1
            self.order[kind][obj["id"]] = self._sequence
        table[obj["id"]] = obj
        return obj

    def sorted_by(self, kind: str, field: str) -> list[listing.Row]:
        """All objects of `kind` in ascending (field, insertion) order, cached until the next save."""
        cached = self._sorted.get((kind, field))
        if cached is not None and cached[0] == self.revision:
            return cached[1]
        order = self.order[kind]
        rows = listing.sort_rows(((order[i], obj) for i, obj in self.objects[kind].items()), field)
        self._sorted[(kind, field)] = (self.revision, rows)
        return rows

    def get(self, kind: str, object_id: str, *, param: str | None = None) -> Json:
        """The stored object, or 404 `resource_not_found`."""
        found = self.objects[kind].get(object_id)
        if found is None:
            raise not_found(kind, object_id, param)
        return found

    def snapshot(self) -> Json:
        """A deep copy of everything, for the control API and tests."""
        return {
            "objects": {kind: list(copy.deepcopy(table).values()) for kind, table in self.objects.items()},
            "events": copy.deepcopy(self.events),
        }

    def counts(self) -> dict[str, int]:
        """How many objects of each kind, plus events."""
        counts = {kind: len(table) for kind, table in self.objects.items()}
        counts["event"] = len(self.events)
        return counts
