"""The receiver's per-partition batching on the real broker: every caller gets its own record's
place, keys keep the default partitioner and their order, and no caller is left waiting."""

from __future__ import annotations

import asyncio
import random

import pytest
from aiokafka import AIOKafkaProducer

from bridge.errors import BrokerUnavailable
from bridge.kafka import ensure_topics, make_producer
from bridge.partition_batcher import PartitionBatcher
from bridge.settings import Settings
from tests.kafka_records import read_all

pytestmark = pytest.mark.kafka


async def _producer(settings: Settings, topic: str) -> AIOKafkaProducer:
    await ensure_topics(settings, [topic])
    producer = make_producer(settings)
    await producer.start()
    return producer


async def test_concurrent_callers_each_get_the_place_of_their_own_record(settings: Settings) -> None:
    topic = settings.topic("batched")
    producer = await _producer(settings, topic)
    batcher = PartitionBatcher(producer, timeout=10.0)
    keys = [f"cus_{i % 7}".encode() for i in range(600)]
    try:
        places = await asyncio.gather(
            *(batcher.send(topic, k, b"v%d" % i, [("n", str(i).encode())]) for i, k in enumerate(keys))
        )
        # aiokafka's own partitioner, for comparison: the batcher must place keys the same way
        reference = [(await producer.send_and_wait(topic, b"-", key=k)).partition for k in keys[:7]]
    finally:
        await producer.stop()

    records = {(r.partition, r.offset): r for r in await read_all(settings, topic)}
    assert len(set(places)) == 600
    for i, (key, place) in enumerate(zip(keys, places, strict=True)):
        record = records[place]
        assert (record.key, record.value) == (key, b"v%d" % i)
        assert place[0] == reference[i % 7]


async def test_sequential_sends_of_a_key_keep_their_order_across_batches(settings: Settings) -> None:
    topic = settings.topic("ordered")
    producer = await _producer(settings, topic)
    batcher = PartitionBatcher(producer, timeout=10.0)

    async def customer(name: bytes) -> None:
        for seq in range(40):  # each awaits its ack before the next, as a vendor's retries do
            await batcher.send(topic, name, b"%d" % seq, [])
            await asyncio.sleep(random.random() / 1000)

    try:
        await asyncio.gather(*(customer(b"cus_%d" % c) for c in range(12)))
    finally:
        await producer.stop()

    seen: dict[bytes, list[int]] = {}
    for r in await read_all(settings, topic):
        seen.setdefault(r.key, []).append(int(r.value))
    assert seen == {b"cus_%d" % c: list(range(40)) for c in range(12)}


async def test_a_cancelled_caller_leaves_the_others_of_its_batch_acknowledged(settings: Settings) -> None:
    topic = settings.topic("cancel")
    producer = await _producer(settings, topic)
    batcher = PartitionBatcher(producer, timeout=10.0)
    try:
        await batcher.send(topic, b"cus_1", b"-1", [])  # partitions known: a send appends at once
        calls = [asyncio.create_task(batcher.send(topic, b"cus_1", b"%d" % i, [])) for i in range(20)]
        await asyncio.sleep(0)  # all appended to the partition's open batch
        calls[3].cancel()
        done = await asyncio.gather(*calls, return_exceptions=True)
    finally:
        await producer.stop()

    assert isinstance(done[3], asyncio.CancelledError)
    others = [d for i, d in enumerate(done) if i != 3]
    assert all(isinstance(d, tuple) for d in others) and len(set(others)) == 19
    # the cancelled caller's record was already in the batch: it is stored, as a 2xx-less retry would be
    assert sorted(int(r.value) for r in await read_all(settings, topic)) == list(range(-1, 20))


async def test_drain_returns_once_every_record_handed_over_is_acknowledged(settings: Settings) -> None:
    topic = settings.topic("drain")
    producer = await _producer(settings, topic)
    batcher = PartitionBatcher(producer, timeout=10.0)
    try:
        await batcher.send(topic, b"k0", b"x", [])  # partitions known: a send appends at once
        calls = [asyncio.create_task(batcher.send(topic, b"k%d" % (i % 5), b"x", [])) for i in range(299)]
        await asyncio.sleep(0)
        await batcher.drain()
        assert all(c.done() and not c.cancelled() and c.exception() is None for c in calls)
    finally:
        await producer.stop()
    assert len(await read_all(settings, topic)) == 300


async def test_callers_of_a_flush_cancelled_at_shutdown_are_told_not_left_waiting(settings: Settings) -> None:
    topic = settings.topic("shutdown")
    producer = await _producer(settings, topic)
    batcher = PartitionBatcher(producer, timeout=10.0)
    try:
        await batcher.send(topic, b"k", b"warm", [])
        calls = [asyncio.create_task(batcher.send(topic, b"k", b"%d" % i, [])) for i in range(50)]
        await asyncio.sleep(0)
        for flusher in list(batcher._flushers):  # as the loop's teardown does
            flusher.cancel()
        outcomes = await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 5)
    finally:
        await producer.stop()
    assert outcomes and all(isinstance(o, BrokerUnavailable) for o in outcomes), outcomes
