"""Orb's JSON shapes, built field by field as the `orb-billing` SDK's models define them.

Every builder returns a plain dict in the API's form; amounts are decimal strings with two
places ("12.50"), timestamps ISO 8601 with offset, as Orb answers.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bridge.sandbox.orb.clock import iso

JSON = dict[str, Any]

CUSTOMER_EDITABLE = (
    "name",
    "email",
    "additional_emails",
    "auto_collection",
    "billing_address",
    "shipping_address",
    "currency",
    "email_delivery",
    "external_customer_id",
    "metadata",
    "payment_provider",
    "payment_provider_id",
    "tax_id",
    "timezone",
)
# The keys `customer.edited` may carry in `properties.previous_attributes`.
CUSTOMER_PREVIOUS_ATTRIBUTES = (
    "auto_collection",
    "billing_address",
    "email",
    "email_delivery",
    "external_customer_id",
    "metadata",
    "name",
    "payment_provider",
    "payment_provider_id",
    "shipping_address",
    "tax_id",
)
ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")
PAYMENT_PROVIDERS = ("quickbooks", "bill.com", "stripe_charge", "stripe_invoice", "netsuite", "adyen")


def money(cents: int) -> str:
    """Cents as Orb's decimal string."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def cents(amount: str) -> int:
    """Orb's decimal string as cents (rounded half up)."""
    whole, _, frac = amount.partition(".")
    negative = whole.startswith("-")
    digits = (frac + "000")[:3]
    value = abs(int(whole or "0")) * 100 + int(digits[:2]) + (1 if int(digits[2]) >= 5 else 0)
    return -value if negative else value


def address(**fields: str | None) -> JSON:
    return {key: fields.get(key) for key in ADDRESS_KEYS}


def customer(
    cid: str,
    *,
    name: str,
    email: str,
    created_at: datetime,
    external_customer_id: str | None = None,
    currency: str | None = "USD",
    timezone: str = "Etc/UTC",
    billing_address: JSON | None = None,
    metadata: dict[str, str] | None = None,
    payment_provider: str | None = None,
    payment_provider_id: str | None = None,
) -> JSON:
    return {
        "id": cid,
        "additional_emails": [],
        "auto_collection": payment_provider is not None,
        "auto_issuance": None,
        "balance": "0.00",
        "billing_address": billing_address,
        "created_at": iso(created_at),
        "currency": currency,
        "email": email,
        "email_delivery": True,
        "exempt_from_automated_tax": False,
        "external_customer_id": external_customer_id,
        "hierarchy": {"children": [], "parent": None},
        "metadata": dict(metadata or {}),
        "name": name,
        "payment_provider": payment_provider,
        "payment_provider_id": payment_provider_id,
        "portal_url": f"https://portal.withorb.com/view?token={cid}",
        "shipping_address": None,
        "tax_id": None,
        "timezone": timezone,
        "accounting_sync_configuration": None,
        "automatic_tax_enabled": False,
        "default_payment_method": None,
        "payment_configuration": None,
        "reporting_configuration": None,
    }


def minified_customer(cust: JSON) -> JSON:
    return {"id": cust["id"], "external_customer_id": cust.get("external_customer_id")}


def unit_price(
    pid: str,
    *,
    name: str,
    item_id: str,
    item_name: str,
    unit_amount: str,
    created_at: datetime,
    currency: str = "USD",
    fixed: bool = True,
    metric_id: str | None = None,
    external_price_id: str | None = None,
) -> JSON:
    """A `unit` price: fixed (per seat, billed in advance) or usage (billed in arrears)."""
    return {
        "id": pid,
        "billable_metric": None if fixed else {"id": metric_id or f"metric_{item_id}"},
        "billing_cycle_configuration": {"duration": 1, "duration_unit": "month"},
        "billing_mode": "in_advance" if fixed else "in_arrear",
        "cadence": "monthly",
        "composite_price_filters": None,
        "conversion_rate": None,
        "conversion_rate_config": None,
        "created_at": iso(created_at),
        "credit_allocation": None,
        "currency": currency,
        "discount": None,
        "external_price_id": external_price_id,
        "fixed_price_quantity": 1.0 if fixed else None,
        "invoicing_cycle_configuration": None,
        "item": {"id": item_id, "name": item_name},
        "maximum": None,
        "maximum_amount": None,
        "metadata": {},
        "minimum": None,
        "minimum_amount": None,
        "model_type": "unit",
        "name": name,
        "plan_phase_order": None,
        "price_type": "fixed_price" if fixed else "usage_price",
        "replaces_price_id": None,
        "unit_config": {"unit_amount": unit_amount},
        "dimensional_price_configuration": None,
    }


def plan(
    plan_id: str,
    *,
    name: str,
    external_plan_id: str,
    description: str,
    prices: list[JSON],
    created_at: datetime,
    product_id: str,
    currency: str = "USD",
    net_terms: int = 30,
    trial_days: int | None = None,
) -> JSON:
    return {
        "id": plan_id,
        "adjustments": [],
        "base_plan": None,
        "base_plan_id": None,
        "created_at": iso(created_at),
        "currency": currency,
        "default_invoice_memo": None,
        "description": description,
        "discount": None,
        "external_plan_id": external_plan_id,
        "invoicing_currency": currency,
        "maximum": None,
        "maximum_amount": None,
        "metadata": {},
        "minimum": None,
        "minimum_amount": None,
        "name": name,
        "net_terms": net_terms,
        "plan_phases": None,
        "prices": prices,
        "product": {"id": product_id, "created_at": iso(created_at), "name": "Bridge Cloud"},
        "status": "active",
        "trial_config": {"trial_period": trial_days, "trial_period_unit": "days"},
        "version": 1,
    }


def price_interval(
    interval_id: str,
    price: JSON,
    *,
    start: datetime,
    end: datetime | None,
    billing_cycle_day: int,
    period: tuple[datetime, datetime] | None,
    quantity: float | None,
) -> JSON:
    transitions = (
        [{"effective_date": iso(start), "price_id": price["id"], "quantity": quantity}]
        if quantity is not None
        else []
    )
    return {
        "id": interval_id,
        "billing_cycle_day": billing_cycle_day,
        "can_defer_billing": False,
        "current_billing_period_start_date": iso(period[0]) if period else None,
        "current_billing_period_end_date": iso(period[1]) if period else None,
        "end_date": iso(end),
        "filter": None,
        "fixed_fee_quantity_transitions": transitions,
        "price": price,
        "start_date": iso(start),
        "usage_customer_ids": None,
    }


def line_item(
    lid: str,
    price: JSON,
    *,
    quantity: float,
    start: datetime,
    end: datetime,
) -> JSON:
    amount = money(round(cents(price["unit_config"]["unit_amount"]) * quantity))
    return {
        "id": lid,
        "adjusted_subtotal": amount,
        "adjustments": [],
        "amount": amount,
        "credits_applied": "0.00",
        "end_date": iso(end),
        "filter": None,
        "grouping": None,
        "name": price["item"]["name"],
        "partially_invoiced_amount": "0.00",
        "price": price,
        "quantity": quantity,
        "start_date": iso(start),
        "sub_line_items": [],
        "subtotal": amount,
        "tax_amounts": [],
        "usage_customer_ids": None,
    }


def invoice(
    iid: str,
    *,
    number: str,
    cust: JSON,
    subscription_id: str | None,
    lines: list[JSON],
    created_at: datetime,
    net_terms: int,
    currency: str = "USD",
) -> JSON:
    """A draft invoice; `issue`, `pay` and `void` move it on."""
    total = money(sum(cents(line["amount"]) for line in lines))
    return {
        "id": iid,
        "amount_due": total,
        "auto_collection": {
            "enabled": bool(cust.get("auto_collection")),
            "next_attempt_at": None,
            "num_attempts": None,
            "previously_attempted_at": None,
        },
        "billing_address": cust.get("billing_address"),
        "created_at": iso(created_at),
        "credit_notes": [],
        "currency": currency,
        "customer": minified_customer(cust),
        "customer_balance_transactions": [],
        "customer_tax_id": None,
        "discount": None,
        "discounts": [],
        "due_date": iso(created_at + timedelta(days=net_terms)),
        "eligible_to_issue_at": None,
        "hidden_line_item_count": 0,
        "hosted_invoice_url": None,
        "invoice_date": iso(created_at),
        "invoice_number": number,
        "invoice_pdf": None,
        "invoice_source": "subscription" if subscription_id else "one_off",
        "issue_failed_at": None,
        "issued_at": None,
        "line_items": lines,
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
        "status": "draft",
        "subscription": {"id": subscription_id} if subscription_id else None,
        "subtotal": total,
        "sync_failed_at": None,
        "total": total,
        "voided_at": None,
        "will_auto_issue": False,
    }


def credit_note(
    cnid: str,
    *,
    number: str,
    inv: JSON,
    line: JSON,
    amount_cents: int,
    created_at: datetime,
    reason: str = "Product unsatisfactory",
) -> JSON:
    amount = money(amount_cents)
    return {
        "id": cnid,
        "created_at": iso(created_at),
        "credit_note_number": number,
        "credit_note_pdf": None,
        "customer": dict(inv["customer"]),
        "invoice_id": inv["id"],
        "line_items": [
            {
                "id": f"{cnid}_li",
                "amount": amount,
                "item_id": line["price"]["item"]["id"],
                "name": line["name"],
                "quantity": line["quantity"],
                "subtotal": amount,
                "tax_amounts": [],
                "discounts": [],
                "end_time_exclusive": line["end_date"],
                "start_time_inclusive": line["start_date"],
            }
        ],
        "maximum_amount_adjustment": None,
        "memo": None,
        "minimum_amount_refunded": None,
        "reason": reason,
        "subtotal": amount,
        "total": amount,
        "type": "refund",
        "voided_at": None,
        "discounts": [],
    }


def ledger_entry(
    eid: str,
    *,
    entry_type: str,
    cust: JSON,
    amount: float,
    starting_balance: float,
    sequence: int,
    created_at: datetime,
    block_id: str,
    expiry: datetime | None,
    cost_basis: str | None,
    description: str | None,
    invoice_id: str | None = None,
    price_id: str | None = None,
) -> JSON:
    signed = amount if entry_type == "increment" else -amount
    body: JSON = {
        "id": eid,
        "amount": amount,
        "created_at": iso(created_at),
        "credit_block": {
            "id": block_id,
            "expiry_date": iso(expiry),
            "filters": [],
            "per_unit_cost_basis": cost_basis,
        },
        "currency": "credits",
        "customer": minified_customer(cust),
        "description": description,
        "ending_balance": starting_balance + signed,
        "entry_status": "committed",
        "entry_type": entry_type,
        "ledger_sequence_number": sequence,
        "metadata": {},
        "starting_balance": starting_balance,
    }
    if entry_type == "increment":
        body["created_invoices"] = None
    elif entry_type == "decrement":
        body.update(event_id=None, invoice_id=invoice_id, price_id=price_id)
    return body


def credit_block(entry: JSON, *, balance: float) -> JSON:
    """The block an increment created, as `customer.credit_ledger_incremented` carries it."""
    block = entry["credit_block"]
    return {
        "id": block["id"],
        "balance": f"{balance:.2f}",
        "credit_block_source": "manual",
        "effective_date": entry["created_at"],
        "expiry_date": block["expiry_date"],
        "filters": [],
        "maximum_initial_balance": f"{entry['amount']:.2f}",
        "metadata": {},
        "per_unit_cost_basis": block["per_unit_cost_basis"],
        "status": "active",
    }


# --- standard payload style: the trimmed objects Orb sends to endpoints configured for it ----

STANDARD_INVOICE_KEYS = (
    "id", "amount_due", "auto_collection", "billing_address", "created_at", "credit_notes",
    "currency", "customer", "customer_balance_transactions", "customer_tax_id", "due_date",
    "eligible_to_issue_at", "hosted_invoice_url", "invoice_date", "invoice_number", "invoice_pdf",
    "invoice_source", "issue_failed_at", "issued_at", "memo", "metadata", "paid_at",
    "payment_attempts", "payment_failed_at", "payment_received_at", "payment_started_at",
    "scheduled_issue_at", "shipping_address", "status", "subscription", "sync_failed_at", "total",
    "voided_at", "will_auto_issue",
)  # fmt: skip


def standard(kind: str, obj: JSON) -> JSON:
    """The object as a `standard` payload carries it (ids and scalars, no nested expansions)."""
    if kind == "subscription":
        plan_obj = obj.get("plan")
        return {
            "id": obj["id"],
            "created_at": obj["created_at"],
            "customer": minified_customer(obj["customer"]),
            "end_date": obj["end_date"],
            "metadata": obj["metadata"],
            "name": obj["name"],
            "plan": (
                {
                    "id": plan_obj["id"],
                    "external_plan_id": plan_obj["external_plan_id"],
                    "name": plan_obj["name"],
                }
                if plan_obj
                else None
            ),
            "start_date": obj["start_date"],
            "status": obj["status"],
        }
    if kind == "invoice":
        return {key: obj[key] for key in STANDARD_INVOICE_KEYS}
    return obj
