"""The seeded Chargebee tenant generator: deterministic, consistent, realistic enough to sync."""

from __future__ import annotations

import pytest

from bridge.sandbox.chargebee import tenant


@pytest.fixture(scope="module")
def site() -> tenant.Tenant:
    return tenant.generate(seed=9, customers=300)


def test_same_seed_gives_the_same_tenant_and_another_seed_does_not() -> None:
    assert tenant.generate(4, 40) == tenant.generate(4, 40)
    assert tenant.generate(4, 40).customers != tenant.generate(5, 40).customers


def test_every_reference_points_at_an_existing_object(site: tenant.Tenant) -> None:
    customers = {c["id"] for c in site.customers}
    prices = {p["id"] for p in site.item_prices}
    invoices = {i["id"]: i for i in site.invoices}
    assert len(site.customers) == 300
    assert {s["customer_id"] for s in site.subscriptions} <= customers
    assert {i["item_price_id"] for s in site.subscriptions for i in s["subscription_items"]} <= prices
    assert {i["customer_id"] for i in site.invoices} <= customers
    assert {q["customer_id"] for q in site.quotes} <= customers
    assert {n["type"] for n in site.credit_notes} >= {"adjustment"}
    for note in site.credit_notes:
        assert note["reference_invoice_id"] in invoices
        if note["type"] == "adjustment":
            assert note["allocations"][0]["invoice_id"] == note["reference_invoice_id"]
            assert note["total"] == note["amount_allocated"] > 0
        else:
            assert note["total"] == note["amount_available"] > 0


def test_invoices_add_up_and_paid_ones_have_a_transaction(site: tenant.Tenant) -> None:
    transactions = {t["id"]: t for t in site.transactions}
    for inv in site.invoices:
        assert inv["line_items"], inv["id"]
        assert sum(line["amount"] for line in inv["line_items"]) == inv["total"]
        assert inv["amount_paid"] + inv["amount_adjusted"] + inv["amount_due"] == inv["total"]
        for payment in inv["linked_payments"]:
            assert transactions[payment["txn_id"]]["linked_invoices"][0]["invoice_id"] == inv["id"]
    assert {i["status"] for i in site.invoices} >= {"paid", "payment_due"}


def test_tenant_has_variety_the_sync_must_handle(site: tenant.Tenant) -> None:
    with_company = [c for c in site.customers if "company" in c]
    assert 0 < len(with_company) < len(site.customers)
    assert all(c["billing_address"]["city"] for c in site.customers)
    assert any("tiers" in p for p in site.item_prices)
    assert {i["type"] for i in site.items} == {"plan", "addon", "charge"}
    assert {s["status"] for s in site.subscriptions} >= {"active", "cancelled"}
    changed = [s for s in site.subscriptions if s["updated_at"] > s["created_at"]]
    assert changed, "some subscriptions changed after they started"
    assert any(s.get("coupons") for s in site.subscriptions)
    assert site.quotes and all(q["line_items"] for q in site.quotes)
    assert {c["discount_type"] for c in site.coupons} == {"percentage", "fixed_amount"}


def test_every_object_has_a_resource_version_in_milliseconds_matching_updated_at(site: tenant.Tenant) -> None:
    for kind, rows in site.by_kind().items():
        for obj in rows:
            assert obj["resource_version"] // 1000 == obj["updated_at"], (kind, obj["id"])


def test_history_ends_at_the_given_now() -> None:
    now = 1_800_000_000
    generated = tenant.generate(1, 50, now=now)
    assert max(i["date"] for i in generated.invoices) <= now
    active = [s for s in generated.subscriptions if s["status"] == "active"]
    assert all(s["current_term_start"] <= now < s["current_term_end"] for s in active)


def test_negative_customer_count_is_refused() -> None:
    with pytest.raises(ValueError, match="customers"):
        tenant.generate(1, -1)
