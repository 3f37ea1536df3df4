"""`bridge listen`: Salesforce Change Data Capture → `salesforce.changes`.

Each change event becomes one envelope per record id, keyed by Account Id. The bridge's own
writes are dropped here (commit user = integration user, or `changeOrigin` carrying our
`client=`), so they never cost a writeback. Gap events are not trusted: the records are
fetched. The last published replay id per channel is kept in a compacted topic and resumed
from after a restart; a position past retention falls back to the newest event, loudly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import orjson
from aiokafka import AIOKafkaProducer
from prometheus_client import Counter as PromCounter

from bridge.errors import PermanentError, TransientError
from bridge.events import Envelope
from bridge.kafka import Topics, make_consumer, partitions_of, publish, publish_raw
from bridge.logs import get_logger
from bridge.salesforce.auth import TokenProvider
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.cometd import (
    NEWEST,
    AuthRejected,
    CometdClient,
    Event,
    ReplayIdInvalid,
    UnknownClient,
    sleep_advised,
)
from bridge.settings import Settings

log = get_logger("cdc")

CDC_EVENTS = PromCounter(
    "bridge_cdc_events_total",
    "Change events by outcome (published, echo, gap_fetched).",
    ["outcome"],
)
CDC_REPLAY_FALLBACKS = PromCounter(
    "bridge_cdc_replay_fallbacks_total",
    "Stored replay ids past retention: resumed from the newest event (run bridge reconcile).",
    ["channel"],
)

DEFAULT_CHANNELS = ("/data/AccountChangeEvent", "/data/ContactChangeEvent", "/data/OpportunityChangeEvent")


@dataclass
class ListenerStats:
    """Counts of what the listener did, for reports and tests."""

    outcomes: Counter[str] = field(default_factory=Counter)
    handshakes: int = 0
    fallbacks: list[str] = field(default_factory=list)


class ReplayPositions:
    """Last published replay id per channel, in a compacted topic (key = channel)."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic

    async def load(self) -> dict[str, int]:
        """Every channel's stored position (latest write wins)."""
        tps = await partitions_of(self.settings, self.topic)
        positions: dict[str, int] = {}
        if not tps:
            return positions
        consumer = make_consumer(self.settings, None, isolation_level="read_uncommitted")
        await consumer.start()
        try:
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            remaining = {tp for tp, end in ends.items() if end > 0}
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        if rec.value is not None:
                            positions[rec.key.decode()] = int(orjson.loads(rec.value)["replayId"])
                for tp in list(remaining):
                    if await consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
        finally:
            await consumer.stop()
        return positions

    async def save(self, producer: AIOKafkaProducer, channel: str, replay_id: int) -> None:
        """Store a channel's position (after the events up to it were acknowledged)."""
        await publish_raw(
            producer,
            self.topic,
            channel.encode(),
            orjson.dumps({"replayId": replay_id}),
            [],
            timeout=self.settings.publish_timeout_seconds,
        )


class CdcListener:
    """Subscribes to CDC channels and publishes each change to `salesforce.changes`."""

    def __init__(
        self,
        settings: Settings,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        salesforce: SalesforceClient,
        producer: AIOKafkaProducer,
        channels: tuple[str, ...] = DEFAULT_CHANNELS,
    ) -> None:
        self.settings = settings
        self.http = http
        self.tokens = tokens
        self.salesforce = salesforce
        self.producer = producer
        self.channels = channels
        self.topics = Topics.from_settings(settings)
        self.positions = ReplayPositions(settings, self.topics.cdc_replay)
        self.last: dict[str, int] = {}
        self.stats = ListenerStats()
        self.subscribed = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until `stop` is set, reconnecting with backoff on failures."""
        self.last = await self.positions.load()
        attempt = 0
        while not stop.is_set():
            token = await self.tokens.token()
            client = CometdClient(self.http, self._cometd_url(token.instance_url), token.access_token)
            try:
                await self._session(client, stop)
                attempt = 0
            except UnknownClient as exc:
                log.info("cdc_rehandshake", reason=str(exc))
            except AuthRejected as exc:
                log.info("cdc_reauthenticate", reason=str(exc))
                await self.tokens.refresh(token)
            except TransientError as exc:
                attempt += 1
                delay = min(30.0, 0.5 * 2 ** min(attempt, 6)) * random.uniform(0.5, 1.0)
                log.warning("cdc_reconnect_backoff", error=str(exc), delay=round(delay, 2))
                await _sleep_or_stop(stop, delay)
        await asyncio.sleep(0)

    def _cometd_url(self, instance_url: str) -> str:
        return f"{instance_url.rstrip('/')}/cometd/{self.settings.salesforce_api_version}"

    async def _session(self, client: CometdClient, stop: asyncio.Event) -> None:
        await client.handshake()
        self.stats.handshakes += 1
        for channel in self.channels:
            # Re-subscribe from the last replay id received, never -1: -1 would silently
            # skip what happened while we were away.
            replay_from = self.last.get(channel, NEWEST)
            try:
                await client.subscribe(channel, replay_from)
            except ReplayIdInvalid as exc:
                CDC_REPLAY_FALLBACKS.labels(channel).inc()
                self.stats.fallbacks.append(channel)
                log.error(
                    "cdc_replay_id_past_retention",
                    channel=channel,
                    replay_id=replay_from,
                    error=str(exc),
                    action="resuming from the newest event; changes made meanwhile were NOT "
                    "seen: run `bridge reconcile` to repair the drift",
                )
                await client.subscribe(channel, NEWEST)
        self.subscribed.set()
        log.info("cdc_subscribed", channels=list(self.channels))
        try:
            while not stop.is_set():
                events = await _unless_stopped(client.connect(), stop)
                if events is None:
                    break
                if events:
                    await self._publish(events)
                await sleep_advised(client.session)
        finally:
            if stop.is_set():
                await client.disconnect()

    async def _publish(self, events: list[Event]) -> None:
        envelopes: list[Envelope] = []
        for event in events:
            envelopes.extend(await self.envelopes_for(event))
        await asyncio.gather(
            *(
                publish(
                    self.producer,
                    self.topics.salesforce_changes,
                    env,
                    {"gap": "true"} if env.payload.get("gap") else None,
                    timeout=self.settings.publish_timeout_seconds,
                )
                for env in envelopes
            )
        )
        newest: dict[str, int] = {}
        for event in events:
            newest[event.channel] = max(newest.get(event.channel, 0), event.replay_id)
        for channel, replay_id in newest.items():
            await self.positions.save(self.producer, channel, replay_id)
            self.last[channel] = replay_id

    def is_echo(self, header: dict[str, Any]) -> bool:
        """A change the bridge itself made (its user, or its `client=` call option)."""
        user = self.settings.salesforce_integration_user_id
        if user and header.get("commitUser") == user:
            return True
        origin = str(header.get("changeOrigin") or "")
        return f"client={self.settings.salesforce_client_name}" in origin

    async def envelopes_for(self, event: Event) -> list[Envelope]:
        """One envelope per record id of a change event; none for echoes."""
        payload = dict(event.data.get("payload") or {})
        header = dict(payload.pop("ChangeEventHeader", {}) or {})
        if self.is_echo(header):
            self.stats.outcomes["echo"] += 1
            CDC_EVENTS.labels("echo").inc()
            return []
        entity = str(header.get("entityName", ""))
        change = str(header.get("changeType", ""))
        occurred = datetime.fromtimestamp(int(header.get("commitTimestamp", 0)) / 1000, UTC)
        out = []
        for record_id in header.get("recordIds") or []:
            fields = payload
            gap = change.startswith("GAP_")
            if gap:
                # The event body cannot be trusted: read the record as it is now.
                fields = await self._get_record(entity, record_id) or {}
                self.stats.outcomes["gap_fetched"] += 1
                CDC_EVENTS.labels("gap_fetched").inc()
            account_id = await self._account_of(entity, record_id, fields)
            out.append(
                Envelope(
                    source="salesforce",
                    event_id=f"{header.get('transactionKey', event.replay_id)}:"
                    f"{header.get('sequenceNumber', 0)}:{record_id}",
                    event_type=f"{entity}.{change}",
                    occurred_at=occurred,
                    object_type=entity,
                    object_id=record_id,
                    customer_id=account_id,
                    payload={
                        "channel": event.channel,
                        "replayId": event.replay_id,
                        "ChangeEventHeader": header,
                        "fields": fields,
                        "gap": gap,
                        "via": "cdc",
                    },
                )
            )
            self.stats.outcomes["published"] += 1
            CDC_EVENTS.labels("published").inc()
        return out

    async def _get_record(self, entity: str, record_id: str) -> dict[str, Any] | None:
        try:
            resp = await self.salesforce.request(
                "GET", f"{self.salesforce.base_path}/sobjects/{entity}/{record_id}", kind="get"
            )
        except PermanentError:
            return None  # deleted since: the change is still published, with no fields
        data: dict[str, Any] = resp.json()
        data.pop("attributes", None)
        return data

    async def _account_of(self, entity: str, record_id: str, fields: dict[str, Any]) -> str:
        if entity == "Account":
            return record_id
        account = fields.get("AccountId")
        if account:
            return str(account)
        record = await self._get_record(entity, record_id)
        if record and record.get("AccountId"):
            return str(record["AccountId"])
        return record_id  # no account (yet): key by the record, order per record still holds


async def _sleep_or_stop(stop: asyncio.Event, delay: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), delay)


async def _unless_stopped(poll: Coroutine[Any, Any, list[Event]], stop: asyncio.Event) -> list[Event] | None:
    """The long poll's events, or None once `stop` is set first (the poll is abandoned).

    A long poll lasts up to 110 s; shutdown must not wait for it. Abandoning it loses nothing:
    the replay position moves only after a publish, so a restart receives those events again.
    """
    polling = asyncio.ensure_future(poll)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({polling, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
    if polling.done():
        return polling.result()
    polling.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await polling
    return None
