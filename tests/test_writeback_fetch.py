"""Writeback handles a whole fetch at once: its reads are shared, its guard still holds.

Changes come from the real CDC listener through the real broker; the handler is given them as
one fetch, as the consume loop would, so what a fetch costs and decides can be asserted.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import TopicPartition
from chargebee_sandbox_support import API_KEY, serve
from receiver_harness import read_topic
from sync_harness import Org, salesforce_sandbox, sync_settings
from test_cdc_listener import listening
from test_writeback import _human

from bridge.billing.chargebee import ChargebeeClient
from bridge.errors import TransientError
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.mapping import default_mappings
from bridge.mapping.model import ReverseField, VendorMapping
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox.chargebee.app import create_app as create_chargebee
from bridge.settings import Settings
from consumers.outcomes import Outcome
from consumers.state import StateStore
from consumers.writeback import WritebackHandler


class _Fetch:
    """A changed record as the consume loop hands it over (a ConsumerRecord's fields)."""

    def __init__(self, rec: Any, value: bytes | None = None) -> None:
        self.key, self.offset, self.headers = rec.key, rec.offset, rec.headers
        self.value = rec.value if value is None else value


@asynccontextmanager
async def _handler(
    s: Settings, cb_url: str, mappings: list[VendorMapping] | None = None
) -> AsyncIterator[tuple[WritebackHandler, ChargebeeClient]]:
    await ensure_topics(s)
    http = httpx.AsyncClient(timeout=30)
    cb = ChargebeeClient(http, f"{cb_url}/api/v2", API_KEY)
    producer = make_producer(s)
    await producer.start()
    state = StateStore(s, Topics.from_settings(s).sync_state)
    try:
        yield (
            WritebackHandler(
                s, salesforce_client(s, http), mappings or default_mappings(), state, producer, chargebee=cb
            ),
            cb,
        )
    finally:
        await producer.stop()
        await http.aclose()


def _with_unknown_field(source: str, field: ReverseField) -> list[VendorMapping]:
    """The default mappings, with `field` added to `source`'s first reverse (Account) mapping."""
    [vendor] = [m for m in default_mappings() if m.source == source]
    others = [m for m in default_mappings() if m.source != source]
    account_rev, *rest = vendor.reverse
    widened = account_rev.model_copy(update={"fields": [*account_rev.fields, field]})
    return [vendor.model_copy(update={"reverse": [widened, *rest]}), *others]


async def _linked_accounts(org: Org, cb_url: str, n: int) -> dict[str, str]:
    """Account Id → Chargebee customer id, for `n` Accounts a person linked to customers."""
    async with httpx.AsyncClient(timeout=30) as http:
        await http.post(f"{cb_url}/_sandbox/tenant", json={"seed": 5, "customers": n})
        client = ChargebeeClient(http, f"{cb_url}/api/v2", API_KEY)
        customers = [c["customer"]["id"] async for c in client.list("customers")]
    return {
        _human(org, "Account", {"Name": f"A{i}", "Chargebee_Id__c": cid, "Sync_with_Chargebee__c": True}): cid
        for i, cid in enumerate(customers[:n])
    }


async def _moved_to_lyon(org: Org, s: Settings, accounts: dict[str, str]) -> list[Any]:
    """A person sets each Account's city to Lyon; the UPDATE changes the listener published."""
    for account in accounts:
        _human(org, "Account", {"BillingCity": "Lyon"}, account)
    return await _updates(s, len(accounts))


async def _updates(s: Settings, count: int) -> list[Any]:
    """The first `count` UPDATE changes the listener published, in publish order per partition."""
    topic = Topics.from_settings(s).salesforce_changes
    found: list[Any] = []

    async def enough() -> bool:
        found[:] = [r for r in await read_topic(s, topic) if b'"changeType":"UPDATE"' in r.value]
        return len(found) >= count

    for _ in range(100):
        if await enough():
            return sorted(found, key=lambda r: (r.partition, r.offset))
        await asyncio.sleep(0.1)
    raise AssertionError(f"only {len(found)} of {count} updates were published")


def _batch(records: list[_Fetch], partition_of: list[Any]) -> dict[TopicPartition, list[Any]]:
    batch: dict[TopicPartition, list[Any]] = defaultdict(list)
    for fetched, rec in zip(records, partition_of, strict=True):
        batch[TopicPartition(rec.topic, rec.partition)].append(fetched)
    return dict(batch)


async def test_a_fetch_of_edits_reads_its_records_and_customers_in_one_call_each(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s), _handler(s, cb_url) as (handler, cb):
            accounts = await _linked_accounts(org, cb_url, 5)
            for i, account in enumerate(accounts):
                _human(org, "Account", {"BillingCity": f"City {i}"}, account)
            changes = await _updates(s, len(accounts))
            cb_before = cb.calls
            results = await handler.handle(_batch([_Fetch(r) for r in changes], changes))
            assert [r.outcome for rs in results.values() for r in rs] == [Outcome.APPLIED] * len(accounts)
            # One query for the five records, one list for the five customers, five updates.
            assert handler.salesforce.calls["query"] == 1
            assert handler.salesforce.calls["get"] == 0
            assert cb.calls - cb_before == 1 + len(accounts)
            for i, (account, customer) in enumerate(accounts.items()):
                billed = await cb.retrieve("customers", customer)
                assert billed["customer"]["billing_address"]["city"] == f"City {i}", account
            # The same fetch delivered again (a redelivery or a replay) reads nothing at all.
            cb_before, sf_before = cb.calls, sum(handler.salesforce.calls.values())
            again = await handler.handle(_batch([_Fetch(r) for r in changes], changes))
            assert {r.outcome for rs in again.values() for r in rs} == {Outcome.DUPLICATE}
            assert (cb.calls, sum(handler.salesforce.calls.values())) == (cb_before, sf_before)


async def test_an_older_change_behind_a_newer_one_in_the_same_fetch_is_stale(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s), _handler(s, cb_url) as (handler, cb):
            [(account, customer)] = (await _linked_accounts(org, cb_url, 1)).items()
            _human(org, "Account", {"BillingCity": "Old"}, account)
            await asyncio.sleep(0.01)  # a later commit millisecond: a strictly newer version
            _human(org, "Account", {"BillingCity": "New"}, account)
            old, new = await _updates(s, 2)
            # The older change delivered again after the newer one under another event id
            # (as a replay through another path would): the guard must hold within the fetch.
            envelope = orjson.loads(old.value)
            envelope["event_id"] += ":again"
            replayed = _Fetch(old, orjson.dumps(envelope))
            results = await handler.handle(_batch([_Fetch(new), replayed], [new, old]))
            [outcomes] = [[r.outcome for r in rs] for rs in results.values()]
            assert outcomes == [Outcome.APPLIED, Outcome.STALE]
            billed = await cb.retrieve("customers", customer)
            assert billed["customer"]["billing_address"]["city"] == "New"
            # The guard's memory reached the state topic, for the next fetch and the next owner.
            key = f"writeback:Account:{account}"
            assert handler.state.get(new.partition, key) is not None
            restored = StateStore(s, Topics.from_settings(s).sync_state)
            await restored.restore({new.partition})
            assert restored.get(new.partition, key) == handler.state.get(new.partition, key)


async def test_records_are_read_one_by_one_when_the_org_refuses_the_fetch_query(settings: Settings) -> None:
    # A mapped field this org does not have: the query naming it is refused as a whole.
    mappings = _with_unknown_field(
        "chargebee", ReverseField(salesforce="Not_In_This_Org__c", billing="cf_not_here")
    )
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s), _handler(s, cb_url, mappings) as (handler, cb):
            accounts = await _linked_accounts(org, cb_url, 2)
            changes = await _moved_to_lyon(org, s, accounts)
            results = await handler.handle(_batch([_Fetch(r) for r in changes], changes))
            assert [r.outcome for rs in results.values() for r in rs] == [Outcome.APPLIED] * 2
            assert handler.salesforce.calls["get"] == 2  # read on their own instead
            for customer in accounts.values():
                billed = await cb.retrieve("customers", customer)
                assert billed["customer"]["billing_address"]["city"] == "Lyon"


async def test_customers_by_id_lists_a_hundred_ids_a_call_and_leaves_out_unknown_ones() -> None:
    with serve(create_chargebee()) as cb_url:
        async with httpx.AsyncClient(timeout=30) as http:
            await http.post(f"{cb_url}/_sandbox/tenant", json={"seed": 5, "customers": 120})
            cb = ChargebeeClient(http, f"{cb_url}/api/v2", API_KEY)
            ids = [c["customer"]["id"] async for c in cb.list("customers")]
            assert len(ids) == 120
            before = cb.calls
            found = await cb.customers_by_id([*ids, "no_such_customer"])
            assert cb.calls - before == 2
            assert sorted(found) == sorted(ids)
            assert all(found[i]["id"] == i for i in ids)


async def test_changes_applied_before_a_transient_failure_are_not_applied_again(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s), _handler(s, cb_url) as (handler, cb), httpx.AsyncClient() as control:
            accounts = await _linked_accounts(org, cb_url, 2)
            (ok_account, _), (_, failing) = accounts.items()
            changes = await _moved_to_lyon(org, s, accounts)
            fault = {"status": 503, "path_prefix": f"/api/v2/customers/{failing}/update_billing_info"}
            (await control.post(f"{cb_url}/_sandbox/faults", json=fault)).raise_for_status()
            with pytest.raises(TransientError):
                await handler.handle(_batch([_Fetch(r) for r in changes], changes))
            # What did land is remembered on the state topic before the loop retries the fetch.
            [done] = [r for r in changes if r.key == ok_account.encode()]
            restored = StateStore(s, Topics.from_settings(s).sync_state)
            await restored.restore({done.partition})
            assert restored.get(done.partition, f"writeback:Account:{ok_account}") is not None
            (await control.delete(f"{cb_url}/_sandbox/faults")).raise_for_status()
            cb_before = cb.calls
            batch = _batch([_Fetch(r) for r in changes], changes)
            results = await handler.handle(batch)
            outcomes = {
                rec.key: res.outcome
                for tp, recs in batch.items()
                for rec, res in zip(recs, results[tp], strict=True)
            }
            assert outcomes[done.key] is Outcome.DUPLICATE
            assert set(outcomes.values()) == {Outcome.DUPLICATE, Outcome.APPLIED}
            assert cb.calls - cb_before == 2  # the failed customer only: one list, one update


async def test_fields_of_a_vendor_writeback_does_not_call_are_not_queried(settings: Settings) -> None:
    mappings = _with_unknown_field("orb", ReverseField(salesforce="Orb_Only_Field__c", billing="metadata.x"))
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        # Writeback talks to Chargebee only: the Orb mapping's field this org lacks is not asked for.
        async with listening(s), _handler(s, cb_url, mappings) as (handler, _):
            accounts = await _linked_accounts(org, cb_url, 2)
            changes = await _moved_to_lyon(org, s, accounts)
            results = await handler.handle(_batch([_Fetch(r) for r in changes], changes))
            assert [r.outcome for rs in results.values() for r in rs] == [Outcome.APPLIED] * 2
            assert (handler.salesforce.calls["query"], handler.salesforce.calls["get"]) == (1, 0)
