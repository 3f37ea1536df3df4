"""The version guard's memory: the last applied version and value hash of every record.

Kept in a compacted topic (`bridge.sync.state`), key `<SObject>:<external id>`, written to the
same partition number as the source event that produced it. A consumer that is assigned
source partition p owns state partition p, reads it from the beginning on assignment, and
forgets it on revocation: the state follows the partition across restarts and rebalances
without any database.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from bridge.errors import BrokerUnavailable
from bridge.kafka import make_consumer, publish_raw
from bridge.settings import Settings


@dataclass(frozen=True)
class RecordState:
    """What was last applied to one Salesforce record."""

    version: int  # ms since epoch (Orb timestamps) or Chargebee resource_version
    value_hash: str
    # Hashes of in-between states the bridge itself put billing through (a writeback done in
    # two vendor calls): their webhooks are no-ops too, not echo writes of half a change.
    passing: tuple[str, ...] = ()

    def matches(self, digest: str) -> bool:
        """True when `digest` is this state or one of its in-between states."""
        return digest == self.value_hash or digest in self.passing

    def encode(self) -> bytes:
        data: dict[str, object] = {"v": self.version, "h": self.value_hash}
        if self.passing:
            data["p"] = list(self.passing)
        return orjson.dumps(data)


HELD, RELEASED = "held", "released"


def _owner_key(tp: TopicPartition) -> str:
    return f"__owner__:{tp.topic}:{tp.partition}"


class StateStore:
    """Per-partition in-memory view of the compacted state topic, restored on assignment."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self._by_partition: dict[int, dict[str, RecordState]] = {}

    def owns(self, partition: int) -> bool:
        return partition in self._by_partition

    def get(self, partition: int, key: str) -> RecordState | None:
        """The last applied state of `key`, as known to state partition `partition`."""
        return self._by_partition.get(partition, {}).get(key)

    def size(self) -> int:
        return sum(len(p) for p in self._by_partition.values())

    async def restore(self, partitions: set[int]) -> int:
        """Read the named state partitions from the beginning; return records loaded.

        Always re-read: while another instance owned a partition it wrote states this
        instance has never seen, so a view kept from an earlier assignment would be stale.
        """
        todo = sorted(partitions)
        if not todo:
            return 0
        consumer = make_consumer(self.settings, None, isolation_level="read_uncommitted")
        await consumer.start()
        loaded = 0
        try:
            tps = [TopicPartition(self.topic, p) for p in todo]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            views: dict[int, dict[str, RecordState]] = {p: {} for p in todo}
            loaded = await _read_until(consumer, ends, views)
        finally:
            await consumer.stop()
        self._by_partition.update(views)
        return loaded

    def forget(self, partitions: set[int]) -> None:
        """Drop partitions this instance no longer owns (their new owner restores them)."""
        for p in partitions:
            self._by_partition.pop(p, None)

    async def put_many(
        self, producer: AIOKafkaProducer, partition: int, states: dict[str, RecordState]
    ) -> None:
        """Write states to the topic (awaiting every ack) and then to the in-memory view."""
        if not states:
            return
        sends = [
            producer.send(
                self.topic,
                key=key.encode(),
                value=st.encode(),
                partition=partition,
            )
            for key, st in states.items()
        ]
        try:
            futures = await asyncio.gather(*sends)
            await asyncio.wait_for(asyncio.gather(*futures), self.settings.publish_timeout_seconds)
        except Exception as exc:
            raise BrokerUnavailable(f"state write to {self.topic} not acknowledged: {exc!r}") from exc
        self._by_partition.setdefault(partition, {}).update(states)

    async def claim(self, producer: AIOKafkaProducer, tp: TopicPartition) -> bool:
        """Mark source partition `tp` as held by this instance (its state partition must be
        restored); True when the previous owner never released it (it died holding it)."""
        previous = self.get(tp.partition, _owner_key(tp))
        await self.put(producer, tp.partition, _owner_key(tp), RecordState(0, HELD))
        return previous is not None and previous.value_hash == HELD

    async def release(self, producer: AIOKafkaProducer, tp: TopicPartition) -> None:
        """Mark `tp` as handed over cleanly: nothing of ours is in flight for it any more."""
        await self.put(producer, tp.partition, _owner_key(tp), RecordState(0, RELEASED))

    async def put(self, producer: AIOKafkaProducer, partition: int, key: str, state: RecordState) -> None:
        """Write one state."""
        await publish_raw(
            producer,
            self.topic,
            key.encode(),
            state.encode(),
            [],
            partition=partition,
        )
        self._by_partition.setdefault(partition, {})[key] = state


async def _read_until(
    consumer: AIOKafkaConsumer,
    ends: dict[TopicPartition, int],
    views: dict[int, dict[str, RecordState]],
) -> int:
    loaded = 0
    remaining = {tp for tp, end in ends.items() if end > 0}
    while remaining:
        batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=10_000)
        for tp, records in batch.items():
            view = views[tp.partition]
            for rec in records:
                if rec.offset >= ends[tp]:
                    break
                key = rec.key.decode()
                if rec.value is None:  # tombstone
                    view.pop(key, None)
                    continue
                data = orjson.loads(rec.value)
                view[key] = RecordState(int(data["v"]), str(data["h"]), tuple(data.get("p") or ()))
                loaded += 1
        for tp in list(remaining):
            if await consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
    return loaded
