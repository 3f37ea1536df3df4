"""Test helpers to write and read records on the real broker (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from bridge.events import Envelope
from bridge.kafka import make_consumer, make_producer
from bridge.settings import Settings


def event(i: int, customer: str, event_type: str = "invoice.issued") -> Envelope:
    return Envelope(
        source="orb",
        event_id=f"evt_{i}",
        event_type=event_type,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        object_type=event_type.split(".")[0],
        object_id=f"obj_{i}",
        customer_id=customer,
        payload={"seq": i},
    )


async def produce(
    settings: Settings, topic: str, events: list[Envelope], timestamp_ms: int | None = None
) -> list[tuple[int, int]]:
    """Publish in order, awaiting each ack; return (partition, offset) per event."""
    producer = make_producer(settings)
    await producer.start()
    try:
        out = []
        for e in events:
            meta = await producer.send_and_wait(
                topic, value=e.to_bytes(), key=e.key, headers=e.headers(), timestamp_ms=timestamp_ms
            )
            out.append((meta.partition, meta.offset))
        return out
    finally:
        await producer.stop()


async def read_all(settings: Settings, topic: str) -> list[Any]:
    """Every record now in `topic`, partition by partition."""
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: list[Any] = []
        for _ in range(200):  # bounded: ~40 s at worst
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                got.extend(recs)
        return got
    finally:
        await consumer.stop()


async def end_total(settings: Settings, topic: str) -> int:
    """Sum of end offsets: how many records were ever written to `topic`."""
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in cluster.partitions_for_topic(topic) or ()]
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()
