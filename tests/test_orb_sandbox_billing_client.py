"""The bridge's own Orb client (backfill, writeback) against the Orb sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from orb_sandbox_servers import API_KEY, control, serve

from bridge.billing.errors import BillingApiError, BillingApiUnavailable
from bridge.billing.orb import OrbClient
from bridge.sandbox.orb.app import create_app


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    with serve(create_app(api_keys=API_KEY)) as url:
        control(url, "POST", "/_sandbox/tenant", {"seed": 4, "customers": 130})
        yield url


async def test_backfill_lists_every_customer_and_invoice_across_pages(base: str) -> None:
    async with httpx.AsyncClient() as http:
        client = OrbClient(http, f"{base}/v1", API_KEY)
        customers = [c["id"] async for c in client.list("/customers")]
        assert len(customers) == len(set(customers)) == 130
        assert client.calls == 2  # 100 + 30
        counts = control(base, "GET", "/_sandbox/snapshot")["counts"]
        invoices = [i async for i in client.list("/invoices")]
        assert len(invoices) == counts["invoices"]


async def test_writeback_update_and_idempotent_subscription_create(base: str) -> None:
    async with httpx.AsyncClient() as http:
        client = OrbClient(http, f"{base}/v1", API_KEY)
        cust = await client.create_customer({"name": "Writeback", "email": "wb@example.com"}, "cust-wb-1")
        again = await client.create_customer({"name": "Writeback", "email": "wb@example.com"}, "cust-wb-1")
        assert again["id"] == cust["id"]
        updated = await client.update_customer(
            cust["id"], {"billing_address": {"city": "Rome", "country": "IT"}}
        )
        assert updated["billing_address"]["city"] == "Rome"
        body = {"customer_id": cust["id"], "external_plan_id": "team"}
        first = await client.create_subscription(body, "opportunity-006xx-won")
        replay = await client.create_subscription(body, "opportunity-006xx-won")
        assert first["id"] == replay["id"]
        with pytest.raises(BillingApiError) as conflict:
            await client.create_subscription(
                {**body, "external_plan_id": "business"}, "opportunity-006xx-won"
            )
        assert conflict.value.status == 409


async def test_injected_rate_limit_is_a_transient_error_with_retry_after(base: str) -> None:
    control(base, "POST", "/_sandbox/faults", {"mode": "rate_limit", "retry_after": 3})
    async with httpx.AsyncClient() as http:
        client = OrbClient(http, f"{base}/v1", API_KEY)
        with pytest.raises(BillingApiUnavailable) as limited:
            await client.get_customer("anything")
        assert limited.value.retry_after == 3
        with pytest.raises(BillingApiError) as missing:
            await client.get_customer("anything")
        assert missing.value.status == 404
