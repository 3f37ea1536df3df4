"""Order and duplication do not matter: the version guard makes sync converge."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from aiokafka import TopicPartition
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from mapping_payloads import orb_customer, orb_event, orb_invoice
from pydantic import SecretStr

from bridge.events import Envelope
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.mapping import build_mapper
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox.payloads import orb_envelope
from bridge.sandbox.salesforce.app import create_app
from bridge.settings import Settings
from consumers.state import StateStore
from consumers.sync import SyncHandler


@dataclass
class Rec:
    """The fields of a consumer record the handler reads (the input, not Kafka)."""

    value: bytes
    offset: int
    key: bytes = b""
    headers: tuple[()] = ()


def _history(cid: str) -> list[Envelope]:
    def t(minute: int) -> str:
        return f"2024-03-01T12:{minute:02d}:00+00:00"

    inv = orb_invoice(f"inv_{cid}", customer_id=cid, lines=2)
    inv["subscription"] = None
    paid = {**inv, "status": "paid", "amount_due": "0.00"}
    return [
        orb_envelope(b)
        for b in (
            orb_event(
                "customer.created",
                event_id=f"{cid}_1",
                created_at=t(1),
                customer=orb_customer(cid, name="v1"),
            ),
            orb_event(
                "customer.edited", event_id=f"{cid}_2", created_at=t(2), customer=orb_customer(cid, name="v2")
            ),
            orb_event("invoice.issued", event_id=f"{cid}_3", created_at=t(3), invoice=inv),
            orb_event(
                "customer.edited", event_id=f"{cid}_4", created_at=t(4), customer=orb_customer(cid, name="v3")
            ),
            orb_event("invoice.payment_succeeded", event_id=f"{cid}_5", created_at=t(5), invoice=paid),
        )
    ]


def _business_state(app: Any) -> dict[str, list[dict[str, Any]]]:
    volatile = {
        "Id",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "CreatedById",
        "LastModifiedById",
        "OwnerId",
        "Orb_Customer__c",
        "Orb_Invoice__c",
    }
    org = app.state.org
    out = {}
    for sobject in ("OrbCustomer__c", "OrbInvoice__c", "OrbInvoiceLineItemBilling__c"):
        rows = [{k: v for k, v in r.items() if k not in volatile} for r in org.snapshot().get(sobject, [])]
        out[sobject] = sorted(rows, key=lambda r: str(r.get("Orb_Id__c")))
    return out


async def _apply(settings: Settings, deliveries: list[list[Envelope]]) -> dict[str, Any]:
    app = create_app()
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://sf", timeout=10)
    sf = salesforce_client(
        settings.model_copy(
            update={
                "salesforce_login_url": "http://sf",
                "salesforce_instance_url": "http://sf",
                "salesforce_client_id": "sandbox-client-id",
                "salesforce_client_secret": SecretStr("sandbox-client-secret"),
                "salesforce_username": "integration@bridge.sandbox",
                "salesforce_password": SecretStr("sandbox-password"),
            }
        ),
        http,
    )
    producer = make_producer(settings)
    await producer.start()
    try:
        state = StateStore(settings, Topics.from_settings(settings).sync_state)
        handler = SyncHandler(settings, build_mapper().map_event, sf, state, producer)
        tp = TopicPartition(Topics.from_settings(settings).orb_events, 0)
        offset = 0
        for fetch in deliveries:
            records = []
            for env in fetch:
                records.append(Rec(env.to_bytes(), offset))
                offset += 1
            await handler.handle({tp: records})
    finally:
        await producer.stop()
        await http.aclose()
    return _business_state(app)


_counter = iter(range(10**6))


async def test_any_order_with_duplicates_ends_in_the_same_salesforce_state(settings: Settings) -> None:
    await ensure_topics(settings)
    reference_cid = "cus_ref"
    in_order = await _apply(settings, [[e] for e in _history(reference_cid)])
    assert in_order["OrbCustomer__c"][0]["Name"] == "v3"
    assert in_order["OrbInvoice__c"][0]["Status__c"] == "paid"
    cases: list[list[list[int]]] = []

    @hsettings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        st.lists(st.integers(0, 4), min_size=5, max_size=12)
        .filter(lambda xs: set(xs) == set(range(5)))
        .flatmap(
            lambda order: st.tuples(
                st.just(order), st.lists(st.integers(1, 4), min_size=len(order), max_size=len(order))
            )
        )
    )
    def draw(case: tuple[list[int], list[int]]) -> None:
        order, sizes = case
        fetches, i = [], 0
        for size in sizes:
            if i >= len(order):
                break
            fetches.append(order[i : i + size])
            i += size
        cases.append(fetches)

    draw()
    for fetches in cases:
        cid = f"cus_p{next(_counter)}"  # its own records and state keys
        events = _history(cid)
        got = await _apply(settings, [[events[i] for i in fetch] for fetch in fetches])
        assert got == _rename(in_order, reference_cid, cid), fetches


def _rename(state: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    text = str(state).replace(old, new)
    return eval(text)
