"""A publish to a broker that went away after the producer connected ends in BrokerUnavailable
within the publish timeout, so the receiver can answer 503 before the vendor gives up on it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from private_broker import private_broker

from bridge.errors import BrokerUnavailable
from bridge.events import Envelope
from bridge.kafka import Topics, ensure_topics, make_producer, publish
from bridge.partition_batcher import PartitionBatcher
from bridge.settings import Settings


def _event() -> Envelope:
    return Envelope(
        source="orb",
        event_id="evt_1",
        event_type="customer.created",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        object_type="customer",
        object_id="cus_1",
        customer_id="cus_1",
        payload={},
    )


async def test_publish_to_a_broker_that_went_away_raises_broker_unavailable(tmp_path: Path) -> None:
    broker = private_broker(tmp_path)
    await asyncio.to_thread(broker.start)
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix="gone.",
        publish_timeout_seconds=1.0,
        _env_file=None,  # type: ignore[call-arg]
    )
    topic = Topics.from_settings(settings).orb_events
    producer = make_producer(settings)
    try:
        await ensure_topics(settings)
        await producer.start()
        batcher = PartitionBatcher(producer, timeout=1.0)
        await publish(producer, topic, _event(), timeout=30.0)  # connected, topic known
        await batcher.send(topic, b"cus_1", b"{}", [])
        await asyncio.to_thread(broker.stop)
        # The outer bound only keeps a hanging publish from hanging the suite.
        with pytest.raises(BrokerUnavailable):
            await asyncio.wait_for(publish(producer, topic, _event(), timeout=1.0), 30)
        # The receiver's batched path: every caller of the batch is told, none hangs.
        calls = [batcher.send(topic, b"cus_%d" % i, b"{}", []) for i in range(5)]
        failed = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 30)
        assert all(isinstance(f, BrokerUnavailable) for f in failed), failed
    finally:
        # A producer flushes on stop, which waits for a broker: bring it back to close cleanly.
        await asyncio.to_thread(broker.start)
        await asyncio.wait_for(producer.stop(), 30)
        await asyncio.to_thread(broker.stop, True)
