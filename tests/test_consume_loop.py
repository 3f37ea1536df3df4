"""The shared consume loop on the real broker: retries, dead letters, commits, state."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import TopicPartition

from bridge.errors import PermanentError, TransientError
from bridge.events import Envelope, decode_headers
from bridge.kafka import Topics, ensure_topics, make_consumer, make_producer, publish
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.outcomes import Outcome, Result
from consumers.state import RecordState, StateStore


def _event(i: int, customer: str, bad: bool = False) -> Envelope:
    return Envelope(
        source="orb",
        event_id=f"evt_{i}",
        event_type="invoice.issued",
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        object_type="invoice",
        object_id=f"inv_{i}",
        customer_id=customer,
        payload={"seq": i, "bad": bad},
    )


class Destination:
    """A stand-in sink (not Kafka): counts writes per record so duplicates show."""

    def __init__(self) -> None:
        self.writes: dict[str, int] = {}
        self.transient_left = 0
        self.calls = 0
        self.crash_in_handle: asyncio.Event | None = None

    async def handle(self, batch: dict[TopicPartition, Sequence[Any]]) -> dict[TopicPartition, list[Result]]:
        self.calls += 1
        if self.crash_in_handle is not None:
            self.crash_in_handle.set()
            await asyncio.sleep(3600)  # "killed" while handling: cancelled by the test
        if self.transient_left > 0:
            self.transient_left -= 1
            raise TransientError("UNABLE_TO_LOCK_ROW", code="UNABLE_TO_LOCK_ROW")
        out: dict[TopicPartition, list[Result]] = {}
        applied = []
        for tp, records in batch.items():
            out[tp] = []
            for rec in records:
                env = Envelope.from_bytes(rec.value)
                if env.payload.get("boom"):
                    raise ValueError("unclassified bug")
                if env.payload["bad"]:
                    out[tp].append(Result.dead(PermanentError("INVALID_FIELD: No such column 'X__c'")))
                    continue
                applied.append(env.event_id)
                out[tp].append(Result(Outcome.APPLIED))
        for event_id in applied:  # all or nothing per fetch, like a batched write
            self.writes[event_id] = self.writes.get(event_id, 0) + 1
        return out


async def _publish(settings: Settings, topic: str, events: list[Envelope]) -> None:
    producer = make_producer(settings)
    await producer.start()
    try:
        await asyncio.gather(*(publish(producer, topic, e) for e in events))
    finally:
        await producer.stop()


async def _read_all(settings: Settings, topic: str, want: int, timeout: float = 10.0) -> list[Any]:
    consumer = make_consumer(settings, None)
    consumer.subscribe([topic])
    await consumer.start()
    got: list[Any] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline and len(got) < want:
            for recs in (await consumer.getmany(timeout_ms=300)).values():
                got.extend(recs)
        if len(got) >= want:  # make sure nothing more arrives
            for recs in (await consumer.getmany(timeout_ms=500)).values():
                got.extend(recs)
    finally:
        await consumer.stop()
    return got


async def _committed_total(settings: Settings, group: str, topic: str) -> int:
    consumer = make_consumer(settings, group)
    await consumer.start()
    try:
        total = 0
        for p in range(settings.topic_partitions):
            total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


async def _run_until(loop: ConsumeLoop, done: Any, timeout: float = 30.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done() and asyncio.get_running_loop().time() < deadline:
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


def _loop(settings: Settings, dest: Destination, group: str) -> ConsumeLoop:
    topics = Topics.from_settings(settings)
    return ConsumeLoop(
        settings,
        name="test",
        group_id=group,
        topics=[topics.orb_events],
        handler=dest,
        dlq_topic=topics.sync_dlq,
        backoff_base=0.05,
        backoff_cap=0.2,
    )


async def test_permanent_error_parks_one_record_and_the_other_199_are_applied(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    events = [_event(i, "cus_1", bad=(i == 77)) for i in range(200)]
    await _publish(settings, topics.orb_events, events)
    dest = Destination()
    group = f"{settings.topic_prefix}g"
    loop = _loop(settings, dest, group)
    await _run_until(
        loop,
        lambda: (
            loop.stats.outcomes.get("applied", 0) == 199 and loop.stats.outcomes.get("dead_lettered", 0) == 1
        ),
    )
    assert len(dest.writes) == 199 and "evt_77" not in dest.writes
    [dead] = await _read_all(settings, topics.sync_dlq, 1)
    headers = decode_headers(dead.headers)
    assert Envelope.from_bytes(dead.value) == Envelope.from_bytes(events[77].to_bytes())
    assert dead.key == b"cus_1"
    assert headers["dlq-error-class"] == "PermanentError"
    assert "INVALID_FIELD" in headers["dlq-error-message"]
    assert headers["dlq-original-topic"] == topics.orb_events
    assert headers["event_id"] == "evt_77"
    assert headers["dlq-attempts"] == "1"
    assert {"dlq-first-failure", "dlq-last-failure", "dlq-original-offset"} <= set(headers)
    assert await _committed_total(settings, group, topics.orb_events) == 200


async def test_transient_errors_retry_without_commit_or_dead_letter(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    await _publish(settings, topics.orb_events, [_event(i, "cus_1") for i in range(20)])
    dest = Destination()
    dest.transient_left = 3
    loop = _loop(settings, dest, f"{settings.topic_prefix}g")
    await _run_until(loop, lambda: len(dest.writes) == 20)
    assert loop.stats.retries == 3
    assert all(n == 1 for n in dest.writes.values())  # retried batches were not half-applied
    assert loop.stats.outcomes == {"applied": 20}
    assert await _read_all(settings, topics.sync_dlq, 1, timeout=1.5) == []


async def test_unclassified_exception_dead_letters_only_the_record_at_fault(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    events = [_event(i, "cus_1") for i in range(10)]
    boom = _event(5, "cus_1")
    events[5] = boom.model_copy(update={"payload": {"seq": 5, "bad": False, "boom": True}})
    await _publish(settings, topics.orb_events, events)
    dest = Destination()
    loop = _loop(settings, dest, f"{settings.topic_prefix}g")
    await _run_until(loop, lambda: loop.stats.outcomes.get("dead_lettered", 0) == 1 and len(dest.writes) == 9)
    [dead] = await _read_all(settings, topics.sync_dlq, 1)
    assert decode_headers(dead.headers)["dlq-error-class"] == "ValueError"


async def test_consumer_killed_mid_batch_rereads_uncommitted_records_after_restart(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    await _publish(settings, topics.orb_events, [_event(i, f"cus_{i % 4}") for i in range(40)])
    group = f"{settings.topic_prefix}g"
    dest = Destination()
    dest.crash_in_handle = asyncio.Event()
    loop = _loop(settings, dest, group)
    task = asyncio.create_task(loop.run(asyncio.Event()))
    await asyncio.wait_for(dest.crash_in_handle.wait(), 30)
    task.cancel()  # killed while a batch was in hand: nothing of it committed
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert await _committed_total(settings, group, topics.orb_events) == 0
    dest.crash_in_handle = None
    restarted = _loop(settings, dest, group)
    await _run_until(restarted, lambda: len(dest.writes) == 40)
    assert await _committed_total(settings, group, topics.orb_events) == 40


async def test_state_store_survives_restart_and_follows_partitions(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        store = StateStore(settings, topics.sync_state)
        await store.put_many(
            producer,
            3,
            {
                "OrbInvoice__c:inv_1": RecordState(100, "h1"),
                "OrbInvoice__c:inv_2": RecordState(100, "h2"),
            },
        )
        await store.put(producer, 3, "OrbInvoice__c:inv_1", RecordState(200, "h1b"))
        await store.put(producer, 1, "OrbCustomer__c:cus_1", RecordState(7, "c"))
    finally:
        await producer.stop()
    fresh = StateStore(settings, topics.sync_state)
    loaded = await fresh.restore({3})
    assert loaded == 3  # three writes read back; the latest per key wins
    assert fresh.get(3, "OrbInvoice__c:inv_1") == RecordState(200, "h1b")
    assert fresh.get(3, "OrbInvoice__c:inv_2") == RecordState(100, "h2")
    assert fresh.get(1, "OrbCustomer__c:cus_1") is None  # partition 1 not owned
    await fresh.restore({1})
    assert fresh.get(1, "OrbCustomer__c:cus_1") == RecordState(7, "c")
    fresh.forget({3})
    assert not fresh.owns(3) and fresh.owns(1)


class StuckInFirstBatch(Destination):
    """Its first batch never finishes (a write retrying a transient error for ever) until the
    loop cancels it; later batches write normally."""

    def __init__(self) -> None:
        super().__init__()
        self.in_first_batch = asyncio.Event()
        self.cancelled_at: float | None = None
        self.handled_at: list[float] = []

    async def handle(self, batch: dict[TopicPartition, Sequence[Any]]) -> dict[TopicPartition, list[Result]]:
        if not self.in_first_batch.is_set():
            self.in_first_batch.set()
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                self.cancelled_at = asyncio.get_running_loop().time()
                raise
        return await super().handle(batch)


class Timed(Destination):
    """Notes when it first handled a batch."""

    def __init__(self) -> None:
        super().__init__()
        self.first_at: float | None = None

    async def handle(self, batch: dict[TopicPartition, Sequence[Any]]) -> dict[TopicPartition, list[Result]]:
        if self.first_at is None:
            self.first_at = asyncio.get_running_loop().time()
        return await super().handle(batch)


async def test_a_batch_in_hand_is_fenced_before_its_partitions_new_owner_starts(
    settings: Settings,
) -> None:
    # Without the fence, the first instance's stuck (retrying) write could land after the new
    # owner wrote a newer version of the same record: a stale overwrite.
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    await _publish(settings, topics.orb_events, [_event(i, f"cus_{i % 4}") for i in range(40)])
    group = f"{settings.topic_prefix}g"
    first = StuckInFirstBatch()
    loop = _loop(settings, first, group)
    loop.revoke_grace_seconds = 1.0
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    await asyncio.wait_for(first.in_first_batch.wait(), 30)
    second = Timed()  # a second instance joins: the group rebalances while the batch is stuck
    both = lambda: len(set(first.writes) | set(second.writes)) == 40  # noqa: E731
    try:
        await _run_until(_loop(settings, second, group), lambda: both() or task.done())
        assert first.cancelled_at is not None  # the stuck batch was cancelled by the revocation
        assert second.first_at is not None and first.cancelled_at < second.first_at
        assert not task.done()  # and the first instance lives on with its new assignment
        assert both()
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
