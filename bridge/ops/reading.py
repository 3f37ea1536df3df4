"""Bounded reads of topic ranges: no consumer group, explicit partitions, ends fixed up front.

Ends are captured before reading starts, so a reader never chases records written while it
runs (a replay into its own source topic stops where the topic ended when it began).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from bridge.errors import BadInput, BrokerUnavailable
from bridge.kafka import make_consumer
from bridge.settings import Settings

Record = Any  # aiokafka.structs.ConsumerRecord (untyped upstream)


@dataclass(frozen=True)
class PartitionRange:
    """Offsets [start, end) of one partition to read."""

    partition: int
    start: int
    end: int

    @property
    def size(self) -> int:
        return max(self.end - self.start, 0)


def full_topic_name(settings: Settings, name: str) -> str:
    """A topic given with or without the configured prefix, as its full name."""
    if settings.topic_prefix and name.startswith(settings.topic_prefix):
        return name
    return settings.topic(name)


class TopicReader:
    """An unsubscribed consumer that reads explicit partition ranges of one topic."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.topic = topic
        # read_uncommitted would show aborted records; the bridge only writes idempotently,
        # and read_committed end offsets (the LSO) are what a reader can actually reach.
        self.consumer: AIOKafkaConsumer = make_consumer(settings, None, max_poll_records=500)
        self._settings = settings

    async def __aenter__(self) -> TopicReader:
        try:
            await self.consumer.start()
        except KafkaError as exc:
            raise BrokerUnavailable(f"cannot reach Kafka at {self._settings.kafka_bootstrap}: {exc}") from exc
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def partitions(self) -> list[int]:
        """The topic's partition numbers; a topic that does not exist is `BadInput`."""
        # The consumer's public `partitions_for_topic` only knows subscribed topics; a fresh
        # metadata fetch also sees a topic this process never touched.
        cluster = await self.consumer._client.fetch_all_metadata()
        parts = cluster.partitions_for_topic(self.topic)
        if not parts:
            raise BadInput(f"topic {self.topic!r} does not exist on {self._settings.kafka_bootstrap}")
        return sorted(parts)

    def _tps(self, partitions: list[int]) -> list[TopicPartition]:
        return [TopicPartition(self.topic, p) for p in partitions]

    async def bounds(self, partitions: list[int]) -> dict[int, tuple[int, int]]:
        """(first, end) offsets now, per partition."""
        tps = self._tps(partitions)
        first = await self.consumer.beginning_offsets(tps)
        end = await self.consumer.end_offsets(tps)
        return {tp.partition: (int(first[tp]), int(end[tp])) for tp in tps}

    async def offsets_at(self, partitions: list[int], millis: int) -> dict[int, int | None]:
        """Per partition, the first offset with a timestamp >= `millis` (None: none yet)."""
        found = await self.consumer.offsets_for_times({tp: millis for tp in self._tps(partitions)})
        return {tp.partition: (None if ot is None else int(ot.offset)) for tp, ot in found.items()}

    async def read(self, ranges: list[PartitionRange], idle_timeout: float = 10.0) -> AsyncIterator[Record]:
        """Yield the records of `ranges` (per partition in offset order), then stop."""
        todo = {r.partition: r for r in ranges if r.size > 0}
        if not todo:
            return
        tps = self._tps(list(todo))
        self.consumer.assign(tps)
        for tp in tps:
            self.consumer.seek(tp, todo[tp.partition].start)
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while todo:
            batch = await self.consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batch.items():
                rng = todo.get(tp.partition)
                if rng is None:
                    continue
                for rec in records:
                    if rng.start <= rec.offset < rng.end:
                        yield rec
                if records:
                    last_progress = loop.time()
            for tp in tps:
                rng = todo.get(tp.partition)
                # Positions can jump past transaction markers or compacted gaps: trust the
                # position, not the last offset seen.
                if rng is not None and await self.consumer.position(tp) >= rng.end:
                    del todo[tp.partition]
                    self.consumer.pause(tp)
            if todo and loop.time() - last_progress > idle_timeout:
                raise BrokerUnavailable(
                    f"reading {self.topic} stalled: no records for {idle_timeout:.0f}s "
                    f"before the range end of partitions {sorted(todo)}"
                )

    async def read_all(self) -> AsyncIterator[Record]:
        """Every record the topic holds now, per partition in offset order."""
        partitions = await self.partitions()
        ranges = [
            PartitionRange(p, first, end) for p, (first, end) in (await self.bounds(partitions)).items()
        ]
        async for record in self.read(ranges):
            yield record
