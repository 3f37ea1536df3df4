"""Replay throughput on the local broker: N records copied into another topic, then a DLQ listing.

Prints figures; asserts nothing about speed. Uses its own topic prefix and deletes its topics after.
Run: .venv/bin/python bench/replay.py [records]
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import UTC, datetime

from aiokafka.admin import AIOKafkaAdminClient

from bridge.events import Envelope
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.ops.replay import ReplayRequest, replay
from bridge.settings import Settings


async def main(n: int) -> None:
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:8]}.")
    topics = Topics.from_settings(settings)
    target = settings.topic("bench.replay.target")
    await ensure_topics(settings, [topics.orb_events, target])
    producer = make_producer(settings)
    await producer.start()
    try:
        futures = []
        for i in range(n):
            env = Envelope(
                source="orb",
                event_id=f"evt_{i}",
                event_type="invoice.issued",
                occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
                object_type="invoice",
                object_id=f"inv_{i}",
                customer_id=f"cus_{i % 1000}",
                payload={"seq": i, "amount_due": "100.00", "currency": "USD"},
            )
            futures.append(
                await producer.send(topics.orb_events, env.to_bytes(), key=env.key, headers=env.headers())
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    try:
        started = time.perf_counter()
        result = await replay(
            settings, ReplayRequest(topic=topics.orb_events, from_offset=0, to_topic=target)
        )
        took = time.perf_counter() - started
        print(
            f"replayed {result.published}/{result.scanned} records in {took:.2f}s: "
            f"{result.published / took:,.0f} records/s"
        )
        started = time.perf_counter()
        dry = await replay(
            settings, ReplayRequest(topic=topics.orb_events, from_offset=0, customer="cus_7", dry_run=True)
        )
        took = time.perf_counter() - started
        print(
            f"dry-run scan with customer filter: {dry.scanned} scanned, {dry.matched} matched in {took:.2f}s"
        )
    finally:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        await admin.start()
        try:
            await admin.delete_topics([topics.orb_events, target])
        finally:
            await admin.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000))
