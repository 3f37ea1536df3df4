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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition

from bridge.billing.chargebee import ChargebeeClient
from bridge.billing.errors import BillingApiError
from bridge.billing.orb import OrbClient
from bridge.errors import BadInput, PermanentError, TransientError
from bridge.events import (
    EXPECT_STEP,
    HEADER_EXPECT,
    HEADER_EXPECT_KEYS,
    HEADER_ORIGIN,
    ORIGIN_WRITEBACK,
    Envelope,
)
from bridge.kafka import Topics, publish
from bridge.logs import get_logger
from bridge.mapping.model import VendorMapping
from bridge.mapping.reverse import ReverseUpdate, reverse_update
from bridge.salesforce.client import SalesforceClient
from bridge.settings import Settings
from consumers.loop import Batch, ConsumeLoop
from consumers.new_customer import NewCustomer
from consumers.outcomes import Outcome, Result
from consumers.salesforce_records import read_record, read_records
from consumers.state import RecordState, StateStore
from consumers.sync import RecentIds
from consumers.won_opportunity import WonOpportunity

WON = "Closed Won"

log = get_logger("writeback")


@dataclass(frozen=True)
class _Change:
    """A decoded change and what the version guard compares it by."""

    partition: int
    env: Envelope
    key: str
    version: int
    changed: list[str] | None


@dataclass
class _ReadAhead:
    """What a fetch's changes read before any update: records by (SObject, Id), customers by id.

    A record read as None no longer exists; one not read at all is read on its own.
    """

    records: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Settled:
    """The changes of a fetch handled so far: their guard states and event ids, by partition."""

    states: defaultdict[int, dict[str, RecordState]] = field(default_factory=lambda: defaultdict(dict))
    event_ids: defaultdict[int, list[str]] = field(default_factory=lambda: defaultdict(list))


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
        self.won = WonOpportunity(
            salesforce,
            orb=orb,
            chargebee=chargebee,
            chargebee_site=chargebee_site,
            announce=self._expect_subscription,
        )
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

        What the changes need to read (their Salesforce records, their Chargebee customers)
        is read for the whole fetch first, in one call per object type: read per change, two
        sequential reads per change held a fetch of 100 changes for seconds. The version
        guard's states are written once per fetch, before the loop commits it.
        """
        out: dict[TopicPartition, list[Result | None]] = {tp: [None] * len(r) for tp, r in batch.items()}
        todo: dict[tuple[TopicPartition, int], _Change] = {}
        for tp, records in batch.items():
            for i, rec in enumerate(records):
                change = self._prepare(tp, rec)
                if isinstance(change, Result):
                    out[tp][i] = change
                else:
                    todo[(tp, i)] = change
        settled = _Settled()
        try:
            ahead = await self._read_ahead(list(todo.values()))
            await self._apply_all(batch, todo, ahead, out, settled)
        finally:
            # Also after a failure: the changes already applied are not applied again.
            await self._record(settled)
        return {tp: [r if r is not None else Result(Outcome.NOOP) for r in rs] for tp, rs in out.items()}

    async def _record(self, settled: _Settled) -> None:
        """Store the guard states of the changes applied, then remember their event ids."""
        partitions = list(settled.states)
        # All partitions at once: one after another, a fetch spread over 12 partitions waited
        # for 12 acknowledgements in a row before the loop could commit it.
        stored = await asyncio.gather(
            *(self.state.put_many(self.producer, p, settled.states[p]) for p in partitions),
            return_exceptions=True,
        )
        for partition, outcome in zip(partitions, stored, strict=True):
            if outcome is None:
                self.recent.remember(partition, settled.event_ids[partition])
        errors = [e for e in stored if isinstance(e, BaseException)]
        if errors:
            raise errors[0]

    def _prepare(self, tp: TopicPartition, rec: Any) -> Result | _Change:
        """A change's outcome when no call is needed, else what handling it needs to know."""
        try:
            env = Envelope.from_bytes(rec.value)
        except BadInput as exc:
            return Result.dead(exc)
        header = env.payload.get("ChangeEventHeader") or {}
        if "DELETE" in env.event_type.split(".", 1)[-1]:
            return Result(Outcome.UNMAPPED, detail="deletes do not flow back")
        changed = header.get("changedFields") if header else None  # outbound: every field
        key = f"writeback:{env.object_type}:{env.object_id}"
        return _Change(tp.partition, env, key, _version(env, header), changed)

    async def _read_ahead(self, changes: list[_Change]) -> _ReadAhead:
        """The Salesforce records and Chargebee customers of a fetch's customer changes.

        Changes already applied (a replay, a redelivery) read nothing: they cost no call.
        """
        ahead = _ReadAhead()
        fresh = [c for c in changes if c.env.object_type in ("Account", "Contact") and not self._settled(c)]
        ids: dict[str, set[str]] = defaultdict(set)
        for c in fresh:
            ids[c.env.object_type].add(c.env.object_id)
        for sobject, record_ids in sorted(ids.items()):
            try:
                found = await read_records(self.salesforce, sobject, record_ids, self._fields(sobject))
            except PermanentError as exc:
                # E.g. a mapped field this org lacks: read one by one, which tolerates that.
                log.warning("read_ahead_refused", sobject=sobject, error=str(exc))
                continue
            ahead.records.update({(sobject, rid): rec for rid, rec in found.items()})
        if self.chargebee is not None:
            keys = {
                u.key
                for c in fresh
                if (record := ahead.records.get((c.env.object_type, c.env.object_id))) is not None
                for m in self.mappings
                if m.source == "chargebee" and (u := reverse_update(m, c.env.object_type, record, c.changed))
            }
            try:
                ahead.customers = await self.chargebee.customers_by_id(keys) if keys else {}
            except PermanentError as exc:
                # Each update then reads its customer itself, failing (or not) on its own.
                log.warning("read_ahead_refused", billing="chargebee", error=str(exc))
        return ahead

    def _settled(self, c: _Change) -> bool:
        """Already applied, as far as this instance knows: seen, or older than what was."""
        if self.recent.seen(c.partition, c.env.event_id):
            return True
        known = self.state.get(c.partition, c.key)
        return known is not None and c.version < known.version

    def _fields(self, sobject: str) -> set[str]:
        """What handling a change of `sobject` reads of its record."""
        fields: set[str] = set()
        clients = {"chargebee": self.chargebee, "orb": self.orb}
        # Only what can flow somewhere: a field of an unused vendor's package may be missing
        # from the org, and one unknown field makes the whole query fail.
        for m in (m for m in self.mappings if clients.get(m.source) is not None):
            for rev in m.reverse:
                if rev.sobject.lower() == sobject.lower():
                    fields |= {rev.key_field, *rev.require_true, *(f.salesforce for f in rev.fields)}
        if sobject == "Account":
            fields |= self.new_customer.fields()
        return fields

    async def _apply_all(
        self,
        batch: Batch,
        todo: dict[tuple[TopicPartition, int], _Change],
        ahead: _ReadAhead,
        out: dict[TopicPartition, list[Result | None]],
        settled: _Settled,
    ) -> None:
        chains: dict[tuple[TopicPartition, bytes | None], list[int]] = defaultdict(list)
        for tp, i in todo:
            chains[(tp, batch[tp][i].key)].append(i)  # the key is the Account Id: its order matters
        gate = asyncio.Semaphore(self.settings.writeback_concurrency)
        failed = asyncio.Event()

        async def chain(tp: TopicPartition, indexes: list[int]) -> None:
            async with gate:
                for i in sorted(indexes):
                    if failed.is_set():
                        return  # the fetch will be retried: start nothing more
                    try:
                        out[tp][i] = await self._one(tp, todo[(tp, i)], ahead, settled)
                    except Exception:
                        failed.set()
                        raise

        # Not a TaskGroup: one failure would cancel the other Accounts' calls in flight, which
        # may still land at the vendor unrecorded and so be made again on the retry.
        done = await asyncio.gather(
            *(chain(tp, indexes) for (tp, _), indexes in chains.items()), return_exceptions=True
        )
        errors = [e for e in done if isinstance(e, BaseException)]
        if errors:
            # The loop retries the whole batch on a transient error; repeats are idempotent.
            transient = [e for e in errors if isinstance(e, TransientError)]
            raise (transient or errors)[0]

    async def _one(self, tp: TopicPartition, c: _Change, ahead: _ReadAhead, settled: _Settled) -> Result:
        env = c.env
        if self.recent.seen(tp.partition, env.event_id) or env.event_id in settled.event_ids[tp.partition]:
            return Result(Outcome.DUPLICATE)
        known = settled.states[tp.partition].get(c.key) or self.state.get(tp.partition, c.key)
        # Strictly older only: two edits can share a millisecond; exact repeats are caught by
        # the event-id check above.
        if known is not None and c.version < known.version:
            return Result(Outcome.STALE)
        if env.object_type in ("Account", "Contact"):
            result = await self._customer(env.object_type, env.object_id, c.changed, ahead)
        elif env.object_type == "Opportunity":
            result = await self._opportunity(env, c.changed)
        else:
            result = Result(Outcome.UNMAPPED, detail=env.object_type)
        if result.outcome is not Outcome.DEAD_LETTERED:
            settled.states[tp.partition][c.key] = RecordState(c.version, "")
            settled.event_ids[tp.partition].append(env.event_id)
        return result

    async def _customer(
        self, sobject: str, record_id: str, changed: list[str] | None, ahead: _ReadAhead
    ) -> Result:
        if (sobject, record_id) in ahead.records:
            record = ahead.records[(sobject, record_id)]
        else:
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
            applied = await self._apply(update, ahead.customers) or applied
        return Result(Outcome.APPLIED if applied else Outcome.NOOP)

    async def _apply(self, update: ReverseUpdate, customers: dict[str, dict[str, Any]]) -> bool:
        values = dict(update.values)
        if update.source == "chargebee" and self.chargebee is not None:
            current = customers.get(update.key)
            if current is None:
                current = (await self.chargebee.retrieve("customers", update.key))["customer"]
            address = values.pop("billing_address", None)
            if values and address:
                # Two calls, two webhooks: the first one's state (new fields, old address) is
                # announced too, or sync would write that half-change back over the Account.
                await self._expect_chargebee(_merged(current, values), step=True)
            # Announced before the call, so it always precedes Chargebee's webhook about it.
            await self._expect_chargebee(_merged(current, update.values))
            if values:
                answer = await self.chargebee.update_customer(update.key, values)
                self._update_calls += 1
                current = answer.get("customer") or current
            if address:
                answer = await self.chargebee.update_billing_info(update.key, {"billing_address": address})
                self._update_calls += 1
                current = answer.get("customer") or current
            # A later change of this customer in the same fetch builds on this version.
            customers[update.key] = current
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
        # Just above the current version: older than the webhook the update will cause.
        version = int(customer.get("resource_version") or 0) + 1
        customer = {**customer, "resource_version": version}
        await self._expect(
            f"bridge-writeback-{customer['id']}-{version}{'-step' if step else ''}",
            "customer_changed",
            "customer",
            {"customer": customer},
            str(customer["id"]),
            {HEADER_EXPECT: EXPECT_STEP} if step else {},
        )

    async def _expect_subscription(
        self, customer_id: str, subscription_id: str, items: list[dict[str, Any]], keys: list[str]
    ) -> None:
        """Tell sync that the won Opportunity and its lines already stand for this subscription.

        Sync remembers those records (version 0, older than any webhook) and so treats them as
        existing: Chargebee's webhook then updates them without the fields written only on
        create (the salesperson's Opportunity name, stage, close date and price book stay).
        """
        subscription = {
            "id": subscription_id,
            "customer_id": customer_id,
            "status": "active",
            "resource_version": 0,
            "subscription_items": [{**item, "item_type": "plan"} for item in items],
        }
        await self._expect(
            f"bridge-writeback-{subscription_id}-won",
            "subscription_created",
            "subscription",
            {"subscription": subscription, "customer": {"id": customer_id}},
            customer_id,
            {HEADER_EXPECT_KEYS: orjson.dumps(keys).decode()},
        )

    async def _expect(
        self,
        event_id: str,
        event_type: str,
        object_type: str,
        content: dict[str, Any],
        customer_id: str,
        headers: dict[str, str],
    ) -> None:
        """Publish a Chargebee-shaped event of the writeback's own on the customer's partition."""
        now = datetime.now(UTC)
        body = {
            "id": event_id,
            "occurred_at": int(now.timestamp()),
            "source": "bridge",
            "object": "event",
            "api_version": "v2",
            "event_type": event_type,
            "content": content,
        }
        envelope = Envelope(
            source="chargebee",
            event_id=event_id,
            event_type=event_type,
            occurred_at=now,
            object_type=object_type,
            object_id=str(content[object_type]["id"]),
            customer_id=customer_id,
            payload=body,
        )
        await publish(
            self.producer,
            Topics.from_settings(self.settings).chargebee_events,
            envelope,
            {HEADER_ORIGIN: ORIGIN_WRITEBACK, **headers},
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
