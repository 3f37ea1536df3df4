"""The Orb tenant generator: deterministic from a seed, shaped as the SDK's models say, with
daily revenue that adds up and backfill bodies the mapping reads."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime

import orb.types as t
import pytest
from orb.types.customers.credits.ledger_list_response import LedgerListResponse
from pydantic import TypeAdapter

from bridge.events import Envelope
from bridge.mapping import build_mapper
from bridge.sandbox.orb import objects as o
from bridge.sandbox.orb import revenue
from bridge.sandbox.orb.clock import SandboxClock
from bridge.sandbox.orb.errors import OrbError
from bridge.sandbox.orb.store import Store
from bridge.sandbox.orb.tenant import generate

AS_OF = datetime(2025, 6, 15, 12, tzinfo=UTC)


def _store(seed: int = 11, customers: int = 150) -> Store:
    store = Store(SandboxClock(AS_OF))
    generate(store, seed=seed, customers=customers, months=6)
    return store


@pytest.fixture(scope="module")
def store() -> Store:
    return _store()


def _everything(store: Store) -> dict[str, object]:
    return {
        "customers": list(store.customers.items.values()),
        "subscriptions": [store.render_subscription(s) for s in store.subscriptions.items.values()],
        "invoices": list(store.invoices.items.values()),
        "credit_notes": list(store.credit_notes.items.values()),
        "ledger": store.ledger,
    }


def test_same_seed_gives_the_same_tenant_and_another_seed_a_different_one(store: Store) -> None:
    assert _everything(_store()) == _everything(store)
    other = _store(seed=12)
    assert [c["name"] for c in other.customers.items.values()] != [
        c["name"] for c in store.customers.items.values()
    ]


def test_generated_objects_validate_against_the_sdk_models(store: Store) -> None:
    for cust in store.customers.items.values():
        t.Customer.model_validate(cust)
    for plan in store.plans.items.values():
        t.Plan.model_validate(plan)
    for sub in store.subscriptions.items.values():
        t.Subscription.model_validate(store.render_subscription(sub))
    for inv in store.invoices.items.values():
        t.Invoice.model_validate(inv)
    for note in store.credit_notes.items.values():
        t.shared.CreditNote.model_validate(note)
    ledger = TypeAdapter(LedgerListResponse)
    for entries in store.ledger.values():
        for entry in entries:
            ledger.validate_python(entry)


def test_tenant_has_history_plan_changes_ends_and_every_invoice_state(store: Store) -> None:
    statuses = Counter(inv["status"] for inv in store.invoices.items.values())
    assert {"draft", "issued", "paid", "void"} <= set(statuses)
    subs = list(store.subscriptions.items.values())
    assert any(s["status"] == "ended" for s in subs)
    assert any(len({i["price"]["id"] for i in s["price_intervals"]}) > 2 for s in subs)  # changed plan
    assert store.credit_notes and any(len(v) > 1 for v in store.ledger.values())
    created = [c["created_at"] for c in store.customers.items.values()]
    assert created == sorted(created)


def test_ledger_balances_chain_from_entry_to_entry(store: Store) -> None:
    for entries in store.ledger.values():
        for before, after in itertools.pairwise(entries):
            assert after["starting_balance"] == before["ending_balance"]
            assert after["ledger_sequence_number"] == before["ledger_sequence_number"] + 1
        assert all(e["ending_balance"] >= 0 for e in entries)


def test_daily_revenue_rows_add_up_to_each_line_amount(store: Store) -> None:
    inv = next(i for i in store.invoices.items.values() if i["status"] == "paid" and len(i["line_items"]) > 1)
    for index, line in enumerate(inv["line_items"]):
        rows = revenue.line_rows(inv, index)
        assert sum(o.cents(r["amount"]) for r in rows) == o.cents(line["amount"])
        assert len({r["date"] for r in rows}) == len(rows) >= 28
        if line["price"]["price_type"] == "usage_price":
            assert round(sum(r["quantity"] for r in rows), 4) == line["quantity"]


@pytest.mark.parametrize("by_customer", [True, False])
def test_daily_revenue_pages_cover_every_row_once(store: Store, by_customer: bool) -> None:
    cid = next(iter(store.invoices_of)) if by_customer else None
    expected = [r["id"] for r in revenue.all_rows(store, cid)]
    seen: list[str] = []
    cursor = None
    for _ in range(10_000):
        page = revenue.page(store, limit=97, cursor=cursor, customer_id=cid)
        seen += [r["id"] for r in page["data"]]
        cursor = page["pagination_metadata"]["next_cursor"]
        if not page["pagination_metadata"]["has_more"]:
            break
    assert seen == expected and len(seen) > 97
    with pytest.raises(OrbError):
        revenue.page(store, limit=10, cursor="bm90IGEgY3Vyc29y", customer_id=cid)


def test_backfill_bodies_for_ledger_entries_and_daily_revenue_map_without_error(store: Store) -> None:
    mapper = build_mapper()

    def envelope(kind: str, body: dict[str, object], cid: str) -> Envelope:
        return Envelope(
            source="orb",
            event_id=f"backfill-{body['id']}",
            event_type=f"{kind}.backfill",
            occurred_at=AS_OF,
            object_type=kind,
            object_id=str(body["id"]),
            customer_id=cid,
            payload={kind: body},
        )

    cid, entries = next((k, v) for k, v in store.ledger.items() if len(v) > 1)
    sobjects = Counter()
    for entry in entries:
        for write in mapper.map_event(envelope("credit_ledger_entry", entry, cid)):
            sobjects[write.sobject] += 1
    assert sobjects["OrbCommittedLedgerEntry__c"] == len(entries)
    rows = list(revenue.all_rows(store, cid))[:40]
    for row in rows:
        [write] = [
            w
            for w in mapper.map_event(envelope("daily_line_item_revenue", row, cid))
            if w.sobject == "OrbDailyLineItemRevenue__c"
        ]
        assert write.external_id == row["id"]
