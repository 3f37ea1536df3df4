"""Salesforce outbound messages: SOAP `notifications` → one envelope per Notification.

Parsed with defusedxml (no entity expansion, no external entities, no DTDs). Envelopes look
like the CDC listener's, so one writeback consumer serves both paths: source "salesforce",
type `<SObject>.OUTBOUND`, key = Account Id (an Opportunity's or Contact's `AccountId`).
Salesforce retries until it gets `<Ack>true</Ack>`, so the Ack is sent only after the broker
acknowledged every notification; otherwise a SOAP fault.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bridge.events import Envelope, utcnow
from bridge.sources.request import Rejected

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)


def fault(code: str, message: str) -> str:
    """A SOAP 1.1 fault (`Client` for bad input, `Server` when we could not store it)."""
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP}"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>soapenv:{code}</faultcode><faultstring>{text}</faultstring>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def parse(body: bytes, organization_id: str | None) -> list[Envelope]:
    """Envelopes of every notification; `Rejected` for bad XML, shape or organization."""
    try:
        root = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise Rejected(
            400, "forbidden_xml", f"XML with DTDs or entities is refused: {type(exc).__name__}"
        ) from None
    except ParseError as exc:
        raise Rejected(400, "bad_xml", f"body is not XML: {exc}") from None
    except (LookupError, ValueError) as exc:  # an encoding Python or expat does not support
        raise Rejected(400, "bad_xml", f"body is not XML: {exc}") from None
    notifications = root.find(f"{{{SOAP}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise Rejected(400, "bad_shape", "no soapenv:Body/notifications element (outbound message namespace)")
    org_id = _child_text(notifications, "OrganizationId")
    # Salesforce sends 18-character ids; a configured 15-character id matches its prefix.
    if organization_id and (
        not org_id or not hmac.compare_digest(org_id[: len(organization_id)], organization_id)
    ):
        raise Rejected(401, "wrong_organization", "OrganizationId is not the configured Salesforce org")
    action_id = _child_text(notifications, "ActionId")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not items:
        raise Rejected(400, "bad_shape", "the message has no Notification")
    if len(items) > MAX_NOTIFICATIONS:
        raise Rejected(
            400, "bad_shape", f"{len(items)} notifications; Salesforce sends at most {MAX_NOTIFICATIONS}"
        )
    received = utcnow()
    return [_envelope(n, org_id, action_id, received) for n in items]


def _envelope(item: Element, org_id: str | None, action_id: str | None, now: datetime) -> Envelope:
    notification_id = _child_text(item, "Id")
    sobject = item.find(f"{{{OUTBOUND}}}sObject")
    if not notification_id or sobject is None:
        raise Rejected(400, "bad_shape", "each Notification needs an Id and an sObject")
    entity = (sobject.get(f"{{{XSI}}}type") or "").split(":")[-1]
    if not entity:
        raise Rejected(400, "bad_shape", "sObject has no xsi:type")
    fields: dict[str, Any] = {}
    for child in sobject:
        name = child.tag.split("}")[-1]
        fields[name] = None if child.get(f"{{{XSI}}}nil") == "true" else (child.text or "")
    record_id = fields.get("Id")
    if not record_id:
        raise Rejected(400, "bad_shape", f"sObject {entity} in notification {notification_id} has no Id")
    account = record_id if entity == "Account" else fields.get("AccountId") or record_id
    modified = fields.get("LastModifiedDate") or fields.get("SystemModstamp")
    occurred = _when(modified) or now
    return Envelope(
        source="salesforce",
        # The notification id is stable across Salesforce's retries of the same message.
        event_id=f"outbound:{notification_id}",
        event_type=f"{entity}.OUTBOUND",
        occurred_at=occurred,
        object_type=entity,
        object_id=str(record_id),
        customer_id=str(account),
        payload={
            "fields": fields,
            "ChangeEventHeader": None,
            "via": "outbound",
            "notificationId": notification_id,
            "organizationId": org_id,
            "actionId": action_id,
        },
    )


def _child_text(parent: Element, name: str) -> str | None:
    child = parent.find(f"{{{OUTBOUND}}}{name}")
    return child.text.strip() if child is not None and child.text else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC now: a year-1 or year-9999 time that does not fit would fail at publish.
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    except (ValueError, OverflowError):
        return None
