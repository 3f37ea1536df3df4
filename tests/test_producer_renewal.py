"""A producer whose batch failed for good starts afresh instead of failing every later send.

The broker refuses a record bigger than a topic's `max.message.bytes`; an idempotent aiokafka
producer has counted that batch's sequence number anyway, so the broker then refuses every
later batch to the partition as `OutOfOrderSequenceNumber`. The same state followed a broker
restart in the chaos run, where the CDC listener could publish nothing more until restarted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import OutOfOrderSequenceNumber
from private_broker import private_broker

from bridge.errors import BrokerUnavailable
from bridge.kafka import MAX_RECORD_BYTES, Topics, ensure_topics, make_consumer, make_producer, publish_raw
from bridge.partition_batcher import PartitionBatcher
from bridge.settings import Settings


async def _small_topic(settings: Settings) -> str:
    """A one-partition topic that refuses records above 2,000 bytes."""
    name = f"{settings.topic_prefix}small"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs={"max.message.bytes": "2000"})])
    finally:
        await admin.close()
    return name


async def _values(settings: Settings, topic: str, count: int) -> list[bytes]:
    consumer = make_consumer(settings, None, topic)
    await consumer.start()
    try:
        out: list[bytes] = []
        while len(out) < count:
            batch = await consumer.getmany(timeout_ms=10_000)
            if not batch:
                break
            out += [r.value for records in batch.values() for r in records]
        return out
    finally:
        await consumer.stop()


async def test_plain_aiokafka_stays_out_of_step_after_a_refused_batch(settings: Settings) -> None:
    # Why RenewingProducer exists: if this starts passing sends, aiokafka fixed it upstream.
    topic = await _small_topic(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"first", key=b"k")
        with pytest.raises(Exception, match="MessageSizeTooLarge"):
            await producer.send_and_wait(topic, b"x" * 20_000, key=b"k")
        for _ in range(2):
            with pytest.raises(OutOfOrderSequenceNumber):
                await producer.send_and_wait(topic, b"later", key=b"k")
    finally:
        await producer.stop()


async def test_after_a_refused_record_the_next_publishes_land_in_order(settings: Settings) -> None:
    topic = await _small_topic(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        await publish_raw(producer, topic, b"k", b"v0", [])
        with pytest.raises(BrokerUnavailable, match="MessageSizeTooLarge"):
            await publish_raw(producer, topic, b"k", b"x" * 20_000, [])
        offsets = [(await publish_raw(producer, topic, b"k", b"v%d" % i, []))[1] for i in range(1, 4)]
        assert producer.renewals == 1
        # The receiver's batched path on the renewed producer.
        batcher = PartitionBatcher(producer, timeout=10.0)
        with pytest.raises(BrokerUnavailable):
            await batcher.send(topic, b"k", b"y" * 20_000, [])
        await batcher.send(topic, b"k", b"v4", [])
        assert producer.renewals == 2
    finally:
        await producer.stop()
    assert offsets == sorted(offsets) and len(set(offsets)) == 3
    assert await _values(settings, topic, 5) == [b"v0", b"v1", b"v2", b"v3", b"v4"]


async def test_bridge_topics_take_an_envelope_around_the_largest_accepted_body(settings: Settings) -> None:
    await ensure_topics(settings)
    topic = Topics.from_settings(settings).orb_events
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [described] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    configs = {c[0]: c[1] for c in described.resources[0][4]}
    assert int(configs["max.message.bytes"]) == MAX_RECORD_BYTES
    producer = make_producer(settings)
    await producer.start()
    try:
        # Above the broker's 1 MiB default, as an envelope around a 1 MiB webhook body is.
        value = b"{" + b"x" * (settings.max_body_bytes + 4096) + b"}"
        partition, _ = await publish_raw(producer, topic, b"cus_big", value, [])
    finally:
        await producer.stop()
    assert partition >= 0 and producer.renewals == 0


async def test_a_renewal_the_broker_is_away_for_is_tried_again_once_it_is_back(tmp_path: Path) -> None:
    broker = private_broker(tmp_path)
    await asyncio.to_thread(broker.start)
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix="renew.",
        publish_timeout_seconds=2.0,
        _env_file=None,  # type: ignore[call-arg]
    )
    producer = make_producer(settings)
    try:
        topic = await _small_topic(settings)
        await producer.start()
        await publish_raw(producer, topic, b"k", b"v0", [], timeout=30)
        with pytest.raises(BrokerUnavailable):
            await publish_raw(producer, topic, b"k", b"x" * 20_000, [])
        await asyncio.to_thread(broker.stop)
        with pytest.raises(BrokerUnavailable):  # the renewal cannot start a producer now
            await asyncio.wait_for(publish_raw(producer, topic, b"k", b"v1", [], timeout=5), 30)
        await asyncio.to_thread(broker.start)
        # The next send renews again, and lands.
        await asyncio.wait_for(publish_raw(producer, topic, b"k", b"v2", [], timeout=30), 60)
        assert producer.renewals >= 2
        assert (await _values(settings, topic, 2))[-1] == b"v2"
    finally:
        await producer.stop()
        await asyncio.to_thread(broker.stop)
