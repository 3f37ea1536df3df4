"""Outbound messages: SOAP notifications on a workflow rule, retried until acknowledged."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from defusedxml import ElementTree
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

NS = "{http://soap.sforce.com/2005/09/outbound}"
ACK = (
    b'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
    b'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
    b'<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound"><Ack>true</Ack>'
    b"</notificationsResponse></soapenv:Body></soapenv:Envelope>"
)


class Listener:
    """A receiving endpoint that fails the first `fail` deliveries, then acknowledges."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.bodies: list[bytes] = []
        self.app = Starlette(routes=[Route("/soap", self.receive, methods=["POST"])])

    async def receive(self, request: Request) -> Response:
        self.bodies.append(await request.body())
        if len(self.bodies) <= self.fail:
            return Response(b"<oops/>", status_code=500)
        return Response(ACK, media_type="text/xml")


@pytest.fixture
def listener() -> Listener:
    return Listener(fail=2)


@pytest.fixture
async def client(listener: Listener) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(
        FakeClock(),
        outbound_rules=[
            {"url": "http://listener.test/soap", "fields": ["Id", "Name", "StageName", "AccountId"]}
        ],
        outbound_retry_seconds=0.01,
        outbound_transport=httpx.ASGITransport(app=listener.app),
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        yield c


async def wait_acked(client: httpx.AsyncClient) -> list[dict[str, object]]:
    for _ in range(200):
        notes: list[dict[str, object]] = (await client.get("/_sandbox/outbound")).json()["notifications"]
        if notes and all(n["acked"] for n in notes):
            return notes
        await asyncio.sleep(0.01)
    raise AssertionError("notifications were never acknowledged")


async def test_closed_won_sends_soap_notification_and_retries_until_ack(
    client: httpx.AsyncClient, listener: Listener
) -> None:
    opp = await client.post(
        f"{V}/sobjects/Opportunity",
        json={"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2025-02-01"},
    )
    rid = opp.json()["id"]
    await client.patch(f"{V}/sobjects/Opportunity/{rid}", json={"Amount": 10})
    assert (await client.get("/_sandbox/outbound")).json()["notifications"] == []
    await client.patch(f"{V}/sobjects/Opportunity/{rid}", json={"StageName": "Closed Won"})
    [note] = await wait_acked(client)
    assert note["attempts"] == 3 and note["recordId"] == rid
    root = ElementTree.fromstring(listener.bodies[-1])
    notifications = root.find(f".//{NS}notifications")
    assert notifications is not None
    [notification] = notifications.findall(f"{NS}Notification")
    sobject = notification.find(f"{NS}sObject")
    assert sobject is not None
    values = {el.tag.rsplit("}", 1)[-1]: el.text for el in sobject}
    assert values["Id"] == rid and values["StageName"] == "Closed Won" and values["Name"] == "Deal"
    assert len(listener.bodies) == 3


async def test_edit_that_keeps_stage_does_not_fire_again(client: httpx.AsyncClient) -> None:
    opp = await client.post(
        f"{V}/sobjects/Opportunity",
        json={"Name": "Deal", "StageName": "Closed Won", "CloseDate": "2025-02-01"},
    )
    await wait_acked(client)
    await client.patch(f"{V}/sobjects/Opportunity/{opp.json()['id']}", json={"Amount": 5})
    assert len((await client.get("/_sandbox/outbound")).json()["notifications"]) == 1
