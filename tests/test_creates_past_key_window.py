"""Billing creates stay single after the vendors forget idempotency keys (Chargebee 30 min, Orb
48 h) and when the Salesforce record changed between deliveries: each create is recognisable
for good (Chargebee: the Salesforce Id is the object's id; Orb: it is in the metadata)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from chargebee_sandbox_support import serve
from sync_harness import Org, salesforce_sandbox, sync_settings
from test_writeback import _deal, _human, _tenant

from bridge.billing.chargebee import ChargebeeClient
from bridge.billing.errors import BillingApiError
from bridge.billing.orb import OrbClient
from bridge.mapping import default_mappings
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox.chargebee.app import create_app as create_chargebee
from bridge.sandbox.orb.app import create_app as create_orb
from bridge.settings import Settings
from consumers.new_customer import NewCustomer
from consumers.outcomes import Outcome
from consumers.won_opportunity import WonOpportunity

pytestmark = pytest.mark.kafka  # the settings fixture; no topic is used

HOUR = 3600


def _record(org: Org, sobject: str, record_id: str, **blank: Any) -> dict[str, Any]:
    """The record as the writeback reads it, with `blank` fields as if never written back."""
    return {**org.by_ext(sobject, "Id")[record_id], **blank}


async def _subscriptions(client: ChargebeeClient, customer: str) -> list[str]:
    return [
        x["subscription"]["id"] async for x in client.list("subscriptions", {"customer_id[is]": customer})
    ]


async def test_chargebee_won_opportunity_after_the_key_expired_finds_its_subscription(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        client, http, customer, price = await _tenant(cb_url)
        sf = salesforce_client(sync_settings(settings, url), http)
        won = WonOpportunity(sf, chargebee=client)
        before = await _subscriptions(client, customer)
        _account, opp = _deal(org, customer, price, stage="Closed Won", quantity=3)

        first = await won.handle(opp, _record(org, "Opportunity", opp))
        assert (first.outcome, first.detail) == (Outcome.APPLIED, opp)  # the Opportunity Id is its id

        # Within the key window, the line items changed: the same key with another body (422).
        line = org.records("OpportunityLineItem")[0]["Id"]
        _human(org, "OpportunityLineItem", {"Quantity": 5}, line)
        changed = await won.handle(opp, _record(org, "Opportunity", opp, Subscription_Id__c=None))
        # Past the window: Chargebee no longer knows the key; the id is still taken.
        await http.post(f"{cb_url}/_sandbox/clock/advance", json={"seconds": HOUR})
        later = await won.handle(opp, _record(org, "Opportunity", opp, Subscription_Id__c=None))

        assert (changed.outcome, changed.detail) == (Outcome.APPLIED, opp)
        assert (later.outcome, later.detail) == (Outcome.APPLIED, opp)
        assert sorted(await _subscriptions(client, customer)) == sorted([*before, opp])
        assert org.by_ext("Opportunity", "Id")[opp]["Subscription_Id__c"] == opp
        await http.aclose()


async def test_chargebee_refusal_for_another_reason_still_stands(settings: Settings) -> None:
    """Only a taken id or a reused key means "created earlier"; other refusals go to the loop,
    which dead-letters them (permanent)."""
    with salesforce_sandbox() as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        client, http, customer, _price = await _tenant(cb_url)
        sf = salesforce_client(sync_settings(settings, url), http)
        _account, opp = _deal(org, customer, "no_such_price", stage="Closed Won", quantity=1)

        with pytest.raises(BillingApiError) as refused:
            await WonOpportunity(sf, chargebee=client).handle(opp, _record(org, "Opportunity", opp))

        assert refused.value.status == 404 and "no_such_price" in str(refused.value)
        assert org.by_ext("Opportunity", "Id")[opp].get("Subscription_Id__c") is None
        await http.aclose()


async def test_chargebee_customer_for_an_account_is_created_once_past_the_key_window(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url, serve(create_chargebee()) as cb_url:
        org = Org(url)
        client, http, _customer, _price = await _tenant(cb_url)
        sf = salesforce_client(sync_settings(settings, url), http)
        new_customer = NewCustomer(sf, default_mappings(), chargebee=client)
        account = _human(org, "Account", {"Name": "Globex", "Sync_with_Chargebee__c": True})

        assert await new_customer.handle(_record(org, "Account", account)) == {"chargebee"}
        await http.post(f"{cb_url}/_sandbox/clock/advance", json={"seconds": HOUR})
        # The id never reached the Account (as if that write had failed) and the key is gone.
        assert await new_customer.handle(_record(org, "Account", account, Chargebee_Id__c=None)) == {
            "chargebee"
        }

        mine = [
            c["customer"]["id"]
            async for c in client.list("customers")
            if c["customer"].get("company") == "Globex"
        ]
        assert mine == [account]
        assert org.by_ext("Account", "Id")[account]["Chargebee_Id__c"] == account
        await http.aclose()


async def test_orb_won_opportunity_after_the_key_expired_finds_its_subscription(settings: Settings) -> None:
    with salesforce_sandbox() as url, serve(create_orb(api_keys="k")) as orb_url:
        org = Org(url)
        http = httpx.AsyncClient(timeout=30)
        await http.post(f"{orb_url}/_sandbox/tenant", json={"seed": 3, "customers": 1})
        orb = OrbClient(http, f"{orb_url}/v1", "k")
        plans = [p["id"] async for p in orb.list("/plans")]
        account = _human(org, "Account", {"Name": "Initech"})
        customer = await orb.create_customer(
            {"name": "Initech", "email": "ap@initech.test", "external_customer_id": account}, f"t-{account}"
        )
        plan_record = _human(org, "OrbPlan__c", {"Name": "Pro", "Orb_Id__c": plans[0]})
        opp = _human(
            org,
            "Opportunity",
            {
                "Name": "Initech deal",
                "StageName": "Closed Won",
                "CloseDate": "2026-12-31",
                "AccountId": account,
                "Orb_Plan__c": plan_record,
            },
        )
        sf = salesforce_client(sync_settings(settings, url), http)
        won = WonOpportunity(sf, orb=orb)

        first = await won.handle(opp, _record(org, "Opportunity", opp))
        await http.post(f"{orb_url}/_sandbox/clock/advance", json={"days": 3})
        later = await won.handle(opp, _record(org, "Opportunity", opp, Orb_Subscription_Id__c=None))

        subs = [s async for s in orb.list("/subscriptions", {"customer_id[]": customer["id"]})]
        assert [s["id"] for s in subs] == [first.detail] and later.detail == first.detail
        assert subs[0]["metadata"] == {"salesforce_opportunity_id": opp}
        assert org.by_ext("Opportunity", "Id")[opp]["Orb_Subscription_Id__c"] == first.detail
        await http.aclose()
