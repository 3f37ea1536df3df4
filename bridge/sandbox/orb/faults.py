"""Faults injected on the `/v1` API from the control routes: errors (5xx), rate limits (429
with `Retry-After`) and latency, each for the next `count` matching requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.orb.errors import OrbError, invalid

Mode = Literal["error", "rate_limit", "latency"]


@dataclass
class Fault:
    mode: Mode
    count: int
    status: int = 500
    retry_after: int = 1
    latency_ms: int = 0
    path_prefix: str = "/v1/"
    method: str | None = None

    def matches(self, request: Request) -> bool:
        return request.url.path.startswith(self.path_prefix) and (
            self.method is None or self.method.upper() == request.method
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_fault(body: Any) -> Fault:
    """A fault from the control API's JSON body; bad values are 400s naming the field."""
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    mode = body.get("mode")
    if mode not in ("error", "rate_limit", "latency"):
        raise invalid("mode", "must be one of error, rate_limit, latency")
    count = body.get("count", 1)
    if not isinstance(count, int) or count < 1:
        raise invalid("count", "must be a positive integer")
    status = body.get("status", 500 if mode == "error" else 429)
    if mode == "error" and (not isinstance(status, int) or not 500 <= status <= 599):
        raise invalid("status", "must be a 5xx status")
    retry_after = body.get("retry_after", 1)
    if not isinstance(retry_after, int) or retry_after < 0:
        raise invalid("retry_after", "must be a non-negative integer (seconds)")
    latency = body.get("latency_ms", 0)
    if not isinstance(latency, int) or not 0 <= latency <= 60_000:
        raise invalid("latency_ms", "must be an integer from 0 to 60000")
    prefix = body.get("path_prefix", "/v1/")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise invalid("path_prefix", "must be a path starting with /")
    method = body.get("method")
    if method is not None and not isinstance(method, str):
        raise invalid("method", "must be an HTTP method")
    return Fault(mode, count, status, retry_after, latency, prefix, method)


class Faults:
    """Pending faults, applied first-in first-out to the requests they match."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []
        self.applied = 0

    def clear(self) -> None:
        self.pending.clear()

    async def apply(self, request: Request) -> Response | None:
        """Sleep for latency faults; answer for error and rate-limit faults (None: carry on)."""
        for fault in list(self.pending):
            if not fault.matches(request):
                continue
            fault.count -= 1
            if fault.count <= 0:
                self.pending.remove(fault)
            self.applied += 1
            if fault.mode == "latency":
                await asyncio.sleep(fault.latency_ms / 1000)
                continue
            if fault.mode == "rate_limit":
                err = OrbError("rate_limit", "Rate limit exceeded; retry after the Retry-After delay.")
                return _answer(err, {"Retry-After": str(fault.retry_after)})
            err = OrbError("internal", "An internal error occurred (injected by the sandbox).")
            err.body["status"] = fault.status
            return _answer(err, {"Transient-Error": "true"}, status=fault.status)
        return None


def _answer(err: OrbError, headers: dict[str, str], status: int | None = None) -> Response:
    import orjson

    return Response(
        orjson.dumps(err.body),
        status_code=status or err.status,
        headers=headers,
        media_type="application/json",
    )
