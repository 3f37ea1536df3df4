"""The control API: faults, call counts, usage, reset, snapshots."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette

UPSERT = f"{V}/composite/sobjects/TestCustomer__c/Ext_Id__c"
BODY = {"records": [{"attributes": {"type": "TestCustomer__c"}, "Ext_Id__c": "a", "Plan__c": "p"}]}


@pytest.fixture
def app() -> Starlette:
    return make_app(FakeClock(), fault_seed=7)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        yield c


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"kind": "server_error", "count": 2, "status": 503}, 503, "SERVER_UNAVAILABLE"),
        ({"kind": "unable_to_lock_row", "count": 2}, 400, "UNABLE_TO_LOCK_ROW"),
        ({"kind": "request_limit_exceeded", "count": 2}, 403, "REQUEST_LIMIT_EXCEEDED"),
    ],
)
async def test_fault_hits_next_n_matching_calls_then_stops(
    client: httpx.AsyncClient, app: Starlette, fault: dict[str, object], status: int, code: str
) -> None:
    assert (await client.post("/_sandbox/faults", json={**fault, "match": "collections"})).status_code == 200
    other = await client.get(f"{V}/limits")
    hits = [await client.patch(UPSERT, json=BODY) for _ in range(3)]
    assert other.status_code == 200
    assert [h.status_code for h in hits] == [status, status, 200]
    assert hits[0].json()[0]["errorCode"] == code
    assert "Sforce-Limit-Info" in hits[0].headers
    assert len(app.state.org.snapshot()["TestCustomer__c"]) == 1


async def test_share_of_calls_fails_roughly_that_often(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"kind": "server_error", "share": 0.5, "status": 500})
    statuses = [(await client.get(f"{V}/limits")).status_code for _ in range(40)]
    assert 5 < statuses.count(500) < 35
    await client.delete("/_sandbox/faults")
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_bad_fault_is_rejected(client: httpx.AsyncClient) -> None:
    r = await client.post("/_sandbox/faults", json={"kind": "server_error"})
    assert r.status_code == 400 and r.json()["error"] == "bad_fault"


async def test_counts_by_kind_and_reset(client: httpx.AsyncClient) -> None:
    await client.patch(UPSERT, json=BODY)
    await client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"})
    await client.get(f"{V}/query", params={"q": "SELECT Id FROM Account"})
    counts = (await client.get("/_sandbox/counts")).json()
    assert counts["by_kind"] == {"collections.upsert": 1, "query": 2}
    assert counts["total"] == 3 and counts["api_usage"] == 3
    zeroed = (await client.post("/_sandbox/counts/reset")).json()
    assert zeroed["total"] == 0


async def test_usage_can_be_set_to_reach_the_allowance(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/usage", json={"used": 100_000})
    r = await client.get(f"{V}/limits")
    assert r.status_code == 403 and r.headers["Sforce-Limit-Info"] == "api-usage=100000/100000"


async def test_reset_forgets_records_and_snapshot_shows_them_before(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await client.patch(UPSERT, json=BODY)
    before = (await client.get("/_sandbox/records/TestCustomer__c")).json()
    await client.post("/_sandbox/reset")
    after = (await client.get("/_sandbox/records")).json()
    assert [r["Ext_Id__c"] for r in before] == ["a"]
    assert [u["Id"] for u in after["User"]] == [app.state.org.integration_user_id]
    assert "TestCustomer__c" not in after and list(after) == ["User"]


async def test_human_edit_is_validated_like_the_api(client: httpx.AsyncClient, app: Starlette) -> None:
    r = await client.post(
        "/_sandbox/records/TestCustomer__c", json={"user": "Ann Lee", "fields": {"Seats__c": 1}}
    )
    assert r.status_code == 400 and r.json()["error"] == "REQUIRED_FIELD_MISSING"
    assert "TestCustomer__c" not in app.state.org.snapshot()


async def test_expired_sessions_force_a_new_login(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/sessions/expire")
    assert (await client.get(f"{V}/limits")).status_code == 401
    await login(client)
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_latency_fault_still_answers(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/faults", json={"kind": "latency", "count": 1, "latency_ms": 20})
    assert (await client.get(f"{V}/limits")).status_code == 200
    assert (await client.get("/_sandbox/counts")).json()["faults_injected"] == {"latency": 1}


async def test_lock_fault_per_record_fails_each_record_of_a_collection(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    await client.post(
        "/_sandbox/faults",
        json={"kind": "unable_to_lock_row", "count": 1, "per_record": True, "match": "collections"},
    )
    locked = await client.patch(UPSERT, json=BODY)
    retried = await client.patch(UPSERT, json=BODY)
    assert locked.status_code == 200
    assert locked.json()[0]["success"] is False
    assert locked.json()[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"
    assert retried.json()[0]["success"] is True
    assert len(app.state.org.snapshot()["TestCustomer__c"]) == 1
