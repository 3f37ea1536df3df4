"""Prometheus metrics of the consumers (served by the receiver's /metrics in `bridge run`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS = Counter(
    "bridge_consumer_records_total",
    "Records handled, by consumer, topic and outcome.",
    ["consumer", "topic", "outcome"],
)
RETRIES = Counter(
    "bridge_consumer_retries_total",
    "Batches retried after a transient error.",
    ["consumer", "topic"],
)
CONSUMER_LAG = Gauge(
    "bridge_consumer_lag",
    "Records between the consumer's position and the partition end.",
    ["consumer", "topic", "partition"],
)
UPSERTS = Counter(
    "bridge_sync_upserted_records_total",
    "Records sent to Salesforce by the sync, by write path (collections or bulk) and SObject.",
    ["path", "sobject"],
)
# The figure that matters (DESIGN §4): rate(calls) / rate(records) = API calls per synced record.
SYNC_API_CALLS = Counter(
    "bridge_sync_salesforce_calls_total",
    "Salesforce API calls made to write synced records, by SObject.",
    ["sobject"],
)
SYNC_RECORDS_WRITTEN = Counter(
    "bridge_sync_records_written_total",
    "Records sync wrote to Salesforce successfully, by SObject.",
    ["sobject"],
)
