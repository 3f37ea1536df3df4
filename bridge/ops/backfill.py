"""`bridge backfill`: export billing objects as webhook-shaped envelopes onto the billing topics.

The sync stays the only writer to Salesforce: backfill only publishes. Lists run parents first
(customers, catalog, subscriptions, invoices); after each page the broker acknowledged, the
vendor cursor is checkpointed in `bridge.backfill.progress`, so an interrupted run resumes
after its last completed page (at most that one page in flight is published again, and the
sync drops it as a duplicate). A run that finishes clears its checkpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bridge.errors import BrokerUnavailable
from bridge.events import HEADER_ORIGIN, ORIGIN_BACKFILL, Envelope
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.ops.billing_export import (
    Lister,
    billing_clients,
    configured_mapper,
    envelope_for,
    export_pages,
    for_configured_vendors,
    select,
)
from bridge.ops.checkpoints import Checkpoint, CheckpointStore, since_text
from bridge.settings import Settings

EVENT_ID_PREFIX = "backfill"

Progress = Callable[[str, int], None]  # (list label, objects exported so far)


@dataclass
class ListProgress:
    """One list's share of a backfill run."""

    label: str
    pages: int = 0
    published: int = 0
    resumed_after_pages: int = 0  # pages a checkpoint said an earlier run had done
    done: bool = False


@dataclass
class BackfillReport:
    """What a backfill run did (or, with dry_run, would do)."""

    lists: list[ListProgress]
    skipped: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def published(self) -> int:
        return sum(p.published for p in self.lists)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "published": self.published,
            "lists": [asdict(p) for p in self.lists],
            "skipped": self.skipped,
        }


async def run_backfill(
    settings: Settings,
    objects: Sequence[str] | None = None,
    *,
    since: datetime | None = None,
    dry_run: bool = False,
    restart: bool = False,
    page_size: int = 100,
    progress: Progress | None = None,
) -> BackfillReport:
    """Publish every selected billing object (updated since `since`) as a backfill envelope.

    Bad object names fail before anything is read or published.
    """
    selection = for_configured_vendors(select(configured_mapper(settings), objects), settings, objects)
    report = BackfillReport([ListProgress(k.label) for k in selection.kinds], selection.skipped, dry_run)
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as http:
        clients = billing_clients(settings, http, {k.vendor for k in selection.kinds})
        if dry_run:
            for kind, prog in zip(selection.kinds, report.lists, strict=True):
                async for page in export_pages(kind, clients[kind.vendor], since=since, page_size=page_size):
                    prog.pages += 1
                    # Built but not sent: an object the export cannot shape fails the dry run too.
                    prog.published += len([envelope_for(kind, e, prefix=EVENT_ID_PREFIX) for e in page.items])
                    if progress:
                        progress(kind.label, prog.published)
                prog.done = True
            return report
        topics = Topics.from_settings(settings)
        await ensure_topics(settings, [topics.orb_events, topics.chargebee_events, topics.backfill_progress])
        store = CheckpointStore(settings)
        checkpoints = {} if restart else await store.load()
        producer = make_producer(settings, linger_ms=20)
        await producer.start()
        try:
            if restart:
                await store.clear(producer, [k.label for k in selection.kinds])
            for kind, prog in zip(selection.kinds, report.lists, strict=True):
                run = _ListRun(kind.label, clients[kind.vendor], producer, store, since, page_size, progress)
                await run.export(kind, topics.billing(kind.vendor), prog, checkpoints.get(kind.label))
            await store.clear(producer, [k.label for k in selection.kinds])
        finally:
            await producer.stop()
    return report


@dataclass
class _ListRun:
    label: str
    client: Lister
    producer: AIOKafkaProducer
    store: CheckpointStore
    since: datetime | None
    page_size: int
    progress: Progress | None

    async def export(self, kind: Any, topic: str, prog: ListProgress, checkpoint: Checkpoint | None) -> None:
        since = since_text(self.since)
        if checkpoint is not None and checkpoint.since == since:
            prog.resumed_after_pages = checkpoint.pages
            if checkpoint.done:
                prog.done = True
                return
            cursor: str | None = checkpoint.cursor
        else:
            cursor = None
        pages, published = prog.resumed_after_pages, 0
        async for page in export_pages(
            kind, self.client, since=self.since, cursor=cursor, page_size=self.page_size
        ):
            envelopes = [envelope_for(kind, e, prefix=EVENT_ID_PREFIX) for e in page.items]
            await publish_many(self.producer, topic, envelopes, {HEADER_ORIGIN: ORIGIN_BACKFILL})
            pages += 1
            published += len(envelopes)
            prog.pages += 1
            prog.published += len(envelopes)
            # Only after the broker acknowledged the page: a resume never skips an object.
            await self.store.save(
                self.producer,
                self.label,
                Checkpoint(page.next_cursor or "", pages, published, since, done=page.next_cursor is None),
            )
            if self.progress:
                self.progress(self.label, prog.published)
        prog.done = True


async def publish_many(
    producer: AIOKafkaProducer, topic: str, envelopes: list[Envelope], headers: dict[str, str]
) -> None:
    """Send envelopes concurrently (they share producer batches) and wait for every ack."""
    try:
        futures = [
            await producer.send(topic, value=e.to_bytes(), key=e.key, headers=e.headers(headers))
            for e in envelopes
        ]
        await asyncio.gather(*futures)
    except KafkaError as exc:
        raise BrokerUnavailable(f"broker did not acknowledge the publish to {topic}: {exc!r}") from exc
