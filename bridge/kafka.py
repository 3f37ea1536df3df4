"""Kafka plumbing: topic names, topic creation, producer and consumer factories, publishing.

Every producer is idempotent with `acks=all` and every send is awaited: the receiver answers
2xx only after the broker has the event. Consumers never auto-commit; they read committed
data only and start from the earliest offset when the group has none (see VENDOR-FACTS.md:
right after a broker restart `committed()` may briefly report nothing, and re-reading is
harmless because consumers are idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2

from bridge.errors import BrokerUnavailable
from bridge.events import Envelope, Headers
from bridge.logs import get_logger
from bridge.settings import Settings

ORB_EVENTS = "billing.orb.events"
CHARGEBEE_EVENTS = "billing.chargebee.events"
SALESFORCE_CHANGES = "salesforce.changes"
SYNC_DLQ = "bridge.sync.dlq"
WRITEBACK_DLQ = "bridge.writeback.dlq"
SYNC_STATE = "bridge.sync.state"
CDC_REPLAY = "bridge.cdc.replay"
BACKFILL_PROGRESS = "bridge.backfill.progress"

# Largest record a producer sends (aiokafka refuses bigger ones before sending them) and a
# bridge topic accepts. Above the broker's 1 MiB default so that an envelope around a webhook
# body of `max_body_bytes` (1 MiB) plus its headers always fits.
MAX_RECORD_BYTES = 2 * 1024 * 1024

log = get_logger("bridge.kafka")


@dataclass(frozen=True)
class Topics:
    """The bridge's topic names with the configured prefix applied."""

    orb_events: str
    chargebee_events: str
    salesforce_changes: str
    sync_dlq: str
    writeback_dlq: str
    sync_state: str
    cdc_replay: str
    backfill_progress: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Topics:
        t = settings.topic
        return cls(
            orb_events=t(ORB_EVENTS),
            chargebee_events=t(CHARGEBEE_EVENTS),
            salesforce_changes=t(SALESFORCE_CHANGES),
            sync_dlq=t(SYNC_DLQ),
            writeback_dlq=t(WRITEBACK_DLQ),
            sync_state=t(SYNC_STATE),
            cdc_replay=t(CDC_REPLAY),
            backfill_progress=t(BACKFILL_PROGRESS),
        )

    def all(self) -> list[str]:
        return [
            self.orb_events,
            self.chargebee_events,
            self.salesforce_changes,
            self.sync_dlq,
            self.writeback_dlq,
            self.sync_state,
            self.cdc_replay,
            self.backfill_progress,
        ]

    def billing(self, source: str) -> str:
        """The events topic of a billing source ('orb', 'chargebee')."""
        return {"orb": self.orb_events, "chargebee": self.chargebee_events}[source]

    def is_compacted(self, name: str) -> bool:
        return name in (self.sync_state, self.cdc_replay, self.backfill_progress)


async def ensure_topics_patiently(settings: Settings, patience: float = 60.0) -> None:
    """`ensure_topics`, retried with backoff while the broker does not answer (it may be
    restarting) for up to `patience` seconds, so a consumer does not crash-loop meanwhile."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience
    delay = 0.5
    while True:
        try:
            await ensure_topics(settings)
            return
        except BrokerUnavailable:
            if loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


async def ensure_topics(settings: Settings, names: Iterable[str] | None = None) -> list[str]:
    """Create the bridge's topics (or the named ones) if missing; return the ones created."""
    topics = Topics.from_settings(settings)
    wanted = list(names) if names is not None else topics.all()
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        new = [
            NewTopic(
                name,
                num_partitions=settings.topic_partitions,
                replication_factor=settings.topic_replication,
                topic_configs={
                    "max.message.bytes": str(MAX_RECORD_BYTES),
                    **(_compacted_configs() if topics.is_compacted(name) else {}),
                },
            )
            for name in wanted
            if name not in existing
        ]
        if new:
            # Another instance may win the race; the topic is there, which is all we need.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(new)
        await _wait_for_partitions(admin, [n.name for n in new], settings.topic_partitions)
        return [n.name for n in new]
    except KafkaError as exc:
        raise BrokerUnavailable(f"cannot create topics at {settings.kafka_bootstrap}: {exc}") from exc
    finally:
        await admin.close()


def _compacted_configs() -> dict[str, str]:
    # Short segments and a low dirty ratio so compaction really happens on a small state topic.
    return {
        "cleanup.policy": "compact",
        "min.cleanable.dirty.ratio": "0.1",
        "segment.ms": "600000",
    }


async def _wait_for_partitions(admin: AIOKafkaAdminClient, names: list[str], count: int) -> None:
    # Right after create_topics, metadata may still show 0 partitions (VENDOR-FACTS.md).
    for _ in range(100):
        if not names:
            return
        described = await admin.describe_topics(names)
        ready = {d["topic"] for d in described if len(d.get("partitions", [])) >= count}
        names = [n for n in names if n not in ready]
        if names:
            await asyncio.sleep(0.05)


class KeyPartitioner:
    """aiokafka's default (Java-compatible murmur2) partitioner, remembering each key's slot.

    The pure-Python murmur2 cost more per webhook than the HMAC check; keys (customers,
    Accounts) repeat, so each is hashed once per partition count.
    """

    MAX_KEYS = 100_000

    def __init__(self) -> None:
        self._slots: dict[tuple[bytes, int], int] = {}

    def __call__(self, key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
        if key is None:
            return int(random.choice(available or all_partitions))
        count = len(all_partitions)
        slot = self._slots.get((key, count))
        if slot is None:
            if len(self._slots) >= self.MAX_KEYS:
                self._slots.clear()
            slot = self._slots[(key, count)] = (murmur2(key) & 0x7FFFFFFF) % count
        return all_partitions[slot]


class RenewingProducer(AIOKafkaProducer):  # type: ignore[misc]  # aiokafka is untyped
    """An idempotent producer that starts afresh after a batch failed for good.

    An idempotent producer numbers its batches per partition. When one fails for good (the
    broker refused it, e.g. as too large, or answered `OutOfOrderSequenceNumber` after losing
    it in a restart), aiokafka has already counted its number, and the broker refuses every
    later batch for that partition with `OutOfOrderSequenceNumber`, forever. Java's client
    resets its producer id then; aiokafka does not, so the next send starts a new producer
    (new id, numbering from 0) in this same object, and every holder keeps working.
    """

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._options = options
        self._out_of_step = False
        self._renewing: asyncio.Lock | None = None
        self.renewals = 0

    async def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
        timestamp_ms: int | None = None,
        headers: Headers | None = None,
    ) -> asyncio.Future[Any]:
        """`AIOKafkaProducer.send`, on a producer renewed first if a batch failed for good."""
        if self._out_of_step or self._sender_died():
            await self._renew()
        delivery: asyncio.Future[Any] = await super().send(
            topic, value=value, key=key, partition=partition, timestamp_ms=timestamp_ms, headers=headers
        )
        delivery.add_done_callback(functools.partial(self._watch, self.renewals))
        return delivery

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        """`AIOKafkaProducer.send_batch`, on a producer renewed first if a batch failed for good."""
        if self._out_of_step or self._sender_died():
            await self._renew()
        delivery: asyncio.Future[Any] = await super().send_batch(batch, topic, partition=partition)
        delivery.add_done_callback(functools.partial(self._watch, self.renewals))
        return delivery

    def _watch(self, generation: int, delivery: asyncio.Future[Any]) -> None:
        # With idempotence aiokafka retries retriable errors forever: any failure is for good.
        # A failure of a producer already replaced says nothing about the current one.
        failed = not delivery.cancelled() and isinstance(delivery.exception(), KafkaError)
        if failed and generation == self.renewals:
            self._out_of_step = True

    def _sender_died(self) -> bool:
        sender = getattr(self, "_sender", None)
        task = sender.sender_task if sender is not None else None
        return task is not None and task.done() and not task.cancelled() and task.exception() is not None

    async def _renew(self) -> None:
        if self._renewing is None:
            self._renewing = asyncio.Lock()
        async with self._renewing:
            if not (self._out_of_step or self._sender_died()):
                return  # another sender renewed it meanwhile
            timeout = self._options.get("request_timeout_ms", 10_000) / 1000
            try:
                # Lets the old producer's other batches finish; bounded, as a broker that
                # went away again would hold them forever.
                await asyncio.wait_for(AIOKafkaProducer.stop(self), timeout)
            except (TimeoutError, KafkaError) as exc:
                log.warning("kafka_producer_stop_abandoned", error=repr(exc))
            lock, renewals = self._renewing, self.renewals + 1
            AIOKafkaProducer.__init__(self, **self._options)
            # Out of step until started: a broker still away fails this start, and the next
            # send tries again instead of using a producer that was never started.
            self._out_of_step, self._renewing, self.renewals = True, lock, renewals
            await AIOKafkaProducer.start(self)
            self._out_of_step = False
            log.warning("kafka_producer_renewed", renewals=renewals)


def make_producer(settings: Settings, **overrides: Any) -> RenewingProducer:
    """An idempotent `acks=all` producer; callers must await every send."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 2,  # lets concurrent webhook requests share a batch
        "request_timeout_ms": int(settings.publish_timeout_seconds * 1000),
        "max_batch_size": 256 * 1024,
        "max_request_size": MAX_RECORD_BYTES,
        "partitioner": KeyPartitioner(),
    }
    options.update(overrides)
    return RenewingProducer(**options)


def make_consumer(
    settings: Settings, group_id: str | None, *topics: str, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with explicit commits that reads committed data only."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "isolation_level": "read_committed",
        "auto_offset_reset": "earliest",
        "max_poll_records": 1000,
        "fetch_max_wait_ms": 100,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, **options)


PartitionsHook = Callable[[set[TopicPartition]], Awaitable[None]]


class RebalanceHooks(ConsumerRebalanceListener):  # type: ignore[misc]
    """Turns aiokafka's rebalance callbacks into two optional async hooks."""

    def __init__(
        self, on_assigned: PartitionsHook | None = None, on_revoked: PartitionsHook | None = None
    ) -> None:
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        if self._on_revoked is not None:
            await self._on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if self._on_assigned is not None:
            await self._on_assigned(set(assigned))


def subscribe(
    consumer: AIOKafkaConsumer,
    topics: list[str],
    on_assigned: PartitionsHook | None = None,
    on_revoked: PartitionsHook | None = None,
) -> None:
    """Subscribe with rebalance hooks (restore state on assignment, flush on revocation)."""
    consumer.subscribe(topics, listener=RebalanceHooks(on_assigned, on_revoked))


async def publish(
    producer: AIOKafkaProducer,
    topic: str,
    envelope: Envelope,
    extra_headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, int]:
    """Send one envelope and wait for the broker's ack; return (partition, offset).

    Raises `BrokerUnavailable` when the broker does not acknowledge within `timeout`.
    """
    return await publish_raw(
        producer, topic, envelope.key, envelope.to_bytes(), envelope.headers(extra_headers), timeout
    )


async def publish_raw(
    producer: AIOKafkaProducer,
    topic: str,
    key: bytes | None,
    value: bytes,
    headers: Headers,
    timeout: float = 10.0,
    partition: int | None = None,
) -> tuple[int, int]:
    """Send a pre-encoded record and wait for the ack; return (partition, offset)."""
    try:
        # Always bounded here: the producer's request timeout covers one produce request, not
        # a batch waiting for a broker that went away (seen waiting 15 s+ in the chaos run).
        # asyncio.timeout is a timer handle, not an extra task, and send + await skips
        # send_and_wait's own coroutine layer: this runs once per webhook.
        async with asyncio.timeout(timeout):
            sent = await producer.send(topic, value=value, key=key, headers=headers, partition=partition)
            meta = await sent
    except (TimeoutError, KafkaError) as exc:
        raise BrokerUnavailable(f"broker did not acknowledge the publish to {topic}: {exc!r}") from exc
    return meta.partition, meta.offset


async def partitions_of(settings: Settings, topic: str) -> list[TopicPartition]:
    """Every partition of `topic` (empty if it does not exist), from the broker's metadata."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(TopicPartition(topic, p["partition"]) for p in described.get("partitions", []))


async def delete_topics_with_prefix(settings: Settings, prefix: str) -> list[str]:
    """Delete every topic whose name starts with `prefix` (demo and benchmark clean-up)."""
    if not prefix:
        raise ValueError("refusing to delete topics without a prefix")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        doomed = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if doomed:
            await admin.delete_topics(doomed)
        return doomed
    finally:
        await admin.close()
