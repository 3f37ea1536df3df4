"""Reading and updating Salesforce records by Id, as writeback needs them."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import Any

from bridge.errors import PermanentError
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.errors import classify_record_error


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


# Ids per query: 200 quoted ids keep the query URL near 5 KB, far below Salesforce's 16 KB.
QUERY_IDS = 200
_RECORD_ID = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")


async def read_records(
    salesforce: SalesforceClient, sobject: str, record_ids: Collection[str], fields: Collection[str]
) -> dict[str, dict[str, Any] | None]:
    """Each record's `fields` (None when it no longer exists), one SOQL query per 200 ids.

    Ids that are not Salesforce ids are left out (read them one by one); raises
    `PermanentError` when the org refuses the query (e.g. a mapped field it does not have).
    """
    wanted = sorted({i for i in record_ids if _RECORD_ID.match(i)})
    columns = ", ".join(sorted({"Id", *fields}))
    out: dict[str, dict[str, Any] | None] = {}
    for start in range(0, len(wanted), QUERY_IDS):
        chunk = wanted[start : start + QUERY_IDS]
        quoted = ", ".join(f"'{i}'" for i in chunk)
        found = {
            str(r["Id"])[:15]: r
            async for r in salesforce.query(f"SELECT {columns} FROM {sobject} WHERE Id IN ({quoted})")
        }
        for record_id in chunk:
            out[record_id] = found.get(record_id[:15])
    return out


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


async def update_records(salesforce: SalesforceClient, records: list[dict[str, Any]]) -> None:
    """Update records of any types by Id, all or none, in sObject Collections of up to 200.

    Each record is `{"attributes": {"type": SObject}, "id": Id, field: value, …}`.
    """
    for start in range(0, len(records), 200):
        chunk = records[start : start + 200]
        resp = await salesforce.request(
            "PATCH",
            f"{salesforce.base_path}/composite/sobjects",
            body={"allOrNone": True, "records": chunk},
            kind="writeback",
        )
        for result in resp.json():
            if not result.get("success"):
                raise classify_record_error(result.get("errors") or [])
