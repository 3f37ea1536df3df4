"""Backfill and reconcile against the Chargebee, Orb and Salesforce sandboxes and the real broker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from chargebee_sandbox_support import API_KEY as CB_KEY
from chargebee_sandbox_support import serve as cb_serve
from orb_sandbox_servers import API_KEY as ORB_KEY
from orb_sandbox_servers import control as orb_control
from orb_sandbox_servers import serve as orb_serve
from pydantic import SecretStr
from sync_harness import Org, running_sync, salesforce_sandbox, settled, sync_settings, wait_for

from bridge.errors import BadInput
from bridge.events import decode_headers
from bridge.kafka import Topics
from bridge.ops.backfill import run_backfill
from bridge.ops.checkpoints import CheckpointStore
from bridge.ops.reading import TopicReader
from bridge.ops.reconcile import ReconcileReport, run_reconcile
from bridge.sandbox.chargebee.app import create_app as chargebee_app
from bridge.sandbox.orb.app import create_app as orb_app
from bridge.settings import Settings


@pytest.fixture
def chargebee() -> Iterator[str]:
    with cb_serve(chargebee_app()) as url:
        yield url


@pytest.fixture
def salesforce() -> Iterator[str]:
    with salesforce_sandbox() as url:
        yield url


def tenant(cb_url: str, customers: int, seed: int = 7) -> dict[str, int]:
    answer = httpx.post(
        f"{cb_url}/_sandbox/tenant",
        json={"seed": seed, "customers": customers, "history_months": 2},
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    loaded: dict[str, int] = answer.json()["loaded"]
    return loaded


def cb_settings(settings: Settings, cb_url: str, sf_url: str) -> Settings:
    return sync_settings(settings, sf_url).model_copy(
        update={"chargebee_api_url": f"{cb_url}/api/v2", "chargebee_api_key": SecretStr(CB_KEY)}
    )


async def events_on(settings: Settings, topic: str) -> list[tuple[str, dict[str, str]]]:
    async with TopicReader(settings, topic) as reader:
        headers = [decode_headers(r.headers) async for r in reader.read_all()]
    return [(h["event_id"], h) for h in headers]


async def sync_until_settled(settings: Settings, events: int) -> dict[str, int]:
    async with running_sync(settings) as loop:
        await wait_for(settled(loop, events), timeout=90)
        return dict(loop.stats.outcomes)


def drift_of(report: ReconcileReport) -> dict[str, dict[str, Any]]:
    return {
        s.sobject: {"missing": s.missing, "extra": s.extra, "different": s.different}
        for s in report.sobjects
        if s.drift
    }


async def test_backfill_of_10k_customers_then_sync_leaves_no_drift(
    settings: Settings, chargebee: str, salesforce: str
) -> None:
    loaded = tenant(chargebee, 10_000)
    s = cb_settings(settings, chargebee, salesforce)
    report = await run_backfill(s, ["customer"])
    assert report.published == loaded["customer"] == 10_000
    assert [p.label for p in report.lists] == ["chargebee:customers"]
    events = await events_on(s, Topics.from_settings(s).chargebee_events)
    assert len({e for e, _ in events}) == 10_000
    assert all(h["bridge-origin"] == "backfill" for _, h in events)

    outcomes = await sync_until_settled(s, 10_000)
    assert outcomes.get("applied") == 10_000, outcomes
    org = Org(salesforce)
    assert len(org.records("Account")) == 10_000
    assert org.counts()["by_kind"]["collections.upsert"] <= 3 * 10_000 // 200 + 12  # batched writes

    clean = await run_reconcile(s, ["customer"])
    assert clean.objects_read == 10_000
    assert {x.sobject: x.expected for x in clean.sobjects}["Contact"] == 10_000
    assert clean.drift == 0, drift_of(clean)


async def test_interrupted_backfill_resumes_after_its_last_checkpointed_page(
    settings: Settings, chargebee: str, salesforce: str
) -> None:
    loaded = tenant(chargebee, 500)
    s = cb_settings(settings, chargebee, salesforce)

    class Interrupted(Exception):
        pass

    def stop_after_four_pages(label: str, done: int) -> None:
        if done >= 4 * 50:
            raise Interrupted

    with pytest.raises(Interrupted):
        await run_backfill(s, ["customer"], page_size=50, progress=stop_after_four_pages)
    topic = Topics.from_settings(s).chargebee_events
    assert len(await events_on(s, topic)) == 200
    saved = await CheckpointStore(s).load()
    assert saved["chargebee:customers"].pages == 4 and not saved["chargebee:customers"].done

    resumed = await run_backfill(s, ["customer"], page_size=50)
    assert resumed.lists[0].resumed_after_pages == 4
    assert resumed.published == loaded["customer"] - 200
    ids = [e for e, _ in await events_on(s, topic)]
    assert len(ids) == len(set(ids)) == loaded["customer"]  # no page published twice
    assert await CheckpointStore(s).load() == {}  # a finished run starts afresh next time


async def test_reconcile_finds_injected_drift_and_repair_with_sync_fixes_it(
    settings: Settings, chargebee: str, salesforce: str
) -> None:
    tenant(chargebee, 12, seed=3)
    s = cb_settings(settings, chargebee, salesforce)
    first = await run_backfill(s)
    await sync_until_settled(s, first.published)
    assert (await run_reconcile(s)).drift == 0

    org = Org(salesforce)
    accounts = sorted(org.records("Account"), key=lambda r: r["Chargebee_Id__c"])
    edited, lost = accounts[0], org.by_ext("Contact", "Chargebee_Id__c")[accounts[1]["Chargebee_Id__c"]]
    human = {"user": "Ann Lee", "fields": {"Name": "Renamed by hand", "Phone": "+1 555 0100"}}
    assert org.http.patch(f"/_sandbox/records/Account/{edited['Id']}", json=human).status_code == 200
    gone = org.http.delete(f"/_sandbox/records/Contact/{lost['Id']}", params={"user": "Ann Lee"})
    assert gone.status_code < 300
    ghost = {"user": "Ann Lee", "fields": {"Name": "Ghost Ltd", "Chargebee_Id__c": "ghost_customer"}}
    assert org.http.post("/_sandbox/records/Account", json=ghost).status_code < 300

    # A plain re-run of backfill cannot undo the edit: the version guard sees nothing new.
    again = await run_backfill(s, ["customer"])
    await sync_until_settled(s, again.published)
    assert org.by_ext("Account", "Chargebee_Id__c")[edited["Chargebee_Id__c"]]["Name"] == "Renamed by hand"

    found = await run_reconcile(s)
    assert drift_of(found) == {
        "Account": {
            "missing": [],
            "extra": ["ghost_customer"],
            "different": {edited["Chargebee_Id__c"]: ["Name", "Phone"]},
        },
        "Contact": {"missing": [lost["Chargebee_Id__c"]], "extra": [], "different": {}},
    }
    assert not found.clean_after_repair

    repaired = await run_reconcile(s, repair=True)
    assert repaired.records_repaired == 2 and repaired.repairs_published == 2
    published = await events_on(s, Topics.from_settings(s).chargebee_events)
    repairs = [h for _, h in published if "bridge-repair" in h]
    assert len(repairs) == 2 and all(h["bridge-origin"] == "reconcile" for h in repairs)
    async with running_sync(s) as loop:
        await wait_for(lambda: loop.stats.outcomes.get("applied", 0) >= 2, timeout=60)

    after = await run_reconcile(s)
    assert drift_of(after) == {"Account": {"missing": [], "extra": ["ghost_customer"], "different": {}}}
    assert org.by_ext("Account", "Chargebee_Id__c")[edited["Chargebee_Id__c"]]["Name"] != "Renamed by hand"


async def test_unknown_object_type_is_a_clear_error_and_publishes_nothing(
    settings: Settings, chargebee: str, salesforce: str
) -> None:
    s = cb_settings(settings, chargebee, salesforce)
    with pytest.raises(BadInput, match="unknown object type invoices"):
        await run_backfill(s, ["customer", "invoices"])
    with pytest.raises(BadInput, match="unknown object type"):
        await run_reconcile(s, ["nope"], repair=True)
    admin = AIOKafkaAdminClient(bootstrap_servers=s.kafka_bootstrap)
    await admin.start()
    try:
        assert [t for t in await admin.list_topics() if t.startswith(s.topic_prefix)] == []
    finally:
        await admin.close()


async def test_orb_backfill_then_sync_matches_orb(settings: Settings, salesforce: str) -> None:
    with orb_serve(orb_app(api_keys=ORB_KEY)) as orb:
        orb_control(orb, "POST", "/_sandbox/tenant", {"seed": 2, "customers": 15, "months": 2})
        s = sync_settings(settings, salesforce).model_copy(
            update={"orb_api_url": f"{orb}/v1", "orb_api_key": SecretStr(ORB_KEY)}
        )
        report = await run_backfill(s)
        labels = [p.label for p in report.lists]
        assert labels == ["orb:customers", "orb:plans", "orb:subscriptions", "orb:invoices"]
        assert "orb:credit_ledger_entry" in report.skipped
        await sync_until_settled(s, report.published)
        clean = await run_reconcile(s)
        assert clean.drift == 0, drift_of(clean)
        compared = {x.sobject for x in clean.sobjects}
        assert compared >= {"OrbCustomer__c", "OrbInvoice__c", "OrbSubscription__c"}
