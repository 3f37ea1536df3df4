"""Change Data Capture: change events with a real ChangeEventHeader, kept 72 hours in memory."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import re
import uuid
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson

from bridge.sandbox.salesforce import soql
from bridge.sandbox.salesforce.catalog import Catalog
from bridge.sandbox.salesforce.clock import Clock
from bridge.sandbox.salesforce.store import Change, Store

RETENTION_SECONDS = 72 * 3600
ALL_CHANGES = "/data/ChangeEvents"


@dataclass(frozen=True)
class StoredEvent:
    """One delivered-able event: its channel, replay id and the Bayeux `data` object."""

    replay_id: int
    channel: str
    created_at: float
    data: dict[str, Any]
    custom_channels: frozenset[str] = frozenset()


@dataclass(frozen=True)
class ChannelMember:
    """A member of a custom channel (`/data/Name__chn`): an entity and an optional filter."""

    entity: str
    where: soql.Cond | None


_SF_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")


def _event_value(value: Any) -> Any:
    """Change events carry datetimes as `2024-05-01T12:00:00.000Z` (REST uses `+0000`)."""
    if isinstance(value, str) and _SF_DATETIME.match(value):
        return value[:-5] + "Z"
    return value


@dataclass
class _Merged:
    entity: str
    record_ids: list[str]
    change_type: str
    changed: list[str]
    nulled: list[str]
    values: dict[str, Any]


def _merged(changes: list[Change]) -> list[_Merged]:
    """Salesforce merges identical updates and deletes of one object in a transaction into one
    event whose `recordIds` lists every record; creates stay one event per record."""
    out: list[_Merged] = []
    seen: dict[bytes, _Merged] = {}
    for c in changes:
        item = _Merged(c.entity, [c.record_id], c.change_type, c.changed, c.nulled, c.values)
        if c.change_type not in ("UPDATE", "DELETE"):
            out.append(item)
            continue
        key = orjson.dumps([c.entity, c.change_type, c.changed, c.values], option=orjson.OPT_SORT_KEYS)
        if key in seen:
            seen[key].record_ids.append(c.record_id)
        else:
            seen[key] = item
            out.append(item)
    return out


@lru_cache(maxsize=1024)
def _schema_id(event_name: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(event_name.encode()).digest()[:16]).decode().rstrip("=")


class EventLog:
    """Events in replay order; retention purges by the injectable clock."""

    def __init__(
        self, catalog: Catalog, clock: Clock, retention: float = RETENTION_SECONDS, capacity: int = 500_000
    ) -> None:
        self.catalog = catalog
        self.clock = clock
        self.retention = retention
        # Bounded memory for long benchmarks: past `capacity`, the oldest events go as if expired.
        self.capacity = capacity
        self.events: deque[StoredEvent] = deque()
        self.last_replay_id = 0
        self.commit_number = 10_000_000_000
        self.gaps_left = 0
        self.delivered = 0
        self.store: Store | None = None
        self.custom: dict[str, list[ChannelMember]] = {}
        self._wakeup = asyncio.Event()

    def publish(self, changes: list[Change], *, commit_user: str, change_origin: str) -> None:
        """Turn the changes of one committed transaction into events (shared transactionKey)."""
        if not changes:
            return
        self.commit_number += 1
        now = self.clock()
        key = str(uuid.uuid4())
        for seq, change in enumerate(_merged(changes), start=1):
            info = self.catalog.get(change.entity)
            event_name = info.change_event if info is not None else change.entity + "ChangeEvent"
            header = {
                "entityName": change.entity,
                "recordIds": list(change.record_ids),
                "changeType": change.change_type,
                "changeOrigin": change_origin,
                "transactionKey": key,
                "sequenceNumber": seq,
                "commitTimestamp": int(now * 1000),
                "commitNumber": self.commit_number,
                "commitUser": commit_user,
                "changedFields": list(change.changed),
                "nulledFields": list(change.nulled),
                "diffFields": [],
            }
            self.last_replay_id += 1
            body = {k: _event_value(v) for k, v in change.values.items()}
            if self.gaps_left > 0:
                # A gap event: Salesforce could not build the body; subscribers must re-read the record.
                self.gaps_left -= 1
                header.update(changeType=f"GAP_{change.change_type}", changedFields=[], nulledFields=[])
                body = {}
            data = {
                "schema": _schema_id(event_name),
                "payload": {"ChangeEventHeader": header, **body},
                "event": {"replayId": self.last_replay_id},
            }
            custom = self._custom_channels(change.entity, change.record_ids)
            self.events.append(StoredEvent(self.last_replay_id, f"/data/{event_name}", now, data, custom))
            if len(self.events) > self.capacity:
                self.events.popleft()
        self._wakeup.set()
        self._wakeup = asyncio.Event()

    def add_channel(self, name: str, members: list[tuple[str, str | None]]) -> None:
        """Define custom channel `/data/{name}`; each member is (object, filter expression or None).
        Filters use SOQL WHERE syntax and are evaluated on the record as committed."""
        if not name.endswith("__chn"):
            raise ValueError("a custom channel name ends with __chn")
        parsed = []
        for entity, expression in members:
            info = self.catalog.get(entity) or self.catalog.by_change_event(entity)
            if info is None:
                raise ValueError(f"no SObject or change event {entity}")
            where = None
            if expression:
                where = soql.parse(f"SELECT Id FROM {info.name} WHERE {expression}", self.catalog).where
            parsed.append(ChannelMember(info.name, where))
        self.custom[name] = parsed

    def _custom_channels(self, entity: str, record_ids: list[str]) -> frozenset[str]:
        out = set()
        for name, members in self.custom.items():
            for m in members:
                if m.entity != entity:
                    continue
                if (
                    m.where is None
                    or self.store is None
                    or any(self._passes(m.where, rid) for rid in record_ids)
                ):
                    out.add(f"/data/{name}")
        return frozenset(out)

    def _passes(self, where: soql.Cond, record_id: str) -> bool:
        assert self.store is not None
        found = self.store.locate(record_id)
        return found is not None and soql.matches(where, found[1], self.store)

    def purge(self) -> None:
        horizon = self.clock() - self.retention
        while self.events and self.events[0].created_at < horizon:
            self.events.popleft()

    def valid_replay_id(self, replay_id: int) -> bool:
        """-1 and -2 always; an explicit id only while the events after it are still retained."""
        if replay_id in (-1, -2):
            return True
        self.purge()
        oldest = self.events[0].replay_id if self.events else self.last_replay_id + 1
        return oldest - 1 <= replay_id <= self.last_replay_id

    def start_cursor(self, replay_id: int) -> int:
        """The replay id after which delivery starts."""
        self.purge()
        if replay_id == -1:
            return self.last_replay_id
        if replay_id == -2:
            return (self.events[0].replay_id - 1) if self.events else self.last_replay_id
        return replay_id

    def after(self, cursor: int, channel: str) -> list[StoredEvent]:
        """The events of `channel` with a replay id above `cursor`, oldest first."""
        self.purge()
        # From the newest back: a subscriber that keeps up costs the few new events, not a
        # scan of everything retained (which made every long poll slower as the log grew).
        found = []
        for e in reversed(self.events):
            if e.replay_id <= cursor:
                break
            if channel == ALL_CHANGES or e.channel == channel or channel in e.custom_channels:
                found.append(e)
        found.reverse()
        return found

    def channel_exists(self, channel: str) -> bool:
        if channel == ALL_CHANGES:
            return True
        if not channel.startswith("/data/"):
            return False
        name = channel[len("/data/") :]
        return name in self.custom or self.catalog.by_change_event(name) is not None

    async def wait(self, seconds: float) -> None:
        """Return when a new event is published or after `seconds`."""
        wakeup = self._wakeup
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wakeup.wait(), seconds)

    def reset(self) -> None:
        self.events.clear()
        self.delivered = 0
        self.gaps_left = 0
        self._wakeup.set()
        self._wakeup = asyncio.Event()
