"""Changes to a site, each emitting the events Chargebee emits for it.

API handlers call these after validating parameters; the control API's actions call them to
move a tenant forward (source `admin_console` or `scheduled_job` instead of `api`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.sandbox.chargebee import objects
from bridge.sandbox.chargebee.errors import ChargebeeApiError, wrong_value
from bridge.sandbox.chargebee.objects import Json
from bridge.sandbox.chargebee.site import Site


@dataclass(frozen=True)
class ItemRequest:
    """One `subscription_items[...][i]` entry after validation."""

    item_price_id: str
    quantity: int | None
    index: int


def _duplicate(param: str, value: str) -> ChargebeeApiError:
    return ChargebeeApiError(
        400, "duplicate_entry", f"{param} : The value {value} is already present.", param=param
    )


def _prices(site: Site, requests: list[ItemRequest]) -> list[tuple[Json, ItemRequest]]:
    out = []
    for req in requests:
        param = f"subscription_items[item_price_id][{req.index}]"
        out.append((site.store.get("item_price", req.item_price_id, param=param), req))
    return out


def _build_items(site: Site, requests: list[ItemRequest]) -> tuple[list[Json], str]:
    """Subscription items from requests; exactly one plan, one currency."""
    priced = _prices(site, requests)
    plans = [req for price, req in priced if price["item_type"] == "plan"]
    if len(plans) != 1:
        index = plans[1].index if len(plans) > 1 else 0
        raise wrong_value(
            f"subscription_items[item_price_id][{index}]", "exactly one plan item price is required"
        )
    currency = next(price["currency_code"] for price, req in priced if req is plans[0])
    items = []
    for price, req in priced:
        if price["currency_code"] != currency:
            raise wrong_value(
                f"subscription_items[item_price_id][{req.index}]",
                f"currency {price['currency_code']} differs from the plan's {currency}",
            )
        items.append(objects.subscription_item(price, req.quantity or 1))
    return items, currency


def _all_prices(site: Site) -> dict[str, Json]:
    return site.store.objects["item_price"]


def create_customer(site: Site, object_id: str | None, fields: Json, *, source: str = "api") -> Json:
    """Create a customer; 400 `duplicate_entry` when the id is taken."""
    if object_id is not None and object_id in site.store.objects["customer"]:
        raise _duplicate("id", object_id)
    now = site.now()
    cust = objects.customer(object_id or site.store.new_id(), now, fields)
    site.store.save("customer", cust)
    site.emit("customer_created", {"customer": cust}, source=source)
    return cust


def update_customer(site: Site, customer_id: str, fields: Json, *, source: str = "api") -> Json:
    """Change customer fields (billing address entries merge); emits `customer_changed`."""
    cust = site.store.get("customer", customer_id)
    address = fields.pop("billing_address", None)
    cust.update(fields)
    if address is not None:
        merged = {**cust.get("billing_address", {}), **address, "object": "billing_address"}
        merged.setdefault("validation_status", "not_validated")
        cust["billing_address"] = merged
    site.store.save("customer", cust)
    site.emit("customer_changed", {"customer": cust}, source=source)
    return cust


def _issue_invoice(site: Site, sub: Json, cust: Json, *, first: bool) -> Json:
    prices = _all_prices(site)
    lines = [
        objects.line_item(
            site.store.new_id("li_"),
            prices[i["item_price_id"]],
            int(i["quantity"]),
            sub["current_term_start"],
            sub["current_term_end"],
            cust["id"],
            sub["id"],
        )
        for i in sub["subscription_items"]
        if i["item_price_id"] in prices
    ]
    inv = objects.invoice(
        site.store.next_number("invoice"),
        cust["id"],
        sub["id"],
        lines,
        site.now(),
        currency=sub["currency_code"],
        address=cust.get("billing_address"),
    )
    inv["first_invoice"] = first
    site.store.save("invoice", inv)
    return inv


def create_subscription(
    site: Site,
    customer_id: str,
    object_id: str | None,
    requests: list[ItemRequest],
    coupon_ids: list[str],
    *,
    source: str = "api",
) -> Json:
    """`POST /customers/{id}/subscription_for_items`: subscription plus its first invoice."""
    cust = site.store.get("customer", customer_id)
    if object_id is not None and object_id in site.store.objects["subscription"]:
        raise _duplicate("id", object_id)
    for index, coupon_id in enumerate(coupon_ids):
        site.store.get("coupon", coupon_id, param=f"coupon_ids[{index}]")
    items, currency = _build_items(site, requests)
    now = site.now()
    sub = objects.subscription(
        object_id or site.store.new_id(),
        customer_id,
        items,
        _all_prices(site),
        now,
        now,
        currency=currency,
        coupon_ids=coupon_ids or None,
    )
    site.store.save("subscription", sub)
    inv = _issue_invoice(site, sub, cust, first=True)
    site.emit("subscription_created", {"subscription": sub, "customer": cust, "invoice": inv}, source=source)
    site.emit("invoice_generated", {"invoice": inv}, source=source)
    return {"subscription": sub, "customer": cust, "invoice": inv}


def update_subscription_items(
    site: Site,
    subscription_id: str,
    requests: list[ItemRequest],
    *,
    replace: bool,
    source: str = "api",
) -> Json:
    """`POST /subscriptions/{id}/update_for_items`: merge (or replace) items; `subscription_changed`."""
    sub = site.store.get("subscription", subscription_id)
    if sub["status"] == "cancelled":
        raise ChargebeeApiError(400, "invalid_state_for_request", "Subscription is in cancelled state.")
    if replace:
        merged = requests
    else:
        current = {
            i["item_price_id"]: ItemRequest(i["item_price_id"], int(i["quantity"]), n)
            for n, i in enumerate(sub["subscription_items"])
        }
        for req in requests:
            current[req.item_price_id] = ItemRequest(
                req.item_price_id,
                req.quantity or (current[req.item_price_id].quantity if req.item_price_id in current else 1),
                req.index,
            )
        merged = list(current.values())
    items, currency = _build_items(site, merged)
    if currency != sub["currency_code"]:
        raise wrong_value("subscription_items[item_price_id][0]", "cannot change the subscription's currency")
    sub["subscription_items"] = items
    objects.recompute_mrr(sub, _all_prices(site))
    site.store.save("subscription", sub)
    cust = site.store.get("customer", sub["customer_id"])
    site.emit("subscription_changed", {"subscription": sub, "customer": cust}, source=source)
    return {"subscription": sub, "customer": cust}


def cancel_subscription(
    site: Site,
    subscription_id: str,
    *,
    end_of_term: bool,
    reason_code: str | None,
    source: str = "api",
) -> Json:
    """Cancel now (`subscription_cancelled`) or at term end (`subscription_cancellation_scheduled`)."""
    sub = site.store.get("subscription", subscription_id)
    if sub["status"] == "cancelled":
        raise ChargebeeApiError(400, "invalid_state_for_request", "Subscription is already cancelled.")
    if reason_code:
        sub["cancel_reason_code"] = reason_code
    if end_of_term:
        sub["status"] = "non_renewing"
        sub["cancelled_at"] = sub["current_term_end"]
        sub.pop("next_billing_at", None)
        event = "subscription_cancellation_scheduled"
    else:
        sub["status"] = "cancelled"
        sub["cancelled_at"] = site.now()
        sub["current_term_end"] = site.now()
        sub.pop("next_billing_at", None)
        event = "subscription_cancelled"
    objects.recompute_mrr(sub, _all_prices(site))
    site.store.save("subscription", sub)
    cust = site.store.get("customer", sub["customer_id"])
    site.emit(event, {"subscription": sub, "customer": cust}, source=source)
    return {"subscription": sub, "customer": cust}


def renew_subscription(site: Site, subscription_id: str, *, source: str = "scheduled_job") -> Json:
    """Start the next term and bill it: `subscription_renewed` then `invoice_generated`."""
    sub = site.store.get("subscription", subscription_id)
    if sub["status"] not in ("active", "in_trial"):
        raise ChargebeeApiError(
            400, "invalid_state_for_request", f"Subscription is in {sub['status']} state."
        )
    term = int(sub["current_term_end"]) - int(sub["current_term_start"])
    sub["current_term_start"] = sub["current_term_end"]
    sub["current_term_end"] = int(sub["current_term_start"]) + term
    sub["next_billing_at"] = sub["current_term_end"]
    site.store.save("subscription", sub)
    cust = site.store.get("customer", sub["customer_id"])
    inv = _issue_invoice(site, sub, cust, first=False)
    site.emit("subscription_renewed", {"subscription": sub, "customer": cust, "invoice": inv}, source=source)
    site.emit("invoice_generated", {"invoice": inv}, source=source)
    return {"subscription": sub, "customer": cust, "invoice": inv}


def pay_invoice(site: Site, invoice_id: str, amount: int | None = None, *, source: str = "api") -> Json:
    """Record a payment: `payment_succeeded` then `invoice_updated`."""
    inv = site.store.get("invoice", invoice_id)
    if inv["status"] in ("paid", "voided"):
        raise ChargebeeApiError(400, "invalid_state_for_request", f"Invoice is in {inv['status']} state.")
    due = int(inv["amount_due"])
    if amount is not None and amount != due:
        raise wrong_value("transaction[amount]", f"must equal the amount due ({due})")
    now = site.now()
    txn = objects.transaction(site.store.new_id("txn_"), inv, due, now)
    objects.mark_paid(inv, now, txn["id"])
    site.store.save("transaction", txn)
    site.store.save("invoice", inv)
    cust = site.store.get("customer", inv["customer_id"])
    content: Json = {"transaction": txn, "invoice": inv, "customer": cust}
    if inv.get("subscription_id") in site.store.objects["subscription"]:
        content["subscription"] = site.store.objects["subscription"][inv["subscription_id"]]
    site.emit("payment_succeeded", content, source=source)
    site.emit("invoice_updated", {"invoice": inv}, source=source)
    return {"invoice": inv, "transaction": txn}


def create_credit_note(
    site: Site,
    invoice_id: str,
    total: int,
    reason_code: str,
    *,
    source: str = "api",
) -> Json:
    """An adjustment credit note against an invoice: `credit_note_created` then `invoice_updated`."""
    inv = site.store.get("invoice", invoice_id, param="reference_invoice_id")
    # While money is due the note adjusts the invoice (up to what is due); afterwards it is refundable.
    limit = int(inv["amount_due"]) or int(inv["total"])
    if total <= 0 or total > limit:
        raise wrong_value("total", f"must be between 1 and {limit} for invoice {inv['id']}")
    now = site.now()
    note = objects.credit_note(site.store.next_number("credit_note"), inv, total, now, reason_code)
    objects.apply_credit(inv, note)
    site.store.save("credit_note", note)
    site.store.save("invoice", inv)
    site.emit("credit_note_created", {"credit_note": note}, source=source)
    site.emit("invoice_updated", {"invoice": inv}, source=source)
    return {"credit_note": note, "invoice": inv}


def create_quote(
    site: Site,
    customer_id: str,
    requests: list[ItemRequest],
    name: str | None,
    *,
    source: str = "api",
) -> Json:
    """A create-subscription quote with one line per item price: `quote_created`."""
    cust = site.store.get("customer", customer_id)
    items, currency = _build_items(site, requests)
    now = site.now()
    prices = _all_prices(site)
    lines = [
        objects.line_item(
            site.store.new_id("li_"),
            prices[i["item_price_id"]],
            int(i["quantity"]),
            now,
            now + objects.MONTH,
            cust["id"],
            None,
        )
        for i in items
    ]
    q = objects.quote(site.store.next_number("quote"), cust["id"], lines, now, currency=currency, name=name)
    site.store.save("quote", q)
    site.emit("quote_created", {"quote": q}, source=source)
    return {"quote": q}


def update_quote_status(site: Site, quote_id: str, status: str, *, source: str = "api") -> Json:
    """Accept, decline or close a quote: `quote_updated`."""
    q = site.store.get("quote", quote_id)
    q["status"] = status
    q["version"] = int(q["version"]) + 1
    site.store.save("quote", q)
    site.emit("quote_updated", {"quote": q}, source=source)
    return {"quote": q}


def save_catalog_entry(site: Site, kind: str, obj: Json, *, created: bool, source: str = "api") -> Json:
    """Store an item, item price or coupon and emit `<kind>_created|updated`."""
    site.store.save(kind, obj)
    site.emit(f"{kind}_{'created' if created else 'updated'}", {kind: obj}, source=source)
    return {kind: obj}
