"""REST resources: versions, `/sobjects` (describe, CRUD, upsert by external id) and `/limits`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.api import Call, json_body, json_response
from bridge.sandbox.salesforce.catalog import ObjectInfo
from bridge.sandbox.salesforce.clock import sf_datetime
from bridge.sandbox.salesforce.describe import describe, summary
from bridge.sandbox.salesforce.errors import RecordError, SfApiError, not_found
from bridge.sandbox.salesforce.org import VERSIONS, Org, version_label
from bridge.sandbox.salesforce.records import record_json
from bridge.sandbox.salesforce.store import Row
from bridge.sandbox.salesforce.values import parse_datetime
from bridge.sandbox.salesforce.writes import ParsedRecord, parse_json_record

UPSERT_200_SINCE = 46.0


async def versions(request: Request) -> Response:
    """`GET /services/data/`: every API version, oldest first (no session needed)."""
    org: Org = request.app.state.org
    body = [{"label": version_label(v), "url": f"/services/data/v{v}", "version": v} for v in VERSIONS]
    response = json_response(body)
    response.headers["Sforce-Limit-Info"] = org.usage.header()
    return response


async def resources(request: Request, call: Call) -> Response:
    names = ["sobjects", "query", "queryAll", "limits", "composite", "jobs"]
    return json_response({n: f"{call.base}/{n}" for n in names})


async def limits(request: Request, call: Call) -> Response:
    usage = call.org.usage
    return json_response(
        {
            "DailyApiRequests": {"Max": usage.allowance, "Remaining": max(0, usage.allowance - usage.used())},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            "DailyDurableStreamingApiEvents": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 5, "Remaining": 5},
        }
    )


async def sobjects(request: Request, call: Call) -> Response:
    """`GET /sobjects/`: the global describe."""
    return json_response(
        {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [summary(i, call.base) for i in call.org.catalog.all()],
        }
    )


def object_info(call: Call, name: str) -> ObjectInfo:
    info = call.org.catalog.get(name)
    if info is None:
        raise not_found()
    return info


def json_record(call: Call, info: ObjectInfo, body: Any) -> ParsedRecord:
    """A single-record body; any deserialization problem fails the call (400)."""
    if not isinstance(body, dict):
        raise SfApiError(
            400, "JSON_PARSER_ERROR", f"Cannot deserialize instance of {info.name} from START_ARRAY value ["
        )
    try:
        return parse_json_record(call.org.catalog, info, body)
    except RecordError as exc:
        raise exc.as_api_error() from None


def _save(call: Call, info: ObjectInfo, rec: ParsedRecord, existing: Row | None) -> str:
    org = call.org
    txn = org.store.begin()
    try:
        rid = org.writer(call.user_id, allow_save=call.allow_save).save(txn, info, rec, existing)
    except RecordError as exc:
        txn.rollback()
        raise exc.as_api_error() from None
    org.commit(txn, user_id=call.user_id, change_origin=call.origin)
    return rid


async def sobject_root(request: Request, call: Call) -> Response:
    """`GET /sobjects/{Obj}` (basic info) and `POST /sobjects/{Obj}` (create)."""
    info = object_info(call, request.path_params["sobject"])
    if request.method == "GET":
        return json_response({"objectDescribe": summary(info, call.base), "recentItems": []})
    rec = json_record(call, info, await json_body(request))
    if "Id" in rec.values:
        raise SfApiError(
            400, "INVALID_FIELD_FOR_INSERT_UPDATE", "Unable to create/update fields: Id.", ["Id"]
        )
    rid = _save(call, info, rec, None)
    return json_response({"id": rid, "success": True, "errors": []}, status=201)


def _fields_param(request: Request, info: ObjectInfo) -> list[str] | None:
    raw = request.query_params.get("fields")
    if not raw:
        return None
    out = []
    for name in raw.split(","):
        f = info.field(name.strip())
        if f is None:
            raise SfApiError(
                400, "INVALID_FIELD", f"No such column '{name.strip()}' on entity '{info.name}'."
            )
        out.append(f.name)
    return out


async def sobject_item(request: Request, call: Call) -> Response:
    """`/sobjects/{Obj}/describe` and `/sobjects/{Obj}/{id}` (GET, PATCH, DELETE)."""
    info = object_info(call, request.path_params["sobject"])
    item = request.path_params["item"]
    if item == "describe" and request.method == "GET":
        return json_response(describe(call.org.catalog, info, call.base))
    if item in ("updated", "deleted") and request.method == "GET":
        return _changed_between(request, call, info, deleted=item == "deleted")
    rid = ids.normalize(item)
    if rid is None:
        raise SfApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {item}"
        )
    table = call.org.store.table(info.name)
    row = table.live(rid)
    if row is None:
        raise not_found()
    if request.method == "GET":
        return json_response(record_json(info, row, call.base, _fields_param(request, info)))
    if request.method == "DELETE":
        _delete(call, info, rid)
        return Response(status_code=204)
    rec = json_record(call, info, await json_body(request))
    _save(call, info, rec, row)
    return Response(status_code=204)


def _changed_between(request: Request, call: Call, info: ObjectInfo, *, deleted: bool) -> Response:
    """`/sobjects/{Obj}/updated/?start=&end=` and `/deleted/`: ids changed in a time window."""
    try:
        start = parse_datetime(request.query_params["start"]).timestamp()
        end = parse_datetime(request.query_params["end"]).timestamp()
    except (KeyError, ValueError):
        raise SfApiError(
            400, "INVALID_REPLICATION_DATE", "start and end must be ISO 8601 datetimes"
        ) from None
    if end < start:
        raise SfApiError(400, "INVALID_REPLICATION_DATE", "end must be after start")
    rows = [
        r
        for r in call.org.store.table(info.name).rows.values()
        if r["IsDeleted"] is deleted and start <= parse_datetime(r["SystemModstamp"]).timestamp() <= end
    ]
    latest = sf_datetime(min(end, call.org.clock()))
    if deleted:
        return json_response(
            {
                "deletedRecords": [{"id": r["Id"], "deletedDate": r["SystemModstamp"]} for r in rows],
                "earliestDateAvailable": sf_datetime(call.org.clock() - 15 * 24 * 3600),
                "latestDateCovered": latest,
            }
        )
    return json_response({"ids": [r["Id"] for r in rows], "latestDateCovered": latest})


def _delete(call: Call, info: ObjectInfo, rid: str) -> None:
    org = call.org
    txn = org.store.begin()
    try:
        org.writer(call.user_id, allow_save=call.allow_save).delete(txn, info, rid)
    except RecordError as exc:
        txn.rollback()
        raise exc.as_api_error(404) from None
    org.commit(txn, user_id=call.user_id, change_origin=call.origin)


async def sobject_by_external_id(request: Request, call: Call) -> Response:
    """`/sobjects/{Obj}/{ExtField}/{value}`: GET, DELETE, and PATCH = upsert."""
    info = object_info(call, request.path_params["sobject"])
    field_name = request.path_params["field"]
    value = request.path_params["value"]
    ext = info.external_id_field(field_name)
    if ext is None:
        raise SfApiError(
            404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: {field_name}"
        )
    table = call.org.store.table(info.name)
    if ext.name == "Id":
        rid = ids.normalize(value)
        matches = [rid] if rid is not None and table.live(rid) is not None else []
    else:
        matches = table.find(ext.name, value)
    if len(matches) > 1:
        return json_response([f"{call.base}/sobjects/{info.name}/{m}" for m in matches], status=300)
    if request.method == "GET":
        if not matches:
            raise not_found()
        return json_response(
            record_json(info, table.rows[matches[0]], call.base, _fields_param(request, info))
        )
    if request.method == "DELETE":
        if not matches:
            raise not_found()
        _delete(call, info, matches[0])
        return Response(status_code=204)
    rec = json_record(call, info, await json_body(request))
    if not matches:
        if ext.name == "Id":
            raise not_found()
        rec.values[ext.name] = value
        rid = _save(call, info, rec, None)
        created: dict[str, Any] = {"id": rid, "success": True, "errors": []}
        if float(call.version) >= UPSERT_200_SINCE:
            created["created"] = True
        return json_response(created, status=201)
    rec.values.pop(ext.name, None)
    rid = _save(call, info, rec, table.rows[matches[0]])
    if float(call.version) >= UPSERT_200_SINCE:
        return json_response({"id": rid, "success": True, "errors": [], "created": False})
    return Response(status_code=204)
