"""One scenario driver for both billing sandboxes: the same seed gives the same tenants and the
same sequence of changes, so tests, the demo and benchmarks share one data source.

The generators live with their sandboxes (`orb/tenant.py`, `chargebee/tenant.py`); this module
loads them into running sandboxes and moves them forward through their control APIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from bridge.sandbox.orb import scenario as orb_scenario


@dataclass
class ScenarioRun:
    """What was loaded and done in each sandbox."""

    orb: dict[str, int] = field(default_factory=dict)
    chargebee: dict[str, Any] = field(default_factory=dict)


async def load_tenants(
    http: httpx.AsyncClient,
    *,
    orb_url: str | None = None,
    chargebee_url: str | None = None,
    seed: int = 0,
    customers: int = 100,
    months: int = 6,
) -> ScenarioRun:
    """Replace each given sandbox's data with the tenant generated from `seed`."""
    run = ScenarioRun()
    if orb_url:
        r = await http.post(
            f"{orb_url}/_sandbox/tenant", json={"seed": seed, "customers": customers, "months": months}
        )
        r.raise_for_status()
        run.orb = r.json()
    if chargebee_url:
        r = await http.post(
            f"{chargebee_url}/_sandbox/tenant",
            json={"seed": seed, "customers": customers, "history_months": months},
        )
        r.raise_for_status()
        run.chargebee = r.json()
    return run


async def advance(
    http: httpx.AsyncClient,
    *,
    orb_url: str | None = None,
    orb_api_key: str = "orb-sandbox-key",
    chargebee_url: str | None = None,
    seed: int = 0,
    steps: int = 50,
) -> ScenarioRun:
    """Play `steps` seeded changes in each given sandbox (each change emits its webhooks)."""
    run = ScenarioRun()
    if orb_url:
        result = await orb_scenario.run(
            http, orb_url, api_key=orb_api_key, seed=seed, steps=steps, load_tenant=False
        )
        run.orb = dict(result.done)
    if chargebee_url:
        r = await http.post(f"{chargebee_url}/_sandbox/actions/run", json={"count": steps, "seed": seed})
        r.raise_for_status()
        run.chargebee = r.json()
    return run
