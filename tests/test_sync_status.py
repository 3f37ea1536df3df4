"""Sync status on the records (Is_Synced__c, Last_Synced_At__c) and the sync's Prometheus
figures (API calls per synced record, lag per partition), on the real broker and sandbox."""

from __future__ import annotations

from datetime import datetime

from mapping_payloads import cb_customer, cb_envelope, cb_event
from prometheus_client import REGISTRY
from sync_harness import Org, publish_all, running_sync, salesforce_sandbox, settled, sync_settings, wait_for

from bridge.kafka import Topics
from bridge.settings import Settings


def _customer_event(event_id: str, version: int, **over: object) -> object:
    customer = cb_customer("cb_cus_st", resource_version=version, updated_at=version // 1000, **over)
    return cb_envelope(cb_event("customer_changed", event_id=event_id, customer=customer))


async def test_every_write_stamps_sync_status_and_a_stamp_alone_never_causes_a_write(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        await publish_all(s, [_customer_event("ev1", 1709294400000)])  # type: ignore[list-item]
        async with running_sync(s) as loop:
            await wait_for(settled(loop, 1))
            first = org.by_ext("Account", "Chargebee_Id__c")["cb_cus_st"]
            writes = org.writes()
            # Only Chargebee's bookkeeping moved: the same business values, a newer version.
            await publish_all(s, [_customer_event("ev2", 1709294500000)])  # type: ignore[list-item]
            await wait_for(settled(loop, 2))
            assert org.writes() == writes
            unchanged = org.by_ext("Account", "Chargebee_Id__c")["cb_cus_st"]
            await publish_all(s, [_customer_event("ev3", 1709294600000, company="Acme SE")])  # type: ignore[list-item]
            await wait_for(settled(loop, 3))
        second = org.by_ext("Account", "Chargebee_Id__c")["cb_cus_st"]
    assert first["Is_Synced__c"] is True
    stamped = datetime.fromisoformat(first["Last_Synced_At__c"].replace("Z", "+00:00"))
    assert stamped.tzinfo is not None
    assert loop.stats.outcomes == {"applied": 2, "skipped_noop": 1}
    assert unchanged["Last_Synced_At__c"] == first["Last_Synced_At__c"]  # no write, no new stamp
    assert second["Name"] == "Acme SE"
    assert second["Last_Synced_At__c"] >= first["Last_Synced_At__c"]


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _total(name: str) -> float:
    """A counter summed over all its labels."""
    family = name.removesuffix("_total")
    return sum(
        sample.value
        for metric in REGISTRY.collect()
        if metric.name == family
        for sample in metric.samples
        if sample.name == name
    )


async def test_metrics_give_api_calls_per_synced_record_and_lag_per_partition(settings: Settings) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        topic = Topics.from_settings(s).chargebee_events
        events = [
            cb_envelope(cb_event("customer_created", event_id=f"ev{i}", customer=cb_customer(f"cb_m{i}")))
            for i in range(3)
        ]
        calls_before = _total("bridge_sync_salesforce_calls_total")
        written_before = {
            o: _sample("bridge_sync_records_written_total", sobject=o) for o in ("Account", "Contact")
        }
        writes_before = org.writes()
        async with running_sync(s) as loop:
            await publish_all(s, events)
            await wait_for(settled(loop, 3))
            # Calls as the org counted them; each customer is one Account and one Contact.
            assert _total("bridge_sync_salesforce_calls_total") - calls_before == org.writes() - writes_before
            for sobject, before in written_before.items():
                assert _sample("bridge_sync_records_written_total", sobject=sobject) - before == 3

            parts = [str(p) for p in range(s.topic_partitions)]

            def lag(p: str) -> float | None:
                return REGISTRY.get_sample_value(
                    "bridge_consumer_lag", {"consumer": "sync", "topic": topic, "partition": p}
                )

            # Every partition reports its lag; all caught up once the batch settled.
            await wait_for(lambda: all(lag(p) == 0 for p in parts))
