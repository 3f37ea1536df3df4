"""A realistic Orb tenant generated from a seed: plans with prices, customers, subscriptions
that change plan or end over time, monthly invoices (paid, open, void, draft), credit notes and
committed-credit ledgers. Same seed, count and date → same tenant; 10k customers in seconds.

History is written without webhooks (it already happened); the API and `/_sandbox/actions`
move the tenant forward and emit events from there.
"""

from __future__ import annotations

import gc
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bridge.sandbox.orb import objects as o
from bridge.sandbox.orb.clock import iso
from bridge.sandbox.orb.store import Store, add_months, billing_period

# (external_plan_id, name, seat price, usage price per unit or None, net terms)
CATALOGUE = (
    ("starter", "Starter", "12.00", None, 0),
    ("team", "Team", "29.00", "0.002", 15),
    ("business", "Business", "59.00", "0.0015", 30),
    ("enterprise", "Enterprise", "99.00", "0.001", 45),
)
ADJECTIVES = ("Acme", "Blue", "Northern", "Quantum", "Silver", "Rapid", "Bright", "Iron", "Lunar", "Cedar")
NOUNS = (
    "Analytics",
    "Logistics",
    "Labs",
    "Robotics",
    "Health",
    "Foods",
    "Media",
    "Systems",
    "Energy",
    "Works",
)
SUFFIXES = ("Inc", "GmbH", "Ltd", "LLC", "SAS", "BV", "AB", "Pty")
CITIES = (
    ("Berlin", "DE", "10117"),
    ("Paris", "FR", "75001"),
    ("London", "GB", "EC1A 1BB"),
    ("New York", "US", "10001"),
    ("San Francisco", "US", "94105"),
    ("Amsterdam", "NL", "1012"),
    ("Stockholm", "SE", "111 20"),
    ("Sydney", "AU", "2000"),
)


@dataclass(frozen=True)
class TenantSummary:
    seed: int
    customers: int
    plans: int
    subscriptions: int
    invoices: int
    credit_notes: int
    ledger_entries: int
    as_of: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def build_catalogue(store: Store, created_at: datetime) -> list[dict[str, Any]]:
    """The plans every tenant has (fixed ids per seed: they are made first)."""
    plans = []
    for external, name, seat, usage, net_terms in CATALOGUE:
        prices = [
            o.unit_price(
                store.new_id(),
                name=f"{name} seats",
                item_id=f"item_seats_{external}",
                item_name=f"{name} seats",
                unit_amount=seat,
                created_at=created_at,
                external_price_id=f"{external}-seats",
            )
        ]
        if usage is not None:
            prices.append(
                o.unit_price(
                    store.new_id(),
                    name=f"{name} API calls",
                    item_id="item_api_calls",
                    item_name="API calls",
                    unit_amount=usage,
                    created_at=created_at,
                    fixed=False,
                    metric_id="metric_api_calls",
                    external_price_id=f"{external}-api-calls",
                )
            )
        plans.append(
            store.add_plan(
                o.plan(
                    store.new_id(),
                    name=name,
                    external_plan_id=external,
                    description=f"The {name} plan",
                    prices=prices,
                    created_at=created_at,
                    product_id="prod_bridge_cloud",
                    net_terms=net_terms,
                    trial_days=14 if external == "team" else None,
                )
            )
        )
    return plans


def generate(store: Store, *, seed: int = 0, customers: int = 100, months: int = 6) -> TenantSummary:
    """Replace the store's contents with a tenant of `customers` customers whose history spans
    the `months` before the sandbox clock's current day."""
    if customers < 0 or months < 1:
        raise ValueError("customers must be >= 0 and months >= 1")
    store.reset(seed)
    rng = random.Random(seed)
    as_of = store.clock.now().replace(hour=0, minute=0, second=0)
    history_start = add_months(as_of, -months, as_of.day if as_of.day <= 28 else 28)
    plans = build_catalogue(store, history_start - timedelta(days=30))
    window = (as_of - history_start).total_seconds()
    store.muted = True
    gc.disable()  # hundreds of thousands of small dicts: collection passes would dominate
    try:
        # created in order, like a real account: lists (newest first) then match created_at
        offsets = sorted(rng.random() for _ in range(customers))
        for n, offset in enumerate(offsets):
            created = history_start + timedelta(seconds=int(offset * window * 0.66))
            _customer_history(store, rng, n, plans, created, as_of)
    finally:
        gc.enable()
        store.muted = False
    return TenantSummary(
        seed=seed,
        customers=len(store.customers),
        plans=len(store.plans),
        subscriptions=len(store.subscriptions),
        invoices=len(store.invoices),
        credit_notes=len(store.credit_notes),
        ledger_entries=sum(len(v) for v in store.ledger.values()),
        as_of=str(iso(as_of)),
    )


def _customer_history(
    store: Store,
    rng: random.Random,
    n: int,
    plans: list[dict[str, Any]],
    created: datetime,
    as_of: datetime,
) -> None:
    company = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} {rng.choice(SUFFIXES)}"
    city, country, postal = rng.choice(CITIES)
    pays_by_card = rng.random() < 0.7
    cust = store.add_customer(
        o.customer(
            store.new_id(),
            name=f"{company} #{n}",
            email=f"billing+{n}@{company.split()[0].lower()}{n}.example",
            created_at=created,
            external_customer_id=f"ext-{n:06d}" if rng.random() < 0.5 else None,
            billing_address=o.address(
                line1=f"{rng.randint(1, 200)} Main Street", city=city, country=country, postal_code=postal
            ),
            metadata={"segment": rng.choice(("smb", "mid_market", "enterprise"))},
            payment_provider="stripe_charge" if pays_by_card else None,
            payment_provider_id=f"cus_stripe_{n:06d}" if pays_by_card else None,
        )
    )
    plan = rng.choice(plans)
    start = (created + timedelta(days=rng.randint(0, 3))).replace(hour=0, minute=0, second=0)
    if start > as_of:
        return
    sub = store.add_subscription(
        cust,
        plan,
        start=start,
        created_at=created,
        quantity=float(rng.randint(1, 50)),
        metadata={"opportunity": f"opp-{n:06d}"},
    )
    change_at = rng.randint(1, 5) if rng.random() < 0.25 else None
    end_at = rng.randint(2, 6) if rng.random() < 0.08 else None
    if rng.random() < 0.3:
        store.add_ledger_entry(
            cust,
            "increment",
            float(rng.choice((500, 1000, 5000))),
            at=start,
            expiry=add_months(start, 12, start.day if start.day <= 28 else 28),
            description="Prepaid commitment",
        )
    period_start = start
    for k in range(24):
        begin, end = billing_period(start, sub["billing_cycle_day"], period_start)
        if begin > as_of:
            break
        if end_at is not None and k == end_at:
            store._end(sub, begin)
            break
        if change_at is not None and k == change_at:
            others = [p for p in plans if p["id"] != sub["_plan_id"]]
            store._apply_plan_change(sub, rng.choice(others), begin)
        inv = store.draft_invoice(sub, period=(begin, end), rng=rng)
        _settle(store, rng, inv, begin, current=end > as_of)
        if inv["status"] in ("paid", "issued") and cust["id"] in store.ledger:
            used = round(rng.uniform(10, 200), 2)
            if used <= store.ledger_balance(cust["id"]):
                store.add_ledger_entry(
                    cust,
                    "decrement",
                    used,
                    at=begin + timedelta(days=1),
                    description="Usage drawn from credits",
                )
        period_start = end


def _settle(store: Store, rng: random.Random, inv: dict[str, Any], begin: datetime, *, current: bool) -> None:
    """Give a generated invoice the life it would have had by now."""
    roll = rng.random()
    if current and roll < 0.3:
        return  # still a draft
    inv["status"] = "issued"
    inv["issued_at"] = iso(begin)
    inv["hosted_invoice_url"] = f"https://withorb.com/invoice/{inv['id']}"
    if current and roll < 0.7:
        return
    if roll < 0.04:
        inv["status"] = "void"
        inv["voided_at"] = iso(begin + timedelta(days=2))
        inv["amount_due"] = "0.00"
        return
    if roll < 0.1:
        inv["payment_failed_at"] = iso(begin + timedelta(days=1))
        return
    paid = begin + timedelta(days=rng.randint(0, 10))
    inv["status"] = "paid"
    inv["paid_at"] = iso(paid)
    inv["payment_received_at"] = iso(paid)
    if rng.random() < 0.05 and inv["line_items"]:
        store.add_credit_note(inv, at=paid + timedelta(days=3))
