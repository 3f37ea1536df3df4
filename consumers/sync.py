"""`bridge sync`: billing events → Salesforce upserts, batched, ordered and version-guarded.

Per partition batch: decode, drop repeated event ids, map, then the version guard (stale or
unchanged writes cost zero API calls), coalesce writes to the same record into the newest,
upsert per SObject in dependency order through sObject Collections (≤ 200 a call), record
the new state, and give every event one outcome for the consume loop.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from bridge.errors import BadInput, BridgeError, PermanentError, TransientError
from bridge.events import Envelope
from bridge.mapping import RecordWrite
from bridge.salesforce.client import SalesforceClient
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.outcomes import Outcome, Result
from consumers.state import RecordState, StateStore

Mapper = Callable[[Envelope], Sequence[RecordWrite]]


@dataclass
class _Pending:
    write: RecordWrite
    key: str
    hash: str
    creating: bool
    events: list[int] = field(default_factory=list)  # indexes into the batch


class RecentIds:
    """A bounded memory of event ids seen lately, per partition (vendors retry webhooks)."""

    def __init__(self, per_partition: int = 10_000) -> None:
        self.limit = per_partition
        self._seen: dict[int, OrderedDict[str, None]] = defaultdict(OrderedDict)

    def seen(self, partition: int, event_id: str) -> bool:
        return event_id in self._seen[partition]

    def remember(self, partition: int, event_ids: list[str]) -> None:
        """Remember ids of settled events only: a retried batch must not skip its own events."""
        ids = self._seen[partition]
        for event_id in event_ids:
            ids[event_id] = None
            ids.move_to_end(event_id)
        while len(ids) > self.limit:
            ids.popitem(last=False)

    def forget(self, partitions: set[int]) -> None:
        for p in partitions:
            self._seen.pop(p, None)


class SyncHandler:
    """The billing → Salesforce batch handler used by the consume loop."""

    def __init__(
        self,
        settings: Settings,
        mapper: Mapper,
        salesforce: SalesforceClient,
        state: StateStore,
        producer: AIOKafkaProducer,
    ) -> None:
        self.settings = settings
        self.mapper = mapper
        self.salesforce = salesforce
        self.state = state
        self.producer = producer
        self.recent = RecentIds()
        self.api_calls_before = 0

    async def on_assigned(self, tps: set[TopicPartition]) -> None:
        """Restore the version state of newly assigned partitions before handling them."""
        await self.state.restore({tp.partition for tp in tps})

    async def on_revoked(self, tps: set[TopicPartition]) -> None:
        # State partitions stay in memory: another topic's partition of the same number
        # may still be ours, and a stale copy is harmless (the owner re-reads on assignment).
        self.recent.forget({tp.partition for tp in tps})

    async def handle(self, tp: TopicPartition, records: Sequence[Any]) -> list[Result]:
        results: list[Result | None] = [None] * len(records)
        pending: dict[str, _Pending] = {}
        event_writes: dict[int, list[str]] = {}
        stale_events: set[int] = set()
        batch_ids: set[str] = set()
        for i, rec in enumerate(records):
            try:
                env = Envelope.from_bytes(rec.value)
            except BadInput as exc:
                results[i] = Result.dead(exc)
                continue
            if env.event_id in batch_ids or self.recent.seen(tp.partition, env.event_id):
                results[i] = Result(Outcome.DUPLICATE)
                continue
            batch_ids.add(env.event_id)
            try:
                writes = self.mapper(env)
            except BridgeError as exc:
                results[i] = Result.dead(exc)
                continue
            except Exception as exc:  # a mapping bug on odd input: park this event only
                results[i] = Result.dead(PermanentError(f"mapping failed: {exc!r}"))
                continue
            if not writes:
                results[i] = Result(Outcome.UNMAPPED, detail=env.event_type)
                continue
            keys = []
            for w in writes:
                key = w.key.state_key
                known = self.state.get(tp.partition, key)
                if known is not None and w.version < known.version:
                    stale_events.add(i)
                    continue
                digest = w.digest()
                if known is not None and digest == known.value_hash:
                    continue
                current = pending.get(key)
                if current is None or w.version >= current.write.version:
                    # Coalesce: the newest version of a record in this batch is the one sent.
                    events = current.events if current else []
                    pending[key] = _Pending(w, key, digest, known is None, events)
                pending[key].events.append(i)
                keys.append(key)
            event_writes[i] = keys

        failed = await self._apply(tp.partition, list(pending.values()))
        self.recent.remember(tp.partition, sorted(batch_ids))

        for i, keys in event_writes.items():
            errors = [failed[k] for k in keys if k in failed]
            if errors:
                results[i] = Result.dead(errors[0])
            elif keys:
                results[i] = Result(Outcome.APPLIED)
            elif i in stale_events:
                results[i] = Result(Outcome.STALE)
            else:
                results[i] = Result(Outcome.NOOP)
        return [r if r is not None else Result(Outcome.NOOP) for r in results]

    async def _apply(self, partition: int, pending: list[_Pending]) -> dict[str, BridgeError]:
        """Upsert per SObject, parents first; return the permanent error of each failed key."""
        failed: dict[str, BridgeError] = {}
        by_object: dict[tuple[int, str, str], list[_Pending]] = defaultdict(list)
        for p in pending:
            by_object[(p.write.rank, p.write.sobject, p.write.external_id_field)].append(p)
        transient: TransientError | None = None
        for (_, sobject, ext_field), group in sorted(by_object.items(), key=lambda kv: kv[0]):
            # create_only / fill_if_empty fields go only to records the bridge never wrote.
            payload = [p.write.body(creating=p.creating) for p in group]
            results = await self.salesforce.upsert_many(sobject, ext_field, payload)
            applied: dict[str, RecordState] = {}
            for p, res in zip(group, results, strict=True):
                if res.success:
                    applied[p.key] = RecordState(p.write.version, p.hash)
                elif isinstance(res.error, TransientError):
                    transient = transient or res.error
                else:
                    failed[p.key] = res.error or PermanentError("record failed without detail")
            # Record what landed even if a sibling must be retried: the retry then costs
            # no API call for the records already written.
            await self.state.put_many(self.producer, partition, applied)
            if transient is not None:
                raise transient
        return failed


async def run_sync(
    settings: Settings,
    stop: asyncio.Event,
    *,
    mapper: Mapper,
    salesforce: SalesforceClient | None = None,
    on_loop: Callable[[ConsumeLoop], None] | None = None,
) -> ConsumeLoop:
    """Run `bridge sync` until `stop` is set; returns the loop (its stats) when done."""
    from bridge.kafka import Topics, ensure_topics, make_producer
    from bridge.salesforce.factory import salesforce_client

    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    sf = salesforce or salesforce_client(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        state = StateStore(settings, topics.sync_state)
        handler = SyncHandler(settings, mapper, sf, state, producer)
        loop = ConsumeLoop(
            settings,
            name="sync",
            group_id=settings.sync_group_id,
            topics=[topics.orb_events, topics.chargebee_events],
            handler=handler,
            dlq_topic=topics.sync_dlq,
            on_assigned=handler.on_assigned,
            on_revoked=handler.on_revoked,
        )
        if on_loop is not None:
            on_loop(loop)
        await loop.run(stop)
        return loop
    finally:
        await producer.stop()
