"""Async Salesforce REST client (httpx) for the hot path: collections upsert and SOQL.

Every answer's `Sforce-Limit-Info` feeds the API budget; every write carries
`Sforce-Call-Options: client=<name>` so the CDC listener can recognise the bridge's own
changes; an expired session is refreshed once and the call repeated. Errors leave this module
classified (transient vs permanent), never as raw HTTP.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from bridge.errors import BridgeError
from bridge.salesforce.auth import TokenProvider
from bridge.salesforce.errors import (
    SalesforceTransientError,
    SalesforceWriteTimeout,
    SessionExpired,
    classify_record_error,
    classify_response,
)
from bridge.salesforce.limits import ApiBudget, parse_limit_info

COLLECTION_LIMIT = 200


@dataclass(frozen=True)
class UpsertResult:
    """The outcome of one record of a collections upsert."""

    success: bool
    id: str | None = None
    created: bool = False
    error: BridgeError | None = None


class SalesforceClient:
    """Talks to one org's REST API; takes an `httpx.AsyncClient` so tests choose the transport."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenProvider,
        *,
        api_version: str = "62.0",
        client_name: str = "bridge",
        allow_duplicates: bool = False,
        budget: ApiBudget | None = None,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.api_version = api_version
        self.client_name = client_name
        self.allow_duplicates = allow_duplicates
        self.budget = budget or ApiBudget()
        self.calls: Counter[str] = Counter()

    @property
    def base_path(self) -> str:
        return f"/services/data/v{self.api_version}"

    @property
    def in_doubt_seconds(self) -> float:
        """How long a call we gave up on may still commit: as long again as we waited for it."""
        return self.http.timeout.read or 30.0

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        kind: str = "rest",
        raw: tuple[bytes, str] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        """One API call (path relative to the instance), refreshed once on an expired session.

        `body` is sent as JSON; `raw` as (bytes, content type) instead (Bulk API CSV uploads)."""
        await self.budget.acquire()
        token = await self.tokens.token()
        for attempt in (1, 2):
            resp = await self._send(
                method, path, body, params, token.access_token, token.instance_url, kind, raw, accept
            )
            if resp.status_code <= 300:  # 300: several records match an external id
                return resp
            error = classify_response(resp.status_code, _json(resp), _retry_after(resp))
            if isinstance(error, SessionExpired) and attempt == 1:
                token = await self.tokens.refresh(token)
                continue
            raise error
        raise AssertionError("unreachable")

    async def _send(
        self,
        method: str,
        path: str,
        body: Any,
        params: dict[str, str] | None,
        access_token: str,
        instance_url: str,
        kind: str,
        raw: tuple[bytes, str] | None = None,
        accept: str = "application/json",
    ) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": accept,
            "Sforce-Call-Options": f"client={self.client_name}",
        }
        if self.allow_duplicates:
            headers["Sforce-Duplicate-Rule-Header"] = "allowSave=true"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(body)
        elif raw is not None:
            content, headers["Content-Type"] = raw
        url = path if path.startswith("http") else f"{instance_url.rstrip('/')}{path}"
        self.calls[kind] += 1
        try:
            resp = await self.http.request(method, url, content=content, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            # Salesforce may still commit this request after we gave up on it: waiting before
            # the next write lets such a late commit land first, not over a newer version.
            raise SalesforceWriteTimeout(
                f"{method} {path} timed out", code="TIMEOUT", retry_after=self.in_doubt_seconds
            ) from exc
        except httpx.TransportError as exc:
            raise SalesforceTransientError(
                f"{method} {path} failed: {exc!r}", code="CONNECTION_ERROR"
            ) from exc
        self.budget.observe(parse_limit_info(resp.headers.get("Sforce-Limit-Info")))
        return resp

    async def upsert_collection(
        self,
        sobject: str,
        external_id_field: str,
        records: list[dict[str, Any]],
        *,
        all_or_none: bool = False,
    ) -> list[UpsertResult]:
        """Upsert up to 200 records of one SObject by external id; one result per record."""
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"a collection holds at most {COLLECTION_LIMIT} records")
        if not records:
            return []
        payload = {
            "allOrNone": all_or_none,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        path = f"{self.base_path}/composite/sobjects/{sobject}/{external_id_field}"
        resp = await self.request("PATCH", path, body=payload, kind="collections_upsert")
        results = _json(resp)
        if not isinstance(results, list) or len(results) != len(records):
            raise SalesforceTransientError(
                f"collections upsert answered {len(results) if isinstance(results, list) else 'no'}"
                f" results for {len(records)} records",
                code="BAD_RESPONSE",
            )
        return [
            UpsertResult(True, r.get("id"), bool(r.get("created")))
            if r.get("success")
            else UpsertResult(False, r.get("id"), False, classify_record_error(r.get("errors") or []))
            for r in results
        ]

    async def upsert_many(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[UpsertResult]:
        """Upsert any number of records, 200 per call."""
        out: list[UpsertResult] = []
        for start in range(0, len(records), COLLECTION_LIMIT):
            out.extend(
                await self.upsert_collection(
                    sobject, external_id_field, records[start : start + COLLECTION_LIMIT]
                )
            )
        return out

    async def query(self, soql: str, *, include_deleted: bool = False) -> AsyncIterator[dict[str, Any]]:
        """Yield every record of a SOQL query, following `nextRecordsUrl`."""
        resource = "queryAll" if include_deleted else "query"
        resp = await self.request("GET", f"{self.base_path}/{resource}", params={"q": soql}, kind="query")
        while True:
            page = _json(resp)
            for record in page.get("records", []):
                yield record
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            resp = await self.request("GET", page["nextRecordsUrl"], kind="query")

    async def query_all(self, soql: str) -> list[dict[str, Any]]:
        """Every record of a SOQL query as a list."""
        return [r async for r in self.query(soql)]

    async def get_by_external_id(
        self, sobject: str, external_id_field: str, value: str
    ) -> dict[str, Any] | None:
        """One record by external id, or None."""
        path = f"{self.base_path}/sobjects/{sobject}/{external_id_field}/{quote(value, safe='')}"
        try:
            resp = await self.request("GET", path, kind="get")
        except BridgeError as exc:
            if exc.code == "NOT_FOUND":
                return None
            raise
        data: dict[str, Any] = _json(resp)
        return data

    async def describe(self, sobject: str) -> dict[str, Any]:
        """The describe of one SObject."""
        resp = await self.request("GET", f"{self.base_path}/sobjects/{sobject}/describe", kind="describe")
        data: dict[str, Any] = _json(resp)
        return data


def _json(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        return None


def _retry_after(resp: httpx.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    try:
        return float(value) if value else None
    except ValueError:
        return None
