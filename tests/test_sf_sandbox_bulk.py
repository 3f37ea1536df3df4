"""Bulk API 2.0 over plain HTTP: job life cycle, result files, locator paging, bad jobs."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette

CSV = (
    "Ext_Id__c,Plan__c,Seats__c,Account__r.Test_Customer_Id__c\n"
    "b1,pro,1,acc1\nb2,pro,x,\nb3,,3,\nb4,pro,4,ghost\n"
)


@pytest.fixture
def app() -> Starlette:
    return make_app(FakeClock())


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        await c.patch(f"{V}/sobjects/Account/Test_Customer_Id__c/acc1", json={"Name": "Acme"})
        yield c


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def new_job(client: httpx.AsyncClient) -> str:
    r = await client.post(
        f"{V}/jobs/ingest",
        json={
            "object": "TestCustomer__c",
            "operation": "upsert",
            "externalIdFieldName": "Ext_Id__c",
            "contentType": "CSV",
        },
    )
    assert r.status_code == 200 and r.json()["state"] == "Open"
    job_id: str = r.json()["id"]
    return job_id


async def test_ingest_job_life_cycle_and_result_files(client: httpx.AsyncClient, app: Starlette) -> None:
    job = await new_job(client)
    put = await client.put(
        f"{V}/jobs/ingest/{job}/batches", content=CSV, headers={"Content-Type": "text/csv"}
    )
    closed = await client.patch(f"{V}/jobs/ingest/{job}", json={"state": "UploadComplete"})
    info = (await client.get(f"{V}/jobs/ingest/{job}")).json()
    ok = rows((await client.get(f"{V}/jobs/ingest/{job}/successfulResults/")).text)
    failed = rows((await client.get(f"{V}/jobs/ingest/{job}/failedResults")).text)
    assert put.status_code == 201 and closed.json()["state"] == "UploadComplete"
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 4 and info["numberRecordsFailed"] == 3
    assert [(r["Ext_Id__c"], r["sf__Created"]) for r in ok] == [("b1", "true")]
    errors = {r["Ext_Id__c"]: r["sf__Error"].split(":")[0] for r in failed}
    assert errors == {
        "b2": "INVALID_TYPE_ON_FIELD_IN_RECORD",
        "b3": "REQUIRED_FIELD_MISSING",
        "b4": "INVALID_FIELD",
    }
    [saved] = app.state.org.snapshot()["TestCustomer__c"]
    assert saved["Account__c"] == app.state.org.snapshot()["Account"][0]["Id"]


async def test_aborted_job_lists_unprocessed_records_in_either_casing(client: httpx.AsyncClient) -> None:
    job = await new_job(client)
    await client.put(f"{V}/jobs/ingest/{job}/batches", content=CSV, headers={"Content-Type": "text/csv"})
    aborted = await client.patch(f"{V}/jobs/ingest/{job}", json={"state": "Aborted"})
    lower = rows((await client.get(f"{V}/jobs/ingest/{job}/unprocessedrecords/")).text)
    camel = rows((await client.get(f"{V}/jobs/ingest/{job}/unprocessedRecords")).text)
    assert aborted.json()["state"] == "Aborted"
    assert [r["Ext_Id__c"] for r in lower] == ["b1", "b2", "b3", "b4"] and lower == camel
    late = await client.put(
        f"{V}/jobs/ingest/{job}/batches", content=CSV, headers={"Content-Type": "text/csv"}
    )
    assert late.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {"object": "Nope__c", "operation": "insert"},
        {"object": "Account", "operation": "merge"},
        {"object": "Account", "operation": "upsert"},
        {"object": "Account", "operation": "upsert", "externalIdFieldName": "Name"},
    ],
)
async def test_bad_job_definition_is_invalid_job(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    r = await client.post(f"{V}/jobs/ingest", json=body)
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "INVALIDJOB"


async def test_upload_must_be_csv(client: httpx.AsyncClient) -> None:
    job = await new_job(client)
    r = await client.put(f"{V}/jobs/ingest/{job}/batches", json={"a": 1})
    assert r.status_code == 400


async def test_query_job_pages_with_sforce_locator_until_null(client: httpx.AsyncClient) -> None:
    for n in range(5):
        await client.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/q{n}", json={"Plan__c": "p"})
    job = (
        await client.post(
            f"{V}/jobs/query",
            json={"operation": "query", "query": "SELECT Ext_Id__c, Account__r.Name FROM TestCustomer__c"},
        )
    ).json()["id"]
    assert (await client.get(f"{V}/jobs/query/{job}")).json()["state"] == "JobComplete"
    pages, locator = [], ""
    for _ in range(10):
        params = {"maxRecords": 2, **({"locator": locator} if locator else {})}
        r = await client.get(f"{V}/jobs/query/{job}/results", params=params)
        pages.append(rows(r.text))
        assert r.headers["Sforce-NumberOfRecords"] == str(len(pages[-1]))
        locator = r.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert list(pages[0][0]) == ["Ext_Id__c", "Account__r.Name"]
    assert sorted(r["Ext_Id__c"] for p in pages for r in p) == [f"q{n}" for n in range(5)]


async def test_query_job_with_bad_soql_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{V}/jobs/query", json={"operation": "query", "query": "SELECT FROM"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
