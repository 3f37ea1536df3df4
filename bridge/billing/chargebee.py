"""Chargebee API v2 client (httpx): offset-paginated lists, form-encoded updates and creates."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpx
import orjson

from bridge.billing.errors import BillingApiError, send
from bridge.billing.page import Page

# Chargebee's largest page, and so the most ids one `id[in]` filter is worth.
LIST_LIMIT = 100


def form_encode(params: dict[str, Any]) -> list[tuple[str, str]]:
    """Chargebee's nested form names: `billing_address[city]`, `subscription_items[item_price_id][0]`."""
    out: list[tuple[str, str]] = []
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, dict):
            for sub, v in value.items():
                if v is not None:
                    out.append((f"{name}[{sub}]", _scalar(v)))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, item in enumerate(value):
                for sub, v in item.items():
                    if v is not None:
                        out.append((f"{name}[{sub}][{i}]", _scalar(v)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                out.append((f"{name}[{i}]", _scalar(v)))
        else:
            out.append((name, _scalar(value)))
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ChargebeeClient:
    """Talks to one Chargebee site's `/api/v2` with the API key as Basic user name."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self._auth = httpx.BasicAuth(api_key, "")
        self.calls = 0

    async def _call(
        self,
        method: str,
        path: str,
        *,
        form: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Any:
        headers = {"Accept": "application/json"}
        if idempotency_key:
            headers["chargebee-idempotency-key"] = idempotency_key[:100]
        self.calls += 1
        resp = await send(
            "chargebee",
            self.http,
            method,
            f"{self.base_url}{path}",
            data=dict(form_encode(form)) if form else None,
            params=params,
            headers=headers,
            auth=self._auth,
        )
        return resp.json()

    async def list(
        self, resource: str, params: dict[str, Any] | None = None, page_size: int = 100
    ) -> AsyncIterator[dict[str, Any]]:
        """Every object of a list endpoint (`customers`, `invoices`, …), unwrapped."""
        async for page in self.pages(resource, params, page_size):
            for entry in page.items:
                yield entry

    async def pages(
        self,
        resource: str,
        params: dict[str, Any] | None = None,
        page_size: int = 100,
        cursor: str | None = None,
    ) -> AsyncIterator[Page]:
        """The pages of a list endpoint from `cursor` (a `next_offset` Chargebee gave) on;
        each entry is as listed (`{"customer": {...}}`, subscriptions with their customer)."""
        query: dict[str, Any] = {**(params or {}), "limit": page_size}
        if cursor:
            query["offset"] = cursor
        while True:
            answer = await self._call("GET", f"/{resource}", params=query)
            following = answer.get("next_offset")
            yield Page(list(answer.get("list", [])), str(following) if following else None)
            if not following:
                return
            query["offset"] = following

    async def retrieve(self, resource: str, object_id: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call("GET", f"/{resource}/{object_id}")
        return data

    async def customers_by_id(self, customer_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Customers by id, one `id[in]` list call per 100 ids; ids not found are absent."""
        wanted = sorted(set(customer_ids))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), LIST_LIMIT):
            chunk = wanted[start : start + LIST_LIMIT]
            params = {"id[in]": orjson.dumps(chunk).decode()}
            async for page in self.pages("customers", params, page_size=LIST_LIMIT):
                for entry in page.items:
                    out[str(entry["customer"]["id"])] = entry["customer"]
        return out

    async def update_customer(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """`POST /customers/{id}` (contact fields; billing address goes to update_billing_info)."""
        data: dict[str, Any] = await self._call("POST", f"/customers/{customer_id}", form=fields)
        return data

    async def update_billing_info(self, customer_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "POST", f"/customers/{customer_id}/update_billing_info", form=fields
        )
        return data

    async def create_customer(self, fields: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        data: dict[str, Any] = await self._call(
            "POST", "/customers", form=fields, idempotency_key=idempotency_key
        )
        return data

    async def create_subscription_for_items(
        self, customer_id: str, fields: dict[str, Any], idempotency_key: str
    ) -> dict[str, Any]:
        """`POST /customers/{id}/subscription_for_items` with an idempotency key."""
        data: dict[str, Any] = await self._call(
            "POST",
            f"/customers/{customer_id}/subscription_for_items",
            form=fields,
            idempotency_key=idempotency_key,
        )
        return data


def taken_id(error: BillingApiError) -> bool:
    """True when Chargebee refused a create because an object with the given `id` exists."""
    return error.status == 400 and error.code == "duplicate_entry" and error.param == "id"
