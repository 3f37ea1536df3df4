"""`bridge sync`: billing events → Salesforce upserts, batched, ordered and version-guarded.

Per partition batch: decode, drop repeated event ids, map, then the version guard (stale or
unchanged writes cost zero API calls), coalesce writes to the same record into the newest,
upsert per SObject in dependency order through sObject Collections (≤ 200 a call; a Bulk
API 2.0 job above `BRIDGE_SYNC_BULK_THRESHOLD` records, see `consumers/upserts.py`), record
the new state, and give every event one outcome for the consume loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from bridge.errors import BadInput, BridgeError, PermanentError, TransientError, WriteInDoubt
from bridge.events import (
    EXPECT_STEP,
    HEADER_EXPECT,
    HEADER_EXPECT_KEYS,
    HEADER_ORIGIN,
    HEADER_REPAIR,
    ORIGIN_RECONCILE,
    ORIGIN_WRITEBACK,
    REDRIVEN_FROM,
    Envelope,
    decode_headers,
)
from bridge.logs import get_logger
from bridge.mapping import RecordWrite
from bridge.mapping.transforms import sf_datetime
from bridge.salesforce.client import SalesforceClient
from bridge.settings import Settings
from consumers.loop import Batch, ConsumeLoop
from consumers.metrics import SYNC_API_CALLS, SYNC_RECORDS_WRITTEN
from consumers.outcomes import Outcome, Result
from consumers.parent_retry import run_parent_retries
from consumers.state import RecordState, StateStore
from consumers.upserts import Upserter

log = get_logger("sync")

# In-between states remembered per record (writeback updates in several vendor calls).
MAX_PASSING = 4

Mapper = Callable[[Envelope], Sequence[RecordWrite]]


@dataclass
class _Pending:
    write: RecordWrite
    key: str
    hash: str
    creating: bool
    events: list[tuple[TopicPartition, int]] = field(default_factory=list)
    partitions: set[int] = field(default_factory=set)


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
        self.upserter = Upserter(settings, salesforce)
        # Partitions taken over from an owner that died holding them: no write until then.
        self._in_doubt_until: dict[TopicPartition, float] = {}
        # States of records the bridge itself changed in billing (writeback): noted, not written.
        self._expected: dict[int, dict[str, RecordState]] = defaultdict(dict)

    async def on_assigned(self, tps: set[TopicPartition]) -> None:
        """Restore the version state of newly assigned partitions before handling them."""
        await self.state.restore({tp.partition for tp in tps})
        # An owner that died (kill -9, OOM) may have left a Salesforce write in flight that
        # commits after we write a newer version: if it never released the partition, wait
        # out such writes (as long as one may take) before writing.
        grace = self.salesforce.in_doubt_seconds + 5.0
        for tp in tps:
            if await self.state.claim(self.producer, tp):
                self._in_doubt_until[tp] = time.monotonic() + grace
                log.warning("partition_taken_over_uncleanly", partition=str(tp), wait_seconds=grace)

    async def on_revoked(self, tps: set[TopicPartition]) -> None:
        """Forget what another instance may now change (restored again if reassigned)."""
        for tp in tps:  # the consume loop finished (fenced) the batch in hand first
            await self.state.release(self.producer, tp)
            self._in_doubt_until.pop(tp, None)
        partitions = {tp.partition for tp in tps}
        self.state.forget(partitions)
        self.recent.forget(partitions)

    async def handle(self, batch: Batch) -> dict[TopicPartition, list[Result]]:
        """Map, guard and write one fetch; writes are pooled across its partitions."""
        now = time.monotonic()
        wait = max((self._in_doubt_until.get(tp, 0.0) - now for tp in batch), default=0.0)
        if wait > 0:
            raise WriteInDoubt(
                "partition taken over from an owner that stopped uncleanly: its writes may still land",
                retry_after=wait,
            )
        results: dict[TopicPartition, list[Result | None]] = {
            tp: [None] * len(records) for tp, records in batch.items()
        }
        pending: dict[str, _Pending] = {}
        event_writes: dict[tuple[TopicPartition, int], list[tuple[str, int]]] = {}
        stale_events: set[tuple[TopicPartition, int]] = set()
        batch_ids: dict[int, set[str]] = defaultdict(set)
        for tp, records in batch.items():
            for i, rec in enumerate(records):
                outcome = self._prepare(tp, i, rec, batch_ids[tp.partition], pending, stale_events)
                if isinstance(outcome, Result):
                    results[tp][i] = outcome
                else:
                    event_writes[(tp, i)] = outcome

        failed = await self._apply(list(pending.values()))
        for partition, states in self._expected.items():
            await self.state.put_many(self.producer, partition, states)
        self._expected.clear()
        for partition, ids in batch_ids.items():
            self.recent.remember(partition, sorted(ids))

        for (tp, i), writes in event_writes.items():
            errors = [failed[k] for k, _ in writes if k in failed]
            # Coalesced: a newer version of each of its records in this fetch was sent instead.
            superseded = bool(writes) and all(v < pending[k].write.version for k, v in writes)
            if errors:
                results[tp][i] = Result.dead(errors[0])
            elif superseded:
                results[tp][i] = Result(Outcome.STALE)
            elif writes:
                results[tp][i] = Result(Outcome.APPLIED)
            elif (tp, i) in stale_events:
                results[tp][i] = Result(Outcome.STALE)
            else:
                results[tp][i] = Result(Outcome.NOOP)
        return {tp: [r if r is not None else Result(Outcome.NOOP) for r in rs] for tp, rs in results.items()}

    def _prepare(
        self,
        tp: TopicPartition,
        i: int,
        rec: Any,
        batch_ids: set[str],
        pending: dict[str, _Pending],
        stale_events: set[tuple[TopicPartition, int]],
    ) -> Result | list[tuple[str, int]]:
        """An event's final outcome, or the keys of the writes it still needs."""
        try:
            env = Envelope.from_bytes(rec.value)
        except BadInput as exc:
            return Result.dead(exc)
        headers = decode_headers(rec.headers)
        # A redriven dead letter is sent again on purpose (by a person or the parent retry):
        # its id was seen when it failed, which must not make it a duplicate now.
        again = REDRIVEN_FROM in headers
        if env.event_id in batch_ids or (not again and self.recent.seen(tp.partition, env.event_id)):
            return Result(Outcome.DUPLICATE)
        batch_ids.add(env.event_id)
        try:
            writes = self.mapper(env)
        except BridgeError as exc:
            return Result.dead(exc)
        except Exception as exc:  # a mapping bug on odd input: park this event only
            return Result.dead(PermanentError(f"mapping failed: {exc!r}"))
        if not writes:
            return Result(Outcome.UNMAPPED, detail=env.event_type)
        if headers.get(HEADER_ORIGIN) == ORIGIN_WRITEBACK:
            # Billing now holds what Salesforce said: remember it, so the vendor's webhook for
            # this change is a no-op instead of an echo write back to Salesforce.
            step = headers.get(HEADER_EXPECT) == EXPECT_STEP
            only = _expect_keys(headers)
            for w in writes:
                key = w.key.state_key
                if only is not None and key not in only:
                    continue
                known = self._expected[tp.partition].get(key) or self.state.get(tp.partition, key)
                if step:  # an in-between state: its webhook is a no-op, the target is unchanged
                    base = known or RecordState(0, "")
                    passing = (*base.passing, w.digest())[-MAX_PASSING:]
                    self._expected[tp.partition][key] = RecordState(base.version, base.value_hash, passing)
                elif known is None or w.version >= known.version:
                    passing = known.passing if known else ()
                    self._expected[tp.partition][key] = RecordState(w.version, w.digest(), passing)
            return Result(Outcome.ECHO, detail="expected state of a writeback")
        repairs = _repairs(headers)
        keys: list[tuple[str, int]] = []
        expected = self._expected.get(tp.partition, {})
        for w in writes:
            key = w.key.state_key
            # A writeback's expectation earlier in this same fetch counts as known state: its
            # vendor webhook may arrive in the fetch too, and must still cost no write.
            known = expected.get(key) or self.state.get(tp.partition, key)
            if known is not None and w.version < known.version:
                stale_events.add((tp, i))
                continue
            digest = w.digest()
            repair = repairs.get(key)
            # A reconcile repair names records Salesforce lost or someone changed behind the
            # bridge: the remembered hash is then no proof Salesforce holds it, so write anyway.
            if known is not None and known.matches(digest) and repair is None:
                continue
            current = pending.get(key)
            if current is not None and w.version < current.write.version:
                stale_events.add((tp, i))  # a newer version of it is already in this fetch
                continue
            if current is None or w.version >= current.write.version:
                # Coalesce: the newest version of a record in this fetch is the one sent.
                creating = known is None or repair == "missing" or (current is not None and current.creating)
                pending[key] = _Pending(
                    w,
                    key,
                    digest,
                    creating,
                    current.events if current else [],
                    current.partitions if current else set(),
                )
            pending[key].events.append((tp, i))
            pending[key].partitions.add(tp.partition)
            keys.append((key, w.version))
        return keys

    async def _apply(self, pending: list[_Pending]) -> dict[str, BridgeError]:
        """Upsert per SObject, parents first; return the permanent error of each failed key."""
        failed: dict[str, BridgeError] = {}
        by_object: dict[tuple[int, str, str], list[_Pending]] = defaultdict(list)
        for p in pending:
            by_object[(p.write.rank, p.write.sobject, p.write.external_id_field)].append(p)
        transient: TransientError | None = None
        synced_at = sf_datetime(datetime.now(UTC))  # sync status: stamped, not part of the digest
        for (_, sobject, ext_field), group in sorted(by_object.items(), key=lambda kv: kv[0]):
            # create_only / fill_if_empty fields go only to records the bridge never wrote.
            payload = [p.write.body(creating=p.creating, synced_at=synced_at) for p in group]
            calls_before = sum(self.salesforce.calls.values())
            try:
                results = await self.upserter.upsert(sobject, ext_field, payload)
            finally:
                SYNC_API_CALLS.labels(sobject).inc(sum(self.salesforce.calls.values()) - calls_before)
            SYNC_RECORDS_WRITTEN.labels(sobject).inc(sum(1 for r in results if r.success))
            applied: dict[int, dict[str, RecordState]] = defaultdict(dict)
            for p, res in zip(group, results, strict=True):
                if res.success:
                    # Each partition whose events touched the record remembers the new state.
                    for partition in p.partitions:
                        applied[partition][p.key] = RecordState(p.write.version, p.hash)
                elif isinstance(res.error, TransientError):
                    transient = transient or res.error
                else:
                    failed[p.key] = res.error or PermanentError("record failed without detail")
            # Record what landed even if a sibling must be retried: the retry then costs
            # no API call for the records already written.
            for partition, states in applied.items():
                await self.state.put_many(self.producer, partition, states)
            if transient is not None:
                raise transient
        return failed


def _expect_keys(headers: dict[str, str]) -> set[str] | None:
    """The records a writeback expectation is about (None: every record the event maps to)."""
    if HEADER_EXPECT_KEYS not in headers:
        return None
    try:
        parsed = orjson.loads(headers[HEADER_EXPECT_KEYS])
    except orjson.JSONDecodeError:
        return set()  # unreadable: remember nothing rather than too much
    return {str(k) for k in parsed} if isinstance(parsed, list) else set()


def _repairs(headers: dict[str, str]) -> dict[str, str]:
    """The records a reconcile event must write regardless of the version guard's memory.

    Honoured only on reconcile-origin events; anything unreadable means no repair at all.
    """
    if headers.get(HEADER_ORIGIN) != ORIGIN_RECONCILE or HEADER_REPAIR not in headers:
        return {}
    try:
        parsed = orjson.loads(headers[HEADER_REPAIR])
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(parsed, dict):
        return {}
    return {str(k): str(v) for k, v in parsed.items() if v in ("missing", "different")}


async def run_sync(
    settings: Settings,
    stop: asyncio.Event,
    *,
    mapper: Mapper,
    salesforce: SalesforceClient | None = None,
    on_loop: Callable[[ConsumeLoop], None] | None = None,
) -> ConsumeLoop:
    """Run `bridge sync` until `stop` is set; returns the loop (its stats) when done."""
    from bridge.kafka import Topics, ensure_topics_patiently, make_producer
    from bridge.salesforce.factory import salesforce_client

    topics = Topics.from_settings(settings)
    await ensure_topics_patiently(settings)
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
            max_records=settings.sync_max_batch,
            linger_ms=settings.sync_batch_linger_ms,
        )
        if on_loop is not None:
            on_loop(loop)
        leader = TopicPartition(topics.orb_events, 0)
        retries = asyncio.create_task(run_parent_retries(settings, stop, lambda: leader in loop.assigned))
        try:
            await loop.run(stop)
        finally:
            retries.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retries
        return loop
    finally:
        await producer.stop()
