"""A deterministic Chargebee site generated from a seed, shared by tests, demo and benchmarks.

`generate(seed, customers)` returns the same catalog, customers, subscriptions (with changes
over time), invoices, payments, quotes, coupons and credit notes for the same arguments.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bridge.sandbox.chargebee import objects
from bridge.sandbox.chargebee.objects import MONTH, Json

# 2026-01-01T00:00:00Z: generated history ends here unless the caller says otherwise.
DEFAULT_NOW = 1_767_225_600
_FIRST = [
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Barbara",
    "Ken",
    "Margaret",
    "Dennis",
    "Frances",
    "Edsger",
    "Radia",
    "Guido",
    "Sophie",
    "Tim",
    "Katherine",
    "John",
    "Hedy",
    "Donald",
    "Anita",
    "Niklaus",
]
_LAST = [
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Liskov",
    "Thompson",
    "Hamilton",
    "Ritchie",
    "Allen",
    "Dijkstra",
    "Perlman",
    "van Rossum",
    "Wilson",
    "Berners-Lee",
    "Johnson",
    "Backus",
    "Lamarr",
    "Knuth",
    "Borg",
    "Wirth",
]
_COMPANY = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Wonka",
    "Aperture",
    "Massive Dynamic",
    "Oscorp",
]
_SUFFIX = ["Inc", "LLC", "GmbH", "Ltd", "SAS", "BV"]
_PLACES = [
    ("San Francisco", "California", "CA", "US", "94107"),
    ("New York", "New York", "NY", "US", "10001"),
    ("Austin", "Texas", "TX", "US", "73301"),
    ("Toronto", "Ontario", "ON", "CA", "M5H 2N2"),
    ("Berlin", "Berlin", "BE", "DE", "10115"),
    ("Paris", "Ile-de-France", "IDF", "FR", "75001"),
    ("London", "England", "ENG", "GB", "EC1A 1BB"),
    ("Sydney", "New South Wales", "NSW", "AU", "2000"),
]


@dataclass
class Tenant:
    """Every resource of a generated site, by kind, in creation order."""

    customers: list[Json] = field(default_factory=list)
    items: list[Json] = field(default_factory=list)
    item_prices: list[Json] = field(default_factory=list)
    coupons: list[Json] = field(default_factory=list)
    subscriptions: list[Json] = field(default_factory=list)
    quotes: list[Json] = field(default_factory=list)
    invoices: list[Json] = field(default_factory=list)
    transactions: list[Json] = field(default_factory=list)
    credit_notes: list[Json] = field(default_factory=list)

    def by_kind(self) -> dict[str, list[Json]]:
        """Resources keyed by their JSON name (`customer`, `item_price`, …), parents first."""
        return {
            "item": self.items,
            "item_price": self.item_prices,
            "coupon": self.coupons,
            "customer": self.customers,
            "subscription": self.subscriptions,
            "quote": self.quotes,
            "invoice": self.invoices,
            "transaction": self.transactions,
            "credit_note": self.credit_notes,
        }


def catalog(created_at: int) -> tuple[list[Json], list[Json], list[Json]]:
    """The fixed product catalog: plans, addons and a one-off charge, their prices, and coupons."""
    items = [
        objects.item("starter", "Starter", "plan", "saas", created_at),
        objects.item("growth", "Growth", "plan", "saas", created_at),
        objects.item("enterprise", "Enterprise", "plan", "saas", created_at),
        objects.item("extra-seats", "Extra seats", "addon", "saas", created_at),
        objects.item("priority-support", "Priority support", "addon", "saas", created_at),
        objects.item("api-calls", "API calls", "addon", "saas", created_at),
        objects.item("onboarding", "Onboarding", "charge", "saas", created_at),
    ]
    by_id = {i["id"]: i for i in items}
    ip = objects.item_price
    t = objects.tier
    prices = [
        ip("starter-USD-monthly", by_id["starter"], "flat_fee", created_at, price=2900),
        ip("starter-USD-yearly", by_id["starter"], "flat_fee", created_at, price=29000, period_unit="year"),
        ip("growth-USD-monthly", by_id["growth"], "per_unit", created_at, price=1500),
        ip("growth-EUR-monthly", by_id["growth"], "per_unit", created_at, price=1400, currency="EUR"),
        ip(
            "enterprise-USD-monthly",
            by_id["enterprise"],
            "volume",
            created_at,
            tiers=[t(1, 50, 4000), t(51, 200, 3500), t(201, None, 3000)],
        ),
        ip("extra-seats-USD-monthly", by_id["extra-seats"], "per_unit", created_at, price=800),
        ip(
            "extra-seats-EUR-monthly", by_id["extra-seats"], "per_unit", created_at, price=750, currency="EUR"
        ),
        ip("priority-support-USD-monthly", by_id["priority-support"], "flat_fee", created_at, price=9900),
        ip(
            "api-calls-USD-monthly",
            by_id["api-calls"],
            "tiered",
            created_at,
            tiers=[t(1, 1000, 0), t(1001, 10000, 2), t(10001, None, 1)],
        ),
        ip("onboarding-USD", by_id["onboarding"], "flat_fee", created_at, price=50000),
    ]
    coupons = [
        objects.coupon("WELCOME10", "Welcome 10%", created_at, percentage=10.0),
        objects.coupon("FLAT50", "50 off", created_at, amount=5000, duration_type="one_time"),
        objects.coupon("LAUNCH25", "Launch 25%", created_at, percentage=25.0, duration_type="limited_period"),
    ]
    return items, prices, coupons


def generate(seed: int, customers: int, *, now: int = DEFAULT_NOW, history_months: int = 6) -> Tenant:
    """A site with `customers` customers, each with a subscription and up to `history_months` invoices."""
    if customers < 0:
        raise ValueError("customers must be >= 0")
    rng = random.Random(seed)
    start = now - (history_months + 2) * MONTH
    tenant = Tenant()
    tenant.items, tenant.item_prices, tenant.coupons = catalog(start)
    prices = {p["id"]: p for p in tenant.item_prices}
    plans = {
        "USD": ["starter-USD-monthly", "starter-USD-yearly", "growth-USD-monthly", "enterprise-USD-monthly"],
        "EUR": ["growth-EUR-monthly"],
    }
    addons = {
        "USD": ["extra-seats-USD-monthly", "priority-support-USD-monthly", "api-calls-USD-monthly"],
        "EUR": ["extra-seats-EUR-monthly"],
    }
    counters = {"invoice": 1000, "credit_note": 0, "quote": 0, "line": 0}

    def new_id(prefix: str = "") -> str:
        # 16 hex characters: Chargebee-length ids at a fraction of the cost of rng.choices.
        return f"{prefix}{rng.getrandbits(64):016x}"

    def line_id() -> str:
        counters["line"] += 1
        return f"li_{counters['line']:08d}"

    for _ in range(customers):
        created = start + rng.randrange(MONTH)
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, state, code, country, zip_code = rng.choice(_PLACES)
        company = f"{rng.choice(_COMPANY)} {rng.choice(_SUFFIX)}" if rng.random() < 0.6 else None
        customer_id = new_id()
        address = objects.billing_address(
            first, last, f"{rng.randint(1, 999)} Market St", city, state, code, country, zip_code, company
        )
        fields: Json = {
            "first_name": first,
            "last_name": last,
            "billing_address": address,
            "email": f"{first}.{last}.{customer_id[:6]}@example.com".lower().replace(" ", ""),
            "phone": f"+1-555-{rng.randint(1000, 9999)}",
        }
        if company:
            fields["company"] = company
        currency = "EUR" if country in ("DE", "FR") and rng.random() < 0.7 else "USD"
        fields["preferred_currency_code"] = currency
        cust = objects.customer(customer_id, created, fields)
        cust["resource_version"] = created * 1000 + rng.randrange(1000)
        tenant.customers.append(cust)

        plan = prices[rng.choice(plans[currency])]
        quantity = 1 if plan["pricing_model"] == "flat_fee" else rng.randint(1, 60)
        items = [objects.subscription_item(plan, quantity)]
        for addon_id in rng.sample(addons[currency], rng.randint(0, len(addons[currency]))):
            addon = prices[addon_id]
            qty = rng.randint(500, 20000) if addon["pricing_model"] == "tiered" else rng.randint(1, 10)
            items.append(objects.subscription_item(addon, qty))
        started = created + rng.randrange(86400 * 3)
        coupon_ids = [rng.choice(tenant.coupons)["id"]] if rng.random() < 0.15 else None
        sub = objects.subscription(
            new_id(), customer_id, items, prices, started, now, currency=currency, coupon_ids=coupon_ids
        )
        changed_at = None
        if plan["pricing_model"] in ("per_unit", "volume") and rng.random() < 0.3:
            # A seat change part-way through: later invoices bill the new quantity.
            changed_at = started + rng.randint(1, history_months) * MONTH
            if changed_at < now:
                items[0] = objects.subscription_item(plan, quantity + rng.randint(1, 20))
                objects.recompute_mrr(sub, prices)
                sub["updated_at"] = changed_at
                sub["resource_version"] = changed_at * 1000 + rng.randrange(1000)
        cancelled = rng.random() < 0.08
        if cancelled:
            at = now - rng.randrange(MONTH)
            sub.update(
                status="cancelled",
                cancelled_at=at,
                cancel_reason_code="Not Paid",
                updated_at=at,
                resource_version=at * 1000 + rng.randrange(1000),
            )
            sub.pop("next_billing_at", None)
            objects.recompute_mrr(sub, prices)
        tenant.subscriptions.append(sub)

        term = sub["current_term_end"] - sub["current_term_start"]
        issued = started
        sub_invoices: list[Json] = []
        while issued <= now and issued <= sub.get("cancelled_at", now):
            lines = [
                objects.line_item(
                    line_id(),
                    prices[i["item_price_id"]],
                    i["quantity"],
                    issued,
                    issued + term,
                    customer_id,
                    sub["id"],
                )
                for i in sub["subscription_items"]
            ]
            counters["invoice"] += 1
            last_one = issued + term > now
            paid = not (last_one and rng.random() < 0.25)
            inv = objects.invoice(
                str(counters["invoice"]),
                customer_id,
                sub["id"],
                lines,
                issued,
                currency=currency,
                address=address,
            )
            if paid:
                txn = objects.transaction(new_id("txn_"), inv, int(inv["amount_due"]), issued + 60)
                objects.mark_paid(inv, issued + 60, txn["id"])
                inv["updated_at"] = issued + 60
                inv["resource_version"] = (issued + 60) * 1000 + rng.randrange(1000)
                tenant.transactions.append(txn)
            sub_invoices.append(inv)
            issued += term
        if sub_invoices:
            sub_invoices[0]["first_invoice"] = True
        tenant.invoices.extend(sub_invoices)

        if sub_invoices and rng.random() < 0.05:
            unpaid = [i for i in sub_invoices if i["amount_due"] > 0]
            target = rng.choice(unpaid or sub_invoices)
            counters["credit_note"] += 1
            at = target["date"] + 86400
            note = objects.credit_note(
                f"CN-{counters['credit_note']}", target, int(target["total"]) // 4 + 1, at
            )
            objects.apply_credit(target, note)
            target["updated_at"] = at
            target["resource_version"] = at * 1000 + rng.randrange(1000)
            tenant.credit_notes.append(note)

        if rng.random() < 0.1:
            counters["quote"] += 1
            at = now - rng.randrange(MONTH)
            upgrade = prices[rng.choice(plans[currency])]
            lines = [
                objects.line_item(line_id(), upgrade, max(quantity, 1), at, at + MONTH, customer_id, None)
            ]
            tenant.quotes.append(
                objects.quote(
                    f"Q-{counters['quote']}",
                    customer_id,
                    lines,
                    at,
                    currency=currency,
                    status=rng.choice(["open", "open", "accepted", "declined"]),
                )
            )
    return tenant
