"""The async Salesforce client's boundary behaviour: classification, refresh, budget, chunks.

These use httpx.MockTransport to answer exactly as Salesforce documents; the end-to-end
checks against the Salesforce sandbox live with the sync tests.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from bridge.salesforce.auth import SalesforceAuth, TokenProvider
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.errors import SalesforceError, SalesforceTransientError
from bridge.salesforce.limits import ApiBudget, ApiUsage, parse_limit_info


class Org:
    """Answers like Salesforce: token endpoint, collections upsert, query paging."""

    def __init__(self) -> None:
        self.tokens_issued = 0
        self.valid_token = ""
        self.used = 10
        self.requests: list[httpx.Request] = []
        self.fail_next: list[tuple[int, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        limit = {"Sforce-Limit-Info": f"api-usage={self.used}/1000"}
        if request.url.path == "/services/oauth2/token":
            self.tokens_issued += 1
            self.valid_token = f"tok{self.tokens_issued}"
            return httpx.Response(
                200, json={"access_token": self.valid_token, "instance_url": "https://org.example"}
            )
        if request.headers["Authorization"] != f"Bearer {self.valid_token}":
            return httpx.Response(
                401,
                json=[{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}],
                headers=limit,
            )
        self.used += 1
        if self.fail_next:
            status, body = self.fail_next.pop(0)
            return httpx.Response(status, json=body, headers=limit)
        if "/composite/sobjects/" in request.url.path:
            records = orjson.loads(request.content)["records"]
            out = []
            for i, r in enumerate(records):
                if r.get("Bad__c"):
                    out.append(
                        {
                            "success": False,
                            "errors": [
                                {
                                    "statusCode": "INVALID_FIELD",
                                    "message": "No such column",
                                    "fields": ["Bad__c"],
                                }
                            ],
                        }
                    )
                elif r.get("Locked__c"):
                    out.append(
                        {
                            "success": False,
                            "errors": [
                                {"statusCode": "UNABLE_TO_LOCK_ROW", "message": "locked", "fields": []}
                            ],
                        }
                    )
                else:
                    out.append({"id": f"a00{i:015d}", "success": True, "errors": [], "created": True})
            return httpx.Response(200, json=out, headers=limit)
        if request.url.path.endswith("/query"):
            return httpx.Response(
                200,
                json={
                    "totalSize": 3,
                    "done": False,
                    "records": [{"n": 1}, {"n": 2}],
                    "nextRecordsUrl": "/services/data/v62.0/query/01g-2",
                },
                headers=limit,
            )
        if request.url.path.endswith("/query/01g-2"):
            return httpx.Response(
                200, json={"totalSize": 3, "done": True, "records": [{"n": 3}]}, headers=limit
            )
        return httpx.Response(404, json=[{"message": "not found", "errorCode": "NOT_FOUND"}])


def _client(org: Org, budget: ApiBudget | None = None) -> SalesforceClient:
    http = httpx.AsyncClient(transport=httpx.MockTransport(org))
    auth = SalesforceAuth(
        flow="client_credentials",
        login_url="https://login.example",
        client_id="cid",
        client_secret=SecretStr("s3cret"),
    )
    return SalesforceClient(http, TokenProvider(http, auth), budget=budget)


async def test_collections_upsert_gives_one_classified_result_per_record() -> None:
    org = Org()
    client = _client(org)
    results = await client.upsert_collection(
        "OrbInvoice__c",
        "Orb_Id__c",
        [{"Orb_Id__c": "a"}, {"Orb_Id__c": "b", "Bad__c": 1}, {"Orb_Id__c": "c", "Locked__c": 1}],
    )
    assert [r.success for r in results] == [True, False, False]
    assert isinstance(results[1].error, SalesforceError) and results[1].error.fields == ["Bad__c"]
    assert isinstance(results[2].error, SalesforceTransientError)
    sent = org.requests[-1]
    assert sent.method == "PATCH"
    assert sent.url.path == "/services/data/v62.0/composite/sobjects/OrbInvoice__c/Orb_Id__c"
    assert sent.headers["Sforce-Call-Options"] == "client=bridge"
    body = orjson.loads(sent.content)
    assert body["allOrNone"] is False
    assert body["records"][0]["attributes"] == {"type": "OrbInvoice__c"}


async def test_expired_session_is_refreshed_once_and_the_call_repeated() -> None:
    org = Org()
    client = _client(org)
    await client.upsert_collection("A", "X__c", [{"X__c": "1"}])
    org.valid_token = "rotated-by-salesforce"  # the session expires behind our back
    org.tokens_issued = 5
    results = await client.upsert_collection("A", "X__c", [{"X__c": "2"}])
    assert results[0].success
    assert client.tokens.refreshes == 1


async def test_server_errors_and_lock_contention_are_transient_bad_fields_permanent() -> None:
    org = Org()
    client = _client(org)
    org.fail_next = [(503, [{"message": "down", "errorCode": "SERVER_UNAVAILABLE"}])]
    with pytest.raises(SalesforceTransientError):
        await client.upsert_collection("A", "X__c", [{"X__c": "1"}])
    org.fail_next = [
        (403, [{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    ]
    with pytest.raises(SalesforceTransientError, match="REQUEST_LIMIT_EXCEEDED"):
        await client.upsert_collection("A", "X__c", [{"X__c": "1"}])
    org.fail_next = [
        (400, [{"message": "No such column 'Y__c'", "errorCode": "INVALID_FIELD", "fields": ["Y__c"]}])
    ]
    with pytest.raises(SalesforceError, match="INVALID_FIELD"):
        await client.upsert_collection("A", "X__c", [{"X__c": "1", "Y__c": 2}])


async def test_query_follows_next_records_url() -> None:
    client = _client(Org())
    assert [r["n"] for r in await client.query_all("SELECT Id FROM Account")] == [1, 2, 3]


async def test_more_than_200_records_are_sent_in_chunks_of_200() -> None:
    org = Org()
    client = _client(org)
    results = await client.upsert_many("A", "X__c", [{"X__c": str(i)} for i in range(450)])
    assert len(results) == 450 and all(r.success for r in results)
    sizes = [len(orjson.loads(r.content)["records"]) for r in org.requests if r.method == "PATCH"]
    assert sizes == [200, 200, 50]
    with pytest.raises(ValueError, match="at most 200"):
        await client.upsert_collection("A", "X__c", [{"X__c": "x"}] * 201)


async def test_budget_stops_writes_past_95_percent_without_calling_salesforce() -> None:
    org = Org()
    org.used = 960
    client = _client(org, ApiBudget(probe_seconds=0.2))
    await client.upsert_collection("A", "X__c", [{"X__c": "1"}])  # learns usage = 961/1000
    calls = len(org.requests)
    with pytest.raises(SalesforceTransientError, match="API_BUDGET"):
        await client.upsert_collection("A", "X__c", [{"X__c": "2"}])
    assert len(org.requests) == calls
    # Usage is learnt only from answers: after probe_seconds one call goes through to read it.
    org.used = 10
    await asyncio.sleep(0.25)
    await client.upsert_collection("A", "X__c", [{"X__c": "3"}])
    await client.upsert_collection("A", "X__c", [{"X__c": "4"}])  # 11/1000: writes flow again
    assert len(org.requests) == calls + 2


def test_limit_info_header_parses() -> None:
    assert parse_limit_info("api-usage=25/15000") == ApiUsage(25, 15000)
    assert parse_limit_info("api-usage=25/15000; per-app-api-usage=17/250(appName=x)") == ApiUsage(25, 15000)
    assert parse_limit_info(None) is None and parse_limit_info("garbage") is None


async def test_a_timed_out_write_is_in_doubt_and_asks_to_wait_as_long_again(settings: Any) -> None:
    # Salesforce may commit a request after the client gave up on it: the error says how long
    # to wait before writing again, so such a late commit cannot land over a newer version.
    from sync_harness import Org, salesforce_sandbox, sync_settings

    from bridge.salesforce.factory import salesforce_client

    with salesforce_sandbox() as url:
        org = Org(url)
        org.fault(kind="latency", latency_ms=1500, count=1, match="collections")
        async with httpx.AsyncClient(timeout=httpx.Timeout(0.5, connect=5.0)) as http:
            client = salesforce_client(sync_settings(settings, url), http)
            with pytest.raises(SalesforceTransientError) as raised:
                await client.upsert_collection(
                    "OrbCustomer__c", "Orb_Id__c", [{"Orb_Id__c": "c1", "Name": "late"}]
                )
        assert raised.value.code == "TIMEOUT" and raised.value.retry_after == 0.5
