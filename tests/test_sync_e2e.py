"""billing events on the real broker → bridge sync → the Salesforce sandbox."""

from __future__ import annotations

from typing import Any

from mapping_payloads import (
    cb_customer,
    cb_envelope,
    cb_event,
    orb_customer,
    orb_envelope,
    orb_event,
    orb_invoice,
    orb_plan,
    orb_subscription,
)
from sync_harness import (
    Org,
    dead_letter_headers,
    publish_all,
    running_sync,
    salesforce_sandbox,
    settled,
    sync_settings,
    wait_for,
)

from bridge.settings import Settings


def _orb_tenant(n: int = 3) -> list[Any]:
    events = []
    for i in range(n):

        def at(minute: int, i: int = i) -> str:
            return f"2024-03-01T12:{minute:02d}:{i:02d}+00:00"

        cus = orb_customer(f"cus_{i}", name=f"Customer {i}")
        events.append(
            orb_envelope(orb_event("customer.created", event_id=f"e_c{i}", created_at=at(1), customer=cus))
        )
        sub = orb_subscription(f"sub_{i}", customer=cus)
        sub["plan"] = orb_plan("plan_1")
        for interval in sub.get("price_intervals", []):
            interval["id"] = f"pi_{i}"
        events.append(
            orb_envelope(
                orb_event("subscription.started", event_id=f"e_s{i}", created_at=at(2), subscription=sub)
            )
        )
        inv = orb_invoice(f"inv_{i}", customer_id=f"cus_{i}", lines=2)
        inv["subscription"] = {"id": f"sub_{i}"}
        events.append(
            orb_envelope(orb_event("invoice.issued", event_id=f"e_i{i}", created_at=at(3), invoice=inv))
        )
    return events


async def test_orb_tenant_lands_in_salesforce_with_lookups_and_few_calls(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        events = _orb_tenant(3)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)))
        customers = org.by_ext("OrbCustomer__c", "Orb_Id__c")
        invoices = org.by_ext("OrbInvoice__c", "Orb_Id__c")
        lines = org.records("OrbInvoiceLineItemBilling__c")
        assert set(customers) == {"cus_0", "cus_1", "cus_2"}
        assert customers["cus_1"]["Name"] == "Customer 1"
        assert set(invoices) == {"inv_0", "inv_1", "inv_2"}
        # Lookups resolve by external id to the right parent record.
        assert invoices["inv_2"]["Orb_Customer__c"] == customers["cus_2"]["Id"]
        assert len(lines) == 6
        assert loop.stats.outcomes.get("applied") == len(events)
        assert loop.stats.outcomes.get("dead_lettered", 0) == 0
        # Batching: one collections call per SObject per batch, not one per record.
        records_written = sum(
            len(org.records(o))
            for o in (
                "OrbCustomer__c",
                "OrbPlan__c",
                "OrbSubscription__c",
                "OrbInvoice__c",
                "OrbInvoiceLineItemBilling__c",
            )
        )
        assert org.writes() < records_written / 2


async def test_duplicate_and_replayed_events_cost_no_api_calls(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        events = _orb_tenant(2)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)))
            writes = org.writes()
            await publish_all(s, events + events)  # vendors retry; an operator replays
            await wait_for(settled(loop, 3 * len(events)))
        assert org.writes() == writes
        dup = loop.stats.outcomes.get("skipped_duplicate", 0)
        noop = loop.stats.outcomes.get("skipped_noop", 0)
        assert dup + noop == 2 * len(events)


async def test_stale_event_does_not_overwrite_newer_values(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        newer = orb_envelope(
            orb_event(
                "customer.edited",
                event_id="e2",
                created_at="2024-03-02T10:00:00+00:00",
                customer=orb_customer("cus_1", name="New Name"),
            )
        )
        older = orb_envelope(
            orb_event(
                "customer.edited",
                event_id="e1",
                created_at="2024-03-01T10:00:00+00:00",
                customer=orb_customer("cus_1", name="Old Name"),
            )
        )
        await publish_all(s, [newer, older])
        async with running_sync(s) as loop:
            await wait_for(settled(loop, 2))
        assert org.by_ext("OrbCustomer__c", "Orb_Id__c")["cus_1"]["Name"] == "New Name"
        assert loop.stats.outcomes.get("skipped_stale") == 1


async def test_child_before_parent_still_lands(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        inv = orb_invoice("inv_9", customer_id="cus_9", lines=1)
        inv["subscription"] = None
        child = orb_envelope(orb_event("invoice.issued", event_id="e_i", invoice=inv))
        parent = orb_envelope(
            orb_event("customer.created", event_id="e_c", customer=orb_customer("cus_9", name="Parent Later"))
        )
        await publish_all(s, [child, parent])
        async with running_sync(s) as loop:
            await wait_for(settled(loop, 2))
        customers = org.by_ext("OrbCustomer__c", "Orb_Id__c")
        assert customers["cus_9"]["Name"] == "Parent Later"
        assert (
            org.by_ext("OrbInvoice__c", "Orb_Id__c")["inv_9"]["Orb_Customer__c"] == customers["cus_9"]["Id"]
        )
        assert loop.stats.outcomes.get("dead_lettered", 0) == 0


async def test_one_bad_record_of_200_is_dead_lettered_and_199_land(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        events = []
        for i in range(200):
            meta = {"salesforce_account_id": "001000000000000AAA"} if i == 123 else {}
            cus = orb_customer(f"cus_{i}", name=f"C{i}", metadata=meta)
            events.append(orb_envelope(orb_event("customer.created", event_id=f"e{i}", customer=cus)))
        for e in events:  # one customer key so all 200 share a partition and a batch
            object.__setattr__(e, "customer_id", "tenant")
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, 200))
        customers = org.by_ext("OrbCustomer__c", "Orb_Id__c")
        assert len(customers) == 199 and "cus_123" not in customers
        assert loop.stats.outcomes == {"applied": 199, "dead_lettered": 1}
        [headers] = await dead_letter_headers(s)
        assert headers["event_id"] == "e123"
        assert headers["dlq-error-code"] == "INVALID_CROSS_REFERENCE_KEY"


async def test_transient_faults_and_request_limit_lose_nothing_and_dead_letter_nothing(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        org.fault(kind="server_error", count=2, match="collections")
        org.fault(kind="unable_to_lock_row", count=1, match="collections", per_record=True)
        org.fault(kind="request_limit_exceeded", count=1, match="collections")
        events = _orb_tenant(4)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)), timeout=60)
        assert loop.stats.retries >= 4
        assert loop.stats.outcomes.get("dead_lettered", 0) == 0
        assert len(org.records("OrbInvoice__c")) == 4
        assert sum(org.counts()["faults_injected"].values()) == 4


async def test_api_budget_above_95_percent_keeps_events_in_kafka_until_usage_falls(
    settings: Settings,
) -> None:
    with salesforce_sandbox(api_allowance=1000) as url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(update={"api_budget_probe_seconds": 1.0})
        tenant = _orb_tenant(3)
        async with running_sync(s) as loop:
            org.set_usage(990)
            await publish_all(s, tenant[0:1])  # cus_0: lands; its answer reports 991/1000
            await wait_for(settled(loop, 1))
            await publish_all(s, tenant[3:4])  # cus_1: the budget refuses to spend on it
            await wait_for(lambda: loop.stats.retries >= 1)
            assert "cus_1" not in org.by_ext("OrbCustomer__c", "Orb_Id__c")
            org.set_usage(10)  # a new day: the next probe call reads the lower usage
            await wait_for(settled(loop, 2), timeout=30)
        assert set(org.by_ext("OrbCustomer__c", "Orb_Id__c")) == {"cus_0", "cus_1"}
        assert loop.stats.outcomes.get("dead_lettered", 0) == 0


async def test_chargebee_customer_becomes_account_and_contact(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        body = cb_event("customer_created", event_id="ev1", customer=cb_customer("cb_cus_1"))
        await publish_all(s, [cb_envelope(body)])
        async with running_sync(s) as loop:
            await wait_for(settled(loop, 1))
        accounts = org.by_ext("Account", "Chargebee_Id__c")
        assert "cb_cus_1" in accounts
        assert loop.stats.outcomes == {"applied": 1}


async def test_two_sync_instances_share_partitions_and_rebalance_without_duplicate_writes(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        first_wave = _orb_tenant(6)
        async with running_sync(s) as a:
            async with running_sync(s) as b:
                await wait_for(
                    lambda: (
                        bool(a.assigned)
                        and bool(b.assigned)
                        and len(a.assigned | b.assigned) == 2 * s.topic_partitions
                    ),
                    timeout=60,
                )
                await publish_all(s, first_wave)  # both instances hold partitions now
                await wait_for(
                    lambda: (
                        sum(a.stats.outcomes.values()) + sum(b.stats.outcomes.values()) >= len(first_wave)
                    ),
                    timeout=60,
                )
                assert sum(b.stats.outcomes.values()) > 0 and sum(a.stats.outcomes.values()) > 0
                assert a.assigned and b.assigned and not (a.assigned & b.assigned)
            # b left: its partitions move to a, which restores their state from the topic.
            writes = org.writes()
            await publish_all(s, first_wave)  # a full replay after the rebalance
            await wait_for(
                lambda: (
                    sum(a.stats.outcomes.get(f"skipped_{k}", 0) for k in ("noop", "duplicate", "stale"))
                    >= len(first_wave)
                ),
                timeout=60,
            )
            assert org.writes() == writes  # restored state: the replay costs no write
        assert len(org.records("OrbInvoice__c")) == 6
