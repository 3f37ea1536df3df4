"""The real `chargebee` SDK, unmodified, against the Chargebee sandbox on a real port."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from chargebee import APIError, Chargebee, InvalidRequestError, OperationFailedError
from chargebee_sandbox_support import control, sdk, serve

from bridge.sandbox.chargebee.app import create_app


@pytest.fixture
def base_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # The SDK forces https while this class attribute is True, whatever `protocol` says.
    monkeypatch.setattr(Chargebee, "verify_ca_certs", False)
    with serve(create_app(seed=3)) as url:
        assert control(url, "POST", "/tenant", {"seed": 11, "customers": 25}).status_code == 200
        yield url


@pytest.fixture
def cb(base_url: str) -> Chargebee:
    return sdk(base_url)


def test_sdk_lists_all_customers_across_pages_with_next_offset(cb: Chargebee, base_url: str) -> None:
    seen: list[str] = []
    offset = None
    pages = 0
    while True:
        params = {"limit": 10, **({"offset": offset} if offset else {})}
        page = cb.Customer.list(params)
        seen += [row.customer.id for row in page.list]
        pages += 1
        offset = page.next_offset
        if not offset:
            break
        assert pages < 10
    expected = {c["id"] for c in control(base_url, "GET", "/snapshot").json()["objects"]["customer"]}
    assert pages == 3
    assert len(seen) == len(set(seen)) == 25
    assert set(seen) == expected


def test_sdk_update_customer_changes_fields_and_bumps_resource_version(cb: Chargebee) -> None:
    before = cb.Customer.list({"limit": 1}).list[0].customer
    updated = cb.Customer.update(before.id, {"first_name": "Renamed", "cf_segment": "smb"}).customer
    assert updated.first_name == "Renamed"
    assert updated.raw_data["cf_segment"] == "smb"
    assert updated.resource_version > before.resource_version
    assert cb.Customer.retrieve(before.id).customer.first_name == "Renamed"
    events = cb.Event.list({"event_type": {"is": "customer_changed"}}).list
    assert [e.event.content["customer"]["id"] for e in events] == [before.id]


def test_sdk_update_billing_info_sets_nested_address(cb: Chargebee) -> None:
    customer_id = cb.Customer.list({"limit": 1}).list[0].customer.id
    answer = cb.Customer.update_billing_info(
        customer_id, {"billing_address": {"city": "Lyon", "country": "FR", "company": "Canut SA"}}
    )
    address = answer.customer.billing_address
    assert (address.city, address.country, address.company) == ("Lyon", "FR", "Canut SA")


def test_sdk_subscription_for_items_with_same_idempotency_key_creates_one_subscription(cb: Chargebee) -> None:
    customer_id = cb.Customer.create({"first_name": "Idem", "email": "idem@example.com"}).customer.id
    params = {
        "subscription_items": [
            {"item_price_id": "growth-USD-monthly", "quantity": 4},
            {"item_price_id": "priority-support-USD-monthly"},
        ]
    }
    headers = {"chargebee-idempotency-key": f"opportunity-{uuid.uuid4().hex}-won"}
    first = cb.Subscription.create_with_items(customer_id, params, headers)
    second = cb.Subscription.create_with_items(customer_id, params, headers)
    assert first.is_idempotency_replayed is False
    assert second.is_idempotency_replayed is True
    assert second.subscription.id == first.subscription.id
    assert first.subscription.subscription_items[0].quantity == 4
    assert first.invoice.total == 4 * 1500 + 9900
    subs = cb.Subscription.list({"customer_id": {"is": customer_id}}).list
    assert len(subs) == 1


def test_sdk_same_idempotency_key_with_other_body_is_refused_with_422(cb: Chargebee) -> None:
    customer_id = cb.Customer.create({"first_name": "Idem"}).customer.id
    headers = {"chargebee-idempotency-key": "reused-key"}
    cb.Subscription.create_with_items(
        customer_id, {"subscription_items": [{"item_price_id": "starter-USD-monthly"}]}, headers
    )
    with pytest.raises(InvalidRequestError) as err:
        cb.Subscription.create_with_items(
            customer_id, {"subscription_items": [{"item_price_id": "growth-USD-monthly"}]}, headers
        )
    assert err.value.http_status_code == 422
    assert err.value.api_error_code == "unable_to_process_request"
    assert len(cb.Subscription.list({"customer_id": {"is": customer_id}}).list) == 1


def test_sdk_retrieves_invoice_with_line_items(cb: Chargebee) -> None:
    listed = cb.Invoice.list({"limit": 1}).list[0].invoice
    invoice = cb.Invoice.retrieve(listed.id).invoice
    assert invoice.id == listed.id
    assert invoice.line_items, "generated invoices carry line items"
    assert sum(line.amount for line in invoice.line_items) == invoice.total
    assert invoice.resource_version > 0


def test_sdk_unknown_customer_raises_resource_not_found(cb: Chargebee) -> None:
    with pytest.raises(InvalidRequestError) as err:
        cb.Customer.retrieve("no-such-customer")
    assert err.value.http_status_code == 404
    assert err.value.api_error_code == "resource_not_found"


def test_sdk_wrong_api_key_gets_401(base_url: str) -> None:
    with pytest.raises(APIError) as err:
        sdk(base_url, api_key="wrong").Customer.list()
    assert err.value.http_status_code == 401
    assert err.value.api_error_code == "api_authentication_failed"


def test_sdk_invalid_param_error_names_the_param(cb: Chargebee) -> None:
    with pytest.raises(InvalidRequestError) as err:
        cb.Customer.create({"first_name": "X", "billing_address": {"country": "France"}})
    assert err.value.http_status_code == 400
    assert err.value.api_error_code == "param_wrong_value"
    assert err.value.param == "billing_address[country]"


def test_sdk_sees_injected_429_as_rate_limit_with_retry_after(cb: Chargebee, base_url: str) -> None:
    assert (
        control(base_url, "POST", "/faults", {"status": 429, "retry_after": 7, "count": 1}).status_code == 200
    )
    with pytest.raises(OperationFailedError) as err:
        cb.Customer.list()
    assert err.value.http_status_code == 429
    assert err.value.api_error_code == "api_request_limit_exceeded"
    assert err.value.http_headers["retry-after"] == "7"
    assert cb.Customer.list().list, "the fault was for one request only"


def test_sdk_update_for_items_and_cancel_for_items_change_the_subscription(cb: Chargebee) -> None:
    listed = cb.Subscription.list({"status": {"is": "active"}, "limit": 1}).list[0]
    sub = listed.subscription
    assert listed.customer.id == sub.customer_id
    plan = sub.subscription_items[0]
    updated = cb.Subscription.update_for_items(
        sub.id, {"subscription_items": [{"item_price_id": plan.item_price_id, "quantity": plan.quantity + 3}]}
    ).subscription
    assert updated.subscription_items[0].quantity == plan.quantity + 3
    assert updated.resource_version > sub.resource_version
    cancelled = cb.Subscription.cancel_for_items(sub.id, {"end_of_term": True}).subscription
    assert cancelled.status == "non_renewing"
    types = [row.event.event_type for row in cb.Event.list({"limit": 5}).list]
    assert types[:2] == ["subscription_cancellation_scheduled", "subscription_changed"]


def test_sdk_creates_catalog_entries_with_tiers_and_coupons(cb: Chargebee) -> None:
    cb.Item.create({"id": "storage", "name": "Storage", "type": "addon", "item_family_id": "saas"})
    price = cb.ItemPrice.create(
        {
            "id": "storage-USD-monthly",
            "item_id": "storage",
            "name": "Storage monthly",
            "pricing_model": "tiered",
            "period": 1,
            "period_unit": "month",
            "tiers": [
                {"starting_unit": 1, "ending_unit": 100, "price": 0},
                {"starting_unit": 101, "price": 5},
            ],
        }
    ).item_price
    assert [(t.starting_unit, t.ending_unit, t.price) for t in price.tiers] == [(1, 100, 0), (101, None, 5)]
    coupon = cb.Coupon.create_for_items(
        {
            "id": "SPRING15",
            "name": "Spring 15%",
            "discount_type": "percentage",
            "discount_percentage": 15,
            "duration_type": "forever",
            "apply_on": "invoice_amount",
        }
    ).coupon
    assert coupon.discount_percentage == 15
    types = {row.event.event_type for row in cb.Event.list({"limit": 10}).list}
    assert {"item_created", "item_price_created", "coupon_created"} <= types
    with pytest.raises(InvalidRequestError) as err:
        cb.ItemPrice.create({"id": "bad", "item_id": "storage", "pricing_model": "volume"})
    assert err.value.param == "tiers[starting_unit][0]"
