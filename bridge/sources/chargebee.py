"""Chargebee webhooks: HTTP Basic auth (Chargebee signs nothing), then the envelope.

Key = the Chargebee customer id: `content.customer.id`, else the `customer_id` of the
subscription, invoice, credit note or other object the event carries.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from datetime import UTC, datetime
from typing import Any

import orjson

from bridge.events import Envelope
from bridge.sources.request import Rejected

# Objects that say which customer they belong to, most specific first.
_OBJECTS = (
    "customer",
    "subscription",
    "invoice",
    "credit_note",
    "quote",
    "payment_source",
    "transaction",
    "order",
    "coupon",
    "item_price",
    "item",
    "plan",
    "addon",
)


def check_auth(authorization: str | None, username: str | None, password: str | None) -> None:
    """Raise `Rejected(401)` unless the Basic credentials are the configured ones."""
    if not username or not password:
        raise Rejected(
            401,
            "not_configured",
            "Chargebee webhooks are not configured: set "
            "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME and BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD",
        )
    if not authorization or not authorization.lower().startswith("basic "):
        raise Rejected(401, "missing_credentials", "HTTP Basic credentials are required")
    try:
        user, _, secret = base64.b64decode(authorization[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise Rejected(
            401, "bad_credentials", "Authorization header is not valid Basic credentials"
        ) from None
    # Both compared, always, so timing does not tell which one was wrong.
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_pass = hmac.compare_digest(secret.encode(), password.encode())
    if not (ok_user and ok_pass):
        raise Rejected(401, "bad_credentials", "wrong username or password")


def check_source_ip(client_host: str | None, allowed: list[str]) -> None:
    """Raise `Rejected(403)` when an allow-list is set and the caller is not on it."""
    if not allowed:
        return
    try:
        address = ipaddress.ip_address(client_host or "")
    except ValueError:
        raise Rejected(403, "ip_not_allowed", "caller address unknown; an IP allow-list is set") from None
    if not any(address in ipaddress.ip_network(net, strict=False) for net in allowed):
        raise Rejected(403, "ip_not_allowed", f"{address} is not in the Chargebee IP allow-list")


def parse(body: bytes) -> tuple[Envelope, dict[str, str]]:
    """The envelope of an authenticated Chargebee event; `Rejected(400)` if malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected(400, "bad_shape", "body must be a JSON object")
    event_id = data.get("id")
    event_type = data.get("event_type")
    occurred = data.get("occurred_at")
    content = data.get("content")
    if not isinstance(event_id, str) or not event_id:
        raise Rejected(400, "bad_field", "field 'id' must be a non-empty string")
    if not isinstance(event_type, str) or not event_type:
        raise Rejected(400, "bad_field", "field 'event_type' must be a non-empty string")
    if not isinstance(occurred, int) or isinstance(occurred, bool) or occurred < 0:
        raise Rejected(400, "bad_field", "field 'occurred_at' must be Unix seconds (an integer)")
    if data.get("api_version", "v2") != "v2":
        raise Rejected(400, "bad_field", "field 'api_version' must be 'v2'")
    if not isinstance(content, dict):
        raise Rejected(400, "bad_field", "field 'content' must be an object")
    try:
        occurred_at = datetime.fromtimestamp(occurred, UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected(400, "bad_field", "field 'occurred_at' is out of range for Unix seconds") from None
    kind, obj = _main_object(event_type, content)
    customer = _customer_id(content)
    object_id = str(obj.get("id")) if obj and obj.get("id") is not None else event_id
    envelope = Envelope.from_webhook(
        body,
        data,
        source="chargebee",
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred_at,
        object_type=kind,
        object_id=object_id,
        customer_id=customer or f"{kind}:{object_id}",
    )
    return envelope, {}


def _main_object(event_type: str, content: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """The object the event is about: the content key its type starts with (longest wins)."""
    keys = sorted((k for k in content if isinstance(content[k], dict)), key=len, reverse=True)
    for key in keys:
        if event_type.startswith(key + "_"):
            return key, content[key]
    for key in _OBJECTS:
        if isinstance(content.get(key), dict):
            return key, content[key]
    first = keys[0] if keys else "none"
    return first, content.get(first) if keys else None


def _customer_id(content: dict[str, Any]) -> str | None:
    customer = content.get("customer")
    if isinstance(customer, dict) and customer.get("id"):
        return str(customer["id"])
    for key in _OBJECTS[1:]:
        obj = content.get(key)
        if isinstance(obj, dict) and obj.get("customer_id"):
            return str(obj["customer_id"])
    return None
