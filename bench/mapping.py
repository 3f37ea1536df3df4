"""Mapping throughput: how many envelopes per second `Mapper.map_event` turns into writes.

    .venv/bin/python bench/mapping.py [N]

Uses the realistic payload builders of the tests (Orb invoices with 5 lines, subscriptions,
Chargebee subscriptions with their customer, invoices). Prints events/s and writes/s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from mapping_payloads import (
    cb_customer,
    cb_envelope,
    cb_event,
    cb_invoice,
    cb_subscription,
    orb_envelope,
    orb_event,
    orb_invoice,
    orb_subscription,
)

from bridge.mapping import build_mapper


def main(n: int) -> None:
    mapper = build_mapper(chargebee_site="acme")
    samples = [
        orb_envelope(orb_event("invoice.issued", invoice=orb_invoice(lines=5), properties={})),
        orb_envelope(orb_event("subscription.started", subscription=orb_subscription())),
        cb_envelope(cb_event("subscription_created", subscription=cb_subscription(), customer=cb_customer())),
        cb_envelope(cb_event("invoice_generated", invoice=cb_invoice())),
    ]
    writes = 0
    start = time.perf_counter()
    for i in range(n):
        writes += len(mapper.map_event(samples[i % len(samples)]))
    elapsed = time.perf_counter() - start
    print(f"events: {n}  writes: {writes}  seconds: {elapsed:.2f}")
    print(
        f"events/s: {n / elapsed:,.0f}  writes/s: {writes / elapsed:,.0f}  µs/event: {elapsed / n * 1e6:.0f}"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
