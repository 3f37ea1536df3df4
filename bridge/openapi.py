"""The receiver's OpenAPI 3.1 document, built from the route table so the two cannot drift.

`spec(routes)` walks the routes `bridge.app` serves and looks each (path, method) up in
`OPERATIONS`; a route without a description here fails app creation, and a description
without a route fails the test that compares them. Served at `GET /openapi.json`; fuzzers
(schemathesis) generate requests from it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute, Route

from bridge.sources.orb import KNOWN_EVENT_TYPES

JSON = "application/json"
XML = "text/xml"

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Stable machine-readable code, e.g. bad_signature."},
        "detail": {"type": "string", "description": "What was wrong, for a person."},
    },
}

_ERROR = {"$ref": "#/components/schemas/Error"}
_RETRY_AFTER = {
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}
}


def _json_error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": {JSON: {"schema": _ERROR}}}
    if headers:
        answer["headers"] = headers
    return answer


def _soap(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {XML: {"schema": {"type": "string"}}},
    }
    if headers:
        answer["headers"] = headers
    return answer


_ACCEPTED = {
    "description": "The broker has the event.",
    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Accepted"}}},
}
_ACCEPTED_UNMAPPED = {
    "description": "Stored, but its event type is not mapped yet (kept for later mapping and replay).",
    "content": {JSON: {"schema": {"$ref": "#/components/schemas/Accepted"}}},
}
_WEBHOOK_ERRORS = {
    "400": _json_error("Malformed: not JSON, or not the sender's shape."),
    "401": _json_error("Bad or missing credentials / signature, or a timestamp outside ±5 minutes."),
    "413": _json_error("Body larger than BRIDGE_MAX_BODY_BYTES."),
    "503": _json_error("Kafka did not acknowledge; retry later.", _RETRY_AFTER),
}

OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    ("/webhooks/orb", "POST"): {
        "operationId": "orbWebhook",
        "summary": "Orb webhook, verified by its HMAC signature, published to billing.orb.events.",
        "parameters": [
            {
                "name": "X-Orb-Timestamp",
                "in": "header",
                "required": True,
                "description": "ISO 8601 send time (UTC when it has no zone); must be within ±5 minutes.",
                "schema": {"type": "string", "format": "date-time"},
            },
            {
                "name": "X-Orb-Signature",
                "in": "header",
                "required": True,
                "description": "Space-separated `v1=<hex HMAC-SHA256 of v1:timestamp:body>` values.",
                "schema": {"type": "string", "pattern": "^v1=[0-9a-f]{64}( v1=[0-9a-f]{64})*$"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/OrbEvent"}}},
        },
        "responses": {"200": _ACCEPTED, "202": _ACCEPTED_UNMAPPED, **_WEBHOOK_ERRORS},
    },
    ("/webhooks/chargebee", "POST"): {
        "operationId": "chargebeeWebhook",
        "summary": "Chargebee webhook, HTTP Basic auth, published to billing.chargebee.events.",
        "security": [{"chargebeeBasic": []}],
        "requestBody": {
            "required": True,
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/ChargebeeEvent"}}},
        },
        "responses": {
            "200": _ACCEPTED,
            **_WEBHOOK_ERRORS,
            "403": _json_error("Caller not in BRIDGE_CHARGEBEE_ALLOWED_IPS."),
        },
    },
    ("/webhooks/salesforce", "POST"): {
        "operationId": "salesforceOutboundMessage",
        "summary": "Salesforce outbound message (SOAP), published to salesforce.changes; answers a SOAP Ack.",
        "requestBody": {
            "required": True,
            "content": {
                XML: {
                    "schema": {
                        "type": "string",
                        "description": "soapenv:Envelope/Body/notifications with 1–100 Notification "
                        "elements. DTDs and entities are refused.",
                    }
                }
            },
        },
        "responses": {
            "200": _soap("`<Ack>true</Ack>`: every notification is on the broker."),
            "400": _soap("SOAP Client fault: not XML, a DTD/entity, or not an outbound message."),
            "401": _soap("SOAP Client fault: OrganizationId is not the configured org."),
            "413": _soap("SOAP Client fault: body larger than BRIDGE_MAX_BODY_BYTES."),
            "503": _soap("SOAP Server fault: Kafka did not acknowledge; retry later.", _RETRY_AFTER),
        },
    },
    ("/healthz", "GET"): {
        "operationId": "healthz",
        "summary": "The process is up.",
        "responses": {"200": {"description": "Up.", "content": {JSON: {"schema": {"type": "object"}}}}},
    },
    ("/readyz", "GET"): {
        "operationId": "readyz",
        "summary": "The Kafka broker answers.",
        "responses": {
            "200": {"description": "Ready.", "content": {JSON: {"schema": {"type": "object"}}}},
            "503": _json_error("The broker does not answer.", _RETRY_AFTER),
        },
    },
    ("/metrics", "GET"): {
        "operationId": "metrics",
        "summary": "Prometheus metrics.",
        "responses": {
            "200": {"description": "Text exposition format.", "content": {"text/plain": {"schema": {}}}}
        },
    },
    ("/openapi.json", "GET"): {
        "operationId": "openapi",
        "summary": "This document.",
        "responses": {"200": {"description": "OpenAPI 3.1.", "content": {JSON: {"schema": {}}}}},
    },
}

COMPONENTS: dict[str, Any] = {
    "schemas": {
        "Error": ERROR_SCHEMA,
        "Accepted": {
            "type": "object",
            "required": ["status", "event_ids"],
            "properties": {
                "status": {"const": "accepted"},
                "event_ids": {"type": "array", "items": {"type": "string"}},
                "note": {"type": "string"},
            },
        },
        "OrbEvent": {
            "type": "object",
            "required": ["id", "type", "created_at"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "type": {
                    "description": "One of the orb-billing SDK's event types; others are stored too (202).",
                    "anyOf": [{"enum": sorted(KNOWN_EVENT_TYPES)}, {"type": "string", "minLength": 1}],
                },
                "created_at": {"type": "string", "format": "date-time"},
                "properties": {"type": "object"},
                "payload_style": {"enum": ["expanded", "standard"]},
                "customer": {"$ref": "#/components/schemas/OrbObject"},
                "subscription": {"$ref": "#/components/schemas/OrbObject"},
                "invoice": {"$ref": "#/components/schemas/OrbObject"},
                "credit_note": {"$ref": "#/components/schemas/OrbObject"},
            },
        },
        "OrbObject": {
            "type": "object",
            "properties": {
                "id": {"type": "string"},
                "customer_id": {"type": "string"},
                "customer": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        },
        "ChargebeeEvent": {
            "type": "object",
            "required": ["id", "event_type", "occurred_at", "content"],
            "properties": {
                "id": {"type": "string", "minLength": 1},
                "event_type": {"type": "string", "minLength": 1},
                "occurred_at": {"type": "integer", "minimum": 0},
                "api_version": {"const": "v2"},
                "object": {"const": "event"},
                "content": {
                    "type": "object",
                    "properties": {
                        "customer": {"type": "object", "properties": {"id": {"type": "string"}}},
                        "subscription": {
                            "type": "object",
                            "properties": {"id": {"type": "string"}, "customer_id": {"type": "string"}},
                        },
                    },
                },
            },
        },
    },
    "securitySchemes": {
        "chargebeeBasic": {
            "type": "http",
            "scheme": "basic",
            "description": "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME / BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD.",
        }
    },
}


def spec(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI document of exactly these routes; `KeyError` names an undescribed route."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if not isinstance(route, Route):
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):
            try:
                operation = OPERATIONS[(route.path, method)]
            except KeyError:
                raise KeyError(f"route {method} {route.path} has no OpenAPI description") from None
            paths.setdefault(route.path, {})[method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "billing ⇄ Salesforce bridge receiver",
            "version": "1",
            "description": "Errors are JSON {error, detail}, except SOAP faults on /webhooks/salesforce.",
        },
        "paths": paths,
        "components": COMPONENTS,
    }
