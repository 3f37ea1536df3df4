"""The shared consume loop of `bridge sync` and `bridge writeback`.

A handler gets one fetch: the records of every partition that had data (so writes can be
pooled across partitions into the fewest API calls), and returns one `Result` per record,
or raises `TransientError` for the whole fetch. The loop owns everything else, in one place:

- transient error: seek back to the batch start, pause the partition, back off with jitter,
  resume; nothing is committed or dead-lettered;
- dead-lettered record: its original value goes to the DLQ topic with the error headers of
  DESIGN.md §3, then the batch goes on;
- offsets are committed only once every record of the batch was applied, skipped or parked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError

from bridge.errors import TransientError, WriteInDoubt
from bridge.events import decode_headers, encode_headers, utcnow
from bridge.kafka import make_consumer, make_producer, publish_raw, subscribe
from bridge.logs import get_logger
from bridge.settings import Settings
from consumers.metrics import CONSUMER_LAG, RECORDS, RETRIES
from consumers.outcomes import Outcome, Result

log = get_logger("consume-loop")

Record = Any  # aiokafka.structs.ConsumerRecord (untyped upstream)


Batch = dict[TopicPartition, Sequence[Record]]


class BatchHandler(Protocol):
    """Handles one fetch; each partition's records are in offset order."""

    async def handle(self, batch: Batch) -> dict[TopicPartition, list[Result]]:
        """One result per record, same order per partition; raise `TransientError` to retry."""
        ...


PartitionsHook = Callable[[set[TopicPartition]], Awaitable[None]]


@dataclass
class Backoff:
    """Exponential backoff with full jitter, capped."""

    base: float = 0.2
    cap: float = 30.0
    attempts: int = 0

    def next_delay(self, hint: float | None = None) -> float:
        self.attempts += 1
        ceiling = min(self.cap, self.base * (2 ** (self.attempts - 1)))
        delay = random.uniform(ceiling / 2, ceiling)
        return max(delay, hint or 0.0)

    def reset(self) -> None:
        self.attempts = 0


@dataclass
class LoopStats:
    """Counts by outcome, for reports and tests."""

    outcomes: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    commits: int = 0

    def add(self, outcome: Outcome, n: int = 1) -> None:
        self.outcomes[outcome.value] = self.outcomes.get(outcome.value, 0) + n


class ConsumeLoop:
    """Consumes topics with a group, hands batches to a handler, commits and dead-letters."""

    def __init__(
        self,
        settings: Settings,
        *,
        name: str,
        group_id: str,
        topics: list[str],
        handler: BatchHandler,
        dlq_topic: str,
        on_assigned: PartitionsHook | None = None,
        on_revoked: PartitionsHook | None = None,
        max_records: int = 1000,
        linger_ms: int = 0,
        backoff_base: float = 0.2,
        backoff_cap: float = 30.0,
    ) -> None:
        self.settings = settings
        self.name = name
        self.group_id = group_id
        self.topics = topics
        self.handler = handler
        self.dlq_topic = dlq_topic
        self._on_assigned = on_assigned
        self._on_revoked = on_revoked
        self.max_records = max_records
        self.linger_ms = linger_ms
        self.stats = LoopStats()
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._backoffs: dict[TopicPartition, Backoff] = {}
        self._resume_at: dict[TopicPartition, float] = {}
        self._attempts: dict[tuple[TopicPartition, int], tuple[int, str]] = {}
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.assigned: set[TopicPartition] = set()
        self.ready = asyncio.Event()
        # The batch being handled, so a revocation can fence it (see `_revoked`).
        self._inflight: tuple[asyncio.Task[dict[TopicPartition, list[Result]]], set[TopicPartition]] | None
        self._inflight = None
        # Longer than a Salesforce call may take (30 s timeout): a batch in hand is not cut
        # off mid-request, since a request we abandon may still commit after the new owner's.
        self.revoke_grace_seconds = 45.0

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; then finish the batch in hand, commit and close."""
        self.producer = make_producer(self.settings)
        self.consumer = make_consumer(self.settings, self.group_id, max_poll_records=self.max_records)
        subscribe(self.consumer, self.topics, self._assigned, self._revoked)
        await self.producer.start()
        await self.consumer.start()
        try:
            while not stop.is_set():
                self._resume_due()
                fetched = await self._fetch()
                batch: Batch = {}
                for tp, records in fetched.items():
                    if not records or tp in self._resume_at:
                        continue  # paused while the batch was fetched
                    if tp in self.assigned:
                        batch[tp] = records
                    elif tp in self.consumer.assignment():
                        # Assigned but its state not restored yet: handled without it, a stale
                        # version could pass the guard. Read these again once it is ready.
                        self.consumer.seek(tp, records[0].offset)
                if batch:
                    await self._process(batch)
                await self._report_lag()
            # A clean stop hands the partitions over as a rebalance would (the handler records
            # that nothing of ours is left in flight), so the next owner need not wait.
            await self._revoked(set(self.assigned))
        finally:
            await self.consumer.stop()
            await self.producer.stop()

    async def _fetch(self) -> dict[TopicPartition, list[Record]]:
        """What is ready now, topped up while more keeps arriving (a lag) for up to `linger_ms`.

        One fetch holds at most about 1 MB per partition; a large lag gathered over several
        fetches into one batch becomes few large writes (Bulk API above its threshold). Memory
        stays bounded by `max_records`; with no lag the first empty top-up ends the wait.
        """
        assert self.consumer is not None
        fetched = await self.consumer.getmany(timeout_ms=200, max_records=self.max_records)
        batch = {tp: list(records) for tp, records in fetched.items() if records}
        total = sum(len(r) for r in batch.values())
        deadline = time.monotonic() + self.linger_ms / 1000
        while total and total < self.max_records:
            left_ms = int((deadline - time.monotonic()) * 1000)
            if left_ms <= 0:
                break
            more = await self.consumer.getmany(
                timeout_ms=min(left_ms, 100), max_records=self.max_records - total
            )
            if not any(more.values()):
                break
            for tp, records in more.items():
                batch.setdefault(tp, []).extend(records)
                total += len(records)
        return batch

    async def _assigned(self, tps: set[TopicPartition]) -> None:
        # Ready only once the hook (the version state's restore) is done: see `run`.
        if self._on_assigned is not None:
            await self._on_assigned(tps)
        self.assigned |= tps
        self.ready.set()

    async def _revoked(self, tps: set[TopicPartition]) -> None:
        # Fence: no write for a revoked partition may land after its new owner starts, or an
        # older version held here (e.g. retrying a transient error) would overwrite the newer
        # one the new owner writes. The rebalance waits for the batch in hand (its state is then
        # stored before the new owner restores it), or cancels it after a grace period.
        if self._inflight is not None and self._inflight[1] & tps:
            task = self._inflight[0]
            done, _ = await asyncio.wait({task}, timeout=self.revoke_grace_seconds)
            if not done:
                log.warning("batch_cancelled_on_revoke", partitions=sorted(str(tp) for tp in tps))
                task.cancel()
                await asyncio.wait({task})
            elif (
                not task.cancelled() and isinstance(exc := task.exception(), WriteInDoubt) and exc.retry_after
            ):
                # A write in doubt may still land: let it, before the new owner writes.
                await asyncio.sleep(exc.retry_after)
        self.assigned -= tps
        for tp in tps:
            self._resume_at.pop(tp, None)
            self._backoffs.pop(tp, None)
        if self._on_revoked is not None:
            await self._on_revoked(tps)

    async def _process(self, batch: Batch) -> None:
        assert self.consumer is not None
        task = asyncio.create_task(self._handle(batch))
        self._inflight = (task, set(batch))
        try:
            await asyncio.wait({task})
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self._inflight = None
        if task.cancelled():
            # Fenced by a revocation: nothing of this batch counts. Partitions still ours are
            # read again from the batch start (idempotent handling makes that harmless).
            for tp, records in batch.items():
                if tp in self.assigned:
                    self.consumer.seek(tp, records[0].offset)
            return
        try:
            results = task.result()
            for tp, records in batch.items():
                for rec, res in zip(records, results[tp], strict=True):
                    if res.outcome is Outcome.DEAD_LETTERED:
                        await self._dead_letter(tp, rec, res)
        except TransientError as exc:  # from the handler, or a DLQ write not acknowledged
            for tp, records in batch.items():
                self._retry_later(tp, records[0].offset, exc)
            return
        for tp in batch:
            for res in results[tp]:
                self.stats.add(res.outcome)
                RECORDS.labels(self.name, tp.topic, res.outcome.value).inc()
            self._backoffs.pop(tp, None)
        try:
            await self.consumer.commit({tp: records[-1].offset + 1 for tp, records in batch.items()})
            self.stats.commits += 1
        except (CommitFailedError, KafkaError) as exc:
            # The group moved on (rebalance): the new owner re-reads; idempotent handling
            # makes that harmless, so this is logged, not retried.
            log.warning("commit_failed", error=repr(exc))

    async def _handle(self, batch: Batch) -> dict[TopicPartition, list[Result]]:
        try:
            results = await self.handler.handle(batch)
        except TransientError:
            raise
        except Exception as exc:
            flat = [(tp, rec) for tp, recs in batch.items() for rec in recs]
            if len(flat) == 1:
                return {flat[0][0]: [Result.dead(exc)]}
            # An unclassified failure: find the record(s) at fault one by one, so one bad
            # event cannot stall the partition nor take its neighbours to the DLQ.
            log.warning("batch_failed_isolating", error=repr(exc))
            out: dict[TopicPartition, list[Result]] = {tp: [] for tp in batch}
            for tp, rec in flat:
                out[tp].extend((await self._handle({tp: [rec]}))[tp])
            return out
        for tp, records in batch.items():
            if len(results.get(tp, [])) != len(records):
                raise RuntimeError(f"handler returned a wrong number of results for {tp}")
        return results

    def _retry_later(self, tp: TopicPartition, offset: int, exc: TransientError) -> None:
        assert self.consumer is not None
        if tp not in self.assigned:
            # Revoked while the batch was in hand: its new owner re-reads from the committed
            # offset, and seeking a partition we no longer own would crash the loop.
            return
        backoff = self._backoffs.setdefault(tp, Backoff(self._backoff_base, self._backoff_cap))
        delay = backoff.next_delay(exc.retry_after)
        self.consumer.seek(tp, offset)
        self.consumer.pause(tp)
        self._resume_at[tp] = time.monotonic() + delay
        self.stats.retries += 1
        RETRIES.labels(self.name, tp.topic).inc()
        log.info(
            "transient_error_backing_off",
            partition=str(tp),
            offset=offset,
            delay=round(delay, 3),
            error=str(exc),
            code=exc.code,
        )

    def _resume_due(self) -> None:
        assert self.consumer is not None
        now = time.monotonic()
        for tp, at in list(self._resume_at.items()):
            if at <= now:
                del self._resume_at[tp]
                if tp in self.assigned:
                    self.consumer.resume(tp)

    async def _dead_letter(self, tp: TopicPartition, rec: Record, res: Result) -> None:
        assert self.producer is not None
        err = res.error
        now = utcnow().isoformat().replace("+00:00", "Z")
        headers = decode_headers(rec.headers)
        first = headers.get("dlq-first-failure", now)
        attempts = int(headers.get("dlq-attempts", "0")) + 1
        headers.update(
            {
                "dlq-error-class": type(err).__name__ if err else "Unknown",
                "dlq-error-code": str(getattr(err, "code", "")),
                "dlq-error-message": (str(err) if err else res.detail)[:2000],
                "dlq-attempts": str(attempts),
                "dlq-original-topic": tp.topic,
                "dlq-original-partition": str(tp.partition),
                "dlq-original-offset": str(rec.offset),
                "dlq-first-failure": first,
                "dlq-last-failure": now,
                "dlq-consumer": self.name,
            }
        )
        await publish_raw(
            self.producer,
            self.dlq_topic,
            rec.key,
            rec.value,
            encode_headers(headers),
            timeout=self.settings.publish_timeout_seconds,
        )
        log.warning(
            "dead_lettered",
            partition=str(tp),
            offset=rec.offset,
            error_class=headers["dlq-error-class"],
            error=headers["dlq-error-message"],
        )

    async def _report_lag(self) -> None:
        assert self.consumer is not None
        for tp in list(self.assigned):
            # read_committed: the last stable offset is where this consumer can read up to.
            end = self.consumer.last_stable_offset(tp) or self.consumer.highwater(tp)
            if end is None:
                continue  # nothing fetched yet for this partition
            position = await self.consumer.position(tp)
            CONSUMER_LAG.labels(self.name, tp.topic, str(tp.partition)).set(max(end - position, 0))
