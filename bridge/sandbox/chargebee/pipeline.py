"""What every `/api/v2` request goes through: Basic auth with the API key, injected faults and
the request limit, form decoding, idempotency replay, and rendering of Chargebee errors."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.chargebee.errors import ChargebeeApiError, authentication_failed
from bridge.sandbox.chargebee.forms import parse_pairs
from bridge.sandbox.chargebee.idempotency import HEADER, REPLAYED_HEADER, fingerprint
from bridge.sandbox.chargebee.site import Site

Json = dict[str, Any]
Handler = Callable[[Site, Json, dict[str, str]], Json]
_FORM = "application/x-www-form-urlencoded"


def authenticate(site: Site, header: str | None) -> None:
    """HTTP Basic with the API key as user name and an empty password."""
    if not header or not header.lower().startswith("basic "):
        raise authentication_failed("Basic authentication header is missing.")
    try:
        user = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8").split(":", 1)[0]
    except (binascii.Error, UnicodeDecodeError):
        raise authentication_failed("The Authorization header is not valid Basic credentials.") from None
    if user != site.api_key:
        raise authentication_failed("Invalid api key.")


def _json(body: Json, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Wrap a handler `(site, params, path_params) -> body` into a Starlette endpoint."""

    async def run(request: Request) -> Response:
        site: Site = request.app.state.site
        key: str | None = None
        request_print: str | None = None
        try:
            authenticate(site, request.headers.get("authorization"))
            await site.faults.apply(request.url.path)
            pairs = list(request.query_params.multi_items())
            body = b""
            if request.method == "POST":
                body = await request.body()
                content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
                if body and content_type != _FORM:
                    raise ChargebeeApiError(
                        415,
                        "invalid_request",
                        f"Requests must be sent as {_FORM}, not {content_type or 'no content type'}.",
                    )
                try:
                    pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
                except UnicodeDecodeError:
                    raise ChargebeeApiError(
                        400, "invalid_request", "The request body is not UTF-8."
                    ) from None
                key = request.headers.get(HEADER)
            params = parse_pairs(pairs)
            if key is not None:
                request_print = fingerprint(request.method, request.url.path, body)
                stored = site.idempotency.lookup(key, request_print, site.clock.now())
                if stored is not None:
                    return Response(
                        stored.body,
                        status_code=stored.status,
                        media_type="application/json",
                        headers={REPLAYED_HEADER: "true"},
                    )
            try:
                answer = _json(handler(site, params, dict(request.path_params)))
            except ChargebeeApiError as exc:
                if request_print is not None and key is not None and exc.status < 500:
                    site.idempotency.remember(
                        key, request_print, exc.status, orjson.dumps(exc.body()), site.clock.now()
                    )
                raise
            if request_print is not None and key is not None:
                site.idempotency.remember(
                    key, request_print, answer.status_code, bytes(answer.body), site.clock.now()
                )
            return answer
        except ChargebeeApiError as exc:
            return exc.response()

    return run
