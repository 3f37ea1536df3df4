"""The receiver's records for one partition gathered into one Kafka batch while the last is in flight.

aiokafka's `send` costs about 30 µs of CPU per record (a metadata lookup and sort, a chain of
coroutines, a RecordMetadata per record), which made it the largest single cost of a webhook
(bench/ingest.py). Here a record is appended to the partition's open batch builder and its caller
awaits a plain future; one `send_batch` per batch does the rest. Semantics are the producer's own:
the partition is the default (murmur2) one, at most one batch of a partition is in flight (as with
idempotence anyway), so a key's records stay in order, and each caller learns of its own record's
ack or failure. A batch not acknowledged within `timeout` of its first record fails all its callers.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bridge.errors import BrokerUnavailable
from bridge.events import Headers
from bridge.kafka import KeyPartitioner

# How long a topic's partition list is reused before asking the producer's metadata again;
# a partition added to a topic is picked up this late, as with the producer's own refresh.
PARTITIONS_TTL_SECONDS = 1.0


class _Batch:
    """One batch builder being filled, and the futures of the callers whose records it holds;
    `deadline` is on the event loop's clock."""

    __slots__ = ("builder", "deadline", "offsets", "waiters")

    def __init__(self, builder: Any, deadline: float) -> None:
        self.builder = builder
        self.deadline = deadline
        self.waiters: list[asyncio.Future[int]] = []
        self.offsets: list[int] = []


class PartitionBatcher:
    """Sends records through one producer, batched per partition; `send` returns on the ack."""

    def __init__(self, producer: AIOKafkaProducer, timeout: float) -> None:
        self.producer = producer
        self.timeout = timeout
        self._partitioner = KeyPartitioner()
        self._partitions: dict[str, tuple[float, list[int]]] = {}
        self._queues: dict[tuple[str, int], deque[_Batch]] = {}
        self._flushers: set[asyncio.Task[None]] = set()

    async def send(self, topic: str, key: bytes, value: bytes, headers: Headers) -> tuple[int, int]:
        """Publish one record and wait for the broker's ack; return (partition, offset).

        Raises `BrokerUnavailable` when the broker does not acknowledge in time or refuses.
        """
        partitions = await self._partitions_of(topic)
        partition = self._partitioner(key, partitions, partitions)
        loop = asyncio.get_running_loop()
        queue = self._queues.get((topic, partition))
        batch = queue[-1] if queue else None
        meta = None
        if batch is not None:
            meta = batch.builder.append(timestamp=None, key=key, value=value, headers=headers)
        if batch is None or meta is None:  # no open batch, or it is full: start the next one
            batch = _Batch(self.producer.create_batch(), loop.time() + self.timeout)
            # An empty batch takes any record the producer accepts (up to max_request_size).
            meta = batch.builder.append(timestamp=None, key=key, value=value, headers=headers)
            if meta is None:
                raise BrokerUnavailable(f"a record of {len(value)} bytes does not fit in a Kafka batch")
            if queue is None:
                queue = self._queues[(topic, partition)] = deque()
                self._start_flusher(topic, partition, queue)
            queue.append(batch)
        waiter: asyncio.Future[int] = loop.create_future()
        batch.waiters.append(waiter)
        batch.offsets.append(meta.offset)
        return partition, await waiter

    def _start_flusher(self, topic: str, partition: int, queue: deque[_Batch]) -> None:
        task = asyncio.create_task(self._flush(topic, partition, queue))
        self._flushers.add(task)
        task.add_done_callback(self._flushers.discard)
        # A task cancelled before it first runs skips its `finally`: clean up here as well.
        task.add_done_callback(lambda _: self._abandon(topic, partition, queue))

    async def drain(self) -> None:
        """Wait until every record handed to `send` so far is acknowledged or failed."""
        while self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)

    async def _partitions_of(self, topic: str) -> list[int]:
        cached = self._partitions.get(topic)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1]
        known = self.producer.client.cluster.partitions_for_topic(topic)
        if not known:
            try:
                async with asyncio.timeout(self.timeout):
                    known = await self.producer.partitions_for(topic)
            except (TimeoutError, KafkaError) as exc:
                raise BrokerUnavailable(f"no partitions known for {topic}: {exc!r}") from exc
        partitions = sorted(known)
        self._partitions[topic] = (now + PARTITIONS_TTL_SECONDS, partitions)
        return partitions

    async def _flush(self, topic: str, partition: int, queue: deque[_Batch]) -> None:
        """Send the partition's batches one after the other until none is left."""
        try:
            while queue:
                batch = queue[0]
                batch.builder.close()  # no record joins a batch once it is on its way
                queue.popleft()
                await self._deliver(topic, partition, batch)
        finally:
            self._abandon(topic, partition, queue)

    def _abandon(self, topic: str, partition: int, queue: deque[_Batch]) -> None:
        """Unregister the partition's queue; fail what is left in it (only when cancelled)."""
        if self._queues.get((topic, partition)) is queue:
            del self._queues[(topic, partition)]
        for left in queue:  # no caller may hang, even if its flush never got to run
            _fail(left, BrokerUnavailable(f"publish to {topic} abandoned at shutdown"))
        queue.clear()

    async def _deliver(self, topic: str, partition: int, batch: _Batch) -> None:
        try:
            async with asyncio.timeout_at(batch.deadline):
                delivery = await self.producer.send_batch(batch.builder, topic, partition=partition)
                meta = await delivery
        except (TimeoutError, KafkaError) as exc:
            _fail(batch, BrokerUnavailable(f"broker did not acknowledge the publish to {topic}: {exc!r}"))
            return
        except BaseException as exc:  # cancelled (shutdown) or a bug: no caller may hang
            _fail(batch, BrokerUnavailable(f"publish to {topic} abandoned: {exc!r}"))
            raise
        base = meta.offset
        for waiter, offset in zip(batch.waiters, batch.offsets, strict=True):
            if not waiter.done():
                waiter.set_result(base + offset)


def _fail(batch: _Batch, error: BrokerUnavailable) -> None:
    for waiter in batch.waiters:
        if not waiter.done():
            waiter.set_exception(error)
