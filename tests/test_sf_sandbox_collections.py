"""sObject Collections: create, update, upsert, delete; limits, allOrNone, per-record results."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette

UPSERT = f"{V}/composite/sobjects/TestCustomer__c/Ext_Id__c"


@pytest.fixture
def app() -> Starlette:
    return make_app(FakeClock())


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        yield c


def customers(app: Starlette) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = app.state.org.snapshot().get("TestCustomer__c", [])
    return rows


def rec(ext: str, **fields: Any) -> dict[str, Any]:
    return {"attributes": {"type": "TestCustomer__c"}, "Ext_Id__c": ext, "Plan__c": "basic", **fields}


async def test_upsert_collection_creates_then_updates_in_order(client: httpx.AsyncClient) -> None:
    first = await client.patch(UPSERT, json={"allOrNone": False, "records": [rec("a"), rec("b")]})
    second = await client.patch(
        UPSERT, json={"allOrNone": False, "records": [rec("b", Seats__c=3), rec("c")]}
    )
    assert first.status_code == 200
    assert [r["created"] for r in first.json()] == [True, True]
    assert [r["created"] for r in second.json()] == [False, True]
    assert second.json()[0]["id"] == first.json()[1]["id"]
    assert all(r["success"] and r["errors"] == [] for r in first.json() + second.json())


async def test_partial_failure_reports_per_record_error_with_status_code(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    body = {"allOrNone": False, "records": [rec("a"), rec("b", Plan__c=None), rec("c")]}
    r = await client.patch(UPSERT, json=body)
    results = r.json()
    assert r.status_code == 200
    assert results[0]["success"] and results[2]["success"]
    assert results[1] == {
        "success": False,
        "errors": [
            {
                "statusCode": "REQUIRED_FIELD_MISSING",
                "message": "Required fields are missing: [Plan__c]",
                "fields": ["Plan__c"],
            }
        ],
    }
    assert sorted(c["Ext_Id__c"] for c in customers(app)) == ["a", "c"]


async def test_all_or_none_rolls_back_every_record(client: httpx.AsyncClient, app: Starlette) -> None:
    await client.patch(UPSERT, json={"records": [rec("a", Seats__c=1)]})
    body = {"allOrNone": True, "records": [rec("a", Seats__c=2), rec("b", Plan__c="x" * 50), rec("c")]}
    r = await client.patch(UPSERT, json=body)
    results = r.json()
    assert [x["success"] for x in results] == [False, False, False]
    assert results[1]["errors"][0]["statusCode"] == "STRING_TOO_LONG"
    assert {results[0]["errors"][0]["statusCode"], results[2]["errors"][0]["statusCode"]} == {
        "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    }
    assert [(c["Ext_Id__c"], c["Seats__c"]) for c in customers(app)] == [("a", 1)]


async def test_more_than_200_records_is_exceeded_id_limit_and_nothing_written(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    r = await client.patch(UPSERT, json={"records": [rec(f"x{i}") for i in range(201)]})
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    assert customers(app) == []


async def test_collection_with_unknown_field_fails_whole_request(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    r = await client.patch(UPSERT, json={"records": [rec("a"), rec("b", Bogus__c=1)]})
    assert r.status_code == 400
    assert r.json()[0]["errorCode"] == "INVALID_FIELD"
    assert customers(app) == []


async def test_children_reference_parents_by_external_id_in_collections(client: httpx.AsyncClient) -> None:
    await client.patch(UPSERT, json={"records": [rec("p1")]})
    invoices = [
        {"attributes": {"type": "TestInvoice__c"}, "Ext_Id__c": "i1", "Customer__r": {"Ext_Id__c": "p1"}},
        {"attributes": {"type": "TestInvoice__c"}, "Ext_Id__c": "i2", "Customer__r": {"Ext_Id__c": "ghost"}},
    ]
    r = await client.patch(f"{V}/composite/sobjects/TestInvoice__c/Ext_Id__c", json={"records": invoices})
    ok, bad = r.json()
    assert ok["success"] is True
    assert bad["errors"] == [
        {
            "statusCode": "INVALID_FIELD",
            "message": "Foreign key external ID: ghost not found for field Ext_Id__c "
            "in entity TestCustomer__c",
            "fields": [],
        }
    ]


async def test_duplicate_external_ids_in_one_request_fail_both(client: httpx.AsyncClient) -> None:
    r = await client.patch(UPSERT, json={"records": [rec("d"), rec("D"), rec("e")]})
    codes = [x["errors"][0]["statusCode"] if x["errors"] else None for x in r.json()]
    assert codes == ["DUPLICATE_EXTERNAL_ID", "DUPLICATE_EXTERNAL_ID", None]


async def test_create_update_retrieve_and_delete_collections(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    created = await client.post(
        f"{V}/composite/sobjects",
        json={
            "records": [
                {"attributes": {"type": "Account"}, "Name": "A"},
                {"attributes": {"type": "Account"}, "Name": "B"},
            ]
        },
    )
    ids = [x["id"] for x in created.json()]
    updated = await client.patch(
        f"{V}/composite/sobjects",
        json={"records": [{"attributes": {"type": "Account"}, "id": ids[0], "Name": "A2"}]},
    )
    got = await client.get(f"{V}/composite/sobjects/Account", params={"ids": ",".join(ids), "fields": "Name"})
    deleted = await client.delete(f"{V}/composite/sobjects", params={"ids": ids[1]})
    assert updated.json() == [{"id": ids[0], "success": True, "errors": []}]
    assert [x["Name"] for x in got.json()] == ["A2", "B"]
    assert deleted.json() == [{"id": ids[1], "success": True, "errors": []}]
    assert [a["Name"] for a in app.state.org.snapshot()["Account"]] == ["A2"]


async def test_upsert_record_without_attributes_type_fails_that_record(client: httpx.AsyncClient) -> None:
    r = await client.patch(UPSERT, json={"records": [{"Ext_Id__c": "n", "Plan__c": "p"}, rec("m")]})
    first, second = r.json()
    assert first["errors"][0]["statusCode"] == "INVALID_TYPE" and second["success"] is True


async def test_retrieve_by_post_body_keeps_order_and_nulls_missing(client: httpx.AsyncClient) -> None:
    created = await client.patch(UPSERT, json={"records": [rec("a"), rec("b")]})
    a, b = (x["id"] for x in created.json())
    r = await client.post(
        f"{V}/composite/sobjects/TestCustomer__c",
        json={"ids": [b, "a0T000000000000AAA", a], "fields": ["Ext_Id__c"]},
    )
    assert [x and x["Ext_Id__c"] for x in r.json()] == ["b", None, "a"]


async def test_create_collection_without_type_fails_that_record(client: httpx.AsyncClient) -> None:
    r = await client.post(
        f"{V}/composite/sobjects",
        json={"records": [{"Name": "A"}, {"attributes": {"type": "Account"}, "Name": "B"}]},
    )
    first, second = r.json()
    assert first["success"] is False and first["errors"][0]["statusCode"] == "INVALID_TYPE"
    assert second["success"] is True
