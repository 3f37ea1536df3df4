"""sObject Collections: `/composite/sobjects[/{Obj}/{ExtField}]` create, update, upsert, delete.

At most 200 records (else EXCEEDED_ID_LIMIT); one result per record, in order, with
`statusCode` in `errors`; with `allOrNone` one failure rolls every record back.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.api import Call, json_body, json_response
from bridge.sandbox.salesforce.catalog import ObjectInfo
from bridge.sandbox.salesforce.errors import RecordError, SfApiError
from bridge.sandbox.salesforce.records import record_json
from bridge.sandbox.salesforce.rest import object_info
from bridge.sandbox.salesforce.store import Row, Txn, index_key
from bridge.sandbox.salesforce.writes import ParsedRecord, Writer, parse_json_record

MAX_RECORDS = 200
ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone header",
)


@dataclass
class Item:
    """One record of the request: parsed, or already failed before saving."""

    info: ObjectInfo | None
    rec: ParsedRecord | None
    record_id: str | None = None
    error: RecordError | None = None


def _records(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise SfApiError(400, "JSON_PARSER_ERROR", "The request body must be an object with a records array")
    records = body["records"]
    if len(records) > MAX_RECORDS:
        raise SfApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
            [],
        )
    if not all(isinstance(r, dict) for r in records):
        raise SfApiError(400, "JSON_PARSER_ERROR", "Each entry of records must be a JSON object")
    return records, bool(body.get("allOrNone", False))


def _parse(call: Call, raw: dict[str, Any], fixed: ObjectInfo | None) -> Item:
    attrs = raw.get("attributes")
    type_name = attrs.get("type") if isinstance(attrs, dict) else None
    if not type_name:
        # The docs require `attributes.type` on every record, upserts included.
        return Item(None, None, error=RecordError("INVALID_TYPE", "Must send a concrete entity type.", []))
    info = fixed or call.org.catalog.get(str(type_name))
    if info is None or (fixed is not None and type_name and str(type_name).lower() != fixed.name.lower()):
        raise SfApiError(400, "INVALID_TYPE", f"sObject type '{type_name}' is not supported.")
    body = {k: v for k, v in raw.items() if k.lower() != "id"}
    record_id = next((v for k, v in raw.items() if k.lower() == "id"), None)
    try:
        rec = parse_json_record(call.org.catalog, info, body)
    except RecordError as exc:
        # Deserialization and unknown columns fail the whole request, as Salesforce does.
        raise exc.as_api_error() from None
    return Item(info, rec, record_id=str(record_id) if record_id is not None else None)


def _result(item: Item, created: bool | None) -> dict[str, Any]:
    if item.error is not None:
        return {"success": False, "errors": [item.error.as_result_error()]}
    out: dict[str, Any] = {"id": item.record_id, "success": True, "errors": []}
    if created is not None:
        out["created"] = created
    return out


def _finish(
    call: Call, txn_items: list[Item], created: list[bool | None], all_or_none: bool, txn: Txn
) -> Response:
    org = call.org
    failed = any(i.error is not None for i in txn_items)
    if all_or_none and failed:
        txn.rollback()
        for item in txn_items:
            if item.error is None:
                item.error = ROLLED_BACK
    org.commit(txn, user_id=call.user_id, change_origin=call.origin)
    return json_response([_result(i, c) for i, c in zip(txn_items, created, strict=True)])


ExistingOf = Callable[[Item], tuple[Row | None, bool | None]]
"""For one record: the row it updates (None: create it) and the `created` flag to report."""


def _save_each(call: Call, items: list[Item], all_or_none: bool, existing_of: ExistingOf) -> Response:
    org = call.org
    txn = org.store.begin()
    writer: Writer = org.writer(call.user_id, allow_save=call.allow_save)
    created: list[bool | None] = []
    for item in items:
        is_created: bool | None = None
        if call.lock_records and item.error is None:
            item.error = RecordError(
                "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records", []
            )
        if item.error is None and item.info is not None and item.rec is not None:
            point = txn.savepoint()
            try:
                existing, is_created = existing_of(item)
                item.record_id = writer.save(txn, item.info, item.rec, existing)
            except RecordError as exc:
                txn.rollback(point)
                item.error = exc
        created.append(is_created)
    return _finish(call, items, created, all_or_none, txn)


async def collection(request: Request, call: Call) -> Response:
    """`/composite/sobjects`: POST create, PATCH update, DELETE by ids, GET is not here."""
    if request.method == "DELETE":
        return _delete(call, request)
    records, all_or_none = _records(await json_body(request))
    items = [_parse(call, r, None) for r in records]
    if request.method == "POST":
        for item in items:
            if item.error is None and item.record_id is not None:
                item.error = RecordError(
                    "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
                )
        return _save_each(call, items, all_or_none, lambda item: (None, None))

    def existing(item: Item) -> tuple[Row | None, bool | None]:
        assert item.info is not None
        if item.record_id is None:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", [])
        rid = ids.normalize(item.record_id)
        if rid is None:
            raise RecordError("MALFORMED_ID", f"invalid record id: {item.record_id}", ["Id"])
        row = call.org.store.table(item.info.name).rows.get(rid)
        if row is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        if row["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        return row, None

    return _save_each(call, items, all_or_none, existing)


async def upsert(request: Request, call: Call) -> Response:
    """`PATCH /composite/sobjects/{Obj}/{ExtField}`: upsert up to 200 records by external id."""
    info = object_info(call, request.path_params["sobject"])
    field_name = request.path_params["field"]
    ext = info.external_id_field(field_name)
    if ext is None:
        raise SfApiError(
            400,
            "INVALID_FIELD",
            f"Field name provided, {field_name} is not an External ID or indexed field for {info.name}",
        )
    records, all_or_none = _records(await json_body(request))
    items = [_parse(call, r, info) for r in records]
    key_of: list[str | None] = []
    for item in items:
        value = None
        if item.rec is not None:
            value = item.record_id if ext.name == "Id" else item.rec.values.get(ext.name)
        if item.error is None and value is None:
            item.error = RecordError("MISSING_ARGUMENT", f"{ext.name} not specified", [])
        key_of.append(index_key(value) if value is not None else None)
    seen = Counter(k for k in key_of if k is not None)
    for item, key in zip(items, key_of, strict=True):
        if key is not None and seen[key] > 1 and item.error is None:
            item.error = RecordError(
                "DUPLICATE_EXTERNAL_ID", f"Duplicate external id specified: {key}", [ext.name]
            )
    table = call.org.store.table(info.name)

    def existing(item: Item) -> tuple[Row | None, bool | None]:
        assert item.rec is not None
        if ext.name == "Id":
            rid = ids.normalize(item.record_id or "")
            row = table.live(rid) if rid else None
            if row is None:
                raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
            return row, False
        matches = table.find(ext.name, item.rec.values[ext.name])
        if len(matches) > 1:
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{ext.name}: more than one record found for external id field: {matches}",
                [ext.name],
            )
        if matches:
            item.rec.values.pop(ext.name, None)
            return table.rows[matches[0]], False
        return None, True

    return _save_each(call, items, all_or_none, existing)


def _delete(call: Call, request: Request) -> Response:
    raw_ids = [i for i in request.query_params.get("ids", "").split(",") if i]
    if len(raw_ids) > MAX_RECORDS:
        raise SfApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {MAX_RECORDS} records into this call",
            [],
        )
    all_or_none = request.query_params.get("allOrNone", "false").lower() == "true"
    org = call.org
    txn = org.store.begin()
    writer = org.writer(call.user_id, allow_save=call.allow_save)
    items: list[Item] = []
    for raw in raw_ids:
        item = Item(None, None, record_id=raw)
        rid = ids.normalize(raw)
        found = org.store.locate(rid) if rid else None
        if rid is None:
            item.error = RecordError("MALFORMED_ID", f"malformed id {raw}", [])
        elif found is None:
            item.error = RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        else:
            point = txn.savepoint()
            try:
                writer.delete(txn, found[0].info, rid)
                item.record_id = rid
            except RecordError as exc:
                txn.rollback(point)
                item.error = exc
        items.append(item)
    return _finish(call, items, [None] * len(items), all_or_none, txn)


async def retrieve(request: Request, call: Call) -> Response:
    """`GET /composite/sobjects/{Obj}?ids=…&fields=…` (or POST `{"ids", "fields"}`, up to 2,000):
    records in order, null where missing."""
    info = object_info(call, request.path_params["sobject"])
    if request.method == "POST":
        body = await json_body(request)
        if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
            raise SfApiError(
                400, "JSON_PARSER_ERROR", "The request body must be an object with ids and fields"
            )
        raw_ids = [str(i) for i in body["ids"]]
        wanted = [str(f) for f in body.get("fields") or ["Id"]]
    else:
        raw_ids = request.query_params.get("ids", "").split(",")
        wanted = [f.strip() for f in request.query_params.get("fields", "Id").split(",") if f.strip()]
    if len(raw_ids) > 2000:
        raise SfApiError(
            400, "EXCEEDED_ID_LIMIT", "record limit reached. cannot submit more than 2000 records"
        )
    fields = []
    for name in wanted:
        f = info.field(name)
        if f is None:
            raise SfApiError(400, "INVALID_FIELD", f"No such column '{name}' on entity '{info.name}'.")
        fields.append(f.name)
    table = call.org.store.table(info.name)
    out: list[Any] = []
    for raw in raw_ids:
        rid = ids.normalize(raw.strip()) if raw.strip() else None
        row = table.live(rid) if rid else None
        out.append(record_json(info, row, call.base, fields) if row is not None else None)
    return json_response(out)
