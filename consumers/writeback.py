"""`bridge writeback`: Salesforce changes (CDC or outbound messages) → Orb / Chargebee.

- Account with no billing customer yet: one is created (see `consumers/new_customer.py`).
- Account / Contact: only the mapped fields that changed flow back, by the reverse mappings
  declared in `bridge/mapping` (Chargebee: only while "Sync with Chargebee" is checked; Orb:
  the customer whose `external_customer_id` is the Account Id).
- Opportunity → Closed Won: one Chargebee subscription (with "Update Chargebee" checked) and/or
  one Orb subscription (with an `Orb_Plan__c` chosen), created with the idempotency key
  `opportunity-<Id>-won`, so a duplicate event, a replay or a retry after a timeout never
  creates a second one; the id is written back onto the Opportunity (that write returns
  through CDC as an echo and is dropped). See `consumers/won_opportunity.py`.
- Version guard: a change older than the last one applied to that record is skipped.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from bridge.billing.chargebee import ChargebeeClient
from bridge.billing.errors import BillingApiError
from bridge.billing.orb import OrbClient
from bridge.errors import BadInput, TransientError
from bridge.events import EXPECT_STEP, HEADER_EXPECT, HEADER_ORIGIN, ORIGIN_WRITEBACK, Envelope
from bridge.kafka import Topics, publish
from bridge.mapping.model import VendorMapping
from bridge.mapping.reverse import ReverseUpdate, reverse_update
from bridge.salesforce.client import SalesforceClient
from bridge.settings import Settings
from consumers.loop import Batch, ConsumeLoop
from consumers.new_customer import NewCustomer
from consumers.outcomes import Outcome, Result
from consumers.salesforce_records import read_record
from consumers.state import RecordState, StateStore
from consumers.sync import RecentIds
from consumers.won_opportunity import WonOpportunity

WON = "Closed Won"


class WritebackHandler:
    """Turns each Salesforce change into at most one set of billing API calls."""

    def __init__(
        self,
        settings: Settings,
        salesforce: SalesforceClient,
        mappings: Sequence[VendorMapping],
        state: StateStore,
        producer: AIOKafkaProducer,
        *,
        orb: OrbClient | None = None,
        chargebee: ChargebeeClient | None = None,
        chargebee_site: str = "default",
    ) -> None:
        self.settings = settings
        self.salesforce = salesforce
        self.mappings = list(mappings)
        self.state = state
        self.producer = producer
        self.orb = orb
        self.chargebee = chargebee
        self.site = chargebee_site
        self.recent = RecentIds()
        self.won = WonOpportunity(salesforce, orb=orb, chargebee=chargebee, chargebee_site=chargebee_site)
        self.new_customer = NewCustomer(
            salesforce,
            self.mappings,
            chargebee=chargebee,
            orb=orb,
            create_orb_customers=settings.orb_create_customers,
        )
        self._update_calls = 0

    @property
    def billing_calls(self) -> int:
        """Billing API calls that changed something (updates and creates)."""
        return self._update_calls + self.won.calls + self.new_customer.calls

    async def on_assigned(self, tps: set[TopicPartition]) -> None:
        await self.state.restore({tp.partition for tp in tps})

    async def on_revoked(self, tps: set[TopicPartition]) -> None:
        partitions = {tp.partition for tp in tps}
        self.state.forget(partitions)
        self.recent.forget(partitions)

    async def handle(self, batch: Batch) -> dict[TopicPartition, list[Result]]:
        """Handle the changes of each Account in order, different Accounts concurrently.

        Each change costs a few sequential HTTP calls (read the record, read and update the
        billing customer); one at a time, a burst of edits queued for many seconds.
        """
        out: dict[TopicPartition, list[Result | None]] = {tp: [None] * len(r) for tp, r in batch.items()}
        chains: dict[tuple[TopicPartition, bytes | None], list[int]] = defaultdict(list)
        for tp, records in batch.items():
            for i, rec in enumerate(records):
                chains[(tp, rec.key)].append(i)  # the key is the Account Id: its order matters
        gate = asyncio.Semaphore(self.settings.writeback_concurrency)

        async def chain(tp: TopicPartition, indexes: list[int]) -> None:
            async with gate:
                for i in indexes:
                    out[tp][i] = await self._one(tp, batch[tp][i])

        try:
            async with asyncio.TaskGroup() as group:
                for (tp, _), indexes in chains.items():
                    group.create_task(chain(tp, indexes))
        except BaseExceptionGroup as eg:
            # The loop retries the whole batch on a transient error; repeats are idempotent.
            errors: list[BaseException] = list(eg.exceptions)
            transient = [e for e in errors if isinstance(e, TransientError)]
            raise (transient or errors)[0] from None
        return {tp: [r if r is not None else Result(Outcome.NOOP) for r in rs] for tp, rs in out.items()}

    async def _one(self, tp: TopicPartition, rec: Any) -> Result:
        try:
            env = Envelope.from_bytes(rec.value)
        except BadInput as exc:
            return Result.dead(exc)
        if self.recent.seen(tp.partition, env.event_id):
            return Result(Outcome.DUPLICATE)
        header = env.payload.get("ChangeEventHeader") or {}
        change = env.event_type.split(".", 1)[-1]
        if "DELETE" in change:
            return Result(Outcome.UNMAPPED, detail="deletes do not flow back")
        version = _version(env, header)
        key = f"writeback:{env.object_type}:{env.object_id}"
        known = self.state.get(tp.partition, key)
        # Strictly older only: two edits can share a millisecond; exact repeats are caught by
        # the event-id check above.
        if known is not None and version < known.version:
            return Result(Outcome.STALE)
        changed = header.get("changedFields") if header else None  # outbound: every field
        if env.object_type in ("Account", "Contact"):
            result = await self._customer(env.object_type, env.object_id, changed)
        elif env.object_type == "Opportunity":
            result = await self._opportunity(env, changed)
        else:
            result = Result(Outcome.UNMAPPED, detail=env.object_type)
        if result.outcome is not Outcome.DEAD_LETTERED:
            await self.state.put(self.producer, tp.partition, key, RecordState(version, ""))
            self.recent.remember(tp.partition, [env.event_id])
        return result

    async def _customer(self, sobject: str, record_id: str, changed: list[str] | None) -> Result:
        record = await read_record(self.salesforce, sobject, record_id)
        if record is None:
            return Result(Outcome.NOOP, detail="record no longer exists")
        created = await self.new_customer.handle(record) if sobject == "Account" else set()
        updates = [
            u
            for m in self.mappings
            if m.source not in created and (u := reverse_update(m, sobject, record, changed))
        ]
        applied = bool(created)
        for update in updates:
            applied = await self._apply(update) or applied
        return Result(Outcome.APPLIED if applied else Outcome.NOOP)

    async def _apply(self, update: ReverseUpdate) -> bool:
        values = dict(update.values)
        if update.source == "chargebee" and self.chargebee is not None:
            current = (await self.chargebee.retrieve("customers", update.key))["customer"]
            address = values.pop("billing_address", None)
            if values and address:
                # Two calls, two webhooks: the first one's state (new fields, old address) is
                # announced too, or sync would write that half-change back over the Account.
                await self._expect_chargebee(_merged(current, values), step=True)
            # Announced before the call, so it always precedes Chargebee's webhook about it.
            await self._expect_chargebee(_merged(current, update.values))
            if values:
                await self.chargebee.update_customer(update.key, values)
                self._update_calls += 1
            if address:
                await self.chargebee.update_billing_info(update.key, {"billing_address": address})
                self._update_calls += 1
            return True
        if update.source == "orb" and self.orb is not None:
            if update.billing_key == "external_customer_id":
                try:
                    await self.orb.update_customer_by_external_id(update.key, values)
                except BillingApiError as exc:
                    if exc.status == 404:
                        return False  # an Account no Orb customer is linked to: nothing to do
                    raise
            else:
                await self.orb.update_customer(update.key, values)
            self._update_calls += 1
            return True
        return False

    async def _expect_chargebee(self, customer: dict[str, Any], step: bool = False) -> None:
        """Tell sync what the customer is about to be, ahead of Chargebee's webhook about it.

        The Account already holds these values (a person typed them), so sync only notes them;
        the webhook that follows maps to the same business values (its modified time and
        resource version are left out of the digest) and costs no Salesforce write. If the
        update then fails, the next real change of that customer is written as usual.
        """
        now = datetime.now(UTC)
        # Just above the current version: older than the webhook the update will cause.
        version = int(customer.get("resource_version") or 0) + 1
        customer = {**customer, "resource_version": version}
        body = {
            "id": f"bridge-writeback-{customer['id']}-{version}{'-step' if step else ''}",
            "occurred_at": int(now.timestamp()),
            "source": "bridge",
            "object": "event",
            "api_version": "v2",
            "event_type": "customer_changed",
            "content": {"customer": customer},
        }
        envelope = Envelope(
            source="chargebee",
            event_id=body["id"],
            event_type="customer_changed",
            occurred_at=now,
            object_type="customer",
            object_id=str(customer["id"]),
            customer_id=str(customer["id"]),
            payload=body,
        )
        await publish(
            self.producer,
            Topics.from_settings(self.settings).chargebee_events,
            envelope,
            {HEADER_ORIGIN: ORIGIN_WRITEBACK, **({HEADER_EXPECT: EXPECT_STEP} if step else {})},
            timeout=self.settings.publish_timeout_seconds,
        )

    async def _opportunity(self, env: Envelope, changed: list[str] | None) -> Result:
        fields = env.payload.get("fields") or {}
        became_won = fields.get("StageName") == WON and (changed is None or "StageName" in changed)
        if not became_won:
            return Result(Outcome.NOOP)
        opp = await read_record(self.salesforce, "Opportunity", env.object_id)
        if opp is None or opp.get("StageName") != WON:
            return Result(Outcome.NOOP, detail="no longer won")
        return await self.won.handle(env.object_id, opp)


def _merged(base: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """`base` with `values` written over it, nested objects merged."""
    out = dict(base)
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def _version(env: Envelope, header: dict[str, Any]) -> int:
    """Commit time and sequence: later changes to a record always compare greater."""
    if header:
        return int(header.get("commitTimestamp", 0)) * 1000 + int(header.get("sequenceNumber", 0))
    return int(env.occurred_at.timestamp() * 1000) * 1000


async def run_writeback(
    settings: Settings,
    stop: asyncio.Event,
    handler_factory: Any,
    on_loop: Any = None,
) -> ConsumeLoop:
    """Run `bridge writeback` until `stop` is set."""
    from bridge.kafka import ensure_topics_patiently, make_producer

    topics = Topics.from_settings(settings)
    await ensure_topics_patiently(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        state = StateStore(settings, topics.sync_state)
        handler: WritebackHandler = handler_factory(state, producer)
        loop = ConsumeLoop(
            settings,
            name="writeback",
            group_id=f"{settings.sync_group_id}-writeback",
            topics=[topics.salesforce_changes],
            handler=handler,
            dlq_topic=topics.writeback_dlq,
            on_assigned=handler.on_assigned,
            on_revoked=handler.on_revoked,
            max_records=100,
        )
        if on_loop is not None:
            on_loop(loop)
        await loop.run(stop)
        return loop
    finally:
        await producer.stop()
