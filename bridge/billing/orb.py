"""Orb API client (httpx): cursor-paginated lists, customer update, idempotent creates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from bridge.billing.errors import BillingApiError, send
from bridge.billing.page import Page


class OrbClient:
    """Talks to Orb's `/v1` API with a bearer key; `base_url` ends in `/v1`."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {api_key}", "Accept": "application/json"}
        self.calls = 0

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = dict(self._headers)
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        self.calls += 1
        resp = await send(
            "orb", self.http, method, f"{self.base_url}{path}", json=json, params=params, headers=headers
        )
        return resp.json()

    async def list(
        self, path: str, params: dict[str, Any] | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a list endpoint (`/customers`, `/invoices`, …), page by page."""
        async for page in self.pages(path, params, page_size):
            for item in page.items:
                yield item

    async def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        page_size: int = 100,
        cursor: str | None = None,
    ) -> AsyncIterator[Page]:
        """The pages of a list endpoint from `cursor` (a `next_cursor` Orb gave earlier) on."""
        query: dict[str, Any] = {**(params or {}), "limit": page_size}
        if cursor:
            query["cursor"] = cursor
        while True:
            answer = await self._call("GET", path, params=query)
            meta = answer.get("pagination_metadata") or {}
            following = meta.get("next_cursor") if meta.get("has_more") else None
            yield Page(list(answer.get("data", [])), str(following) if following else None)
            if not following:
                return
            query["cursor"] = following

    async def get_customer(self, customer_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"/customers/{customer_id}")
        return data

    async def customer_by_external_id(self, external_customer_id: str) -> dict[str, Any] | None:
        """`GET /customers/external_customer_id/{id}`, or None when Orb has no such customer."""
        try:
            data: dict[str, Any] = await self._call(
                "GET", f"/customers/external_customer_id/{external_customer_id}"
            )
        except BillingApiError as exc:
            if exc.status == 404:
                return None
            raise
        return data

    async def update_customer(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """`PUT /customers/{id}` with the changed fields only."""
        data: dict[str, Any] = await self._call("PUT", f"/customers/{customer_id}", json=fields)
        return data

    async def update_customer_by_external_id(
        self, external_customer_id: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """`PUT /customers/external_customer_id/{id}`: the customer whose external id is ours."""
        data: dict[str, Any] = await self._call(
            "PUT", f"/customers/external_customer_id/{external_customer_id}", json=fields
        )
        return data

    async def create_customer(self, fields: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "POST", "/customers", json=fields, idempotency_key=idempotency_key
        )
        return data

    async def create_subscription(self, body: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        """`POST /subscriptions`; the key makes a retry or replay return the first answer."""
        data: dict[str, Any] = await self._call(
            "POST", "/subscriptions", json=body, idempotency_key=idempotency_key
        )
        return data
