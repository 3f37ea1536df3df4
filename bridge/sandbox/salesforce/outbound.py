"""Outbound messages: a workflow rule (e.g. Opportunity StageName = Closed Won) POSTs the SOAP
`notifications` message to a URL and retries until the listener answers `<Ack>true</Ack>`.

Fires when a record is created meeting the rule, or edited so that the rule's field changes to
the wanted value ("created, and every time it's edited to subsequently meet criteria").
Up to 100 notifications per message; unacknowledged messages are retried with doubling delays
for up to 24 hours of sandbox time.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import httpx
from defusedxml import ElementTree
from pydantic import BaseModel, ConfigDict, Field

from bridge.sandbox.salesforce.org import ORG_ID, Org
from bridge.sandbox.salesforce.store import Change

MAX_PER_MESSAGE = 100
GIVE_UP_SECONDS = 24 * 3600
_NS = "http://soap.sforce.com/2005/09/outbound"


class OutboundRule(BaseModel):
    """One workflow rule with an outbound message action."""

    model_config = ConfigDict(extra="forbid")

    name: str = "Closed Won to billing"
    object: str = "Opportunity"
    field: str = "StageName"
    equals: Any = "Closed Won"
    url: str
    fields: list[str] = Field(default_factory=lambda: ["Id"], description="Fields sent in each sObject.")


@dataclass
class Notification:
    id: str
    rule: OutboundRule
    record_id: str
    values: dict[str, Any]
    created_at: float
    attempts: int = 0
    acked: bool = False
    last_error: str | None = None


@dataclass
class Outbox:
    """Pending and delivered notifications, and the task that delivers them."""

    org: Org
    transport: httpx.AsyncBaseTransport | None = None
    retry_seconds: float = 1.0
    rules: list[OutboundRule] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    def on_commit(self, changes: list[Change]) -> None:
        """Commit listener: queue a notification for every change that meets a rule."""
        for change in changes:
            for rule in self.rules:
                if change.entity.lower() != rule.object.lower() or change.change_type not in (
                    "CREATE",
                    "UPDATE",
                ):
                    continue
                if change.change_type == "UPDATE" and rule.field not in change.changed:
                    continue
                if change.values.get(rule.field) != rule.equals:
                    continue
                self._queue(rule, change.entity, change.record_id)
        if any(not n.acked for n in self.notifications):
            self._ensure_task()

    def _queue(self, rule: OutboundRule, entity: str, record_id: str) -> None:
        found = self.org.store.locate(record_id)
        row = found[1] if found is not None else {}
        values = {"Id": record_id, **{f: row.get(f) for f in rule.fields}}
        self.notifications.append(
            Notification(self.org.minter.mint("04l"), rule, record_id, values, self.org.clock())
        )

    def _ensure_task(self) -> None:
        self._wakeup.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._deliver_forever())

    async def _deliver_forever(self) -> None:
        async with httpx.AsyncClient(transport=self.transport, timeout=10) as client:
            delay = self.retry_seconds
            while True:
                pending = [
                    n
                    for n in self.notifications
                    if not n.acked and self.org.clock() - n.created_at < GIVE_UP_SECONDS
                ]
                if not pending:
                    return
                all_acked = True
                by_rule: dict[str, list[Notification]] = {}
                for n in pending:
                    by_rule.setdefault(f"{n.rule.name}|{n.rule.url}", []).append(n)
                for group in by_rule.values():
                    for start in range(0, len(group), MAX_PER_MESSAGE):
                        batch = group[start : start + MAX_PER_MESSAGE]
                        all_acked &= await self._send(client, batch)
                if all_acked:
                    delay = self.retry_seconds
                    continue
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), delay)
                delay = min(delay * 2, self.retry_seconds * 32)

    async def _send(self, client: httpx.AsyncClient, batch: list[Notification]) -> bool:
        rule = batch[0].rule
        for n in batch:
            n.attempts += 1
        try:
            r = await client.post(
                rule.url,
                content=soap_message(self.org, batch),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
            )
            acked = r.is_success and is_ack(r.content)
            error = None if acked else f"HTTP {r.status_code} without <Ack>true</Ack>"
        except httpx.HTTPError as exc:
            acked, error = False, f"{type(exc).__name__}: {exc}"
        for n in batch:
            n.acked = acked
            n.last_error = error
        return acked

    def status(self) -> dict[str, Any]:
        return {
            "rules": [r.model_dump() for r in self.rules],
            "notifications": [
                {
                    "id": n.id,
                    "rule": n.rule.name,
                    "recordId": n.record_id,
                    "attempts": n.attempts,
                    "acked": n.acked,
                    "lastError": n.last_error,
                }
                for n in self.notifications
            ],
        }


def is_ack(body: bytes) -> bool:
    """True when the listener answered `<Ack>true</Ack>` (any namespace prefix)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return False
    return any(el.tag.rsplit("}", 1)[-1] == "Ack" and (el.text or "").strip() == "true" for el in root.iter())


def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def soap_message(org: Org, batch: list[Notification]) -> bytes:
    """The `notifications` SOAP envelope, as Salesforce sends it."""
    base = org.config.instance_url or "https://sandbox.my.salesforce.com"
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{_NS}">',
        f"<OrganizationId>{ORG_ID}</OrganizationId>",
        "<ActionId>04k5g000000SBXEAA4</ActionId>",
        '<SessionId xsi:nil="true"/>',
        f"<EnterpriseUrl>{base}/services/Soap/c/59.0/{ORG_ID[:15]}</EnterpriseUrl>",
        f"<PartnerUrl>{base}/services/Soap/u/59.0/{ORG_ID[:15]}</PartnerUrl>",
    ]
    for n in batch:
        parts.append(f"<Notification><Id>{n.id}</Id>")
        parts.append(
            f'<sObject xsi:type="sf:{n.rule.object}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        )
        for name, value in n.values.items():
            if value is None:
                parts.append(f'<sf:{name} xsi:nil="true"/>')
            else:
                parts.append(f"<sf:{name}>{_xml_value(value)}</sf:{name}>")
        parts.append("</sObject></Notification>")
    parts += ["</notifications>", "</soapenv:Body>", "</soapenv:Envelope>"]
    return "".join(parts).encode()
