"""The wrapper every `/services/data` call goes through, in Salesforce's order.

version → session (401 INVALID_SESSION_ID) → injected fault → daily allowance (403
REQUEST_LIMIT_EXCEEDED) → count → handler; every answer carries `Sforce-Limit-Info`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from bridge.sandbox.salesforce.errors import SfApiError, invalid_session, not_found
from bridge.sandbox.salesforce.faults import Fault
from bridge.sandbox.salesforce.org import VERSIONS, Org

_VERSION_RE = re.compile(r"^v(\d+\.\d)$")


@dataclass
class Call:
    """One authenticated API call: who, which API version, and the client tag."""

    org: Org
    version: str
    user_id: str
    client: str | None
    kind: str
    allow_save: bool = False
    lock_records: bool = False

    @property
    def origin(self) -> str:
        """What CDC shows as `changeOrigin` for this call."""
        api = "bulkapi" if self.kind.startswith("bulk") else "rest"
        base = f"com/salesforce/api/{api}/{self.version}"
        return f"{base};client={self.client}" if self.client else base

    @property
    def base(self) -> str:
        return f"/services/data/v{self.version}"


Handler = Callable[[Request, Call], Awaitable[Response]]


class DroppedResponse(Response):
    """Starts an answer and breaks the connection mid-body, as a lost connection looks to a client."""

    def __init__(self) -> None:
        super().__init__(b"", status_code=200, media_type="application/json")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b"[{", "more_body": True})
        raise ConnectionAbortedError("sandbox fault: connection dropped")


def json_response(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def json_body(request: Request) -> Any:
    """The request's JSON body, or Salesforce's JSON_PARSER_ERROR / UNSUPPORTED_MEDIA_TYPE."""
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype not in ("application/json", "") and not ctype.endswith("+json"):
        raise SfApiError(
            415, "UNSUPPORTED_MEDIA_TYPE", f"Content type '{ctype}' is not supported for this resource"
        )
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SfApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Unexpected character in request body: {exc.msg} at [line:1, column:{exc.pos + 1}]",
        ) from None


def fault_response(fault: Fault) -> Response:
    if fault.kind == "server_error":
        code = "SERVER_UNAVAILABLE" if fault.status == 503 else "UNKNOWN_EXCEPTION"
        return SfApiError(fault.status, code, "sandbox fault: the server is unavailable").response()
    if fault.kind == "unable_to_lock_row":
        return SfApiError(
            400, "UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records", []
        ).response()
    return SfApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").response()


def endpoint(
    kind: str, handler: Handler, *, public: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap `handler` as an API call of `kind` (the name `/_sandbox/counts` reports)."""

    async def run(request: Request) -> Response:
        org: Org = request.app.state.org
        response = await _run(request, org)
        response.headers["Sforce-Limit-Info"] = org.usage.header()
        return response

    async def _run(request: Request, org: Org) -> Response:
        raw_version = request.path_params.get("version", "")
        m = _VERSION_RE.match(raw_version)
        if m is None or m.group(1) not in VERSIONS:
            return not_found().response()
        version = m.group(1)
        user_id = org.integration_user_id
        if not public:
            auth = request.headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            found = org.session_user(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
            if found is None:
                return invalid_session().response()
            user_id = found
        fault = org.faults.pick(kind)
        if fault is not None:
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.kind == "drop" and not fault.after:
                return DroppedResponse()
            per_record = (
                fault.kind == "unable_to_lock_row" and fault.per_record and kind.startswith("collections")
            )
            if fault.kind not in ("latency", "drop") and not per_record:
                return fault_response(fault)
        if not public and not org.usage.take():
            return SfApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").response()
        org.counts[kind] += 1
        options = request.headers.get("sforce-call-options", "")
        client = next(
            (p.split("=", 1)[1].strip() for p in options.split(",") if p.strip().startswith("client=")), None
        )
        duplicate_header = request.headers.get("sforce-duplicate-rule-header", "").replace(" ", "").lower()
        call = Call(
            org=org,
            version=version,
            user_id=user_id,
            client=client,
            kind=kind,
            allow_save="allowsave=true" in duplicate_header,
            lock_records=fault is not None and fault.kind == "unable_to_lock_row",
        )
        try:
            response = await handler(request, call)
        except SfApiError as exc:
            response = exc.response()
        if fault is not None and fault.kind == "drop":
            return DroppedResponse()
        return response

    return run
