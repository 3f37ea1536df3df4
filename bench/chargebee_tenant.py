"""Prints how long the Chargebee sandbox takes to generate and load a seeded tenant.

Run: .venv/bin/python bench/chargebee_tenant.py [customers]
"""

from __future__ import annotations

import sys
import time

from bridge.sandbox.chargebee.clock import SandboxClock
from bridge.sandbox.chargebee.faults import Faults
from bridge.sandbox.chargebee.site import Site
from bridge.sandbox.chargebee.store import Store
from bridge.sandbox.chargebee.tenant import generate
from bridge.sandbox.chargebee.webhooks import WebhookDispatcher


def main() -> None:
    """Generate, then load, `customers` customers (default 10,000) and print the figures."""
    customers = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    started = time.perf_counter()
    tenant = generate(seed=1, customers=customers)
    generated = time.perf_counter()
    clock = SandboxClock()
    site = Site("bench", "key", clock, Store(clock), WebhookDispatcher(), Faults(clock))
    counts = site.load(tenant)
    loaded = time.perf_counter()
    objects = sum(v for k, v in counts.items() if k != "event")
    print(f"customers={customers} objects={objects}")
    print(f"generate: {generated - started:.2f} s  load: {loaded - generated:.2f} s")


if __name__ == "__main__":
    main()
