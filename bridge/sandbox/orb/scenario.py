"""The Orb half of the scenario driver: a deterministic sequence of tenant actions (issue,
pay, fail, change plan, edit, credits, credit notes, cancel) run against a live Orb sandbox,
so the demo, tests and benchmarks replay the same story from a seed."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

# (action, weight): mostly billing routine, some account changes, few churn events
WEIGHTS = (
    ("issue_invoice", 30),
    ("pay_invoice", 25),
    ("fail_payment", 5),
    ("edit_customer", 15),
    ("change_plan", 8),
    ("add_credits", 6),
    ("issue_credit_note", 5),
    ("cancel_subscription", 3),
    ("void_invoice", 3),
)


@dataclass(frozen=True)
class Step:
    action: str
    body: dict[str, Any]


@dataclass
class ScenarioResult:
    done: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"done": dict(self.done), "skipped": dict(self.skipped)}


def plan_steps(seed: int, customer_ids: list[str], count: int) -> list[Step]:
    """`count` actions on the given customers, the same list for the same seed and ids."""
    if not customer_ids:
        return []
    rng = random.Random(f"orb-scenario-{seed}")
    names = [name for name, _ in WEIGHTS]
    weights = [weight for _, weight in WEIGHTS]
    steps = []
    for n in range(count):
        action = rng.choices(names, weights)[0]
        body: dict[str, Any] = {"customer_id": rng.choice(customer_ids)}
        if action == "edit_customer":
            body["fields"] = rng.choice(
                (
                    {"name": f"Renamed customer {n}"},
                    {"email": f"billing-{n}@example.com"},
                    {"billing_address": {"line1": f"{n} Harbour Road", "city": "Hamburg", "country": "DE"}},
                    {"metadata": {"scenario_step": str(n)}},
                )
            )
        elif action == "add_credits":
            body["amount"] = rng.choice((50, 100, 250))
        steps.append(Step(action, body))
    return steps


async def customer_ids(http: httpx.AsyncClient, base_url: str, api_key: str) -> list[str]:
    """Every customer id through the public API (oldest first)."""
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 100}
    headers = {"Authorization": f"Bearer {api_key}"}
    while True:
        resp = await http.get(f"{base_url}/v1/customers", params=params, headers=headers)
        resp.raise_for_status()
        page = resp.json()
        ids += [c["id"] for c in page["data"]]
        if not page["pagination_metadata"]["has_more"]:
            return ids[::-1]
        params["cursor"] = page["pagination_metadata"]["next_cursor"]


async def run(
    http: httpx.AsyncClient,
    base_url: str,
    *,
    api_key: str,
    seed: int = 0,
    customers: int = 100,
    steps: int = 200,
    load_tenant: bool = True,
) -> ScenarioResult:
    """Load the seeded tenant (optionally) and play the seeded steps; an action that finds
    nothing to act on (no issued invoice left…) is counted as skipped, not failed."""
    if load_tenant:
        resp = await http.post(f"{base_url}/_sandbox/tenant", json={"seed": seed, "customers": customers})
        resp.raise_for_status()
    result = ScenarioResult()
    for step in plan_steps(seed, await customer_ids(http, base_url, api_key), steps):
        resp = await http.post(f"{base_url}/_sandbox/actions/{step.action}", json=step.body)
        if resp.status_code == 400 and resp.json().get("type", "").endswith("#400-constraint-violation"):
            result.skipped[step.action] += 1
            continue
        resp.raise_for_status()
        result.done[step.action] += 1
    return result
