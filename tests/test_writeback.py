"""Salesforce → billing on the real broker: human edits and won Opportunities reach Chargebee
exactly once, through CDC, whatever is delivered twice or replayed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from chargebee_sandbox_support import API_KEY, serve
from receiver_harness import read_topic
from sync_harness import Org, salesforce_sandbox, sync_settings, wait_for
from test_cdc_listener import listening

from bridge.billing.chargebee import ChargebeeClient
from bridge.kafka import Topics, make_producer, publish_raw
from bridge.mapping import build_mapper, default_mappings
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox.chargebee.app import create_app as create_chargebee
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.writeback import WritebackHandler, run_writeback


@asynccontextmanager
async def writing_back(s: Settings, cb_url: str) -> AsyncIterator[tuple[ConsumeLoop, WritebackHandler]]:
    http = httpx.AsyncClient(timeout=30)
    sf = salesforce_client(s, http)
    cb = ChargebeeClient(http, f"{cb_url}/api/v2", API_KEY)
    handlers: list[WritebackHandler] = []
    loops: list[ConsumeLoop] = []

    def factory(state: Any, producer: Any) -> WritebackHandler:
        handlers.append(WritebackHandler(s, sf, default_mappings(), state, producer, chargebee=cb))
        return handlers[0]

    stop = asyncio.Event()
    task = asyncio.create_task(run_writeback(s, stop, factory, loops.append))
    await wait_for(lambda: bool(loops) and loops[0].ready.is_set())
    try:
        yield loops[0], handlers[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await http.aclose()


def _human(org: Org, sobject: str, fields: dict[str, Any], record_id: str | None = None) -> str:
    body = {"user": "Ann Lee", "fields": fields}
    if record_id is None:
        r = org.http.post(f"/_sandbox/records/{sobject}", json=body)
    else:
        r = org.http.patch(f"/_sandbox/records/{sobject}/{record_id}", json=body)
    assert r.status_code in (200, 201), r.text
    return str(r.json().get("id", record_id))


async def _tenant(cb_url: str) -> tuple[ChargebeeClient, httpx.AsyncClient, str, str]:
    http = httpx.AsyncClient(timeout=30)
    await http.post(f"{cb_url}/_sandbox/tenant", json={"seed": 5, "customers": 3})
    client = ChargebeeClient(http, f"{cb_url}/api/v2", API_KEY)
    customers = [c["customer"]["id"] async for c in client.list("customers")]
    plans = [
        p["item_price"]["id"]
        async for p in client.list("item_prices")
        if p["item_price"].get("item_type") == "plan"
    ]
    return client, http, customers[0], plans[0]


def _deal(org: Org, customer: str, price: str, *, stage: str, quantity: int) -> tuple[str, str]:
    """An Account linked to a Chargebee customer and its Opportunity with one priced product."""
    account = _human(
        org, "Account", {"Name": "Acme", "Chargebee_Id__c": customer, "Sync_with_Chargebee__c": True}
    )
    product = _human(org, "Product2", {"Name": "Team plan"})
    book = _human(org, "Pricebook2", {"Name": "Chargebee"})
    entry = _human(
        org,
        "PricebookEntry",
        {
            "Pricebook2Id": book,
            "Product2Id": product,
            "UnitPrice": 49,
            "IsActive": True,
            "CB_Id__c": f"default_{price}",
        },
    )
    opp = _human(
        org,
        "Opportunity",
        {
            "Name": "Acme deal",
            "StageName": stage,
            "CloseDate": "2026-12-31",
            "AccountId": account,
            "Pricebook2Id": book,
            "Update_Chargebee__c": True,
        },
    )
    _human(
        org,
        "OpportunityLineItem",
        {"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": quantity, "UnitPrice": 49},
    )
    return account, opp


def _settled(loop: ConsumeLoop, n: int) -> bool:
    return sum(loop.stats.outcomes.values()) >= n


async def test_account_edit_reaches_the_chargebee_customer_once(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        client, http, customer, _ = await _tenant(cb_url)
        async with listening(s), writing_back(s, cb_url) as (loop, handler):
            account = _human(
                org, "Account", {"Name": "Acme", "Chargebee_Id__c": customer, "Sync_with_Chargebee__c": True}
            )
            await wait_for(lambda: _settled(loop, 1))  # the CREATE: nothing flows back
            _human(org, "Account", {"BillingCity": "Lyon", "BillingCountry": "FR"}, account)
            _human(org, "Account", {"Description": "not a mapped field"}, account)
            await wait_for(lambda: _settled(loop, 3))
            assert handler.billing_calls == 1
            changes = await read_topic(s, Topics.from_settings(s).salesforce_changes)
            producer = make_producer(s)  # the same changes delivered again (a replay)
            await producer.start()
            for rec in changes:
                await publish_raw(
                    producer,
                    Topics.from_settings(s).salesforce_changes,
                    rec.key,
                    rec.value,
                    list(rec.headers),
                )
            await producer.stop()
            await wait_for(lambda: _settled(loop, 6))
        assert handler.billing_calls == 1  # the replay cost no billing call
        assert loop.stats.outcomes["skipped_duplicate"] + loop.stats.outcomes.get("skipped_stale", 0) == 3
        billed = await client.retrieve("customers", customer)
        assert billed["customer"]["billing_address"]["city"] == "Lyon"
        await http.aclose()


async def test_won_opportunity_creates_exactly_one_subscription(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        client, http, customer, price = await _tenant(cb_url)
        listed = client.list("subscriptions", {"customer_id[is]": customer})
        before = {x["subscription"]["id"] async for x in listed}
        _account, opp = _deal(org, customer, price, stage="Negotiation", quantity=3)
        # A first attempt whose answer was lost after Chargebee committed it:
        body = {"id": opp, "subscription_items": [{"item_price_id": price, "quantity": 3}]}
        lost = await client.create_subscription_for_items(customer, body, f"opportunity-{opp}-won")
        async with listening(s), writing_back(s, cb_url) as (loop, _handler):
            _human(org, "Opportunity", {"StageName": "Closed Won"}, opp)
            await wait_for(
                lambda: bool(org.by_ext("Opportunity", "Id")[opp].get("Subscription_Id__c")), timeout=30
            )
            changes = await read_topic(s, Topics.from_settings(s).salesforce_changes)
            producer = make_producer(s)  # the won change delivered twice more
            await producer.start()
            won = [r for r in changes if b"Closed Won" in r.value]
            for rec in won + won:
                await publish_raw(
                    producer, Topics.from_settings(s).salesforce_changes, rec.key, rec.value, []
                )
            await producer.stop()
            await wait_for(lambda: _settled(loop, len(changes) + 2 * len(won)))
        listed = client.list("subscriptions", {"customer_id[is]": customer})
        [created] = {x["subscription"]["id"] async for x in listed} - before  # exactly one new
        assert created == lost["subscription"]["id"]
        assert org.by_ext("Opportunity", "Id")[opp]["Subscription_Id__c"] == created
        await http.aclose()


@pytest.mark.parametrize(
    "edit",
    [
        {"BillingCity": "Lyon"},
        # Two Chargebee calls (customer, then billing info), two webhooks: the first carries a
        # half-applied state, which must not be written back over the Account either.
        {"BillingCity": "Lyon", "Phone": "+33 4 00 00 00 00"},
    ],
    ids=["one-call", "two-calls"],
)
async def test_billing_webhook_for_a_writeback_causes_no_salesforce_write(
    settings: Settings, edit: dict[str, str]
) -> None:
    from pydantic import SecretStr
    from receiver_harness import running_receiver
    from sync_harness import running_sync

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(
            update={"chargebee_webhook_username": "cb", "chargebee_webhook_password": SecretStr("pw")}
        )
        client, http, customer, _ = await _tenant(cb_url)
        async with (
            running_receiver(s) as receiver,
            running_sync(s) as sync,
            listening(s),
            writing_back(s, cb_url) as (loop, handler),
        ):
            await http.put(
                f"{cb_url}/_sandbox/webhooks/endpoints",
                json={
                    "endpoints": [
                        {"url": f"{receiver}/webhooks/chargebee", "username": "cb", "password": "pw"}
                    ]
                },
            )
            # Chargebee → Salesforce first: the customer becomes an Account.
            await http.post(f"{cb_url}/_sandbox/actions/edit_customer", json={"customer_id": customer})
            await wait_for(lambda: customer in org.by_ext("Account", "Chargebee_Id__c"), timeout=30)
            account = org.by_ext("Account", "Chargebee_Id__c")[customer]["Id"]
            _human(org, "Account", {"Sync_with_Chargebee__c": True}, account)  # not a mapped field
            await wait_for(lambda: _settled(loop, 1))
            settled_before = sum(sync.stats.outcomes.values())
            writes_before = org.writes()
            # A person edits the address: it flows to Chargebee, whose webhook comes back.
            _human(org, "Account", edit, account)
            calls = len(edit)  # one vendor call per part of the edit
            await wait_for(lambda: handler.billing_calls == calls, timeout=30)
            # Per call: the writeback's expectation and the vendor's webhook.
            await wait_for(
                lambda: sum(sync.stats.outcomes.values()) >= settled_before + 2 * calls, timeout=30
            )
            assert sync.stats.outcomes.get("skipped_echo") == calls  # the writeback's expectations
        billed = await client.retrieve("customers", customer)
        assert billed["customer"]["billing_address"]["city"] == "Lyon"
        assert org.writes() == writes_before  # Chargebee's webhook cost no Salesforce write
        await http.aclose()


async def test_account_edit_reaches_the_orb_customer_linked_by_external_id(settings: Settings) -> None:
    from bridge.billing.orb import OrbClient
    from bridge.sandbox.orb.app import create_app as create_orb

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_orb(api_keys="k")) as orb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        http = httpx.AsyncClient(timeout=30)
        orb = OrbClient(http, f"{orb_url}/v1", "k")
        sf = salesforce_client(s, http)
        loops: list[ConsumeLoop] = []
        handlers: list[WritebackHandler] = []

        def factory(state: Any, producer: Any) -> WritebackHandler:
            handlers.append(WritebackHandler(s, sf, default_mappings(), state, producer, orb=orb))
            return handlers[0]

        async with listening(s):
            stop = asyncio.Event()
            task = asyncio.create_task(run_writeback(s, stop, factory, loops.append))
            await wait_for(lambda: bool(loops) and loops[0].ready.is_set())
            account = _human(org, "Account", {"Name": "Initech"})
            # The Orb customer belongs to this Account: its external id is the Account Id.
            created = await orb.create_customer(
                {"name": "Initech", "email": "ap@initech.test", "external_customer_id": account},
                idempotency_key=f"test-{account}",
            )
            _human(org, "Account", {"Name": "Initech Global", "BillingCity": "Austin"}, account)
            await wait_for(lambda: handlers[0].billing_calls == 1, timeout=30)
            stop.set()
            await asyncio.wait_for(task, 20)
        customer = await orb.get_customer(created["id"])
        assert customer["name"] == "Initech Global"
        assert customer["billing_address"]["city"] == "Austin"
        await http.aclose()


async def test_outbound_message_path_gives_the_same_single_subscription(settings: Settings) -> None:
    from receiver_harness import running_receiver
    from test_receiver import _soap

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(update={"salesforce_organization_id": None})
        client, http, customer, price = await _tenant(cb_url)
        account, opp = _deal(org, customer, price, stage="Closed Won", quantity=1)
        listed = client.list("subscriptions", {"customer_id[is]": customer})
        before = {x["subscription"]["id"] async for x in listed}
        soap = (
            _soap(1)
            .replace(b"0065g0000000000000", opp.encode())
            .replace(b"0015g0000000000000", account.encode())
        )
        async with running_receiver(s) as receiver, writing_back(s, cb_url) as (loop, _handler):
            async with httpx.AsyncClient(timeout=30) as poster:
                for _ in range(2):  # Salesforce retries unacknowledged messages: delivered twice
                    r = await poster.post(f"{receiver}/webhooks/salesforce", content=soap)
                    assert "<Ack>true</Ack>" in r.text
            await wait_for(lambda: _settled(loop, 2), timeout=30)
        listed = client.list("subscriptions", {"customer_id[is]": customer})
        [created] = {x["subscription"]["id"] async for x in listed} - before  # exactly one new
        assert org.by_ext("Opportunity", "Id")[opp]["Subscription_Id__c"] == created
        await http.aclose()


@asynccontextmanager
async def writing_back_to_orb(s: Settings, orb: Any) -> AsyncIterator[tuple[ConsumeLoop, WritebackHandler]]:
    http = httpx.AsyncClient(timeout=30)
    sf = salesforce_client(s, http)
    handlers: list[WritebackHandler] = []
    loops: list[ConsumeLoop] = []

    def factory(state: Any, producer: Any) -> WritebackHandler:
        handlers.append(WritebackHandler(s, sf, default_mappings(), state, producer, orb=orb))
        return handlers[0]

    stop = asyncio.Event()
    task = asyncio.create_task(run_writeback(s, stop, factory, loops.append))
    await wait_for(lambda: bool(loops) and loops[0].ready.is_set())
    try:
        yield loops[0], handlers[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await http.aclose()


async def _redeliver(s: Settings, pick: bytes, times: int) -> int:
    """Publish the changes containing `pick` again, `times` more times; how many were sent."""
    topic = Topics.from_settings(s).salesforce_changes
    chosen = [r for r in await read_topic(s, topic) if pick in r.value]
    producer = make_producer(s)
    await producer.start()
    for rec in chosen * times:
        await publish_raw(producer, topic, rec.key, rec.value, [])
    await producer.stop()
    return len(chosen) * times


async def test_won_opportunity_creates_exactly_one_orb_subscription(settings: Settings) -> None:
    from bridge.billing.orb import OrbClient
    from bridge.sandbox.orb.app import create_app as create_orb

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_orb(api_keys="k")) as orb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        http = httpx.AsyncClient(timeout=30)
        await http.post(f"{orb_url}/_sandbox/tenant", json={"seed": 3, "customers": 1})
        orb = OrbClient(http, f"{orb_url}/v1", "k")
        plans = [p["id"] async for p in orb.list("/plans")]
        plan = plans[0]
        account = _human(org, "Account", {"Name": "Initech"})
        customer = await orb.create_customer(
            {"name": "Initech", "email": "ap@initech.test", "external_customer_id": account},
            idempotency_key=f"test-{account}",
        )
        plan_record = _human(org, "OrbPlan__c", {"Name": "Pro", "Orb_Id__c": plan})
        opp = _human(
            org,
            "Opportunity",
            {
                "Name": "Initech deal",
                "StageName": "Negotiation",
                "CloseDate": "2026-12-31",
                "AccountId": account,
                "Orb_Plan__c": plan_record,
            },
        )
        # A first attempt whose answer was lost after Orb committed it (same key, same body):
        lost = await orb.create_subscription(
            {"customer_id": customer["id"], "plan_id": plan, "metadata": {"salesforce_opportunity_id": opp}},
            f"opportunity-{opp}-won",
        )
        async with listening(s), writing_back_to_orb(s, orb) as (loop, handler):
            _human(org, "Opportunity", {"StageName": "Closed Won"}, opp)
            await wait_for(
                lambda: bool(org.by_ext("Opportunity", "Id")[opp].get("Orb_Subscription_Id__c")), timeout=30
            )
            settled = sum(loop.stats.outcomes.values())
            sent = await _redeliver(s, b"Closed Won", 2)  # delivered three times in all
            await wait_for(lambda: _settled(loop, settled + sent))
            assert handler.billing_calls == 1  # the look-up that found it; no create
        subs = [x["id"] async for x in orb.list("/subscriptions", {"customer_id[]": customer["id"]})]
        assert subs == [lost["id"]]  # exactly one: the bridge found the lost one
        assert org.by_ext("Opportunity", "Id")[opp]["Orb_Subscription_Id__c"] == lost["id"]
        await http.aclose()


async def test_orb_key_reused_with_another_body_is_a_permanent_conflict_not_a_second_subscription() -> None:
    from bridge.billing.errors import BillingApiError
    from bridge.billing.orb import OrbClient
    from bridge.sandbox.orb.app import create_app as create_orb

    with serve(create_orb(api_keys="k")) as orb_url:
        async with httpx.AsyncClient(timeout=30) as http:
            await http.post(f"{orb_url}/_sandbox/tenant", json={"seed": 3, "customers": 1})
            orb = OrbClient(http, f"{orb_url}/v1", "k")
            plans = [p["id"] async for p in orb.list("/plans")]
            customers = [c["id"] async for c in orb.list("/customers")]
            customer = customers[0]
            before = [x["plan"]["id"] async for x in orb.list("/subscriptions", {"customer_id[]": customer})]
            await orb.create_subscription({"customer_id": customer, "plan_id": plans[0]}, "opportunity-x-won")
            try:
                await orb.create_subscription(
                    {"customer_id": customer, "plan_id": plans[1]}, "opportunity-x-won"
                )
            except BillingApiError as exc:
                assert exc.status == 409 and exc.code == "409-resource-conflict"
            else:
                raise AssertionError("the same key with another body was accepted")
            after = [x["plan"]["id"] async for x in orb.list("/subscriptions", {"customer_id[]": customer})]
            assert sorted(after) == sorted([*before, plans[0]])  # one created, none for the refusal


async def test_account_marked_for_chargebee_gets_one_customer_and_its_id_without_echo(
    settings: Settings,
) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url)
        client, http, _, _ = await _tenant(cb_url)
        async with listening(s) as listener, writing_back(s, cb_url) as (loop, handler):
            account = _human(
                org, "Account", {"Name": "Globex", "BillingCity": "Paris", "Sync_with_Chargebee__c": True}
            )
            await wait_for(
                lambda: bool(org.by_ext("Account", "Id")[account].get("Chargebee_Id__c")), timeout=30
            )
            await wait_for(lambda: listener.stats.outcomes["echo"] >= 1)  # the id write, dropped
            settled = sum(loop.stats.outcomes.values())
            sent = await _redeliver(s, account.encode(), 1)  # the CREATE delivered twice
            await wait_for(lambda: _settled(loop, settled + sent))
            # As if the id had never reached the Account: Chargebee replays the first answer.
            record = {**org.by_ext("Account", "Id")[account], "Chargebee_Id__c": None}
            assert await handler.new_customer.handle(record) == {"chargebee"}
        stored = org.by_ext("Account", "Id")[account]
        mine = [
            c["customer"] async for c in client.list("customers") if c["customer"].get("company") == "Globex"
        ]
        assert [c["id"] for c in mine] == [stored["Chargebee_Id__c"]]
        assert mine[0]["billing_address"]["city"] == "Paris"
        assert stored["Is_Synced__c"] is True
        changes = await read_topic(s, Topics.from_settings(s).salesforce_changes)
        assert len([r for r in changes if account.encode() in r.value]) == 1 + sent  # no echo published
        await http.aclose()


async def test_orb_customer_is_created_once_for_an_account_when_configured(settings: Settings) -> None:
    from bridge.billing.orb import OrbClient
    from bridge.sandbox.orb.app import create_app as create_orb

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_orb(api_keys="k")) as orb_url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(update={"orb_create_customers": True})
        http = httpx.AsyncClient(timeout=30)
        orb = OrbClient(http, f"{orb_url}/v1", "k")
        async with listening(s), writing_back_to_orb(s, orb) as (loop, handler):
            account = _human(org, "Account", {"Name": "Hooli"})  # no email: Orb needs one
            await wait_for(lambda: _settled(loop, 1))  # and no Orb customer to update: a no-op
            assert handler.billing_calls == 0
            _human(
                org, "Account", {"Orb_Billing_Email__c": "ap@hooli.test", "BillingCity": "Palo Alto"}, account
            )
            await wait_for(lambda: handler.billing_calls == 1, timeout=30)
            settled = sum(loop.stats.outcomes.values())
            sent = await _redeliver(s, account.encode(), 1)
            await wait_for(lambda: _settled(loop, settled + sent))
            assert handler.billing_calls == 1
            assert loop.stats.outcomes["skipped_duplicate"] == sent
        customers = [c async for c in orb.list("/customers") if c["external_customer_id"] == account]
        assert len(customers) == 1
        assert customers[0]["email"] == "ap@hooli.test"
        assert customers[0]["billing_address"]["city"] == "Palo Alto"
        await http.aclose()


async def test_won_opportunity_stays_the_one_opportunity_after_its_subscriptions_webhook(
    settings: Settings,
) -> None:
    """Chargebee's webhook about the subscription a won Opportunity created maps to an Opportunity
    and line items keyed by that subscription: they must be the salesperson's own, not copies."""
    from pydantic import SecretStr
    from receiver_harness import running_receiver
    from sync_harness import running_sync

    from bridge.ops.backfill import run_backfill

    with salesforce_sandbox(long_poll_timeout=0.3) as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(
            update={
                "chargebee_webhook_username": "cb",
                "chargebee_webhook_password": SecretStr("pw"),
                "chargebee_api_url": f"{cb_url}/api/v2",
                "chargebee_api_key": SecretStr(API_KEY),
            }
        )
        _client, http, customer, price = await _tenant(cb_url)
        async with (
            running_receiver(s) as receiver,
            running_sync(s, mapper=build_mapper(chargebee_site="default").map_event) as sync,
            listening(s),
            writing_back(s, cb_url) as (loop, _handler),
        ):
            endpoint = {"url": f"{receiver}/webhooks/chargebee", "username": "cb", "password": "pw"}
            await http.put(f"{cb_url}/_sandbox/webhooks/endpoints", json={"endpoints": [endpoint]})
            await run_backfill(s, ["item", "item_price"])  # the catalog, as the initial sync brings it
            await wait_for(lambda: f"default_{price}" in org.by_ext("PricebookEntry", "CB_Id__c"), timeout=30)
            entry = org.by_ext("PricebookEntry", "CB_Id__c")[f"default_{price}"]
            account = _human(
                org, "Account", {"Name": "Acme", "Chargebee_Id__c": customer, "Sync_with_Chargebee__c": True}
            )
            deal = {
                "Name": "Acme deal",
                "StageName": "Negotiation",
                "CloseDate": "2026-12-31",
                "AccountId": account,
                "Pricebook2Id": entry["Pricebook2Id"],
                "Update_Chargebee__c": True,
            }
            opp = _human(org, "Opportunity", deal)
            line = {"OpportunityId": opp, "PricebookEntryId": entry["Id"], "Quantity": 3, "UnitPrice": 49}
            _human(org, "OpportunityLineItem", line)
            _human(org, "Opportunity", {"StageName": "Closed Won"}, opp)
            # The subscription's webhook reached Salesforce: its CB_Subscription__c is there.
            await wait_for(
                lambda: f"default_{opp}" in org.by_ext("CB_Subscription__c", "CB_Id__c"), timeout=45
            )
            await wait_for(lambda: _settled(loop, 1))
            dead = sync.stats.outcomes.get("dead_lettered", 0)
        opportunities = [o for o in org.by_ext("Opportunity", "Id").values() if o["AccountId"] == account]
        assert [o["Id"] for o in opportunities] == [opp]  # no second Opportunity beside it
        [won] = opportunities
        assert won["Subscription_Id__c"] == opp and won["CB_Id__c"] == f"default_{opp}"
        # What the salesperson set stays: written by sync only when it creates a record.
        assert (won["Name"], won["CloseDate"], won["StageName"]) == ("Acme deal", "2026-12-31", "Closed Won")
        lines = [li for li in org.by_ext("OpportunityLineItem", "Id").values() if li["OpportunityId"] == opp]
        assert len(lines) == 1 and lines[0]["CB_Id__c"] == f"default_{opp}_{price}"
        assert float(lines[0]["Quantity"]) == 3
        assert dead == 0
        await http.aclose()
