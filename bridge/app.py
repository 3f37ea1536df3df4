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

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from bridge.kafka import Topics
from bridge.openapi import spec
from bridge.publisher import Publisher
from bridge.settings import Settings
from bridge.sources import chargebee, orb, salesforce_outbound
from bridge.webhook_endpoint import JSON, RETRY_AFTER_SECONDS, XML, Answer, Pairs, WebhookEndpoint


def error(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The receiver's one error shape."""
    return JSONResponse({"error": code, "detail": detail}, status_code=status, headers=headers)


def create_app(settings: Settings, publisher: Publisher | None = None) -> Starlette:
    """The receiver app; `publisher` is created from settings unless given (tests)."""
    pub = publisher or Publisher(settings)
    topics = Topics.from_settings(settings)
    allowed_ips = [ip.strip() for ip in settings.chargebee_allowed_ips.split(",") if ip.strip()]
    orb_secrets = settings.orb_secrets()

    def orb_accept(headers: Mapping[str, str], body: bytes) -> Pairs:
        orb.verify(orb_secrets, headers, body)
        return [orb.parse(body)]

    def chargebee_precheck(headers: Mapping[str, str], client: str | None) -> None:
        chargebee.check_source_ip(client, allowed_ips)
        password = settings.chargebee_webhook_password
        chargebee.check_auth(
            headers.get("authorization"),
            settings.chargebee_webhook_username,
            password.get_secret_value() if password else None,
        )

    def salesforce_accept(headers: Mapping[str, str], body: bytes) -> Pairs:
        return [(e, {}) for e in salesforce_outbound.parse(body, settings.salesforce_organization_id)]

    limit = settings.max_body_bytes
    orb_webhook = WebhookEndpoint("orb", topics.orb_events, pub, limit, orb_accept, _accepted)
    chargebee_webhook = WebhookEndpoint(
        "chargebee",
        topics.chargebee_events,
        pub,
        limit,
        lambda headers, body: [chargebee.parse(body)],
        _accepted,
        precheck=chargebee_precheck,
    )
    salesforce_webhook = WebhookEndpoint(
        "salesforce",
        topics.salesforce_changes,
        pub,
        limit,
        salesforce_accept,
        lambda pairs: _SOAP_ACK,
        fault=_soap_fault,
    )

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
        Route("/webhooks/orb", orb_webhook, methods=["POST"]),
        Route("/webhooks/chargebee", chargebee_webhook, methods=["POST"]),
        Route("/webhooks/salesforce", salesforce_webhook, methods=["POST"]),
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

    webhooks = {"/webhooks/orb": orb_webhook, "/webhooks/chargebee": chargebee_webhook}
    webhooks["/webhooks/salesforce"] = salesforce_webhook
    app = Receiver(webhooks, routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.publisher = pub
    return app


class Receiver(Starlette):
    """Starlette, but a webhook POST goes straight to its endpoint: the hot path skips the
    middleware stack and the route scan (about a tenth of a webhook's cost, bench/ingest.py).
    Everything else, including a webhook path with another method, takes the routes."""

    def __init__(self, webhooks: dict[str, WebhookEndpoint], **options: Any) -> None:
        super().__init__(**options)
        self.webhooks = webhooks

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.webhooks.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


_SOAP_ACK = Answer(200, XML, salesforce_outbound.ACK.encode())


def _soap_fault(status: int, code: str, detail: str) -> Answer:
    side = "Server" if status >= 500 else "Client"
    return Answer(status, XML, salesforce_outbound.fault(side, detail).encode())


def _accepted(pairs: Pairs) -> Answer:
    unknown = any(extra.get("unknown-event-type") for _, extra in pairs)
    body: dict[str, object] = {"status": "accepted", "event_ids": [e.event_id for e, _ in pairs]}
    if unknown:
        body["note"] = "event type not mapped yet: stored for later mapping and replay"
    return Answer(202 if unknown else 200, JSON, orjson.dumps(body))
