"""Bulk API 2.0 ingest: upsert many records of one SObject by external id in a few calls.

A job is: create (`POST /jobs/ingest`, operation upsert + externalIdFieldName) → one CSV
upload (`PUT …/batches`, 201) → `PATCH state: UploadComplete` → poll with backoff until
JobComplete / Failed / Aborted → `successfulResults/`, `failedResults/`, `unprocessedrecords/`.
Data above the upload limit (150 MB after Salesforce's base64 step, so 100 MB of CSV) is split
into several jobs. Every result is mapped back to the record it came from, by external id, as
the same `UpsertResult` sObject Collections gives, so callers treat both paths alike.

Calls go through `SalesforceClient.request`: the API budget, token refresh, usage reading and
call counts apply to bulk calls exactly as to collections.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import orjson

from bridge.errors import BridgeError
from bridge.salesforce.client import SalesforceClient, UpsertResult
from bridge.salesforce.errors import (
    SalesforceError,
    SalesforceTransientError,
    classify_record_error,
)

# Salesforce base64-encodes uploads and caps the encoded data at 150 MB: 100 MB raw stays under.
MAX_UPLOAD_BYTES = 100_000_000
NULL = "#N/A"  # the CSV cell that clears a field; an empty cell leaves it as it is
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
# Job failures where the same data can succeed later (Salesforce retried and gave up).
_TRANSIENT_FAILURE_HINTS = ("UNABLE_TO_LOCK_ROW", "retried more than", "timed out", "Internal", "CPU time")


@dataclass(frozen=True)
class JobReport:
    """What one ingest job did: its id, final state, and record counts."""

    id: str
    state: str
    records: int
    processed: int
    failed: int
    error_message: str = ""


class BulkIngest:
    """Upserts through Bulk API 2.0 ingest jobs, on top of a `SalesforceClient`."""

    def __init__(
        self,
        client: SalesforceClient,
        *,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        poll_initial: float = 0.2,
        poll_max: float = 5.0,
        job_timeout: float = 600.0,
    ) -> None:
        self.client = client
        self.max_upload_bytes = max_upload_bytes
        self.poll_initial = poll_initial
        self.poll_max = poll_max
        self.job_timeout = job_timeout
        self.jobs: list[JobReport] = []

    @property
    def _base(self) -> str:
        return f"{self.client.base_path}/jobs/ingest"

    async def upsert(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[UpsertResult]:
        """Upsert `records` (collections-style dicts, external ids unique); one result each.

        A record left unprocessed (job Failed or Aborted, or missing from every result file)
        gets a transient error, so the caller retries it; per-record errors are classified as
        collections' are."""
        if not records:
            return []
        keys = [_cell(r.get(external_id_field)) for r in records]
        if len(set(keys)) != len(keys) or "" in keys:
            raise ValueError(f"bulk upsert needs a distinct, non-empty {external_id_field} per record")
        chunks = await asyncio.to_thread(to_csv_chunks, records, self.max_upload_bytes)
        by_key: dict[str, UpsertResult] = {}
        for data, count in chunks:
            by_key.update(await self._run_job(sobject, external_id_field, data, count))
        missing = SalesforceTransientError(
            f"{sobject}: record left unprocessed by the bulk job", code="BULK_UNPROCESSED"
        )
        return [by_key.get(k) or UpsertResult(False, None, False, missing) for k in keys]

    async def _run_job(
        self, sobject: str, ext_field: str, data: bytes, count: int
    ) -> dict[str, UpsertResult]:
        created = await self.client.request(
            "POST",
            self._base,
            body={
                "object": sobject,
                "operation": "upsert",
                "externalIdFieldName": ext_field,
                "contentType": "CSV",
                "lineEnding": "LF",
                "columnDelimiter": "COMMA",
            },
            kind="bulk_create",
        )
        job_id = str(_object(created).get("id", ""))
        if not job_id:
            raise SalesforceTransientError("bulk job created without an id", code="BAD_RESPONSE")
        try:
            await self.client.request(
                "PUT", f"{self._base}/{job_id}/batches", raw=(data, "text/csv"), kind="bulk_upload"
            )
            await self.client.request(
                "PATCH", f"{self._base}/{job_id}", body={"state": "UploadComplete"}, kind="bulk_close"
            )
            info = await self._wait(job_id)
        except Exception:
            await self._abort_quietly(job_id)
            raise
        report = JobReport(
            id=job_id,
            state=str(info.get("state")),
            records=count,
            processed=int(info.get("numberRecordsProcessed") or 0),
            failed=int(info.get("numberRecordsFailed") or 0),
            error_message=str(info.get("errorMessage") or ""),
        )
        self.jobs.append(report)
        return await self._results(sobject, ext_field, report)

    async def _wait(self, job_id: str) -> dict[str, Any]:
        """Poll the job with exponential backoff until it reaches a terminal state."""
        delay = self.poll_initial
        deadline = time.monotonic() + self.job_timeout
        while True:
            resp = await self.client.request("GET", f"{self._base}/{job_id}", kind="bulk_poll")
            info = _object(resp)
            if info.get("state") in TERMINAL:
                return info
            if time.monotonic() + delay > deadline:
                raise SalesforceTransientError(
                    f"bulk job {job_id} still {info.get('state')} after {self.job_timeout:.0f}s",
                    code="BULK_TIMEOUT",
                )
            await asyncio.sleep(delay)
            delay = min(self.poll_max, delay * 2)

    async def _abort_quietly(self, job_id: str) -> None:
        # Records of an abandoned job are retried by the caller; upserts make that harmless.
        with contextlib.suppress(BridgeError):
            await self.client.request(
                "PATCH", f"{self._base}/{job_id}", body={"state": "Aborted"}, kind="bulk_close"
            )

    async def _results(self, sobject: str, ext_field: str, job: JobReport) -> dict[str, UpsertResult]:
        out: dict[str, UpsertResult] = {}
        if job.processed > job.failed:
            for row in await self._result_rows(job.id, "successfulResults", ext_field):
                out[row[ext_field]] = UpsertResult(
                    True, row.get("sf__Id") or None, row.get("sf__Created", "").lower() == "true"
                )
        if job.failed:
            for row in await self._result_rows(job.id, "failedResults", ext_field):
                out[row[ext_field]] = UpsertResult(
                    False, row.get("sf__Id") or None, False, parse_record_error(row.get("sf__Error", ""))
                )
        if job.state != "JobComplete" or job.processed < job.records:
            error = job_failure(sobject, job)
            for row in await self._result_rows(job.id, "unprocessedrecords", ext_field):
                out.setdefault(row[ext_field], UpsertResult(False, None, False, error))
        return out

    async def _result_rows(self, job_id: str, kind: str, ext_field: str) -> list[dict[str, str]]:
        resp = await self.client.request(
            "GET", f"{self._base}/{job_id}/{kind}/", kind="bulk_results", accept="text/csv"
        )
        rows = await asyncio.to_thread(_parse_csv, resp.content)
        # Salesforce resolves field names case-insensitively; the echoed header may differ.
        return [_with_key(row, ext_field) for row in rows]


def job_failure(sobject: str, job: JobReport) -> BridgeError:
    """The error of a record a job did not process: transient unless the job itself was bad."""
    message = f"{sobject}: bulk job {job.id} {job.state}: {job.error_message or 'record not processed'}"
    invalid = job.error_message.startswith(("InvalidBatch", "InvalidJob", "ClientInput"))
    retried = any(h in job.error_message for h in _TRANSIENT_FAILURE_HINTS)
    if job.state == "Failed" and invalid and not retried:
        return SalesforceError(message, code="BULK_JOB_INVALID")
    return SalesforceTransientError(message, code="BULK_UNPROCESSED")


def parse_record_error(text: str) -> BridgeError:
    """An `sf__Error` cell (`CODE:message:field1,field2 --`) as the collections error it is."""
    body = text.strip().removesuffix("--").strip()
    code, _, rest = body.partition(":")
    message, fields = rest, ""
    if ":" in rest:
        message, _, fields = rest.rpartition(":")
    return classify_record_error(
        [
            {
                "statusCode": code or "UNKNOWN_EXCEPTION",
                "message": message,
                "fields": [f for f in fields.split(",") if f],
            }
        ]
    )


def to_csv_chunks(records: list[dict[str, Any]], max_bytes: int) -> list[tuple[bytes, int]]:
    """Records as (CSV file, record count) of at most `max_bytes` each, all with the full header.

    A lookup by external id (`Rel__r: {"Ext__c": v}`) becomes the column `Rel__r.Ext__c`;
    None becomes `#N/A` (clear the field); a field a record lacks is an empty cell (unchanged).
    """
    rows = [_flatten(r) for r in records]
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    header = _line(list(columns))
    chunks: list[tuple[bytes, int]] = []
    current: list[bytes] = []
    size = len(header)
    for row in rows:
        line = _line([row.get(c, "") for c in columns])
        if len(header) + len(line) > max_bytes:
            raise ValueError(f"one record is {len(line)} bytes of CSV, above the {max_bytes} upload limit")
        if current and size + len(line) > max_bytes:
            chunks.append((header + b"".join(current), len(current)))
            current, size = [], len(header)
        current.append(line)
        size += len(line)
    if current:
        chunks.append((header + b"".join(current), len(current)))
    return chunks


def _flatten(record: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in record.items():
        if name == "attributes":
            continue
        if isinstance(value, dict):
            for key, inner in value.items():
                if key != "attributes":
                    out[f"{name}.{key}"] = _cell(inner)
        else:
            out[name] = _cell(value)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        # Salesforce rejects exponent notation (1e-05) in number cells.
        return format(Decimal(repr(value)), "f")
    return str(value)


def _line(cells: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode()


def _object(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(resp.content) if resp.content else None
    except orjson.JSONDecodeError:
        body = None
    return body if isinstance(body, dict) else {}


def _parse_csv(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def _with_key(row: dict[str, str], ext_field: str) -> dict[str, str]:
    if ext_field in row:
        return row
    lowered = ext_field.lower()
    for name, value in row.items():
        if name.lower() == lowered:
            return {**row, ext_field: value}
    return {**row, ext_field: ""}
