"""Dead letters: list, show, redrive and purge the records parked in the DLQ topics.

Kafka cannot delete one record, and a consumer-group commit is one position per partition, which
cannot express "these three of the ten were redriven". So handled dead letters are recorded in a
compacted marker topic, `bridge.dlq.handled`, one record per dead letter keyed
`<dlq topic>:<partition>:<offset>`. Listing and redrive skip marked ones; compaction keeps the
topic as small as the set of handled letters. Purging everything before a point uses
`delete_records` instead, which really frees the space.

Redrive publishes first and marks after the ack: a crash in between redrives that letter again on
the next run, which is harmless because consumers are idempotent; the reverse order could lose it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic, RecordsToDelete
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from bridge.errors import BadInput, BrokerUnavailable
from bridge.events import REDRIVEN_FROM, Envelope, Headers, decode_headers, encode_headers, utcnow
from bridge.kafka import SYNC_DLQ, WRITEBACK_DLQ, make_producer
from bridge.ops.reading import PartitionRange, Record, TopicReader
from bridge.ops.times import from_millis, to_millis
from bridge.settings import Settings

HANDLED_TOPIC = "bridge.dlq.handled"
DlqKind = Literal["sync", "writeback"]
KINDS: dict[str, str] = {"sync": SYNC_DLQ, "writeback": WRITEBACK_DLQ}
# Kept on redrive so a repeated failure counts attempts from the first one (consumers/loop.py).
_KEPT_DLQ_HEADERS = {"dlq-attempts", "dlq-first-failure"}

Progress = Callable[[int, int], None]
_CHUNK = 500  # records in flight before waiting for acks


@dataclass(frozen=True)
class DeadLetter:
    """One record of a DLQ topic: the original event plus why and where it failed."""

    dlq_topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    handled: str | None = None  # "redriven" / "purged" when a marker says so

    @property
    def ref(self) -> str:
        """The marker key: `<dlq topic>:<partition>:<offset>`."""
        return f"{self.dlq_topic}:{self.partition}:{self.offset}"

    @property
    def error_class(self) -> str:
        return self.headers.get("dlq-error-class", "Unknown")

    @property
    def customer(self) -> str | None:
        return None if self.key is None else self.key.decode("utf-8", "replace")

    @property
    def original_topic(self) -> str | None:
        return self.headers.get("dlq-original-topic")

    def original_headers(self) -> dict[str, str]:
        """Headers for the redriven record: the event's own, plus attempts and first failure."""
        return {k: v for k, v in self.headers.items() if not k.startswith("dlq-") or k in _KEPT_DLQ_HEADERS}

    def as_dict(self) -> dict[str, Any]:
        event: Any
        try:
            event = Envelope.from_bytes(self.value).model_dump(mode="json")
        except BadInput:
            event = self.value.decode("utf-8", "replace")
        return {
            "dlq_topic": self.dlq_topic,
            "partition": self.partition,
            "offset": self.offset,
            "dead_lettered_at": self.timestamp.isoformat().replace("+00:00", "Z"),
            "key": self.customer,
            "handled": self.handled,
            "error": {k.removeprefix("dlq-"): v for k, v in self.headers.items() if k.startswith("dlq-")},
            "headers": {k: v for k, v in self.headers.items() if not k.startswith("dlq-")},
            "event": event,
        }


@dataclass
class ErrorGroup:
    """Dead letters of one error class."""

    error_class: str
    count: int
    first_seen: datetime
    last_seen: datetime
    topics: set[str] = field(default_factory=set)
    example_message: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "error_class": self.error_class,
            "count": self.count,
            "first_seen": self.first_seen.isoformat().replace("+00:00", "Z"),
            "last_seen": self.last_seen.isoformat().replace("+00:00", "Z"),
            "topics": sorted(self.topics),
            "example_message": self.example_message,
        }


@dataclass(frozen=True)
class Selection:
    """Which dead letters an operation applies to; every given filter must match."""

    classes: tuple[str, ...] = ()
    since: datetime | None = None
    before: datetime | None = None
    customer: str | None = None

    @property
    def empty(self) -> bool:
        return not self.classes and self.since is None and self.before is None and self.customer is None

    def matches(self, letter: DeadLetter) -> bool:
        if self.classes and letter.error_class not in self.classes:
            return False
        if self.since is not None and letter.timestamp < self.since:
            return False
        if self.before is not None and letter.timestamp >= self.before:
            return False
        return self.customer is None or letter.customer == self.customer


def dlq_topics(settings: Settings, kind: str | None) -> list[str]:
    """Full names of the DLQ topics of `kind` ('sync', 'writeback'), or of both."""
    if kind is None:
        return [settings.topic(t) for t in KINDS.values()]
    if kind not in KINDS:
        raise BadInput(f"unknown DLQ {kind!r}: use one of {', '.join(KINDS)}")
    return [settings.topic(KINDS[kind])]


async def _read_topic(settings: Settings, topic: str) -> list[Record]:
    async with TopicReader(settings, topic) as reader:
        try:
            parts = await reader.partitions()
        except BadInput:
            return []  # no consumer ever dead-lettered anything here
        bounds = await reader.bounds(parts)
        ranges = [PartitionRange(p, first, end) for p, (first, end) in bounds.items()]
        return [rec async for rec in reader.read(ranges)]


async def handled_markers(settings: Settings) -> dict[str, str]:
    """Marker key -> action ('redriven', 'purged') for every handled dead letter."""
    out: dict[str, str] = {}
    for rec in await _read_topic(settings, settings.topic(HANDLED_TOPIC)):
        if rec.key is None:
            continue
        key = rec.key.decode()
        if rec.value is None:
            out.pop(key, None)  # a tombstone un-marks
        else:
            out[key] = str(orjson.loads(rec.value).get("action", "handled"))
    return out


def _letter(rec: Record, handled: dict[str, str]) -> DeadLetter:
    letter = DeadLetter(
        dlq_topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        timestamp=from_millis(rec.timestamp),
        key=rec.key,
        value=rec.value or b"",
        headers=decode_headers(rec.headers),
    )
    mark = handled.get(letter.ref)
    if mark is None:
        return letter
    return DeadLetter(**{**letter.__dict__, "handled": mark})


async def load(
    settings: Settings, kind: str | None = None, include_handled: bool = False
) -> list[DeadLetter]:
    """Every dead letter of the chosen DLQ(s), in topic/partition/offset order."""
    handled = await handled_markers(settings)
    letters: list[DeadLetter] = []
    for topic in dlq_topics(settings, kind):
        letters.extend(_letter(rec, handled) for rec in await _read_topic(settings, topic))
    if not include_handled:
        letters = [x for x in letters if x.handled is None]
    return sorted(letters, key=lambda x: (x.dlq_topic, x.partition, x.offset))


def group_by_class(letters: Iterable[DeadLetter]) -> list[ErrorGroup]:
    """Counts and first/last seen per error class, largest group first."""
    groups: dict[str, ErrorGroup] = {}
    for x in letters:
        g = groups.get(x.error_class)
        if g is None:
            g = groups[x.error_class] = ErrorGroup(
                x.error_class,
                0,
                x.timestamp,
                x.timestamp,
                example_message=x.headers.get("dlq-error-message", ""),
            )
        g.count += 1
        g.first_seen = min(g.first_seen, x.timestamp)
        g.last_seen = max(g.last_seen, x.timestamp)
        g.topics.add(x.dlq_topic)
    return sorted(groups.values(), key=lambda g: (-g.count, g.error_class))


async def list_groups(settings: Settings, kind: str | None = None) -> list[ErrorGroup]:
    """Unhandled dead letters grouped by error class."""
    return group_by_class(await load(settings, kind))


def parse_ref(text: str) -> tuple[int, int]:
    """`<partition>:<offset>` as two ints; anything else is `BadInput`."""
    parts = text.split(":")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise BadInput(f"not a dead letter reference: {text!r} (use <partition>:<offset>, e.g. 3:120)")
    return int(parts[0]), int(parts[1])


async def show(settings: Settings, kind: str, partition: int, offset: int) -> DeadLetter:
    """One dead letter, handled or not; `BadInput` when there is none at that place."""
    (topic,) = dlq_topics(settings, kind)
    handled = await handled_markers(settings)
    async with TopicReader(settings, topic) as reader:
        parts = await reader.partitions()
        if partition not in parts:
            raise BadInput(f"{topic} has no partition {partition}")
        first, end = (await reader.bounds([partition]))[partition]
        if not first <= offset < end:
            raise BadInput(f"{topic} partition {partition} holds offsets {first}..{end - 1}, not {offset}")
        found = [rec async for rec in reader.read([PartitionRange(partition, offset, offset + 1)])]
    if not found:
        raise BadInput(f"no dead letter at {topic}:{partition}:{offset}")
    return _letter(found[0], handled)


async def select(settings: Settings, kind: str | None, selection: Selection) -> list[DeadLetter]:
    """Unhandled dead letters matching `selection`."""
    return [x for x in await load(settings, kind) if selection.matches(x)]


@dataclass
class RedriveResult:
    """What a redrive sent where."""

    redriven: list[tuple[str, str]] = field(default_factory=list)  # (dead letter ref, target topic)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (ref, reason)


async def redrive(
    settings: Settings, letters: list[DeadLetter], progress: Progress | None = None
) -> RedriveResult:
    """Publish each dead letter back to its original topic, then mark it redriven."""
    result = RedriveResult()
    await ensure_marker_topic(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        done = 0
        for start in range(0, len(letters), _CHUNK):
            chunk = letters[start : start + _CHUNK]
            sendable = []
            for x in chunk:
                if x.original_topic:
                    sendable.append(x)
                else:
                    result.skipped.append((x.ref, "no dlq-original-topic header"))
            # Every publish of the chunk is acked before any of its markers is written.
            await _all_acked(
                [
                    await _send(producer, x.original_topic or "", x.key, x.value, _redrive_headers(x))
                    for x in sendable
                ],
                "redrive",
            )
            await _all_acked(
                [await _send_mark(producer, settings, x, "redriven") for x in sendable], "marker"
            )
            result.redriven.extend((x.ref, x.original_topic or "") for x in sendable)
            done += len(chunk)
            if progress:
                progress(done, len(letters))
    finally:
        await producer.stop()
    return result


def _redrive_headers(x: DeadLetter) -> Headers:
    headers = x.original_headers()
    headers[REDRIVEN_FROM] = x.ref
    return encode_headers(headers)


async def _send(producer: Any, topic: str, key: bytes | None, value: bytes, headers: Headers) -> Any:
    # `send` only enqueues (in call order, so per-key order holds) and returns the ack future.
    try:
        return await producer.send(topic, value=value, key=key, headers=headers)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot publish to {topic}: {exc!r}") from exc


async def _send_mark(producer: Any, settings: Settings, x: DeadLetter, action: str) -> Any:
    value = orjson.dumps(
        {
            "action": action,
            "at": utcnow().isoformat().replace("+00:00", "Z"),
            "to": x.original_topic if action == "redriven" else None,
        }
    )
    return await _send(producer, settings.topic(HANDLED_TOPIC), x.ref.encode(), value, [])


async def _all_acked(futures: list[Any], what: str) -> None:
    try:
        await asyncio.wait_for(asyncio.gather(*futures), timeout=60)
    except (TimeoutError, KafkaError) as exc:
        raise BrokerUnavailable(f"broker did not acknowledge the {what} writes: {exc!r}") from exc


@dataclass
class PurgePlan:
    """A purge decided before it is applied, so the confirmation shows exactly what happens."""

    # delete_records: partition cut points (records below the offset go), with record counts
    cuts: dict[tuple[str, int], int] = field(default_factory=dict)
    cut_counts: dict[tuple[str, int], int] = field(default_factory=dict)
    # selected classes: marked as handled instead
    mark: list[DeadLetter] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(self.cut_counts.values()) + len(self.mark)

    def as_dict(self) -> dict[str, Any]:
        return {
            "delete_records": [
                {"topic": t, "partition": p, "before_offset": o, "records": self.cut_counts[(t, p)]}
                for (t, p), o in sorted(self.cuts.items())
            ],
            "mark_handled": [x.ref for x in self.mark],
            "count": self.count,
        }


async def plan_purge(settings: Settings, kind: str | None, selection: Selection) -> PurgePlan:
    """Without classes (or customer): cut every partition at `before` (or its end) with
    `delete_records`. With them: mark the matching dead letters as handled."""
    plan = PurgePlan()
    if selection.classes or selection.customer is not None or selection.since is not None:
        plan.mark = await select(settings, kind, selection)
        return plan
    for topic in dlq_topics(settings, kind):
        async with TopicReader(settings, topic) as reader:
            try:
                parts = await reader.partitions()
            except BadInput:
                continue
            bounds = await reader.bounds(parts)
            at = await reader.offsets_at(parts, to_millis(selection.before)) if selection.before else {}
            for p, (first, end) in bounds.items():
                cut = end if at.get(p) is None else min(end, at[p] or 0)
                if cut > first:
                    plan.cuts[(topic, p)] = cut
                    plan.cut_counts[(topic, p)] = cut - first
    return plan


async def apply_purge(settings: Settings, plan: PurgePlan) -> int:
    """Carry out a purge plan; return how many dead letters went."""
    if plan.cuts:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        try:
            await admin.start()
            await admin.delete_records(
                {TopicPartition(t, p): RecordsToDelete(before_offset=o) for (t, p), o in plan.cuts.items()}
            )
        except KafkaError as exc:
            raise BrokerUnavailable(f"delete_records failed on {settings.kafka_bootstrap}: {exc!r}") from exc
        finally:
            await admin.close()
    if plan.mark:
        await ensure_marker_topic(settings)
        producer = make_producer(settings)
        await producer.start()
        try:
            for start in range(0, len(plan.mark), _CHUNK):
                chunk = plan.mark[start : start + _CHUNK]
                await _all_acked([await _send_mark(producer, settings, x, "purged") for x in chunk], "marker")
        finally:
            await producer.stop()
    return plan.count


async def ensure_marker_topic(settings: Settings) -> None:
    """Create the compacted marker topic if missing (one partition: it is small and read whole)."""
    name = settings.topic(HANDLED_TOPIC)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        if name in set(await admin.list_topics()):
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics(
                [
                    NewTopic(
                        name,
                        num_partitions=1,
                        replication_factor=settings.topic_replication,
                        topic_configs={"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"},
                    )
                ]
            )
        for _ in range(100):  # metadata lags creation briefly (VENDOR-FACTS.md)
            described = await admin.describe_topics([name])
            if described and described[0].get("partitions"):
                return
            await asyncio.sleep(0.05)
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot create {name} at {settings.kafka_bootstrap}: {exc!r}") from exc
    finally:
        await admin.close()
