"""Replay a range of a topic into the same or another topic, optionally filtered.

Records keep their key (so their partition and per-customer order), value and headers, and get
a `replayed-from: <topic>:<partition>:<offset>` header. The range end is fixed before reading,
so replaying into the source topic publishes each selected record exactly once. Consumers are
idempotent, so a replay repairs and never duplicates downstream.
"""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from aiokafka.errors import KafkaError

from bridge.errors import BadInput, BrokerUnavailable
from bridge.events import HEADER_EVENT_TYPE, decode_headers
from bridge.kafka import make_producer
from bridge.ops.reading import PartitionRange, Record, TopicReader, full_topic_name
from bridge.ops.times import to_millis
from bridge.settings import Settings

REPLAYED_FROM = "replayed-from"

Progress = Callable[[int, int], None]  # (scanned so far, total to scan)


@dataclass(frozen=True)
class ReplayRequest:
    """What to replay. Offsets: `to_offset` is inclusive; times: `until` is exclusive."""

    topic: str
    from_offset: int | None = None
    to_offset: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    partitions: tuple[int, ...] = ()
    customer: str | None = None
    event_type: str | None = None
    to_topic: str | None = None
    dry_run: bool = False

    def check(self) -> None:
        """Raise `BadInput` when the selection is contradictory or empty by construction."""
        by_offset = self.from_offset is not None or self.to_offset is not None
        by_time = self.since is not None or self.until is not None
        if by_offset and by_time:
            raise BadInput("choose offsets (--from-offset/--to-offset) or times (--since/--until), not both")
        if not by_offset and not by_time:
            raise BadInput("give a range: --from-offset/--to-offset or --since/--until")
        if self.from_offset is not None and self.from_offset < 0:
            raise BadInput("--from-offset must be >= 0")
        if self.to_offset is not None and self.from_offset is not None and self.to_offset < self.from_offset:
            raise BadInput("--to-offset is before --from-offset")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise BadInput("--until must be after --since")


@dataclass
class ReplayResult:
    """Counts of a replay and the offsets it covered."""

    source: str
    target: str
    ranges: list[PartitionRange] = field(default_factory=list)
    scanned: int = 0
    matched: int = 0
    published: int = 0
    dry_run: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "target": self.target,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "matched": self.matched,
            "published": self.published,
            "ranges": [{"partition": r.partition, "start": r.start, "end": r.end} for r in self.ranges],
        }


def matches(rec: Record, customer: str | None, event_type: str | None) -> bool:
    """Customer is the record key; the event type is a glob on the `event_type` header."""
    if customer is not None and (rec.key or b"").decode("utf-8", "replace") != customer:
        return False
    if event_type is not None:
        value = decode_headers(rec.headers).get(HEADER_EVENT_TYPE)
        if value is None or not fnmatch.fnmatchcase(value, event_type):
            return False
    return True


async def plan_ranges(reader: TopicReader, req: ReplayRequest) -> list[PartitionRange]:
    """The per-partition offset ranges the request selects, bounded by today's ends."""
    existing = await reader.partitions()
    wanted = list(req.partitions) or existing
    unknown = sorted(set(wanted) - set(existing))
    if unknown:
        raise BadInput(f"topic {reader.topic!r} has no partition {unknown} (it has 0..{max(existing)})")
    bounds = await reader.bounds(wanted)
    starts: dict[int, int | None] = {}
    stops: dict[int, int | None] = {}
    if req.since is not None or req.until is not None:
        # offsets_for_times answers None when no record is that late: nothing from `since` on,
        # and everything is before `until`.
        if req.since is not None:
            found = await reader.offsets_at(wanted, to_millis(req.since))
            starts = {p: bounds[p][1] if found[p] is None else found[p] for p in wanted}
        if req.until is not None:
            stops = await reader.offsets_at(wanted, to_millis(req.until))
    else:
        starts = dict.fromkeys(wanted, req.from_offset)
        stops = dict.fromkeys(wanted, None if req.to_offset is None else req.to_offset + 1)
    out = []
    for p in wanted:
        first, end = bounds[p]
        wanted_start, wanted_stop = starts.get(p), stops.get(p)
        start = first if wanted_start is None else max(first, wanted_start)
        stop = end if wanted_stop is None else min(end, wanted_stop)
        out.append(PartitionRange(p, start, max(start, stop)))
    return out


async def replay(settings: Settings, req: ReplayRequest, progress: Progress | None = None) -> ReplayResult:
    """Re-publish the selected records (or only count them on a dry run); return the counts."""
    req.check()
    source = full_topic_name(settings, req.topic)
    target = full_topic_name(settings, req.to_topic) if req.to_topic else source
    result = ReplayResult(source=source, target=target, dry_run=req.dry_run)
    async with TopicReader(settings, source) as reader:
        if target != source:
            await _require_topic(settings, target)
        result.ranges = await plan_ranges(reader, req)
        total = sum(r.size for r in result.ranges)
        if progress:
            progress(0, total)
        producer = None if req.dry_run else make_producer(settings)
        if producer is not None:
            await producer.start()
        try:
            pending = []
            async for rec in reader.read(result.ranges):
                result.scanned += 1
                if matches(rec, req.customer, req.event_type):
                    result.matched += 1
                    if producer is not None:
                        headers = [(k, v) for k, v in (rec.headers or ()) if k != REPLAYED_FROM]
                        headers.append((REPLAYED_FROM, f"{rec.topic}:{rec.partition}:{rec.offset}".encode()))
                        # A keyless record keeps its partition when replayed into its own topic.
                        part = rec.partition if rec.key is None and target == source else None
                        # `send` enqueues in call order (per-key order kept); acks awaited below.
                        pending.append(
                            await producer.send(
                                target, value=rec.value, key=rec.key, headers=headers, partition=part
                            )
                        )
                if len(pending) >= 500:
                    result.published += await _await_acks(pending, target)
                    pending = []
                if progress and result.scanned % 100 == 0:
                    progress(result.scanned, total)
            result.published += await _await_acks(pending, target)
        finally:
            if producer is not None:
                await producer.stop()
        if progress:
            progress(result.scanned, total)
    return result


async def _require_topic(settings: Settings, topic: str) -> None:
    # A producer would let the broker auto-create a mistyped target with default settings.
    async with TopicReader(settings, topic) as target:
        await target.partitions()


async def _await_acks(pending: list[asyncio.Future[object]], topic: str) -> int:
    try:
        await asyncio.wait_for(asyncio.gather(*pending), timeout=60)
    except (TimeoutError, KafkaError) as exc:
        raise BrokerUnavailable(f"broker did not acknowledge the replay into {topic}: {exc!r}") from exc
    return len(pending)
