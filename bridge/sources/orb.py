"""Orb webhooks: verify the signature exactly as Orb documents it, then build the envelope.

Signature: `X-Orb-Signature` holds space-separated `v1=<hex>` values (several during secret
rotation; other versions are ignored), HMAC-SHA256 over `v1:{X-Orb-Timestamp}:{raw body}`;
the timestamp (ISO 8601, UTC when it has no zone) must be within ±5 minutes. Verified on the
raw bytes before anything is parsed.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from bridge.events import Envelope, utcnow
from bridge.sources.request import Rejected

TOLERANCE = timedelta(minutes=5)

# The event types the orb-billing SDK knows (tests keep this in step with the SDK).
KNOWN_EVENT_TYPES = frozenset(
    {
        "backfill.reflected",
        "backfill.reverted",
        "billable_metric.edited",
        "credit_block.accounting_sync_failed",
        "credit_block.accounting_sync_succeeded",
        "credit_note.accounting_sync_failed",
        "credit_note.accounting_sync_succeeded",
        "credit_note.issued",
        "credit_note.marked_as_void",
        "customer.accounting_sync_failed",
        "customer.accounting_sync_succeeded",
        "customer.balance_transaction_created",
        "customer.created",
        "customer.credit_balance_depleted",
        "customer.credit_balance_dropped",
        "customer.credit_balance_recovered",
        "customer.credit_ledger_incremented",
        "customer.edited",
        "data_exports.transfer_error",
        "data_exports.transfer_success",
        "event.unmatched_event",
        "ingestion.unmatched_customer_ids",
        "invoice.accounting_sync_failed",
        "invoice.accounting_sync_succeeded",
        "invoice.automation_schedule_step_executed",
        "invoice.cost_data_exported",
        "invoice.dunning_schedule_created",
        "invoice.dunning_schedule_ended",
        "invoice.dunning_schedule_reset",
        "invoice.dunning_schedule_step_executed",
        "invoice.edited",
        "invoice.invoice_date_elapsed",
        "invoice.issue_failed",
        "invoice.issued",
        "invoice.issued_summary",
        "invoice.manually_marked_as_paid",
        "invoice.manually_marked_as_void",
        "invoice.payment_failed",
        "invoice.payment_processing",
        "invoice.payment_succeeded",
        "invoice.sync_failed",
        "invoice.sync_succeeded",
        "invoice.undo_mark_as_paid",
        "invoice_due_date_recalculation.canceled",
        "invoice_due_date_recalculation.completed",
        "invoice_due_date_recalculation.started",
        "metric.events_dropped_by_watermark",
        "payment_method.created",
        "payment_method.deleted",
        "plan.created",
        "plan.default_version_set",
        "plan.edited",
        "plan.version_created",
        "price.edited",
        "resource_event.test",
        "sales_order.accounting_sync_failed",
        "sales_order.accounting_sync_succeeded",
        "subscription.accounting_sync_failed",
        "subscription.accounting_sync_succeeded",
        "subscription.alert_disabled",
        "subscription.cancellation_scheduled",
        "subscription.cancellation_unscheduled",
        "subscription.cost_exceeded",
        "subscription.created",
        "subscription.edited",
        "subscription.ended",
        "subscription.fixed_fee_quantity_updated",
        "subscription.grouped_cost_exceeded",
        "subscription.invoicing_threshold_exceeded",
        "subscription.license_allocation_reset",
        "subscription.license_balance_threshold_reached",
        "subscription.plan_change_scheduled",
        "subscription.plan_changed",
        "subscription.plan_version_change_scheduled",
        "subscription.plan_version_changed",
        "subscription.spend_exceeded",
        "subscription.started",
        "subscription.trial_ended",
        "subscription.usage_exceeded",
        "transaction.accounting_sync_failed",
        "transaction.accounting_sync_succeeded",
    }
)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Orb's v1 signature (hex) of a body sent at `timestamp`."""
    # hmac.digest is OpenSSL's one-shot HMAC: no Python HMAC object per webhook.
    return hmac.digest(secret.encode(), b"v1:" + timestamp.encode() + b":" + body, "sha256").hex()


def verify(
    secrets: Sequence[str], headers: Mapping[str, str], body: bytes, now: datetime | None = None
) -> None:
    """Raise `Rejected(401)` unless one secret signed this body within the time window."""
    if not secrets:
        raise Rejected(
            401, "not_configured", "Orb webhooks are not configured: set BRIDGE_ORB_WEBHOOK_SECRET"
        )
    timestamp = headers.get("x-orb-timestamp")
    signature_header = headers.get("x-orb-signature")
    if not timestamp or not signature_header:
        raise Rejected(401, "missing_signature", "X-Orb-Timestamp and X-Orb-Signature headers are required")
    try:
        sent = datetime.fromisoformat(timestamp)
    except ValueError:
        raise Rejected(401, "bad_timestamp", "X-Orb-Timestamp is not an ISO 8601 time") from None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    current = now or utcnow()
    if abs(current - sent) > TOLERANCE:
        raise Rejected(
            401,
            "expired_timestamp",
            f"X-Orb-Timestamp {timestamp} is more than 5 minutes from now (replayed or clock skew)",
        )
    offered = [
        value
        for version, _, value in (part.partition("=") for part in signature_header.split(" "))
        if version == "v1" and value
    ]
    for secret in secrets:
        expected = sign(secret, timestamp, body)
        # Compare against every offered value so timing does not reveal which one matched. As
        # bytes: compare_digest refuses non-ASCII str, and header values can hold any latin-1.
        if any(hmac.compare_digest(expected.encode(), value.encode()) for value in offered):
            return
    raise Rejected(401, "bad_signature", "no v1 signature in X-Orb-Signature matches this body")


def parse(body: bytes) -> tuple[Envelope, dict[str, str]]:
    """The envelope of a verified Orb webhook and its extra headers; `Rejected(400)` if malformed."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Rejected(400, "bad_json", f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected(400, "bad_shape", "body must be a JSON object")
    event_id = _text(data, "id")
    event_type = _text(data, "type")
    created = _text(data, "created_at")
    try:
        occurred = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(400, "bad_field", "created_at is not an ISO 8601 time") from None
    if occurred.tzinfo is None:
        occurred = occurred.replace(tzinfo=UTC)
    try:
        occurred = occurred.astimezone(UTC)  # the envelope stores UTC; year 1 or 9999 may not fit
    except OverflowError:
        raise Rejected(400, "bad_field", "created_at is out of range in UTC") from None
    style = data.get("payload_style", "expanded")
    if style not in ("expanded", "standard"):
        raise Rejected(400, "bad_field", "payload_style must be 'expanded' or 'standard'")
    kind, obj = _resource(data, event_type)
    object_id = str(obj.get("id") or event_id) if obj else event_id
    customer = _customer_id(kind, obj)
    key = customer or (f"{kind}:{object_id}" if obj else f"orb:{event_type}")
    extra = {"payload-style": str(style)}
    if event_type not in KNOWN_EVENT_TYPES:
        extra["unknown-event-type"] = "true"
    envelope = Envelope.from_webhook(
        body,
        data,
        source="orb",
        event_id=event_id,
        event_type=event_type,
        occurred_at=occurred,
        object_type=kind,
        object_id=object_id,
        customer_id=key,
    )
    return envelope, extra


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise Rejected(400, "bad_field", f"field '{name}' must be a non-empty string")
    return value


def _resource(data: dict[str, Any], event_type: str) -> tuple[str, dict[str, Any] | None]:
    """The object an event carries: the key named after the type's resource (`invoice.issued`)."""
    kind = event_type.split(".", 1)[0]
    obj = data.get(kind)
    if isinstance(obj, dict):
        return kind, obj
    for name in ("customer", "subscription", "invoice", "credit_note", "plan", "price"):
        candidate = data.get(name)
        if isinstance(candidate, dict):
            return name, candidate
    return kind, None


def _customer_id(kind: str, obj: dict[str, Any] | None) -> str | None:
    if not obj:
        return None
    if kind == "customer":
        return str(obj["id"]) if obj.get("id") else None
    nested = obj.get("customer")
    if isinstance(nested, dict) and nested.get("id"):
        return str(nested["id"])
    if obj.get("customer_id"):
        return str(obj["customer_id"])
    return None
