"""The `/api/v2` routes: customers, items, item prices, subscriptions, quotes, invoices, coupons,
credit notes, transactions and events, with Chargebee's paths, shapes and errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.routing import Route

from bridge.sandbox.chargebee import listing, objects, operations
from bridge.sandbox.chargebee import params as p
from bridge.sandbox.chargebee.errors import ChargebeeApiError, blank, wrong_value
from bridge.sandbox.chargebee.pipeline import Handler, endpoint
from bridge.sandbox.chargebee.site import Site

Json = dict[str, Any]
Path = dict[str, str]

CUSTOMER_FIELDS: dict[str, p.Check] = {
    "first_name": p.text(),
    "last_name": p.text(),
    "email": p.email,
    "phone": p.text(50),
    "company": p.text(250),
    "auto_collection": p.one_of("on", "off"),
    "net_term_days": p.integer(0, 365),
    "vat_number": p.text(20),
    "preferred_currency_code": p.text(3),
    "locale": p.text(50),
    "taxability": p.one_of("taxable", "exempt"),
    "allow_direct_debit": p.boolean,
}
ADDRESS_FIELDS: dict[str, p.Check] = {
    name: p.text()
    for name in (
        "first_name",
        "last_name",
        "company",
        "phone",
        "line1",
        "line2",
        "line3",
        "city",
        "state_code",
        "state",
        "zip",
    )
} | {"email": p.email, "country": p.country}
PRICING_MODELS = ("flat_fee", "per_unit", "tiered", "volume", "stairstep")


def _list(kind: str, **kwargs: Any) -> Handler:
    def handler(site: Site, params: Json, path: Path) -> Json:
        order = site.store.order[kind]
        rows = ((order[obj_id], obj) for obj_id, obj in site.store.objects[kind].items())
        return listing.page(
            rows,
            kind,
            params,
            companions=_companions(site, kind),
            index=lambda field: site.store.sorted_by(kind, field),
            **kwargs,
        )

    return handler


def _list_for(kind: str, owner_field: str, owner_kind: str) -> Handler:
    def handler(site: Site, params: Json, path: Path) -> Json:
        site.store.get(owner_kind, path["id"])
        order = site.store.order[kind]
        rows = (
            (order[i], o) for i, o in site.store.objects[kind].items() if o.get(owner_field) == path["id"]
        )
        return listing.page(rows, kind, params, companions=_companions(site, kind))

    return handler


def _companions(site: Site, kind: str) -> Callable[[Json], Json] | None:
    """Chargebee answers subscriptions together with their customer."""
    if kind != "subscription":
        return None
    return lambda sub: {"customer": site.store.get("customer", sub["customer_id"])}


def _retrieve(kind: str) -> Handler:
    def handler(site: Site, params: Json, path: Path) -> Json:
        obj = site.store.get(kind, path["id"])
        extra = _companions(site, kind)
        return {kind: obj, **(extra(obj) if extra else {})}

    return handler


def _address(params: Json) -> Json | None:
    raw = params.get("billing_address")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise wrong_value("billing_address", "must be given as billing_address[field]")
    return p.fields(raw, ADDRESS_FIELDS, prefix="billing_address")


def create_customer(site: Site, params: Json, path: Path) -> Json:
    """`POST /customers`."""
    fields = p.fields(params, CUSTOMER_FIELDS)
    address = _address(params)
    if address is not None:
        fields["billing_address"] = {
            **address,
            "validation_status": "not_validated",
            "object": "billing_address",
        }
    return {"customer": operations.create_customer(site, p.optional(params, "id"), fields)}


def update_customer(site: Site, params: Json, path: Path) -> Json:
    """`POST /customers/{id}`."""
    fields = p.fields(params, CUSTOMER_FIELDS)
    return {"customer": operations.update_customer(site, path["id"], fields)}


def update_billing_info(site: Site, params: Json, path: Path) -> Json:
    """`POST /customers/{id}/update_billing_info`."""
    fields = p.fields(params, {"vat_number": p.text(20)})
    address = _address(params)
    if address is not None:
        fields["billing_address"] = address
    return {"customer": operations.update_customer(site, path["id"], fields)}


def create_item(site: Site, params: Json, path: Path) -> Json:
    """`POST /items`."""
    item_id = p.required(params, "id")
    if item_id in site.store.objects["item"]:
        raise ChargebeeApiError(
            400, "duplicate_entry", f"id : The value {item_id} is already present.", param="id"
        )
    name = p.required(params, "name")
    item_type = p.one_of("plan", "addon", "charge")("type", p.required(params, "type"))
    family = p.required(params, "item_family_id")
    item = objects.item(item_id, name, item_type, family, site.now())
    if description := p.optional(params, "description"):
        item["description"] = description
    return operations.save_catalog_entry(site, "item", item, created=True)


def update_item(site: Site, params: Json, path: Path) -> Json:
    """`POST /items/{id}`."""
    item = site.store.get("item", path["id"])
    item.update(
        p.fields(
            params,
            {
                "name": p.text(),
                "external_name": p.text(),
                "description": p.text(2000),
                "status": p.one_of("active", "archived"),
            },
        )
    )
    return operations.save_catalog_entry(site, "item", item, created=False)


def _tiers(params: Json) -> list[Json] | None:
    rows = params.get("tiers")
    if rows is None:
        return None
    if not isinstance(rows, list):
        raise wrong_value("tiers", "must be indexed as tiers[starting_unit][0]")
    tiers = []
    for row in rows:
        i = row["_index"]
        start = p.integer(1)(f"tiers[starting_unit][{i}]", row.get("starting_unit") or "")
        end = (
            p.integer(start)(f"tiers[ending_unit][{i}]", row["ending_unit"])
            if row.get("ending_unit")
            else None
        )
        price = p.integer(0)(f"tiers[price][{i}]", row.get("price") or "")
        tiers.append(objects.tier(start, end, price))
    return tiers


def create_item_price(site: Site, params: Json, path: Path) -> Json:
    """`POST /item_prices`."""
    price_id = p.required(params, "id")
    if price_id in site.store.objects["item_price"]:
        raise ChargebeeApiError(
            400, "duplicate_entry", f"id : The value {price_id} is already present.", param="id"
        )
    parent = site.store.get("item", p.required(params, "item_id"), param="item_id")
    model = p.one_of(*PRICING_MODELS)("pricing_model", p.optional(params, "pricing_model") or "flat_fee")
    tiers = _tiers(params)
    if model in ("tiered", "volume", "stairstep") and not tiers:
        raise blank("tiers[starting_unit][0]")
    raw_price = p.optional(params, "price")
    price = p.integer(0)("price", raw_price) if raw_price is not None else 0
    body = objects.item_price(
        price_id,
        parent,
        model,
        site.now(),
        price=price,
        tiers=tiers,
        currency=p.optional(params, "currency_code") or "USD",
        period=p.integer(1)("period", p.optional(params, "period") or "1"),
        period_unit=p.one_of("day", "week", "month", "year")(
            "period_unit", p.optional(params, "period_unit") or "month"
        ),
    )
    if name := p.optional(params, "name"):
        body["name"] = name
    return operations.save_catalog_entry(site, "item_price", body, created=True)


def update_item_price(site: Site, params: Json, path: Path) -> Json:
    """`POST /item_prices/{id}`."""
    price = site.store.get("item_price", path["id"])
    changes = p.fields(
        params,
        {
            "name": p.text(),
            "external_name": p.text(),
            "price": p.integer(0),
            "status": p.one_of("active", "archived"),
        },
    )
    tiers = _tiers(params)
    if tiers is not None:
        changes["tiers"] = tiers
    price.update(changes)
    return operations.save_catalog_entry(site, "item_price", price, created=False)


def create_subscription_for_items(site: Site, params: Json, path: Path) -> Json:
    """`POST /customers/{id}/subscription_for_items`."""
    return operations.create_subscription(
        site,
        path["id"],
        p.optional(params, "id"),
        p.item_requests(params),
        p.indexed(params, "coupon_ids"),
    )


def update_subscription_for_items(site: Site, params: Json, path: Path) -> Json:
    """`POST /subscriptions/{id}/update_for_items`."""
    replace = p.boolean("replace_items_list", p.optional(params, "replace_items_list") or "false")
    return operations.update_subscription_items(site, path["id"], p.item_requests(params), replace=replace)


def cancel_subscription(site: Site, params: Json, path: Path) -> Json:
    """`POST /subscriptions/{id}/cancel_for_items` (and the older `/cancel`)."""
    end_of_term = p.boolean("end_of_term", p.optional(params, "end_of_term") or "false")
    return operations.cancel_subscription(
        site, path["id"], end_of_term=end_of_term, reason_code=p.optional(params, "cancel_reason_code")
    )


def create_quote(site: Site, params: Json, path: Path) -> Json:
    """`POST /customers/{id}/create_subscription_quote_for_items`."""
    return operations.create_quote(site, path["id"], p.item_requests(params), p.optional(params, "name"))


def update_quote_status(site: Site, params: Json, path: Path) -> Json:
    """`POST /quotes/{id}/update_status`."""
    status = p.one_of("accepted", "declined", "closed")("status", p.required(params, "status"))
    return operations.update_quote_status(site, path["id"], status)


def record_payment(site: Site, params: Json, path: Path) -> Json:
    """`POST /invoices/{id}/record_payment`."""
    txn = params.get("transaction")
    amount = None
    if isinstance(txn, dict) and txn.get("amount"):
        amount = p.integer(1)("transaction[amount]", txn["amount"])
    return operations.pay_invoice(site, path["id"], amount)


def create_coupon(site: Site, params: Json, path: Path) -> Json:
    """`POST /coupons/create_for_items`."""
    coupon_id = p.required(params, "id")
    if coupon_id in site.store.objects["coupon"]:
        raise ChargebeeApiError(
            400, "duplicate_entry", f"id : The value {coupon_id} is already present.", param="id"
        )
    name = p.required(params, "name")
    kind = p.one_of("percentage", "fixed_amount")("discount_type", p.required(params, "discount_type"))
    duration = p.one_of("one_time", "forever", "limited_period")(
        "duration_type", p.optional(params, "duration_type") or "forever"
    )
    if kind == "percentage":
        raw = p.required(params, "discount_percentage")
        try:
            percentage = float(raw)
        except ValueError:
            raise wrong_value("discount_percentage", "must be a number") from None
        if not 0 < percentage <= 100:
            raise wrong_value("discount_percentage", "must be between 0.01 and 100")
        coupon = objects.coupon(coupon_id, name, site.now(), percentage=percentage, duration_type=duration)
    else:
        amount = p.integer(1)("discount_amount", p.required(params, "discount_amount"))
        coupon = objects.coupon(
            coupon_id,
            name,
            site.now(),
            amount=amount,
            duration_type=duration,
            currency=p.optional(params, "currency_code") or "USD",
        )
    return operations.save_catalog_entry(site, "coupon", coupon, created=True)


def create_credit_note(site: Site, params: Json, path: Path) -> Json:
    """`POST /credit_notes` (adjustment against `reference_invoice_id`)."""
    invoice_id = p.required(params, "reference_invoice_id")
    total = p.integer(1)("total", p.required(params, "total"))
    reason = p.optional(params, "reason_code") or "product_unsatisfactory"
    return operations.create_credit_note(site, invoice_id, total, reason)


def list_events(site: Site, params: Json, path: Path) -> Json:
    """`GET /events`, newest first, filterable by `event_type`, `occurred_at`, `source`, …"""
    order = site.store.order.get("event", {})
    rows = ((order[e["id"]], e) for e in site.store.events)
    return listing.page(rows, "event", params, default_sort="occurred_at", sortable=("occurred_at",))


def retrieve_event(site: Site, params: Json, path: Path) -> Json:
    """`GET /events/{id}`."""
    event = site.store.events_by_id.get(path["id"])
    if event is None:
        raise ChargebeeApiError(
            404, "resource_not_found", f"Sorry, we couldn't find that resource: event {path['id']!r}"
        )
    return {"event": event}


def _route(path: str, handler: Handler, method: str) -> Route:
    return Route(f"/api/v2{path}", endpoint(handler), methods=[method])


ROUTES = [
    _route("/customers", create_customer, "POST"),
    _route("/customers", _list("customer"), "GET"),
    _route("/customers/{id}", _retrieve("customer"), "GET"),
    _route("/customers/{id}", update_customer, "POST"),
    _route("/customers/{id}/update_billing_info", update_billing_info, "POST"),
    _route("/customers/{id}/subscription_for_items", create_subscription_for_items, "POST"),
    _route("/customers/{id}/subscriptions", _list_for("subscription", "customer_id", "customer"), "GET"),
    _route("/customers/{id}/invoices", _list_for("invoice", "customer_id", "customer"), "GET"),
    _route("/customers/{id}/credit_notes", _list_for("credit_note", "customer_id", "customer"), "GET"),
    _route("/customers/{id}/create_subscription_quote_for_items", create_quote, "POST"),
    _route("/items", create_item, "POST"),
    _route("/items", _list("item"), "GET"),
    _route("/items/{id}", _retrieve("item"), "GET"),
    _route("/items/{id}", update_item, "POST"),
    _route("/item_prices", create_item_price, "POST"),
    _route("/item_prices", _list("item_price"), "GET"),
    _route("/item_prices/{id}", _retrieve("item_price"), "GET"),
    _route("/item_prices/{id}", update_item_price, "POST"),
    _route("/subscriptions", _list("subscription"), "GET"),
    _route("/subscriptions/{id}", _retrieve("subscription"), "GET"),
    _route("/subscriptions/{id}/update_for_items", update_subscription_for_items, "POST"),
    _route("/subscriptions/{id}/cancel_for_items", cancel_subscription, "POST"),
    _route("/subscriptions/{id}/cancel", cancel_subscription, "POST"),
    _route("/subscriptions/{id}/invoices", _list_for("invoice", "subscription_id", "subscription"), "GET"),
    _route("/quotes", _list("quote", default_sort="date", sortable=("date", "updated_at")), "GET"),
    _route("/quotes/{id}", _retrieve("quote"), "GET"),
    _route("/quotes/{id}/update_status", update_quote_status, "POST"),
    _route("/invoices", _list("invoice", default_sort="date", sortable=("date", "updated_at")), "GET"),
    _route("/invoices/{id}", _retrieve("invoice"), "GET"),
    _route("/invoices/{id}/record_payment", record_payment, "POST"),
    _route("/coupons/create_for_items", create_coupon, "POST"),
    _route("/coupons", _list("coupon"), "GET"),
    _route("/coupons/{id}", _retrieve("coupon"), "GET"),
    _route("/credit_notes", create_credit_note, "POST"),
    _route(
        "/credit_notes", _list("credit_note", default_sort="date", sortable=("date", "updated_at")), "GET"
    ),
    _route("/credit_notes/{id}", _retrieve("credit_note"), "GET"),
    _route(
        "/transactions", _list("transaction", default_sort="date", sortable=("date", "updated_at")), "GET"
    ),
    _route("/transactions/{id}", _retrieve("transaction"), "GET"),
    _route("/events", list_events, "GET"),
    _route("/events/{id}", retrieve_event, "GET"),
]
