"""Chargebee events (shaped like the chargebee SDK's models) → Salesforce writes."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from chargebee.models.coupon.responses import CouponResponse
from chargebee.models.credit_note.responses import CreditNoteResponse
from chargebee.models.customer.responses import CustomerResponse
from chargebee.models.event.responses import EventResponse
from chargebee.models.invoice.responses import InvoiceResponse
from chargebee.models.item.responses import ItemResponse
from chargebee.models.item_price.responses import ItemPriceResponse
from chargebee.models.quote.responses import QuoteResponse
from chargebee.models.subscription.responses import SubscriptionResponse
from mapping_payloads import (
    cb_coupon,
    cb_credit_note,
    cb_customer,
    cb_envelope,
    cb_event,
    cb_invoice,
    cb_item,
    cb_item_price,
    cb_quote,
    cb_subscription,
)

from bridge.mapping import Mapper, RecordWrite, build_mapper
from bridge.mapping.overrides import parse_overrides

SDK_MODELS = {
    "customer": CustomerResponse,
    "subscription": SubscriptionResponse,
    "invoice": InvoiceResponse,
    "item": ItemResponse,
    "item_price": ItemPriceResponse,
    "quote": QuoteResponse,
    "coupon": CouponResponse,
    "credit_note": CreditNoteResponse,
}


def _shaped(body: dict[str, Any]) -> dict[str, Any]:
    """Every attribute we send is one the SDK's model declares (plus `object`)."""
    event_fields = {f.name for f in dataclasses.fields(EventResponse)}
    assert set(body) - {"object"} <= event_fields
    EventResponse.construct(body)
    for name, obj in body["content"].items():
        model = SDK_MODELS[name]
        unknown = set(obj) - {f.name for f in dataclasses.fields(model)} - {"object"}
        assert not unknown, f"{name}: {unknown}"
        model.construct(obj)
    return body


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return build_mapper(chargebee_site="acme")


def _one(writes: list[RecordWrite], sobject: str) -> RecordWrite:
    [w] = [w for w in writes if w.sobject == sobject]
    return w


def test_customer_created_writes_site_account_and_contact(mapper: Mapper) -> None:
    body = _shaped(cb_event("customer_created", customer=cb_customer()))
    writes = mapper.map_event(cb_envelope(body))
    assert [w.sobject for w in writes] == ["CB_Site__c", "Account", "Contact"]
    site, account, contact = writes
    assert site.key.state_key == "CB_Site__c:acme" and site.fields["Domain__c"] == "acme.chargebee.com"
    assert account.key.external_id_field == "Chargebee_Id__c" and account.external_id == "cb_cus_1"
    assert account.fields["Name"] == "Acme GmbH"
    assert account.fields["BillingStreet"] == "Unter den Linden 1\nFloor 3"
    assert account.fields["Is_Synced__c"] is True
    assert account.fields["Chargebee_Site__r"] == {"CB_Id__c": "acme"}
    assert account.fields["Payment_Method_Type__c"] == "card"
    assert account.fields["Phone"] == "+49 30 1234"
    assert account.version == 1709294500123  # resource_version
    assert contact.fields["Account"] == {"Chargebee_Id__c": "cb_cus_1"}
    assert contact.create_only == {"Sync_with_Chargebee__c": True}
    assert contact.fields["Chargebee_Modified_Time__c"] == "2024-03-01T12:01:40.000Z"


def test_attribute_chargebee_leaves_out_clears_the_field(mapper: Mapper) -> None:
    customer = cb_customer()
    del customer["phone"], customer["company"]
    writes = mapper.map_event(cb_envelope(cb_event("customer_changed", customer=customer)))
    account = _one(writes, "Account")
    assert account.fields["Phone"] is None
    assert account.fields["Name"] == "Ada Lovelace"  # falls back to the person's name


def test_subscription_created_writes_opportunity_products_and_cb_subscription(mapper: Mapper) -> None:
    body = _shaped(cb_event("subscription_created", subscription=cb_subscription(), customer=cb_customer()))
    writes = mapper.map_event(cb_envelope(body, "subscription"))
    opp = _one(writes, "Opportunity")
    assert opp.external_id == "acme_cb_sub_1"
    assert opp.create_only["StageName"] == "Closed Won" and opp.create_only["Name"] == "Acme GmbH"
    assert opp.create_only["CloseDate"] == "2024-03-01"
    assert opp.fields["Account"] == {"Chargebee_Id__c": "cb_cus_1"}
    products = [w for w in writes if w.sobject == "OpportunityLineItem"]
    assert [p.external_id for p in products] == [
        "acme_cb_sub_1_team-EUR-monthly",
        "acme_cb_sub_1_support-EUR-monthly",
    ]
    assert products[0].fields["UnitPrice"] == 15.0 and products[0].fields["Quantity"] == 3.0
    assert products[0].create_only["PricebookEntry"] == {"CB_Id__c": "acme_team-EUR-monthly"}
    cbs = _one(writes, "CB_Subscription__c")
    assert cbs.fields["CB_Plan_Id__c"] == "team-EUR-monthly"
    assert cbs.fields["Plan_Unit_Price__c"] == 15.0 and cbs.fields["MRR__c"] == 59.0
    assert cbs.fields["Opportunity__r"] == {"CB_Id__c": "acme_cb_sub_1"}
    [addon] = [w for w in writes if w.sobject == "Subscription_Addon__c"]
    assert addon.fields["Item_Price_Id__c"] == "support-EUR-monthly"
    assert _one(writes, "Coupon_Line_Items__c").fields["Coupon_Id__c"] == "WELCOME10"
    rank = {w.sobject: w.rank for w in writes}
    assert rank["Account"] < rank["Opportunity"] < rank["OpportunityLineItem"]
    assert rank["Opportunity"] < rank["CB_Subscription__c"] < rank["Subscription_Addon__c"]


def test_invoice_lines_reference_item_prices_only_for_item_price_entities(mapper: Mapper) -> None:
    body = _shaped(cb_event("invoice_generated", invoice=cb_invoice()))
    writes = mapper.map_event(cb_envelope(body))
    inv = _one(writes, "CB_Invoice__c")
    assert inv.external_id == "acme_cb_inv_1"
    assert inv.fields["Amount__c"] == 59.0 and inv.fields["Invoice_Date__c"] == "2024-03-01"
    assert inv.fields["CB_Subscription__r"] == {"CB_Id__c": "acme_cb_sub_1"}
    lines = [w for w in writes if w.sobject == "CB_Invoice_Line_Item__c"]
    assert lines[0].fields["CB_Item_Price__r"] == {"CB_Id__c": "acme_team-EUR-monthly"}
    assert "CB_Item_Price__r" not in lines[1].fields
    assert all(w.fields["CB_Invoice__r"] == {"CB_Id__c": "acme_cb_inv_1"} for w in lines)


def test_invoice_without_subscription_has_no_subscription_reference(mapper: Mapper) -> None:
    writes = mapper.map_event(cb_envelope(cb_event("invoice_generated", invoice=cb_invoice(sub_id=None))))
    inv = _one(writes, "CB_Invoice__c")
    assert "CB_Subscription__r" not in inv.fields
    assert inv.fields["CB_Subscription_CB_Id__c"] is None


def test_item_and_item_price_with_tiers(mapper: Mapper) -> None:
    product = _one(
        mapper.map_event(cb_envelope(_shaped(cb_event("item_created", item=cb_item())))), "Product2"
    )
    assert product.external_id == "acme_team" and product.fields["ProductCode"] == "team"
    body = _shaped(cb_event("item_price_created", item_price=cb_item_price(tiers=True)))
    writes = mapper.map_event(cb_envelope(body))
    tiers = [w for w in writes if w.sobject == "CB_Pricing_Tier__c"]
    assert [t.external_id for t in tiers] == ["acme_team-EUR-monthly_0", "acme_team-EUR-monthly_1"]
    assert tiers[1].fields["Ending_Unit__c"] is None and tiers[1].fields["Price__c"] == 12.0
    entry = _one(writes, "PricebookEntry")
    assert entry.fields["UnitPrice"] == 0  # tiered: no flat price
    assert entry.create_only == {
        "Pricebook2": {"CB_Id__c": "Chargebee"},
        "Product2": {"CB_Id__c": "acme_team"},
    }
    assert _one(writes, "Pricebook2").version == 0


def test_quote_coupon_and_credit_note(mapper: Mapper) -> None:
    quote = mapper.map_event(cb_envelope(_shaped(cb_event("quote_created", quote=cb_quote()))))
    assert _one(quote, "CB_Quote_Line_Item__c").fields["CB_Quote__r"] == {"CB_Id__c": "acme_Q-1"}
    coupon = _one(
        mapper.map_event(cb_envelope(_shaped(cb_event("coupon_created", coupon=cb_coupon())))), "CB_Coupon__c"
    )
    assert coupon.external_id == "acme_WELCOME10" and coupon.fields["Plan_Constraint__c"] == "all"
    notes = mapper.map_event(
        cb_envelope(_shaped(cb_event("credit_note_created", credit_note=cb_credit_note())))
    )
    note = _one(notes, "CB_Credit_Note__c")
    assert note.fields["CB_Invoice__r"] == {"CB_Id__c": "acme_cb_inv_1"}
    alloc = _one(notes, "CB_Credit_Note_Allocation__c")
    assert alloc.external_id == "acme_cb_cn_1_cb_inv_1" and alloc.rank > note.rank


def test_deleted_and_unseeded_events_are_unmapped(mapper: Mapper) -> None:
    assert mapper.map_event(cb_envelope(cb_event("customer_deleted", customer=cb_customer()))) == []
    usage = cb_event("usage_file_ingested", usage_file={"id": "uf_1", "status": "processed"})
    assert mapper.map_event(cb_envelope(usage)) == []  # the site record alone is not a mapping


def test_record_body_honours_the_conflict_rules(mapper: Mapper) -> None:
    writes = mapper.map_event(cb_envelope(cb_event("subscription_created", subscription=cb_subscription())))
    opp = _one(writes, "Opportunity")
    created = opp.body(creating=True)
    assert created["StageName"] == "Closed Won" and created["CB_Id__c"] == "acme_cb_sub_1"
    assert created["attributes"] == {"type": "Opportunity"}
    updated = opp.body()
    assert "StageName" not in updated and "Pricebook2" not in updated  # map only: never overwritten
    assert updated["Subscription_Id__c"] == "cb_sub_1"
    override = build_mapper(
        chargebee_site="acme",
        overrides=parse_overrides(
            "[chargebee.objects.opportunity]\nconflicts = { Subscription_Id__c = 'overwrite_if_empty' }"
        ),
    )
    opp = _one(
        override.map_event(cb_envelope(cb_event("subscription_created", subscription=cb_subscription()))),
        "Opportunity",
    )
    assert "Subscription_Id__c" not in opp.body(current={"Subscription_Id__c": "typed by sales"})
    assert opp.body(current={"Subscription_Id__c": None})["Subscription_Id__c"] == "cb_sub_1"
