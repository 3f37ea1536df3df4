"""The Kafka plumbing on the real broker: envelopes, order, commits, producer guarantees."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime

from aiokafka import TopicPartition

from bridge.events import Envelope, decode_headers
from bridge.kafka import Topics, ensure_topics, make_consumer, make_producer, publish, publish_raw
from bridge.settings import Settings


def _event(i: int, customer: str) -> Envelope:
    return Envelope(
        source="orb",
        event_id=f"evt_{i}",
        event_type="invoice.issued",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        object_type="invoice",
        object_id=f"inv_{i}",
        customer_id=customer,
        payload={"seq": i, "customer": customer},
    )


async def _drain(consumer, want: int, timeout: float = 30.0) -> list:  # type: ignore[no-untyped-def]
    got: list = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(got) < want and asyncio.get_running_loop().time() < deadline:
        batch = await consumer.getmany(timeout_ms=500, max_records=5000)
        for records in batch.values():
            got.extend(records)
    return got


async def test_envelope_round_trips_through_the_broker_with_headers(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.orb_events])
    producer = make_producer(settings)
    await producer.start()
    sent = _event(1, "cus_A")
    try:
        partition, offset = await publish(producer, topics.orb_events, sent, {"unknown-type": "1"})
    finally:
        await producer.stop()
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        tp = TopicPartition(topics.orb_events, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        [record] = (await consumer.getmany(tp, timeout_ms=10000, max_records=1))[tp]
    finally:
        await consumer.stop()
    assert Envelope.from_bytes(record.value) == sent
    assert record.key == b"cus_A"
    assert decode_headers(record.headers) == {
        "source": "orb",
        "event_type": "invoice.issued",
        "event_id": "evt_1",
        "unknown-type": "1",
    }


async def test_per_key_order_is_kept_across_twelve_partitions_for_10k_events(
    settings: Settings,
) -> None:
    settings = settings.model_copy(update={"topic_partitions": 12})
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.chargebee_events])
    customers = [f"cus_{n}" for n in range(50)]
    producer = make_producer(settings)
    await producer.start()
    try:
        # Concurrent sends, as the receiver does: order per key must still hold.
        sends = []
        for i in range(10_000):
            env = _event(i, customers[i % len(customers)])
            sends.append(producer.send(topics.chargebee_events, env.to_bytes(), key=env.key))
        futures = await asyncio.gather(*sends)
        metas = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert len({m.partition for m in metas}) == 12
    consumer = make_consumer(settings, f"{settings.topic_prefix}order")
    consumer.subscribe([topics.chargebee_events])
    await consumer.start()
    try:
        records = await _drain(consumer, 10_000)
    finally:
        await consumer.stop()
    assert len(records) == 10_000
    seen: dict[str, list[int]] = defaultdict(list)
    partition_of: dict[str, set[int]] = defaultdict(set)
    for rec in sorted(records, key=lambda r: (r.partition, r.offset)):
        env = Envelope.from_bytes(rec.value)
        seen[env.customer_id].append(env.payload["seq"])
        partition_of[env.customer_id].add(rec.partition)
    for customer, seqs in seen.items():
        assert seqs == sorted(seqs), customer
        assert len(partition_of[customer]) == 1
    assert sum(len(s) for s in seen.values()) == 10_000


async def test_consumer_that_stops_before_committing_rereads_the_same_events(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.orb_events])
    producer = make_producer(settings)
    await producer.start()
    try:
        for i in range(30):
            await publish(producer, topics.orb_events, _event(i, f"cus_{i % 3}"))
    finally:
        await producer.stop()
    group = f"{settings.topic_prefix}sync"

    first = make_consumer(settings, group)
    first.subscribe([topics.orb_events])
    await first.start()
    try:
        read_once = await _drain(first, 30)
        # Commit only the first 10 records of each partition's batch... then "crash".
        committed = {}
        by_tp: dict[TopicPartition, list] = defaultdict(list)
        for rec in read_once:
            by_tp[TopicPartition(rec.topic, rec.partition)].append(rec)
        for tp, recs in by_tp.items():
            recs.sort(key=lambda r: r.offset)
            committed[tp] = recs[0].offset + 1  # only the first record of each partition
        await first.commit(committed)
    finally:
        await first.stop()

    second = make_consumer(settings, group)
    second.subscribe([topics.orb_events])
    await second.start()
    try:
        read_again = await _drain(second, 30 - len(committed), timeout=20)
        extra = await second.getmany(timeout_ms=1000)
    finally:
        await second.stop()
    assert not any(extra.values())
    ids_again = sorted(Envelope.from_bytes(r.value).event_id for r in read_again)
    ids_uncommitted = sorted(
        Envelope.from_bytes(r.value).event_id
        for tp, recs in by_tp.items()
        for r in recs
        if r.offset >= committed[tp]
    )
    assert ids_again == ids_uncommitted
    assert len(ids_again) == 30 - len(committed)


async def test_producer_is_idempotent_with_acks_all(settings: Settings) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        # Read the applied configuration back from the producer itself.
        assert producer._txn_manager is not None, "idempotence not enabled"
        assert producer._sender._acks == -1, "acks is not 'all'"
        topics = Topics.from_settings(settings)
        await ensure_topics(settings, [topics.orb_events])
        await publish_raw(producer, topics.orb_events, b"k", b"{}", [])
        # An idempotent producer has been given a producer id by the broker.
        assert producer._txn_manager.producer_id >= 0
    finally:
        await producer.stop()


async def test_sync_state_topic_is_created_compacted(settings: Settings) -> None:
    settings = settings.model_copy(update={"topic_partitions": 12})
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    created = await ensure_topics(settings)
    topics = Topics.from_settings(settings)
    assert sorted(created) == sorted(topics.all())
    assert await ensure_topics(settings) == []  # idempotent
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        [resp] = await admin.describe_configs(
            [
                ConfigResource(ConfigResourceType.TOPIC, topics.sync_state),
            ]
        )
        configs = {c[0]: c[1] for c in resp.resources[0][4]}
        described = await admin.describe_topics([topics.orb_events])
    finally:
        await admin.close()
    assert configs["cleanup.policy"] == "compact"
    assert topics.is_compacted(topics.cdc_replay) and not topics.is_compacted(topics.orb_events)
    assert len(described[0]["partitions"]) == 12


async def test_topics_are_awaited_patiently_then_the_broker_is_reported_unavailable() -> None:
    # A consumer starting while the broker restarts retries instead of crash-looping; with no
    # broker at all it still gives up, with the broker named.
    import socket

    import pytest

    from bridge.errors import BrokerUnavailable
    from bridge.kafka import ensure_topics_patiently
    from bridge.settings import Settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    settings = Settings(kafka_bootstrap=dead, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(BrokerUnavailable, match=dead):
        await ensure_topics_patiently(settings, patience=1.0)
