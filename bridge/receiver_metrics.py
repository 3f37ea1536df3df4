"""Prometheus metrics of the receiver."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter(
    "bridge_webhook_requests_total", "Webhook requests by source and outcome.", ["source", "outcome"]
)
PUBLISH_SECONDS = Histogram(
    "bridge_webhook_publish_seconds",
    "Time from request to broker ack, by source.",
    ["source"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IN_FLIGHT = Gauge("bridge_webhook_in_flight", "Webhook requests being handled now.")


class InFlight:
    """Requests being handled, as a plain int read at scrape time.

    `Gauge.inc()` takes a lock; twice per request that showed in the receiver's profile.
    """

    count = 0


IN_FLIGHT.set_function(lambda: InFlight.count)
