"""Everything the billing sandboxes emit goes through the receiver's parsers and maps cleanly,
and the bridge's own billing clients work against the sandboxes."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from chargebee_sandbox_support import (
    API_KEY,
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    Receiver,
    control,
    serve,
    wait_for_webhooks,
)

from bridge.billing.chargebee import ChargebeeClient
from bridge.billing.errors import BillingApiError
from bridge.mapping import build_mapper
from bridge.sandbox.chargebee.app import create_app
from bridge.sandbox.scenarios import advance, load_tenants
from bridge.sources import chargebee as chargebee_source


def test_every_chargebee_sandbox_webhook_parses_and_maps() -> None:
    receiver = Receiver()
    mapper = build_mapper()
    with serve(receiver.app()) as hooks, serve(create_app()) as cb:
        control(
            cb,
            "PUT",
            "/webhooks/endpoints",
            {
                "endpoints": [
                    {"url": f"{hooks}/hooks", "username": WEBHOOK_USER, "password": WEBHOOK_PASSWORD}
                ]
            },
        )

        async def drive() -> None:
            async with httpx.AsyncClient(timeout=60) as http:
                await load_tenants(http, chargebee_url=cb, seed=7, customers=20)
                await advance(http, chargebee_url=cb, seed=7, steps=60)

        asyncio.run(drive())
        wait_for_webhooks(cb)
    assert len(receiver.requests) >= 60
    types, written = set(), 0
    for headers, body in receiver.requests:
        chargebee_source.check_auth(headers.get("authorization"), WEBHOOK_USER, WEBHOOK_PASSWORD)
        envelope, _ = chargebee_source.parse(body)
        types.add(envelope.event_type)
        written += len(mapper.map_event(envelope))
    assert written > len(receiver.requests)  # most events become several records
    assert {"subscription_changed", "invoice_generated"} <= types


async def test_the_bridges_chargebee_client_works_against_the_sandbox() -> None:
    with serve(create_app()) as cb:
        async with httpx.AsyncClient(timeout=30) as http:
            await load_tenants(http, chargebee_url=cb, seed=3, customers=30)
            client = ChargebeeClient(http, f"{cb}/api/v2", API_KEY)
            customers = [c async for c in client.list("customers", page_size=7)]
            assert len(customers) == 30 and client.calls == 5  # five pages of at most 7
            first = customers[0]["customer"]["id"]
            updated = await client.update_customer(first, {"company": "Renamed Inc"})
            assert updated["customer"]["company"] == "Renamed Inc"
            await client.update_billing_info(first, {"billing_address": {"city": "Lyon", "country": "FR"}})
            prices = [
                p["item_price"]["id"]
                async for p in client.list("item_prices")
                if p["item_price"].get("item_type") == "plan"
            ]
            body = {"subscription_items": [{"item_price_id": prices[0], "quantity": 1}]}
            one = await client.create_subscription_for_items(first, body, "opportunity-006X-won")
            again = await client.create_subscription_for_items(first, body, "opportunity-006X-won")
            assert one["subscription"]["id"] == again["subscription"]["id"]
            with pytest.raises(BillingApiError) as refused:
                await client.update_customer("no_such_customer", {"company": "x"})
            assert refused.value.status == 404
