"""bridge sync through Bulk API 2.0: many records of one SObject in a batch → one ingest job.

Real broker, the Salesforce sandbox on a real port; the threshold is lowered to 50 so a few
hundred events take the bulk path.
"""

from __future__ import annotations

from typing import Any

from mapping_payloads import orb_customer, orb_envelope, orb_event, orb_invoice
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

from bridge.events import Envelope
from bridge.kafka import Topics
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.sync import SyncHandler


def _bulk_settings(settings: Settings, url: str, threshold: int = 50) -> Settings:
    return sync_settings(settings, url).model_copy(
        update={"sync_bulk_threshold": threshold, "sync_bulk_poll_max_seconds": 0.2}
    )


def _one_key(events: list[Envelope]) -> list[Envelope]:
    # One billing customer key: one partition, so the whole lot is one batch's worth.
    for e in events:
        object.__setattr__(e, "customer_id", "tenant")
    return events


def _invoices(n: int, customers: int = 3) -> list[Envelope]:
    events = []
    for i in range(n):
        inv = orb_invoice(f"inv_{i}", customer_id=f"cus_{i % customers}", lines=0)
        inv["subscription"] = None
        events.append(orb_envelope(orb_event("invoice.issued", event_id=f"e_i{i}", invoice=inv)))
    return _one_key(events)


def _customers(n: int, bad: int | None = None) -> list[Envelope]:
    events = []
    for i in range(n):
        meta = {"salesforce_account_id": "001000000000000AAA"} if i == bad else {}
        cus = orb_customer(f"cus_{i}", name=f"C{i}", metadata=meta)
        events.append(orb_envelope(orb_event("customer.created", event_id=f"e{i}", customer=cus)))
    return _one_key(events)


def _jobs(loop: ConsumeLoop) -> list[Any]:
    assert isinstance(loop.handler, SyncHandler)
    return loop.handler.upserter.bulk.jobs


async def test_300_invoices_go_through_one_bulk_job_with_lookups_resolved(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = _bulk_settings(settings, url)
        events = _invoices(300)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)), timeout=60)
        invoices = org.by_ext("OrbInvoice__c", "Orb_Id__c")
        customers = org.by_ext("OrbCustomer__c", "Orb_Id__c")
        assert len(invoices) == 300
        # Orb_Customer__r.Orb_Id__c in the CSV resolved to the parent written before the job.
        for i in (0, 1, 2, 299):
            assert invoices[f"inv_{i}"]["Orb_Customer__c"] == customers[f"cus_{i % 3}"]["Id"]
        [job] = _jobs(loop)
        assert (job.state, job.records, job.processed, job.failed) == ("JobComplete", 300, 300, 0)
        by_kind = org.counts()["by_kind"]
        assert sum(v for k, v in by_kind.items() if k == "bulk2.upload") == 1
        # The 3 embedded customers (below the threshold) still went through one collections call.
        assert sum(v for k, v in by_kind.items() if k.startswith("collections")) == 1
        assert loop.stats.outcomes == {"applied": 300}


async def test_record_failing_validation_in_a_bulk_job_is_dead_lettered_and_others_land(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        # Threshold 1: however the fetches split the 120 events, the bad record goes through a job.
        s = _bulk_settings(settings, url, threshold=1)
        events = _customers(120, bad=57)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)), timeout=60)
        customers = org.by_ext("OrbCustomer__c", "Orb_Id__c")
        assert len(customers) == 119 and "cus_57" not in customers
        assert loop.stats.outcomes == {"applied": 119, "dead_lettered": 1}
        assert sum(j.failed for j in _jobs(loop)) == 1
        [headers] = await dead_letter_headers(s)
        assert headers["event_id"] == "e57"
        assert headers["dlq-error-code"] == "INVALID_CROSS_REFERENCE_KEY"
        assert headers["dlq-original-topic"] == Topics.from_settings(s).orb_events


async def test_transient_fault_on_job_creation_retries_and_commits_nothing_until_it_succeeds(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = _bulk_settings(settings, url)
        org.fault(kind="server_error", share=1.0, match="bulk2.ingest")
        events = _customers(80)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(lambda: loop.stats.retries >= 2, timeout=30)
            assert loop.stats.commits == 0 and not loop.stats.outcomes
            assert org.records("OrbCustomer__c") == []
            assert org.http.delete("/_sandbox/faults").status_code == 200
            await wait_for(settled(loop, len(events)), timeout=60)
        assert len(org.records("OrbCustomer__c")) == 80
        assert loop.stats.outcomes == {"applied": 80}
        assert loop.stats.commits >= 1
        assert org.counts()["faults_injected"]["server_error"] >= 2
        assert [j.state for j in _jobs(loop)] == ["JobComplete"]


async def test_below_the_threshold_the_sync_still_uses_collections(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = _bulk_settings(settings, url)
        events = _customers(49)
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)), timeout=60)
        by_kind = org.counts()["by_kind"]
        assert len(org.records("OrbCustomer__c")) == 49
        assert not [k for k in by_kind if k.startswith("bulk2")]
        assert by_kind.get("collections.upsert", 0) >= 1
        assert _jobs(loop) == []
