"""Realistic vendor webhook bodies: Orb events the orb-billing SDK's webhook models accept,
Chargebee events shaped like the chargebee SDK's models. Builders, so the demo and the tests
can vary one value at a time."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from bridge.events import Envelope

ACCOUNT_ID = "001Dn00000AbCdEfGH"
T0 = "2024-03-01T12:00:00+00:00"


def orb_customer(cid: str = "cus_1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cid,
        "additional_emails": ["billing@acme.test"],
        "auto_collection": True,
        "balance": "12.50",
        "billing_address": {
            "city": "Berlin",
            "country": "DE",
            "line1": "Unter den Linden 1",
            "line2": None,
            "postal_code": "10117",
            "state": None,
        },
        "created_at": "2024-01-02T03:04:05+00:00",
        "currency": "USD",
        "email": "ops@acme.test",
        "email_delivery": True,
        "exempt_from_automated_tax": False,
        "external_customer_id": None,
        "hierarchy": {"children": [], "parent": None},
        "metadata": {},
        "name": "Acme GmbH",
        "payment_provider": "stripe_charge",
        "payment_provider_id": "cus_stripe_1",
        "portal_url": "https://portal.withorb.com/acme",
        "shipping_address": None,
        "tax_id": None,
        "timezone": "Europe/Berlin",
    }
    body.update(over)
    return body


def orb_unit_price(pid: str = "price_1", amount: str = "10.00") -> dict[str, Any]:
    return {
        "id": pid,
        "billing_cycle_configuration": {"duration": 1, "duration_unit": "month"},
        "billing_mode": "in_advance",
        "cadence": "monthly",
        "created_at": "2024-01-01T00:00:00+00:00",
        "currency": "USD",
        "item": {"id": "item_seats", "name": "Seats"},
        "metadata": {},
        "model_type": "unit",
        "name": "Seat price",
        "price_type": "fixed_price",
        "unit_config": {"unit_amount": amount},
        "fixed_price_quantity": 3.0,
    }


def orb_plan(plan_id: str = "plan_1") -> dict[str, Any]:
    return {
        "id": plan_id,
        "adjustments": [],
        "created_at": "2024-01-01T00:00:00+00:00",
        "currency": "USD",
        "description": "Team plan",
        "external_plan_id": "team",
        "invoicing_currency": "USD",
        "metadata": {},
        "name": "Team",
        "net_terms": 30,
        "prices": [orb_unit_price()],
        "product": {"id": "prod_1", "created_at": "2024-01-01T00:00:00+00:00", "name": "Bridge"},
        "status": "active",
        "trial_config": {"trial_period": 14, "trial_period_unit": "days"},
        "version": 2,
    }


def orb_subscription(sid: str = "sub_1", customer: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "id": sid,
        "adjustment_intervals": [],
        "auto_collection": True,
        "billing_cycle_anchor_configuration": {"day": 1},
        "billing_cycle_day": 1,
        "created_at": "2024-02-01T00:00:00+00:00",
        "current_billing_period_start_date": "2024-03-01T00:00:00+00:00",
        "current_billing_period_end_date": "2024-04-01T00:00:00+00:00",
        "customer": customer or orb_customer(),
        "discount_intervals": [],
        "end_date": None,
        "fixed_fee_quantity_schedule": [],
        "maximum_intervals": [],
        "metadata": {"deal": "Q1"},
        "minimum_intervals": [],
        "name": "Acme team subscription",
        "net_terms": 30,
        "plan": orb_plan(),
        "price_intervals": [
            {
                "id": "pi_1",
                "billing_cycle_day": 1,
                "can_defer_billing": False,
                "current_billing_period_start_date": "2024-03-01T00:00:00+00:00",
                "current_billing_period_end_date": "2024-04-01T00:00:00+00:00",
                "end_date": None,
                "filter": None,
                "fixed_fee_quantity_transitions": [],
                "price": orb_unit_price(),
                "start_date": "2024-02-01T00:00:00+00:00",
                "usage_customer_ids": None,
            }
        ],
        "redeemed_coupon": None,
        "start_date": "2024-02-01T00:00:00+00:00",
        "status": "active",
        "trial_info": {"end_date": None},
    }


def orb_line_item(lid: str = "li_1", amount: str = "30.00") -> dict[str, Any]:
    return {
        "id": lid,
        "adjusted_subtotal": amount,
        "adjustments": [],
        "amount": amount,
        "credits_applied": "0.00",
        "end_date": "2024-04-01T00:00:00+00:00",
        "filter": None,
        "grouping": None,
        "name": "Seats",
        "partially_invoiced_amount": "0.00",
        "price": orb_unit_price(),
        "quantity": 3.0,
        "start_date": "2024-03-01T00:00:00+00:00",
        "sub_line_items": [],
        "subtotal": amount,
        "tax_amounts": [],
        "usage_customer_ids": None,
    }


def orb_invoice(iid: str = "inv_1", *, customer_id: str = "cus_1", lines: int = 2) -> dict[str, Any]:
    return {
        "id": iid,
        "amount_due": "60.00",
        "auto_collection": {
            "enabled": True,
            "next_attempt_at": "2024-03-05T00:00:00+00:00",
            "num_attempts": 0,
            "previously_attempted_at": None,
        },
        "billing_address": None,
        "created_at": "2024-03-01T00:00:00+00:00",
        "credit_notes": [],
        "currency": "USD",
        "customer": {"id": customer_id, "external_customer_id": None},
        "customer_balance_transactions": [],
        "customer_tax_id": None,
        "discount": None,
        "discounts": [],
        "due_date": "2024-03-31T00:00:00+00:00",
        "eligible_to_issue_at": None,
        "hidden_line_item_count": 0,
        "hosted_invoice_url": "https://withorb.com/invoice/inv_1",
        "invoice_date": "2024-03-01T00:00:00+00:00",
        "invoice_number": "ACME-0001",
        "invoice_pdf": None,
        "invoice_source": "subscription",
        "issue_failed_at": None,
        "issued_at": "2024-03-01T00:00:00+00:00",
        "line_items": [orb_line_item(f"{iid}_li_{n}") for n in range(lines)],
        "maximum": None,
        "maximum_amount": None,
        "memo": None,
        "metadata": {},
        "minimum": None,
        "minimum_amount": None,
        "paid_at": None,
        "payment_attempts": [],
        "payment_failed_at": None,
        "payment_received_at": None,
        "payment_started_at": None,
        "scheduled_issue_at": None,
        "shipping_address": None,
        "status": "issued",
        "subscription": {"id": "sub_1"},
        "subtotal": "60.00",
        "sync_failed_at": None,
        "total": "60.00",
        "voided_at": None,
        "will_auto_issue": False,
    }


def orb_event(
    event_type: str, *, created_at: str = T0, event_id: str = "evt_1", properties: Any = None, **objects: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": event_id,
        "created_at": created_at,
        "type": event_type,
        "properties": properties if properties is not None else {},
        "payload_style": "expanded",
    }
    body.update(objects)
    return body


def orb_envelope(body: dict[str, Any]) -> Envelope:
    """The envelope the receiver would build for an Orb body (for tests and dry runs)."""
    kind = body["type"].split(".")[0]
    found = body.get(kind)
    obj: dict[str, Any] = found if isinstance(found, dict) else {}
    customer = obj.get("customer", {}).get("id") if kind != "customer" else obj.get("id")
    return Envelope(
        source="orb",
        event_id=body["id"],
        event_type=body["type"],
        occurred_at=datetime.fromisoformat(body["created_at"]),
        received_at=datetime(2024, 3, 1, tzinfo=UTC),
        object_type=kind,
        object_id=str(obj.get("id", body["id"])),
        customer_id=str(customer or "none"),
        payload=copy.deepcopy(body),
    )


# --- Chargebee -------------------------------------------------------------------------------


def cb_customer(cid: str = "cb_cus_1", **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": cid,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@acme.test",
        "phone": "+49 30 1234",
        "company": "Acme GmbH",
        "auto_collection": "on",
        "net_term_days": 30,
        "allow_direct_debit": False,
        "created_at": 1709294400,
        "taxability": "taxable",
        "updated_at": 1709294500,
        "locale": "de-DE",
        "pii_cleared": "active",
        "channel": "web",
        "resource_version": 1709294500123,
        "deleted": False,
        "object": "customer",
        "billing_address": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "line1": "Unter den Linden 1",
            "line2": "Floor 3",
            "city": "Berlin",
            "country": "DE",
            "zip": "10117",
            "validation_status": "not_validated",
            "object": "billing_address",
        },
        "card_status": "valid",
        "payment_method": {
            "object": "payment_method",
            "type": "card",
            "gateway": "stripe",
            "status": "valid",
        },
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
        "preferred_currency_code": "EUR",
        "vat_number": "DE123456789",
    }
    body.update(over)
    return body


def cb_subscription(sid: str = "cb_sub_1", customer_id: str = "cb_cus_1") -> dict[str, Any]:
    return {
        "id": sid,
        "billing_period": 1,
        "billing_period_unit": "month",
        "customer_id": customer_id,
        "status": "active",
        "current_term_start": 1709294400,
        "current_term_end": 1711972800,
        "next_billing_at": 1711972800,
        "created_at": 1709294400,
        "started_at": 1709294400,
        "activated_at": 1709294400,
        "updated_at": 1709294600,
        "has_scheduled_changes": False,
        "channel": "web",
        "resource_version": 1709294600456,
        "deleted": False,
        "object": "subscription",
        "currency_code": "EUR",
        "due_invoices_count": 0,
        "mrr": 5900,
        "subscription_items": [
            {
                "item_price_id": "team-EUR-monthly",
                "item_type": "plan",
                "quantity": 3,
                "unit_price": 1500,
                "amount": 4500,
                "free_quantity": 0,
                "object": "subscription_item",
            },
            {
                "item_price_id": "support-EUR-monthly",
                "item_type": "addon",
                "quantity": 1,
                "unit_price": 1400,
                "amount": 1400,
                "object": "subscription_item",
            },
        ],
        "coupons": [{"coupon_id": "WELCOME10", "applied_count": 1, "object": "coupon"}],
        "shipping_address": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "city": "Berlin",
            "country": "DE",
            "zip": "10117",
            "line1": "Unter den Linden 1",
            "object": "shipping_address",
            "validation_status": "not_validated",
        },
    }


def cb_invoice(
    iid: str = "cb_inv_1", customer_id: str = "cb_cus_1", sub_id: str | None = "cb_sub_1"
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": iid,
        "customer_id": customer_id,
        "recurring": True,
        "status": "paid",
        "price_type": "tax_exclusive",
        "date": 1709294400,
        "due_date": 1709294400,
        "net_term_days": 0,
        "exchange_rate": 1.0,
        "total": 5900,
        "amount_paid": 5900,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "amount_due": 0,
        "paid_at": 1709294410,
        "updated_at": 1709294410,
        "resource_version": 1709294410789,
        "deleted": False,
        "object": "invoice",
        "first_invoice": True,
        "currency_code": "EUR",
        "tax": 0,
        "sub_total": 5900,
        "line_items": [
            {
                "id": "li_cb_1",
                "date_from": 1709294400,
                "date_to": 1711972800,
                "unit_amount": 1500,
                "quantity": 3,
                "amount": 4500,
                "pricing_model": "per_unit",
                "is_taxed": False,
                "tax_amount": 0,
                "object": "line_item",
                "subscription_id": sub_id,
                "customer_id": customer_id,
                "description": "Team",
                "entity_type": "plan_item_price",
                "entity_id": "team-EUR-monthly",
                "discount_amount": 0,
                "item_level_discount_amount": 0,
            },
            {
                "id": "li_cb_2",
                "date_from": 1709294400,
                "date_to": 1709294400,
                "unit_amount": 1400,
                "quantity": 1,
                "amount": 1400,
                "pricing_model": "flat_fee",
                "is_taxed": False,
                "tax_amount": 0,
                "object": "line_item",
                "customer_id": customer_id,
                "description": "Adjustment",
                "entity_type": "adhoc",
                "discount_amount": 0,
                "item_level_discount_amount": 0,
            },
        ],
    }
    if sub_id is not None:
        body["subscription_id"] = sub_id
    else:
        for line in body["line_items"]:
            line.pop("subscription_id", None)
    return body


def cb_item(iid: str = "team") -> dict[str, Any]:
    return {
        "id": iid,
        "name": "Team",
        "description": "Team plan",
        "status": "active",
        "resource_version": 1709200000000,
        "updated_at": 1709200000,
        "item_family_id": "bridge",
        "type": "plan",
        "is_shippable": False,
        "is_giftable": False,
        "enabled_for_checkout": True,
        "enabled_in_portal": True,
        "metered": False,
        "channel": "web",
        "object": "item",
    }


def cb_item_price(pid: str = "team-EUR-monthly", *, tiers: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": pid,
        "name": "Team EUR monthly",
        "item_family_id": "bridge",
        "item_id": "team",
        "status": "active",
        "external_name": "Team",
        "pricing_model": "per_unit",
        "price": 1500,
        "period": 1,
        "period_unit": "month",
        "currency_code": "EUR",
        "free_quantity": 0,
        "channel": "web",
        "resource_version": 1709200001000,
        "updated_at": 1709200001,
        "created_at": 1709200001,
        "is_taxable": True,
        "item_type": "plan",
        "show_description_in_invoices": False,
        "show_description_in_quotes": False,
        "object": "item_price",
    }
    if tiers:
        body["pricing_model"] = "tiered"
        del body["price"]
        body["tiers"] = [
            {"starting_unit": 1, "ending_unit": 10, "price": 1500, "object": "tier"},
            {"starting_unit": 11, "price": 1200, "object": "tier"},
        ]
    return body


def cb_coupon(cid: str = "WELCOME10") -> dict[str, Any]:
    return {
        "id": cid,
        "name": "Welcome 10%",
        "discount_type": "percentage",
        "discount_percentage": 10.0,
        "duration_type": "limited_period",
        "duration_month": 3,
        "status": "active",
        "apply_on": "invoice_amount",
        "created_at": 1709000000,
        "updated_at": 1709000000,
        "resource_version": 1709000000000,
        "object": "coupon",
        "redemptions": 4,
        "item_constraints": [{"item_type": "plan", "constraint": "all"}],
    }


def cb_credit_note(cnid: str = "cb_cn_1", invoice_id: str = "cb_inv_1") -> dict[str, Any]:
    return {
        "id": cnid,
        "customer_id": "cb_cus_1",
        "subscription_id": "cb_sub_1",
        "reference_invoice_id": invoice_id,
        "type": "refundable",
        "reason_code": "product_unsatisfactory",
        "status": "refunded",
        "date": 1709380800,
        "price_type": "tax_exclusive",
        "currency_code": "EUR",
        "total": 1400,
        "amount_allocated": 1400,
        "amount_refunded": 0,
        "amount_available": 0,
        "generated_at": 1709380800,
        "resource_version": 1709380800555,
        "updated_at": 1709380800,
        "sub_total": 1400,
        "round_off_amount": 0,
        "deleted": False,
        "create_reason_code": "Product Unsatisfactory",
        "object": "credit_note",
        "allocations": [
            {
                "allocated_amount": 1400,
                "allocated_at": 1709380800,
                "invoice_id": invoice_id,
                "invoice_date": 1709294400,
                "invoice_status": "paid",
            }
        ],
    }


def cb_quote(qid: str = "Q-1") -> dict[str, Any]:
    return {
        "id": qid,
        "customer_id": "cb_cus_1",
        "status": "open",
        "operation_type": "create_subscription_for_customer",
        "price_type": "tax_exclusive",
        "valid_till": 1711972800,
        "date": 1709294400,
        "sub_total": 4500,
        "total": 4500,
        "credits_applied": 0,
        "amount_paid": 0,
        "amount_due": 4500,
        "version": 1,
        "resource_version": 1709294400999,
        "updated_at": 1709294400,
        "currency_code": "EUR",
        "object": "quote",
        "line_items": [
            {
                "id": "qli_1",
                "date_from": 1709294400,
                "date_to": 1711972800,
                "unit_amount": 1500,
                "quantity": 3,
                "amount": 4500,
                "pricing_model": "per_unit",
                "is_taxed": False,
                "tax_amount": 0,
                "object": "line_item",
                "customer_id": "cb_cus_1",
                "description": "Team",
                "entity_type": "plan_item_price",
                "entity_id": "team-EUR-monthly",
                "discount_amount": 0,
                "item_level_discount_amount": 0,
            }
        ],
    }


def cb_event(
    event_type: str, *, occurred_at: int = 1709294700, event_id: str = "ev_cb_1", **content: Any
) -> dict[str, Any]:
    return {
        "id": event_id,
        "occurred_at": occurred_at,
        "source": "admin_console",
        "user": "ops@acme.test",
        "object": "event",
        "api_version": "v2",
        "webhook_status": "scheduled",
        "event_type": event_type,
        "content": content,
    }


def cb_envelope(body: dict[str, Any], object_type: str | None = None) -> Envelope:
    content = body["content"]
    kind = object_type or next(iter(content), "none")
    obj = content.get(kind, {})
    customer = content.get("customer", {}).get("id") or obj.get("customer_id") or "none"
    return Envelope(
        source="chargebee",
        event_id=body["id"],
        event_type=body["event_type"],
        occurred_at=datetime.fromtimestamp(body["occurred_at"], UTC),
        received_at=datetime(2024, 3, 1, tzinfo=UTC),
        object_type=kind,
        object_id=str(obj.get("id", body["id"])),
        customer_id=str(customer),
        payload=copy.deepcopy(body),
    )
