"""Builders for Chargebee resources in the exact JSON shape API v2 returns.

Shared by the API handlers and the tenant generator so both produce the same shapes.
Amounts are in the currency's minor unit (cents), times are Unix seconds.
"""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

MONTH = 30 * 86400


def billing_address(
    first_name: str,
    last_name: str,
    line1: str,
    city: str,
    state: str,
    state_code: str,
    country: str,
    zip_code: str,
    company: str | None = None,
) -> Json:
    """A customer's `billing_address`."""
    address: Json = {
        "first_name": first_name,
        "last_name": last_name,
        "line1": line1,
        "city": city,
        "state_code": state_code,
        "state": state,
        "country": country,
        "zip": zip_code,
        "validation_status": "not_validated",
        "object": "billing_address",
    }
    if company:
        address["company"] = company
    return address


def customer(object_id: str, created_at: int, fields: Json) -> Json:
    """A customer; `fields` holds what the caller set (names, email, company, cf_*...)."""
    body: Json = {
        "id": object_id,
        "auto_collection": "on",
        "net_term_days": 0,
        "allow_direct_debit": False,
        "created_at": created_at,
        "taxability": "taxable",
        "updated_at": created_at,
        "pii_cleared": "active",
        "channel": "web",
        "resource_version": created_at * 1000,
        "deleted": False,
        "object": "customer",
        "card_status": "no_card",
        "promotional_credits": 0,
        "refundable_credits": 0,
        "excess_payments": 0,
        "unbilled_charges": 0,
        "preferred_currency_code": "USD",
        "mrr": 0,
    }
    body.update(fields)
    return body


def item(object_id: str, name: str, item_type: str, family: str, created_at: int) -> Json:
    """A catalog item of type plan, addon or charge."""
    return {
        "id": object_id,
        "name": name,
        "external_name": name,
        "status": "active",
        "resource_version": created_at * 1000,
        "updated_at": created_at,
        "item_family_id": family,
        "type": item_type,
        "is_shippable": False,
        "is_giftable": False,
        "enabled_for_checkout": True,
        "enabled_in_portal": True,
        "item_applicability": "all",
        "metered": False,
        "channel": "web",
        "object": "item",
        **({"unit": "seat"} if item_type != "charge" else {}),
    }


def tier(starting_unit: int, ending_unit: int | None, price: int) -> Json:
    """One price tier; the last tier has no `ending_unit`."""
    out: Json = {"starting_unit": starting_unit, "price": price, "object": "tier"}
    if ending_unit is not None:
        out["ending_unit"] = ending_unit
    return out


def item_price(
    object_id: str,
    parent: Json,
    pricing_model: str,
    created_at: int,
    *,
    price: int | None = None,
    tiers: list[Json] | None = None,
    currency: str = "USD",
    period: int = 1,
    period_unit: str = "month",
) -> Json:
    """An item price (flat_fee, per_unit, tiered, volume or stairstep)."""
    body: Json = {
        "id": object_id,
        "name": object_id,
        "external_name": parent["name"],
        "item_family_id": parent["item_family_id"],
        "item_id": parent["id"],
        "status": "active",
        "pricing_model": pricing_model,
        "currency_code": currency,
        "free_quantity": 0,
        "created_at": created_at,
        "updated_at": created_at,
        "resource_version": created_at * 1000,
        "item_type": parent["type"],
        "is_taxable": True,
        "channel": "web",
        "object": "item_price",
    }
    if parent["type"] != "charge":
        body["period"] = period
        body["period_unit"] = period_unit
    if tiers:
        body["tiers"] = tiers
    else:
        body["price"] = price or 0
    return body


def amount_for(price: Json, quantity: int) -> int:
    """What `quantity` units cost under the item price's pricing model."""
    model = price["pricing_model"]
    if model == "flat_fee":
        return int(price.get("price", 0))
    if model == "per_unit":
        return int(price.get("price", 0)) * quantity
    tiers: list[Json] = price.get("tiers", [])
    if model == "tiered":
        total = 0
        for t in tiers:
            upper = t.get("ending_unit", quantity)
            units = max(0, min(quantity, upper) - t["starting_unit"] + 1)
            total += units * int(t["price"])
        return total
    for t in tiers:
        if t["starting_unit"] <= quantity <= t.get("ending_unit", quantity):
            return int(t["price"]) * (quantity if model == "volume" else 1)
    return 0


def subscription_item(price: Json, quantity: int) -> Json:
    """An entry of `subscription_items`."""
    out: Json = {
        "item_price_id": price["id"],
        "item_type": price["item_type"],
        "quantity": quantity,
        "amount": amount_for(price, quantity),
        "free_quantity": 0,
        "object": "subscription_item",
    }
    if "price" in price:
        out["unit_price"] = price["price"]
    return out


def monthly(price: Json, amount: int) -> int:
    """Normalise an amount to a month for `mrr`."""
    unit = price.get("period_unit")
    period = int(price.get("period", 1))
    if unit == "year":
        return amount // (12 * period)
    if unit == "month":
        return amount // period
    return 0


def subscription(
    object_id: str,
    customer_id: str,
    items: list[Json],
    prices: dict[str, Json],
    started_at: int,
    now: int,
    *,
    currency: str = "USD",
    coupon_ids: list[str] | None = None,
) -> Json:
    """An active subscription whose current term contains `now`."""
    plan = next(
        (prices[i["item_price_id"]] for i in items if i["item_type"] == "plan"),
        prices[items[0]["item_price_id"]],
    )
    unit = plan.get("period_unit", "month")
    term = (365 * 86400 if unit == "year" else MONTH) * int(plan.get("period", 1))
    elapsed_terms = max(0, (now - started_at) // term)
    term_start = started_at + elapsed_terms * term
    body: Json = {
        "id": object_id,
        "billing_period": int(plan.get("period", 1)),
        "billing_period_unit": unit,
        "customer_id": customer_id,
        "status": "active",
        "current_term_start": term_start,
        "current_term_end": term_start + term,
        "next_billing_at": term_start + term,
        "created_at": started_at,
        "started_at": started_at,
        "activated_at": started_at,
        "created_from_ip": "127.0.0.1",
        "updated_at": started_at,
        "has_scheduled_changes": False,
        "channel": "web",
        "resource_version": started_at * 1000,
        "deleted": False,
        "object": "subscription",
        "currency_code": currency,
        "subscription_items": items,
        "due_invoices_count": 0,
        "auto_collection": "on",
    }
    recompute_mrr(body, prices)
    if coupon_ids:
        body["coupons"] = [{"coupon_id": c, "applied_count": 0, "object": "coupon"} for c in coupon_ids]
    return body


def recompute_mrr(sub: Json, prices: dict[str, Json]) -> None:
    """Refresh `mrr` after the items changed (0 once cancelled)."""
    if sub["status"] == "cancelled":
        sub["mrr"] = 0
        return
    sub["mrr"] = sum(
        monthly(prices[i["item_price_id"]], int(i["amount"]))
        for i in sub["subscription_items"]
        if i["item_price_id"] in prices
    )


def line_item(
    line_id: str,
    price: Json,
    quantity: int,
    date_from: int,
    date_to: int,
    customer_id: str,
    subscription_id: str | None,
) -> Json:
    """An invoice, quote or credit-note line for one item price."""
    amount = amount_for(price, quantity)
    line: Json = {
        "id": line_id,
        "date_from": date_from,
        "date_to": date_to,
        "unit_amount": amount // max(quantity, 1),
        "quantity": quantity,
        "amount": amount,
        "pricing_model": price["pricing_model"],
        "is_taxed": False,
        "tax_amount": 0,
        "discount_amount": 0,
        "item_level_discount_amount": 0,
        "description": price["external_name"],
        "entity_description": price["external_name"],
        "entity_type": f"{price['item_type']}_item_price",
        "entity_id": price["id"],
        "customer_id": customer_id,
        "object": "line_item",
    }
    if subscription_id is not None:
        line["subscription_id"] = subscription_id
    return line


def invoice(
    object_id: str,
    customer_id: str,
    subscription_id: str | None,
    lines: list[Json],
    date: int,
    *,
    currency: str = "USD",
    paid: bool = False,
    address: Json | None = None,
) -> Json:
    """An invoice with line items; `payment_due` until paid."""
    total = sum(int(line["amount"]) for line in lines)
    body: Json = {
        "id": object_id,
        "customer_id": customer_id,
        "recurring": subscription_id is not None,
        "status": "payment_due",
        "price_type": "tax_exclusive",
        "date": date,
        "due_date": date,
        "net_term_days": 0,
        "exchange_rate": 1.0,
        "total": total,
        "amount_paid": 0,
        "amount_adjusted": 0,
        "write_off_amount": 0,
        "credits_applied": 0,
        "amount_due": total,
        "updated_at": date,
        "resource_version": date * 1000,
        "deleted": False,
        "object": "invoice",
        "first_invoice": False,
        "amount_to_collect": total,
        "round_off_amount": 0,
        "has_advance_charges": False,
        "currency_code": currency,
        "base_currency_code": currency,
        "generated_at": date,
        "is_gifted": False,
        "term_finalized": True,
        "channel": "web",
        "tax": 0,
        "sub_total": total,
        "line_items": lines,
        "linked_payments": [],
        "applied_credits": [],
        "issued_credit_notes": [],
        "dunning_attempts": [],
    }
    if subscription_id is not None:
        body["subscription_id"] = subscription_id
    if address is not None:
        body["billing_address"] = {k: v for k, v in address.items() if k != "object"} | {
            "object": "billing_address"
        }
    if paid:
        mark_paid(body, date)
    return body


def mark_paid(inv: Json, at: int, transaction_id: str | None = None) -> None:
    """Settle the invoice's remaining amount."""
    due = int(inv["amount_due"])
    inv["status"] = "paid"
    inv["amount_paid"] = int(inv["amount_paid"]) + due
    inv["amount_due"] = 0
    inv["amount_to_collect"] = 0
    inv["paid_at"] = at
    if transaction_id is not None:
        inv["linked_payments"].append(
            {
                "txn_id": transaction_id,
                "applied_amount": due,
                "applied_at": at,
                "txn_status": "success",
                "txn_date": at,
                "txn_amount": due,
            }
        )


def transaction(object_id: str, inv: Json, amount: int, at: int) -> Json:
    """A successful card payment against one invoice."""
    return {
        "id": object_id,
        "customer_id": inv["customer_id"],
        "subscription_id": inv.get("subscription_id"),
        "gateway_account_id": "gw_sandbox",
        "payment_method": "card",
        "gateway": "chargebee",
        "type": "payment",
        "date": at,
        "exchange_rate": 1.0,
        "amount": amount,
        "id_at_gateway": f"cb_{object_id}",
        "status": "success",
        "updated_at": at,
        "resource_version": at * 1000,
        "deleted": False,
        "object": "transaction",
        "currency_code": inv["currency_code"],
        "base_currency_code": inv["currency_code"],
        "amount_unused": 0,
        "linked_invoices": [
            {
                "invoice_id": inv["id"],
                "applied_amount": amount,
                "applied_at": at,
                "invoice_date": inv["date"],
                "invoice_total": inv["total"],
                "invoice_status": "paid",
            }
        ],
    }


def credit_note(
    object_id: str, inv: Json, amount: int, at: int, reason: str = "product_unsatisfactory"
) -> Json:
    """A credit note against `inv`: an adjustment allocated to it while money is due, else refundable."""
    adjustment = int(inv["amount_due"]) > 0
    amount = min(amount, int(inv["amount_due"]) if adjustment else int(inv["total"]))
    first = inv["line_items"][0] if inv["line_items"] else None
    lines = (
        []
        if first is None
        else [{**first, "id": f"{first['id']}-cn", "amount": amount, "unit_amount": amount, "quantity": 1}]
    )
    allocations = (
        [
            {
                "invoice_id": inv["id"],
                "allocated_amount": amount,
                "allocated_at": at,
                "invoice_date": inv["date"],
                "invoice_status": inv["status"],
            }
        ]
        if adjustment
        else []
    )
    return {
        "id": object_id,
        "customer_id": inv["customer_id"],
        "subscription_id": inv.get("subscription_id"),
        "reference_invoice_id": inv["id"],
        "type": "adjustment" if adjustment else "refundable",
        "reason_code": reason,
        "create_reason_code": reason.replace("_", " ").title(),
        "status": "adjusted" if adjustment else "refund_due",
        "date": at,
        "price_type": "tax_exclusive",
        "exchange_rate": 1.0,
        "total": amount,
        "amount_allocated": amount if adjustment else 0,
        "amount_refunded": 0,
        "amount_available": 0 if adjustment else amount,
        "generated_at": at,
        "updated_at": at,
        "resource_version": at * 1000,
        "deleted": False,
        "object": "credit_note",
        "channel": "web",
        "currency_code": inv["currency_code"],
        "base_currency_code": inv["currency_code"],
        "sub_total": amount,
        "round_off_amount": 0,
        "line_items": lines,
        "linked_refunds": [],
        "allocations": allocations,
    }


def apply_credit(inv: Json, note: Json) -> None:
    """Record a credit note on its invoice; only an adjustment lowers what is due."""
    amount = int(note["total"])
    if note["type"] == "adjustment":
        inv["amount_adjusted"] = int(inv["amount_adjusted"]) + amount
        inv["amount_due"] = max(0, int(inv["amount_due"]) - amount)
        inv["amount_to_collect"] = inv["amount_due"]
        if inv["amount_due"] == 0:
            inv["status"] = "paid"
            inv["paid_at"] = note["date"]
        note["allocations"][0]["invoice_status"] = inv["status"]
    inv["issued_credit_notes"].append(
        {
            "cn_id": note["id"],
            "cn_reason_code": note["reason_code"],
            "cn_date": note["date"],
            "cn_total": amount,
            "cn_status": note["status"],
        }
    )


def coupon(
    object_id: str,
    name: str,
    created_at: int,
    *,
    percentage: float | None = None,
    amount: int | None = None,
    duration_type: str = "forever",
    currency: str = "USD",
) -> Json:
    """A percentage or fixed-amount coupon for all plans."""
    body: Json = {
        "id": object_id,
        "name": name,
        "invoice_name": name,
        "duration_type": duration_type,
        "status": "active",
        "apply_on": "invoice_amount",
        "created_at": created_at,
        "updated_at": created_at,
        "resource_version": created_at * 1000,
        "object": "coupon",
        "redemptions": 0,
        "item_constraints": [
            {"item_type": "plan", "constraint": "all"},
            {"item_type": "addon", "constraint": "all"},
        ],
    }
    if percentage is not None:
        body["discount_type"] = "percentage"
        body["discount_percentage"] = percentage
    else:
        body["discount_type"] = "fixed_amount"
        body["discount_amount"] = amount or 0
        body["currency_code"] = currency
    if duration_type == "limited_period":
        body["period"] = 3
        body["period_unit"] = "month"
    return body


def quote(
    object_id: str,
    customer_id: str,
    lines: list[Json],
    date: int,
    *,
    currency: str = "USD",
    name: str | None = None,
    status: str = "open",
) -> Json:
    """A create-subscription quote with line items, valid for 30 days."""
    total = sum(int(line["amount"]) for line in lines)
    return {
        "id": object_id,
        "name": name or f"Quote {object_id}",
        "status": status,
        "operation_type": "create_subscription_for_customer",
        "vat_number_prefix": "",
        "valid_till": date + MONTH,
        "date": date,
        "total_payable": total,
        "charge_on_acceptance": total,
        "sub_total": total,
        "total": total,
        "credits_applied": 0,
        "amount_paid": 0,
        "amount_due": total,
        "version": 1,
        "resource_version": date * 1000,
        "updated_at": date,
        "currency_code": currency,
        "object": "quote",
        "customer_id": customer_id,
        "price_type": "tax_exclusive",
        "line_items": lines,
        "discounts": [],
        "line_item_discounts": [],
        "taxes": [],
        "line_item_taxes": [],
    }
