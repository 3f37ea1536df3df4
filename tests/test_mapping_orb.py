"""Orb events (validated with the orb-billing SDK's webhook models) → Salesforce writes."""

from __future__ import annotations

from typing import Any

import orb.types as orb_types
import orb.types.customers.credits as ledger
import pytest
from mapping_payloads import (
    ACCOUNT_ID,
    merged_schema,
    orb_customer,
    orb_envelope,
    orb_event,
    orb_invoice,
    orb_subscription,
)

from bridge.errors import BadInput
from bridge.mapping import RecordWrite, build_mapper, map_event
from bridge.mapping.overrides import parse_overrides


def _validated(model: Any, body: dict[str, Any]) -> dict[str, Any]:
    model.model_validate(body)  # the SDK accepts it: the payload is what Orb sends
    return body


def _by_sobject(writes: list[RecordWrite], sobject: str) -> list[RecordWrite]:
    return [w for w in writes if w.sobject == sobject]


def test_customer_created_maps_to_orb_customer_linked_by_external_customer_id() -> None:
    body = _validated(
        orb_types.CustomerCreatedWebhookEvent,
        orb_event("customer.created", customer=orb_customer(external_customer_id=ACCOUNT_ID)),
    )
    [write] = map_event(orb_envelope(body))
    assert write.key.state_key == "OrbCustomer__c:cus_1"
    assert write.fields["Account__c"] == ACCOUNT_ID
    assert write.fields["Name"] == "Acme GmbH"
    assert write.fields["Balance__c"] == 12.5
    assert write.fields["Billing_Street__c"] == "Unter den Linden 1"
    assert write.fields["Billing_State__c"] is None  # Orb said null: clear it
    assert write.fields["Orb_Created_At__c"] == "2024-01-02T03:04:05.000Z"
    assert write.version == 1709294400000  # the event's created_at, in ms


def test_customer_metadata_key_names_the_account_and_non_ids_are_ignored() -> None:
    by_meta = orb_customer(external_customer_id="crm-42", metadata={"salesforce_account_id": ACCOUNT_ID})
    [write] = map_event(orb_envelope(orb_event("customer.edited", customer=by_meta, properties={})))
    assert write.fields["Account__c"] == ACCOUNT_ID
    plain = orb_customer(external_customer_id="crm-42")
    [write] = map_event(orb_envelope(orb_event("customer.edited", customer=plain, properties={})))
    assert "Account__c" not in write.fields


def test_configured_metadata_key_replaces_the_default() -> None:
    mapper = build_mapper(overrides=parse_overrides('[orb.options]\naccount_metadata_key = "sfdc"'))
    cust = orb_customer(metadata={"sfdc": ACCOUNT_ID, "salesforce_account_id": "001Dn00000ZZZZZZZZ"})
    [write] = mapper.map_event(orb_envelope(orb_event("customer.edited", customer=cust, properties={})))
    assert write.fields["Account__c"] == ACCOUNT_ID


def test_invoice_issued_writes_invoice_and_line_items_referencing_parents_by_orb_id() -> None:
    body = _validated(
        orb_types.InvoiceIssuedWebhookEvent,
        orb_event(
            "invoice.issued", invoice=orb_invoice(lines=2), properties={"automatically_marked_as_paid": False}
        ),
    )
    writes = map_event(orb_envelope(body))
    [invoice] = _by_sobject(writes, "OrbInvoice__c")
    assert invoice.fields["Orb_Customer__r"] == {"Orb_Id__c": "cus_1"}
    assert invoice.fields["Orb_Subscription__r"] == {"Orb_Id__c": "sub_1"}
    assert invoice.fields["Total__c"] == 60.0
    assert invoice.fields["Due_Date__c"] == "2024-03-31T00:00:00.000Z"
    lines = _by_sobject(writes, "OrbInvoiceLineItemBilling__c")
    assert [w.external_id for w in lines] == ["inv_1_li_0", "inv_1_li_1"]
    assert all(w.fields["Orb_Invoice__r"] == {"Orb_Id__c": "inv_1"} for w in lines)
    assert lines[0].fields["Item_Name__c"] == "Seats" and lines[0].fields["Quantity__c"] == 3.0
    # the customer and subscription stubs exist so the references resolve, at version 0
    stubs = {w.sobject: w for w in writes if w.version == 0}
    assert set(stubs) == {"OrbCustomer__c", "OrbSubscription__c"}
    ranks = {w.sobject: w.rank for w in writes}
    assert ranks["OrbCustomer__c"] < ranks["OrbSubscription__c"] < ranks["OrbInvoice__c"]
    assert ranks["OrbInvoice__c"] < ranks["OrbInvoiceLineItemBilling__c"]


def test_subscription_started_writes_plan_customer_subscription_and_versions_in_order() -> None:
    body = _validated(
        orb_types.SubscriptionStartedWebhookEvent,
        orb_event("subscription.started", subscription=orb_subscription()),
    )
    writes = map_event(orb_envelope(body))
    assert [w.sobject for w in writes] == [
        "OrbCustomer__c",
        "OrbPlan__c",
        "OrbSubscription__c",
        "OrbSubscriptionVersion__c",
    ]
    sub = writes[2]
    assert sub.fields["Orb_Plan__r"] == {"Orb_Id__c": "plan_1"}
    assert sub.fields["Plan_Version__c"] == 2 and sub.fields["Metadata__c"] == '{"deal":"Q1"}'
    version = writes[3]
    assert version.fields["Unit_Amount__c"] == 10.0 and version.fields["Price_Model_Type__c"] == "unit"
    assert version.fields["Orb_Subscription__r"] == {"Orb_Id__c": "sub_1"}


def test_credit_ledger_increment_maps_the_block_as_an_increment_entry() -> None:
    block = {
        "id": "blk_1",
        "balance": "100.0",
        "credit_block_source": "manual",
        "effective_date": "2024-03-01T00:00:00+00:00",
        "expiry_date": None,
        "filters": [],
        "maximum_initial_balance": None,
        "metadata": {},
        "per_unit_cost_basis": "0.5",
        "status": "active",
    }
    props = {"block": block, "pricing_unit": {"id": "pu_1", "name": "credits"}}
    body = _validated(
        orb_types.CustomerCreditLedgerIncrementedWebhookEvent,
        orb_event("customer.credit_ledger_incremented", customer=orb_customer(), properties=props),
    )
    writes = map_event(orb_envelope(body))
    [entry] = _by_sobject(writes, "OrbCommittedLedgerEntry__c")
    assert entry.external_id == "blk_1"
    assert entry.fields["Entry_Type__c"] == "increment" and entry.fields["Amount__c"] == 100.0
    assert entry.fields["Orb_Customer__r"] == {"Orb_Id__c": "cus_1"}
    assert writes[0].sobject == "OrbCustomer__c"


@pytest.mark.parametrize(
    "event",
    [
        orb_event("resource_event.test", properties={"message": "hi"}),
        orb_event("data_exports.transfer_success", properties={"transfer_id": "t"}),
        orb_event("invoice.cost_data_exported", invoice="inv_1", properties={}),
    ],
)
def test_events_that_touch_no_seeded_object_are_unmapped(event: dict[str, Any]) -> None:
    assert map_event(orb_envelope(event)) == []


def test_unconvertible_amount_is_bad_input_naming_the_field() -> None:
    inv = orb_invoice()
    inv["total"] = "sixty"
    with pytest.raises(BadInput, match="invoice: field Total__c from total"):
        map_event(orb_envelope(orb_event("invoice.edited", invoice=inv, properties={})))


def test_text_longer_than_its_field_is_cut_when_the_mapper_knows_the_schema() -> None:
    long_name = "Seats " * 40
    inv = orb_invoice(lines=1)
    inv["line_items"][0]["name"] = long_name
    body = orb_event("invoice.edited", invoice=inv, properties={})
    plain = build_mapper().map_event(orb_envelope(body))
    capped = build_mapper(schema=merged_schema()).map_event(orb_envelope(body))
    [line] = [w for w in capped if w.sobject == "OrbInvoiceLineItemBilling__c"]
    assert line.fields["Name"] == long_name[:80]
    [uncapped] = [w for w in plain if w.sobject == "OrbInvoiceLineItemBilling__c"]
    assert uncapped.fields["Name"] == long_name


def test_address_removed_in_orb_clears_every_address_field() -> None:
    body = orb_event("customer.edited", customer=orb_customer(billing_address=None), properties={})
    [write] = map_event(orb_envelope(body))
    billing = {k: v for k, v in write.fields.items() if k.startswith("Billing_")}
    assert billing == dict.fromkeys(
        [
            "Billing_Street__c",
            "Billing_City__c",
            "Billing_State__c",
            "Billing_Postal_Code__c",
            "Billing_Country__c",
        ]
    )


def _ledger_entry(entry_type: str, entry_id: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "id": entry_id,
        "amount": 25.0,
        "created_at": "2024-03-02T00:00:00+00:00",
        "credit_block": {"id": "blk_1", "expiry_date": None, "filters": [], "per_unit_cost_basis": "0.5"},
        "currency": "credits",
        "customer": {"id": "cus_1", "external_customer_id": None},
        "description": None,
        "ending_balance": 75.0,
        "entry_status": "committed",
        "entry_type": entry_type,
        "ledger_sequence_number": 2,
        "metadata": {},
        "starting_balance": 100.0,
    }
    model = {"increment": ledger.IncrementLedgerEntry, "decrement": ledger.DecrementLedgerEntry}[entry_type]
    model.model_validate(entry)
    return entry


def test_backfilled_ledger_entries_map_and_increments_share_the_webhook_key() -> None:
    for entry_type, key in [("decrement", "le_2"), ("increment", "blk_1")]:
        body = {"credit_ledger_entry": _ledger_entry(entry_type, "le_2")}
        env = orb_envelope(
            orb_event("customer.credit_ledger_incremented", customer=orb_customer())
        ).model_copy(
            update={
                "event_type": "credit_ledger_entry.backfilled",
                "object_type": "credit_ledger_entry",
                "payload": body,
            }
        )
        [write] = map_event(env)
        assert write.key.state_key == f"OrbCommittedLedgerEntry__c:{key}"
        assert write.fields["Ending_Balance__c"] == 75.0 and write.fields["Entry_Type__c"] == entry_type
        assert write.fields["Orb_Customer__r"] == {"Orb_Id__c": "cus_1"}
        assert write.version == 1709294400000  # no event body: the envelope's occurred_at


def test_daily_line_item_revenue_from_backfill_references_invoice_and_line_item() -> None:
    row = {
        "invoice_id": "inv_1",
        "line_item_id": "inv_1_li_0",
        "customer_id": "cus_1",
        "date": "2024-03-05",
        "quantity": "4",
        "amount": "40.00",
        "currency": "USD",
        "price_id": "price_1",
        "item": {"id": "item_seats", "name": "Seats"},
    }
    env = orb_envelope(orb_event("customer.edited", customer=orb_customer(), properties={})).model_copy(
        update={"event_type": "daily_line_item_revenue.exported", "payload": {"daily_line_item_revenue": row}}
    )
    [write] = map_event(env)
    assert write.external_id == "inv_1_li_0_2024-03-05"
    assert write.fields["Date__c"] == "2024-03-05" and write.fields["Amount__c"] == 40.0
    assert write.fields["Orb_Invoice_Line_Item_Billing__r"] == {"Orb_Id__c": "inv_1_li_0"}
