"""The control API (`/_sandbox/…`): what a test or the demo does to the org from outside.

    POST   /_sandbox/reset                       forget records, events, jobs, counts, faults (users kept)
    GET    /_sandbox/records[/{Obj}]             snapshot of every live record (by SObject)
    POST   /_sandbox/records/{Obj}               create as a human user  {"user": "Ann Lee", "fields": {…}}
    PATCH  /_sandbox/records/{Obj}/{id}          edit as a human user    {"user": "Ann Lee", "fields": {…}}
    DELETE /_sandbox/records/{Obj}/{id}?user=…   delete as a human user
    POST   /_sandbox/users                       {"name": "Ann Lee"} → {"id"}: the User (created if new)
    GET    /_sandbox/counts                      API calls by kind, usage, allowance, injected faults
    POST   /_sandbox/counts/reset                zero the per-kind counts
    GET/POST/DELETE /_sandbox/faults             list / add one `Fault` / clear all
    POST   /_sandbox/usage                       {"used": N}: set the daily API usage
    POST   /_sandbox/clock                       {"advance_seconds": S}: move sandbox time forward
    POST   /_sandbox/sessions/expire             every access token becomes invalid (refresh path)
    PATCH  /_sandbox/config                      change config at runtime (jwt_public_key, duplicate_rules…)
    GET    /_sandbox/events?after=N              stored change events (debugging, assertions)
    POST   /_sandbox/cometd/drop-clients         forget every CometD client (→ 403::Unknown client)
    POST   /_sandbox/cdc/channels                {"name": "X__chn", "members": [{"entity", "filter"}]}
    POST   /_sandbox/cdc/gaps                    {"count": N}: next N change events are GAP_* (header only)
    GET    /_sandbox/outbound                    outbound-message rules and notifications (attempts, acked)
    POST   /_sandbox/outbound/rules              add an `OutboundRule` {"url", "object", "field", "equals"}

Human edits go through the same validation and CDC as API calls, with `commitUser` = the
human's User Id and an empty `changeOrigin`. Errors: `{"error": code, "detail": text}`.
"""

from __future__ import annotations

from dataclasses import fields as dc_fields
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.sandbox.salesforce import ids
from bridge.sandbox.salesforce.duplicates import DuplicateRule
from bridge.sandbox.salesforce.errors import RecordError, SfApiError
from bridge.sandbox.salesforce.faults import Fault
from bridge.sandbox.salesforce.org import Org
from bridge.sandbox.salesforce.outbound import OutboundRule
from bridge.sandbox.salesforce.writes import parse_json_record

_RUNTIME_CONFIG = {
    "jwt_public_key",
    "token_lifetime",
    "api_allowance",
    "query_batch_size",
    "long_poll_timeout",
    "username",
    "password",
    "client_id",
    "client_secret",
    "duplicate_rules",
}


def _error(status: int, code: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    body = orjson.loads(raw)
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    return body


def _org(request: Request) -> Org:
    org: Org = request.app.state.org
    return org


async def reset(request: Request) -> Response:
    _org(request).reset()
    return JSONResponse({"reset": True})


async def records(request: Request) -> Response:
    org = _org(request)
    snap = org.snapshot()
    name = request.path_params.get("sobject")
    if name is None:
        return JSONResponse(snap)
    info = org.catalog.get(name)
    if info is None:
        return _error(404, "unknown_sobject", f"no SObject {name}")
    return JSONResponse(snap.get(info.name, []))


async def human_write(request: Request) -> Response:
    """Create, edit or delete a record as a named human user (a different CDC commitUser)."""
    org = _org(request)
    info = org.catalog.get(request.path_params["sobject"])
    if info is None:
        return _error(404, "unknown_sobject", f"no SObject {request.path_params['sobject']}")
    try:
        body = await _json(request) if request.method != "DELETE" else {}
    except ValueError as exc:
        return _error(400, "bad_json", str(exc))
    user_name = str(body.get("user") or request.query_params.get("user") or "Sandbox Admin")
    user_id = org.user_named(user_name)
    table = org.store.table(info.name)
    existing = None
    rid = None
    if "id" in request.path_params:
        rid = ids.normalize(request.path_params["id"])
        existing = table.live(rid) if rid else None
        if existing is None:
            return _error(404, "not_found", f"no live {info.name} {request.path_params['id']}")
    txn = org.store.begin()
    writer = org.writer(user_id)
    try:
        if request.method == "DELETE":
            assert rid is not None
            writer.delete(txn, info, rid)
        else:
            fields_body = body.get("fields")
            if not isinstance(fields_body, dict):
                return _error(400, "bad_request", "give the values as an object under 'fields'")
            rec = parse_json_record(org.catalog, info, fields_body)
            rid = writer.save(txn, info, rec, existing)
    except RecordError as exc:
        txn.rollback()
        return _error(400, exc.code, exc.message)
    org.commit(txn, user_id=user_id, change_origin="")
    return JSONResponse({"id": rid, "commitUser": user_id}, status_code=201 if existing is None else 200)


async def users(request: Request) -> Response:
    body = await _json(request)
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        return _error(400, "bad_request", "give the user's name as 'name'")
    return JSONResponse({"id": _org(request).user_named(name.strip())})


async def counts(request: Request) -> Response:
    org = _org(request)
    if request.method == "POST":
        org.counts.clear()
    return JSONResponse(
        {
            "total": sum(org.counts.values()),
            "by_kind": dict(sorted(org.counts.items())),
            "api_usage": org.usage.used(),
            "allowance": org.usage.allowance,
            "faults_injected": dict(org.faults.injected),
            "cdc_events_delivered": org.events.delivered,
        }
    )


async def faults(request: Request) -> Response:
    org = _org(request)
    if request.method == "DELETE":
        org.faults.clear()
    elif request.method == "POST":
        try:
            org.faults.add(Fault.model_validate(await _json(request)))
        except (ValidationError, ValueError) as exc:
            return _error(400, "bad_fault", str(exc))
    return JSONResponse([f.model_dump() for f in org.faults.rules])


async def usage(request: Request) -> Response:
    body = await _json(request)
    used = body.get("used")
    if not isinstance(used, int) or used < 0:
        return _error(400, "bad_request", "give 'used' as a non-negative integer")
    org = _org(request)
    org.usage.set_used(used)
    return JSONResponse({"api_usage": org.usage.used(), "allowance": org.usage.allowance})


async def clock(request: Request) -> Response:
    body = await _json(request)
    seconds = body.get("advance_seconds")
    if not isinstance(seconds, int | float) or seconds < 0:
        return _error(400, "bad_request", "give 'advance_seconds' as a non-negative number")
    org = _org(request)
    org.clock.advance(float(seconds))
    return JSONResponse({"now": org.clock()})


async def expire_sessions(request: Request) -> Response:
    org = _org(request)
    n = len(org.sessions)
    org.sessions.clear()
    return JSONResponse({"expired": n})


async def config(request: Request) -> Response:
    org = _org(request)
    body = await _json(request)
    unknown = set(body) - _RUNTIME_CONFIG
    if unknown:
        return _error(400, "bad_request", f"cannot change {sorted(unknown)} at runtime")
    try:
        rules = [DuplicateRule.model_validate(r) for r in body.get("duplicate_rules", [])]
    except ValidationError as exc:
        return _error(400, "bad_rule", str(exc))
    for key, value in body.items():
        setattr(org.config, key, rules if key == "duplicate_rules" else value)
    if "api_allowance" in body:
        org.usage.allowance = int(body["api_allowance"])
    shown = {f.name: getattr(org.config, f.name) for f in dc_fields(org.config) if f.name in _RUNTIME_CONFIG}
    shown["duplicate_rules"] = [r.model_dump() for r in org.config.duplicate_rules]
    shown.pop("password", None)
    shown.pop("client_secret", None)
    return JSONResponse(shown)


async def events(request: Request) -> Response:
    org = _org(request)
    after = request.query_params.get("after", "0")
    if not after.lstrip("-").isdigit():
        return _error(400, "bad_request", "after must be an integer replay id")
    org.events.purge()
    return JSONResponse(
        [{"channel": e.channel, "data": e.data} for e in org.events.events if e.replay_id > int(after)]
    )


async def channels(request: Request) -> Response:
    """Define a custom CDC channel: {"name": "Bridge__chn", "members": [{"entity", "filter"?}]}."""
    body = await _json(request)
    name = body.get("name")
    members = body.get("members")
    if not isinstance(name, str) or not isinstance(members, list) or not members:
        return _error(400, "bad_request", "give 'name' and a non-empty 'members' list")
    try:
        pairs = [(str(m["entity"]), m.get("filter")) for m in members]
        _org(request).events.add_channel(name, pairs)
    except (KeyError, TypeError, ValueError) as exc:
        return _error(400, "bad_channel", str(exc))
    except SfApiError as exc:
        return _error(400, exc.code, exc.message)
    return JSONResponse({"channel": f"/data/{name}"}, status_code=201)


async def gaps(request: Request) -> Response:
    body = await _json(request)
    count = body.get("count")
    if not isinstance(count, int) or count < 0:
        return _error(400, "bad_request", "give 'count' as a non-negative integer")
    _org(request).events.gaps_left = count
    return JSONResponse({"gaps_left": count})


async def drop_clients(request: Request) -> Response:
    cometd = request.app.state.cometd
    n = cometd.drop_all()
    return JSONResponse({"dropped": n})


async def outbound(request: Request) -> Response:
    outbox = request.app.state.outbox
    if request.method == "POST":
        try:
            outbox.rules.append(OutboundRule.model_validate(await _json(request)))
        except (ValidationError, ValueError) as exc:
            return _error(400, "bad_rule", str(exc))
    return JSONResponse(outbox.status())


def routes() -> list[Route]:
    return [
        Route("/_sandbox/reset", reset, methods=["POST"]),
        Route("/_sandbox/records", records, methods=["GET"]),
        Route("/_sandbox/records/{sobject}", records, methods=["GET"]),
        Route("/_sandbox/records/{sobject}", human_write, methods=["POST"]),
        Route("/_sandbox/records/{sobject}/{id}", human_write, methods=["PATCH", "DELETE"]),
        Route("/_sandbox/users", users, methods=["POST"]),
        Route("/_sandbox/counts", counts, methods=["GET"]),
        Route("/_sandbox/counts/reset", counts, methods=["POST"]),
        Route("/_sandbox/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_sandbox/usage", usage, methods=["POST"]),
        Route("/_sandbox/clock", clock, methods=["POST"]),
        Route("/_sandbox/sessions/expire", expire_sessions, methods=["POST"]),
        Route("/_sandbox/config", config, methods=["PATCH"]),
        Route("/_sandbox/events", events, methods=["GET"]),
        Route("/_sandbox/cometd/drop-clients", drop_clients, methods=["POST"]),
        Route("/_sandbox/cdc/gaps", gaps, methods=["POST"]),
        Route("/_sandbox/cdc/channels", channels, methods=["POST"]),
        Route("/_sandbox/outbound", outbound, methods=["GET"]),
        Route("/_sandbox/outbound/rules", outbound, methods=["POST"]),
    ]
