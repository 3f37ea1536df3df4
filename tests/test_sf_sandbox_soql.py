"""SOQL subset: filters, relationship fields, ordering, paging, queryAll, and its error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(FakeClock(), query_batch_size=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        acct = await c.post(f"{V}/sobjects/Account", json={"Name": "Acme", "Industry": "Retail"})
        c.headers["X-Acct"] = acct.json()["id"]
        for name, seats, plan in [
            ("c1", 5, "pro"),
            ("c2", 10, "basic"),
            ("c3", None, "pro"),
            ("c4", 1, "free"),
        ]:
            body = {
                "Plan__c": plan,
                "Seats__c": seats,
                "Account__c": acct.json()["id"] if name != "c4" else None,
            }
            await c.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/{name}", json=body)
        yield c


async def q(client: httpx.AsyncClient, soql: str, path: str = "query") -> httpx.Response:
    return await client.get(f"{V}/{path}", params={"q": soql})


async def test_where_and_or_in_and_order_by(client: httpx.AsyncClient) -> None:
    r = await q(
        client,
        "SELECT Ext_Id__c, Seats__c FROM TestCustomer__c "
        "WHERE (Plan__c IN ('pro', 'free') OR Seats__c > 8) AND Ext_Id__c != 'c4' "
        "ORDER BY Seats__c DESC LIMIT 5",
    )
    body = r.json()
    records = list(body["records"])
    while not body["done"]:
        body = (await client.get(body["nextRecordsUrl"])).json()
        records += body["records"]
    assert [x["Ext_Id__c"] for x in records] == ["c2", "c1", "c3"]
    assert r.json()["totalSize"] == 3


async def test_relationship_fields_come_back_nested(client: httpx.AsyncClient) -> None:
    r = await q(
        client,
        "SELECT Ext_Id__c, Account__r.Name FROM TestCustomer__c "
        "WHERE Ext_Id__c IN ('c1','c4') ORDER BY Ext_Id__c",
    )
    first, second = r.json()["records"]
    assert first["Account__r"]["Name"] == "Acme"
    assert first["Account__r"]["attributes"]["type"] == "Account"
    assert second["Account__r"] is None


async def test_null_like_and_count(client: httpx.AsyncClient) -> None:
    nulls = await q(client, "SELECT Id FROM TestCustomer__c WHERE Seats__c = null")
    like = await q(client, "SELECT Id FROM Account WHERE Name LIKE 'ac%'")
    count = await q(client, "SELECT COUNT() FROM TestCustomer__c WHERE Seats__c < 6")
    assert nulls.json()["totalSize"] == 1
    assert like.json()["totalSize"] == 1
    assert count.json() == {"totalSize": 2, "done": True, "records": []}


async def test_paging_follows_next_records_url_in_batches(client: httpx.AsyncClient) -> None:
    first = (await q(client, "SELECT Id FROM TestCustomer__c ORDER BY Ext_Id__c")).json()
    assert first["done"] is False and len(first["records"]) == 2
    second = (await client.get(first["nextRecordsUrl"])).json()
    assert second["done"] is True and "nextRecordsUrl" not in second
    ids = [r["Id"] for r in first["records"] + second["records"]]
    assert len(set(ids)) == 4


async def test_batch_size_header_shrinks_pages(client: httpx.AsyncClient) -> None:
    r = await client.get(
        f"{V}/query",
        params={"q": "SELECT Id FROM TestCustomer__c"},
        headers={"Sforce-Query-Options": "batchSize=1"},
    )
    assert len(r.json()["records"]) == 1 and r.json()["nextRecordsUrl"].endswith("-1")


async def test_query_all_includes_deleted_records(client: httpx.AsyncClient) -> None:
    acct = client.headers["X-Acct"]
    await client.delete(f"{V}/sobjects/Account/{acct}")
    live = await q(client, "SELECT Id, IsDeleted FROM Account")
    everything = await q(client, "SELECT Id, IsDeleted FROM Account", "queryAll")
    assert live.json()["totalSize"] == 0
    assert everything.json()["records"][0]["IsDeleted"] is True


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT Id FORM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' LIMIT", "MALFORMED_QUERY"),
        ("SELECT Nope__c FROM Account", "INVALID_FIELD"),
        ("SELECT Bad__r.Name FROM TestCustomer__c", "INVALID_FIELD"),
        ("SELECT Id FROM Nope__c", "INVALID_TYPE"),
        ("SELECT Id FROM TestCustomer__c WHERE Seats__c = 'x'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
async def test_bad_soql_is_400_with_salesforce_error_code(
    client: httpx.AsyncClient, soql: str, code: str
) -> None:
    r = await q(client, soql)
    assert r.status_code == 400
    [error] = r.json()
    assert error["errorCode"] == code and error["message"]
