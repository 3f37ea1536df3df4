"""How the sync writes one SObject's records: sObject Collections, or Bulk API 2.0 when many.

Collections cost one call per 200 records and answer at once; a Bulk API 2.0 job costs about
seven calls whatever its size but takes seconds to process. Above `BRIDGE_SYNC_BULK_THRESHOLD`
records of one SObject in one batch (a backfill, a long outage's lag) the job is cheaper.
Both paths give one `UpsertResult` per record, so the sync treats them alike.
"""

from __future__ import annotations

from typing import Any

from bridge.salesforce.bulk import BulkIngest
from bridge.salesforce.client import SalesforceClient, UpsertResult
from bridge.settings import Settings
from consumers.metrics import UPSERTS


class Upserter:
    """Chooses the write path per SObject group by its size."""

    def __init__(self, settings: Settings, salesforce: SalesforceClient) -> None:
        self.salesforce = salesforce
        self.threshold = settings.sync_bulk_threshold
        self.bulk = BulkIngest(
            salesforce,
            poll_max=settings.sync_bulk_poll_max_seconds,
            job_timeout=settings.sync_bulk_job_timeout_seconds,
        )

    async def upsert(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[UpsertResult]:
        """Upsert `records` of one SObject by external id; one result per record, in order."""
        path = "bulk" if len(records) >= self.threshold else "collections"
        UPSERTS.labels(path, sobject).inc(len(records))
        if path == "bulk":
            return await self.bulk.upsert(sobject, external_id_field, records)
        return await self.salesforce.upsert_many(sobject, external_id_field, records)
