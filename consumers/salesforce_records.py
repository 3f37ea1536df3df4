"""Reading and updating single Salesforce records by Id, as writeback needs them."""

from __future__ import annotations

from typing import Any

from bridge.errors import PermanentError
from bridge.salesforce.client import SalesforceClient


async def read_record(salesforce: SalesforceClient, sobject: str, record_id: str) -> dict[str, Any] | None:
    """The record's current fields, or None when there is no id or no such record."""
    if not record_id:
        return None
    try:
        resp = await salesforce.request(
            "GET", f"{salesforce.base_path}/sobjects/{sobject}/{record_id}", kind="get"
        )
    except PermanentError:
        return None
    data: dict[str, Any] = resp.json()
    return data


async def update_record(
    salesforce: SalesforceClient, sobject: str, record_id: str, fields: dict[str, Any]
) -> None:
    """PATCH the given fields as the integration user (CDC drops the echo of it)."""
    await salesforce.request(
        "PATCH",
        f"{salesforce.base_path}/sobjects/{sobject}/{record_id}",
        body=fields,
        kind="writeback",
    )
