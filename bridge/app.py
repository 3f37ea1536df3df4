"""The receiver: a Starlette app whose only job is verify → envelope → Kafka → answer.

    POST /webhooks/orb          Orb (HMAC signature)           → billing.orb.events
    POST /webhooks/chargebee    Chargebee (HTTP Basic)         → billing.chargebee.events
    POST /webhooks/salesforce   Salesforce outbound messages   → salesforce.changes
    GET  /healthz               the process is up
    GET  /readyz                the broker answers (503 otherwise)
    GET  /metrics               Prometheus
    GET  /openapi.json          this table as OpenAPI 3.1 (bridge/openapi.py)

2xx means the broker has the event. Errors are JSON `{"error", "detail"}` (SOAP faults on
the Salesforce endpoint): 401 bad credentials, 400 malformed, 413 too large, 405 wrong
method, 503 broker unreachable (with Retry-After). Rejected requests publish nothing.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bridge.errors import BrokerUnavailable
from bridge.events import Envelope
from bridge.kafka import Topics
from bridge.logs import get_logger
from bridge.openapi import spec
from bridge.publisher import Publisher
from bridge.receiver_metrics import IN_FLIGHT, PUBLISH_SECONDS, REQUESTS
from bridge.settings import Settings
from bridge.sources import chargebee, orb, salesforce_outbound
from bridge.sources.request import Rejected, read_body

log = get_logger("receiver")
RETRY_AFTER_SECONDS = "5"


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The receiver's one error shape."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings, publisher: Publisher | None = None) -> Starlette:
    """The receiver app; `publisher` is created from settings unless given (tests)."""
    pub = publisher or Publisher(settings)
    topics = Topics.from_settings(settings)
    allowed_ips = [ip.strip() for ip in settings.chargebee_allowed_ips.split(",") if ip.strip()]
    orb_secrets = settings.orb_secrets()

    async def deliver(source: str, topic: str, pairs: list[tuple[Envelope, dict[str, str]]]) -> None:
        began = time.perf_counter()
        await pub.publish_all(topic, [e for e, _ in pairs], [h for _, h in pairs])
        PUBLISH_SECONDS.labels(source).observe(time.perf_counter() - began)

    async def orb_webhook(request: Request) -> Response:
        body = await read_body(request, settings.max_body_bytes)
        orb.verify(orb_secrets, request.headers, body)
        envelope, extra = orb.parse(body)
        await deliver("orb", topics.orb_events, [(envelope, extra)])
        return _accepted([envelope], extra)

    async def chargebee_webhook(request: Request) -> Response:
        chargebee.check_source_ip(request.client.host if request.client else None, allowed_ips)
        password = settings.chargebee_webhook_password
        chargebee.check_auth(
            request.headers.get("authorization"),
            settings.chargebee_webhook_username,
            password.get_secret_value() if password else None,
        )
        body = await read_body(request, settings.max_body_bytes)
        envelope, extra = chargebee.parse(body)
        await deliver("chargebee", topics.chargebee_events, [(envelope, extra)])
        return _accepted([envelope], extra)

    async def salesforce_webhook(request: Request) -> Response:
        body = await read_body(request, settings.max_body_bytes)
        envelopes = salesforce_outbound.parse(body, settings.salesforce_organization_id)
        await deliver("salesforce", topics.salesforce_changes, [(e, {}) for e in envelopes])
        return Response(salesforce_outbound.ACK, media_type="text/xml; charset=utf-8")

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        if await pub.ready():
            return JSONResponse({"status": "ready", "broker": settings.kafka_bootstrap})
        return error(
            503,
            "broker_unavailable",
            f"Kafka at {settings.kafka_bootstrap} does not answer",
            {"Retry-After": RETRY_AFTER_SECONDS},
        )

    async def metrics(request: Request) -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    routes = [
        Route("/webhooks/orb", _guarded("orb", orb_webhook), methods=["POST"]),
        Route("/webhooks/chargebee", _guarded("chargebee", chargebee_webhook), methods=["POST"]),
        Route(
            "/webhooks/salesforce", _guarded("salesforce", salesforce_webhook, soap=True), methods=["POST"]
        ),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    # Built once, from the table itself: the document cannot list a route that is not served.
    document = spec(routes)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pub.start()
        try:
            yield
        finally:
            await pub.stop()  # in-flight publishes were awaited by their requests

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        names = {404: "not_found", 405: "method_not_allowed"}
        return error(
            exc.status_code,
            names.get(exc.status_code, "http_error"),
            str(exc.detail),
            dict(exc.headers or {}),
        )

    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.publisher = pub
    return app


Handler = Callable[[Request], Awaitable[Response]]


def _guarded(source: str, handler: Handler, soap: bool = False) -> Handler:
    """Turn rejections and broker trouble into the documented answers, and count them."""

    async def endpoint(request: Request) -> Response:
        IN_FLIGHT.inc()
        try:
            response = await handler(request)
            REQUESTS.labels(source, "accepted").inc()
            return response
        except Rejected as exc:
            REQUESTS.labels(source, exc.code).inc()
            log.info("webhook_rejected", source=source, status=exc.status, error=exc.code, detail=exc.message)
            if soap:
                return Response(
                    salesforce_outbound.fault("Client", exc.message),
                    status_code=exc.status,
                    media_type="text/xml; charset=utf-8",
                )
            return error(exc.status, exc.code, exc.message)
        except BrokerUnavailable as exc:
            REQUESTS.labels(source, "broker_unavailable").inc()
            log.warning("webhook_not_stored", source=source, error=str(exc))
            detail = "the event could not be stored (Kafka unavailable); retry later"
            if soap:
                return Response(
                    salesforce_outbound.fault("Server", detail),
                    status_code=503,
                    media_type="text/xml; charset=utf-8",
                    headers={"Retry-After": RETRY_AFTER_SECONDS},
                )
            return error(503, "broker_unavailable", detail, {"Retry-After": RETRY_AFTER_SECONDS})
        finally:
            IN_FLIGHT.dec()

    return endpoint


def _accepted(envelopes: list[Envelope], extra: dict[str, str]) -> JSONResponse:
    body: dict[str, object] = {"status": "accepted", "event_ids": [e.event_id for e in envelopes]}
    if extra.get("unknown-event-type"):
        body["note"] = "event type not mapped yet: stored for later mapping and replay"
    return JSONResponse(body, status_code=202 if extra.get("unknown-event-type") else 200)
