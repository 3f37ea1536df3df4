"""Bulk API 2.0: ingest jobs (create → PUT CSV → UploadComplete → results) and query jobs
(results paged with the `Sforce-Locator` header; the string "null" marks the last page).

A job is processed when it is closed, in chunks of 200 records, each chunk one transaction.
"""

from __future__ import annotations

import base64
import csv
import io
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.salesforce import ids, soql
from bridge.sandbox.salesforce.api import Call, json_body, json_response
from bridge.sandbox.salesforce.catalog import ObjectInfo
from bridge.sandbox.salesforce.errors import RecordError, SfApiError
from bridge.sandbox.salesforce.store import Txn
from bridge.sandbox.salesforce.values import to_csv
from bridge.sandbox.salesforce.writes import Writer, parse_csv_record

CHUNK = 200
INGEST_OPERATIONS = ("insert", "upsert", "update", "delete", "hardDelete")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}


def _invalid_job(message: str) -> SfApiError:
    return SfApiError(400, "INVALIDJOB", f"InvalidJob : {message}")


@dataclass
class Job:
    """One Bulk API 2.0 job (ingest or query)."""

    id: str
    kind: str
    operation: str
    object: str
    created_by: str
    created_date: str
    api_version: str
    state: str = "Open"
    external_id_field: str | None = None
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    data: list[bytes] = field(default_factory=list)
    successful: list[dict[str, str]] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    unprocessed: list[dict[str, str]] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    query: str = ""

    def info(self, base: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created_date,
            "systemModstamp": self.created_date,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.api_version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.kind == "ingest":
            out.update(
                externalIdFieldName=self.external_id_field,
                contentUrl=f"{base.lstrip('/')}/jobs/ingest/{self.id}/batches",
                jobType="V2Ingest",
                numberRecordsProcessed=len(self.successful) + len(self.failed),
                numberRecordsFailed=len(self.failed),
                retries=0,
                totalProcessingTime=0,
            )
        else:
            out.update(query=self.query, jobType="V2Query", numberRecordsProcessed=len(self.rows), retries=0)
        return out


def _job(call: Call, kind: str, job_id: str) -> Job:
    job = call.org.jobs.get(job_id)
    if not isinstance(job, Job) or job.kind != kind:
        raise SfApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return job


def _new_job(call: Call, kind: str, operation: str, obj: str, body: dict[str, Any]) -> Job:
    delimiter = str(body.get("columnDelimiter", "COMMA"))
    ending = str(body.get("lineEnding", "LF"))
    if delimiter not in DELIMITERS or ending not in ("LF", "CRLF"):
        raise _invalid_job(f"Unsupported columnDelimiter {delimiter} or lineEnding {ending}")
    job = Job(
        id=call.org.minter.mint("750"),
        kind=kind,
        operation=operation,
        object=obj,
        created_by=call.user_id,
        created_date=call.org.now(),
        api_version=call.version,
        column_delimiter=delimiter,
        line_ending=ending,
    )
    call.org.jobs[job.id] = job
    return job


async def ingest_jobs(request: Request, call: Call) -> Response:
    """`POST /jobs/ingest` creates a job; `GET` lists them."""
    if request.method == "GET":
        jobs = [
            j.info(call.base) for j in call.org.jobs.values() if isinstance(j, Job) and j.kind == "ingest"
        ]
        return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})
    body = await json_body(request)
    if not isinstance(body, dict):
        raise _invalid_job("the job definition must be a JSON object")
    operation = str(body.get("operation", ""))
    if operation not in INGEST_OPERATIONS:
        raise _invalid_job(f"Invalid operation: {operation}")
    info = call.org.catalog.get(str(body.get("object", "")))
    if info is None:
        raise _invalid_job(f"Unable to find object: {body.get('object')}")
    if body.get("contentType", "CSV") != "CSV":
        raise _invalid_job("contentType must be CSV")
    ext_name = body.get("externalIdFieldName")
    if operation == "upsert":
        ext = info.external_id_field(str(ext_name or ""))
        if ext is None:
            raise _invalid_job(
                f"External ID was blank or not an external id field for {info.name}. "
                "An External ID must be specified for upsert."
            )
        ext_name = ext.name
    job = _new_job(call, "ingest", operation, info.name, body)
    job.external_id_field = str(ext_name) if ext_name else None
    return json_response(job.info(call.base))


async def ingest_job(request: Request, call: Call) -> Response:
    """`GET`, `PATCH` (state UploadComplete/Aborted), `DELETE` one ingest job."""
    job = _job(call, "ingest", request.path_params["job_id"])
    if request.method == "GET":
        return json_response(job.info(call.base))
    if request.method == "DELETE":
        call.org.jobs.pop(job.id, None)
        return Response(status_code=204)
    body = await json_body(request)
    state = body.get("state") if isinstance(body, dict) else None
    if state not in ("UploadComplete", "Aborted"):
        raise SfApiError(400, "INVALIDJOBSTATE", f"Invalid state: {state}")
    if job.state != "Open":
        raise SfApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}")
    if state == "Aborted":
        job.state = "Aborted"
        job.unprocessed = _csv_rows(job)
        return json_response(job.info(call.base))
    job.state = "UploadComplete"
    answer = job.info(call.base)
    _process(call, job)
    return json_response(answer)


async def upload(request: Request, call: Call) -> Response:
    """`PUT /jobs/ingest/{id}/batches` with CSV: 201 Created."""
    job = _job(call, "ingest", request.path_params["job_id"])
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "text/csv":
        raise SfApiError(
            400, "INVALIDJOB", f"InvalidJob : Content-Type must be text/csv, not {ctype or 'missing'}"
        )
    if job.state != "Open":
        raise SfApiError(409, "INVALIDJOBSTATE", f"Job is in state {job.state}")
    job.data.append(await request.body())
    return Response(status_code=201)


def _csv_rows(job: Job) -> list[dict[str, str]]:
    text = b"".join(job.data).decode("utf-8-sig")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=DELIMITERS[job.column_delimiter])
    out = [dict(r) for r in reader]
    job.columns = list(reader.fieldnames or [])
    return out


def _process(call: Call, job: Job) -> None:
    org = call.org
    info = org.catalog.get(job.object)
    assert info is not None
    try:
        rows = _csv_rows(job)
    except csv.Error as exc:
        job.state = "Failed"
        job.unprocessed = []
        raise SfApiError(400, "INVALIDJOB", f"InvalidJob : CSV is not valid: {exc}") from None
    writer = org.writer(call.user_id, allow_save=call.allow_save)
    for start in range(0, len(rows), CHUNK):
        txn = org.store.begin()
        for row in rows[start : start + CHUNK]:
            point = txn.savepoint()
            try:
                rid, created = _apply(call, job, info, row, writer, txn)
                job.successful.append({"sf__Id": rid, "sf__Created": "true" if created else "false", **row})
            except RecordError as exc:
                txn.rollback(point)
                error = f"{exc.code}:{exc.message}:{','.join(exc.fields)} --"
                job.failed.append({"sf__Id": "", "sf__Error": error, **row})
        org.commit(txn, user_id=call.user_id, change_origin=call.origin)
    job.state = "JobComplete"


def _apply(
    call: Call, job: Job, info: ObjectInfo, row: dict[str, str], writer: Writer, txn: Txn
) -> tuple[str, bool]:
    table = call.org.store.table(info.name)
    id_value = next((v for k, v in row.items() if k.lower() == "id"), "")
    if job.operation in ("delete", "hardDelete", "update"):
        rid = ids.normalize(id_value)
        existing = table.live(rid) if rid else None
        if existing is None or rid is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if job.operation == "update":
            rec = parse_csv_record(
                call.org.catalog, info, {k: v for k, v in row.items() if k.lower() != "id"}
            )
            return writer.save(txn, info, rec, existing), False
        writer.delete(txn, info, rid)
        return rid, False
    rec = parse_csv_record(call.org.catalog, info, {k: v for k, v in row.items() if k.lower() != "id"})
    if job.operation == "insert":
        return writer.save(txn, info, rec, None), True
    ext = job.external_id_field or "Id"
    if ext == "Id":
        rid = ids.normalize(id_value)
        existing = table.live(rid) if rid else None
        if existing is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return writer.save(txn, info, rec, existing), False
    value = rec.values.get(ext)
    if value is None:
        raise RecordError("MISSING_ARGUMENT", f"{ext} not specified", [])
    matches = table.find(ext, value)
    if len(matches) > 1:
        raise RecordError(
            "DUPLICATE_EXTERNAL_ID", f"{ext}: more than one record found for external id field", [ext]
        )
    if matches:
        rec.values.pop(ext, None)
        return writer.save(txn, info, rec, table.rows[matches[0]]), False
    return writer.save(txn, info, rec, None), True


def _csv_text(job: Job, rows: list[dict[str, str]], lead: list[str]) -> str:
    columns = [*lead, *job.columns]
    for r in rows:
        for k in r:
            if k not in columns:
                columns.append(k)
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=columns, lineterminator="\n", quoting=csv.QUOTE_ALL)
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


async def ingest_results(request: Request, call: Call) -> Response:
    """`successfulResults/`, `failedResults/`, `unprocessedrecords/` as CSV."""
    job = _job(call, "ingest", request.path_params["job_id"])
    kind = request.path_params["kind"].lower()
    if kind == "successfulresults":
        text = _csv_text(job, job.successful, ["sf__Id", "sf__Created"])
    elif kind == "failedresults":
        text = _csv_text(job, job.failed, ["sf__Id", "sf__Error"])
    elif kind == "unprocessedrecords":
        text = _csv_text(job, job.unprocessed, [])
    else:
        raise SfApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return Response(text, media_type="text/csv")


async def query_jobs(request: Request, call: Call) -> Response:
    """`POST /jobs/query` runs the query at once (state JobComplete); `GET` lists jobs."""
    if request.method == "GET":
        jobs = [j.info(call.base) for j in call.org.jobs.values() if isinstance(j, Job) and j.kind == "query"]
        return json_response({"done": True, "records": jobs, "nextRecordsUrl": None})
    body = await json_body(request)
    if not isinstance(body, dict) or body.get("operation") not in ("query", "queryAll"):
        raise _invalid_job("operation must be query or queryAll")
    parsed = soql.parse(str(body.get("query", "")), call.org.catalog)
    job = _new_job(call, "query", str(body["operation"]), parsed.info.name, body)
    job.query = str(body["query"])
    rows = soql.run(parsed, call.org.store, include_deleted=body["operation"] == "queryAll")
    job.columns = [p.text for p in parsed.fields]
    job.rows = [[to_csv(soql.value_of(p, r, call.org.store)) for p in parsed.fields] for r in rows]
    answer = job.info(call.base)
    job.state = "JobComplete"
    answer["state"] = "UploadComplete"
    return json_response(answer)


async def query_job(request: Request, call: Call) -> Response:
    job = _job(call, "query", request.path_params["job_id"])
    if request.method == "DELETE":
        call.org.jobs.pop(job.id, None)
        return Response(status_code=204)
    return json_response(job.info(call.base))


async def query_results(request: Request, call: Call) -> Response:
    """One page of CSV; `Sforce-Locator` names the next page or is "null"."""
    job = _job(call, "query", request.path_params["job_id"])
    raw_max = request.query_params.get("maxRecords", "50000")
    if not raw_max.isdigit() or int(raw_max) < 1:
        raise SfApiError(400, "INVALIDJOB", "InvalidJob : maxRecords must be a positive integer")
    start = 0
    locator = request.query_params.get("locator")
    if locator:
        try:
            start = int(base64.urlsafe_b64decode(locator.encode()).decode())
        except ValueError:
            raise SfApiError(400, "INVALIDJOB", f"InvalidJob : invalid locator {locator}") from None
    end = start + int(raw_max)
    page = job.rows[start:end]
    out = io.StringIO()
    w = csv.writer(
        out, delimiter=DELIMITERS[job.column_delimiter], lineterminator="\n", quoting=csv.QUOTE_ALL
    )
    w.writerow(job.columns)
    w.writerows(page)
    nxt = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(job.rows) else "null"
    response = Response(out.getvalue(), media_type="text/csv")
    response.headers["Sforce-Locator"] = nxt
    response.headers["Sforce-NumberOfRecords"] = str(len(page))
    return response
