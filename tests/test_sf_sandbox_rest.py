"""REST sObject resources: describe, CRUD, upsert by external id, validation and error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette


@pytest.fixture
def app() -> Starlette:
    return make_app(FakeClock())


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        yield c


def snapshot(app: Starlette) -> dict[str, list[dict[str, Any]]]:
    snap: dict[str, list[dict[str, Any]]] = app.state.org.snapshot()
    snap.pop("User", None)
    return snap


async def test_global_describe_lists_standard_and_schema_objects(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{V}/sobjects/")
    names = {o["name"] for o in r.json()["sobjects"]}
    assert {"Account", "Contact", "Opportunity", "OpportunityLineItem", "TestCustomer__c"} <= names
    assert r.json()["maxBatchSize"] == 200


async def test_describe_shows_types_external_ids_and_relationships(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{V}/sobjects/TestInvoice__c/describe")
    fields = {f["name"]: f for f in r.json()["fields"]}
    assert fields["Ext_Id__c"]["externalId"] is True and fields["Ext_Id__c"]["length"] == 64
    assert fields["Customer__c"]["referenceTo"] == ["TestCustomer__c"]
    assert fields["Customer__c"]["relationshipName"] == "Customer__r"
    assert fields["Amount__c"]["type"] == "currency"
    account = (await client.get(f"{V}/sobjects/Account/describe")).json()
    account_fields = {f["name"] for f in account["fields"]}
    assert {"Name", "Test_Customer_Id__c", "BillingCity", "OwnerId"} <= account_fields
    assert any(c["childSObject"] == "Contact" for c in account["childRelationships"])


async def test_create_read_update_delete_roundtrip(client: httpx.AsyncClient) -> None:
    created = await client.post(f"{V}/sobjects/Account", json={"Name": "Acme", "NumberOfEmployees": 12})
    assert created.status_code == 201
    rid = created.json()["id"]
    assert len(rid) == 18 and rid.startswith("001") and created.json()["success"] is True
    got = (await client.get(f"{V}/sobjects/Account/{rid}")).json()
    assert got["attributes"] == {"type": "Account", "url": f"{V}/sobjects/Account/{rid}"}
    assert got["Name"] == "Acme" and got["NumberOfEmployees"] == 12
    assert (await client.patch(f"{V}/sobjects/Account/{rid}", json={"Name": "Acme 2"})).status_code == 204
    short = (await client.get(f"{V}/sobjects/Account/{rid[:15]}?fields=Name")).json()
    assert short == {"attributes": got["attributes"], "Name": "Acme 2"}
    assert (await client.delete(f"{V}/sobjects/Account/{rid}")).status_code == 204
    gone = await client.get(f"{V}/sobjects/Account/{rid}")
    assert gone.status_code == 404
    assert gone.json() == [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


async def test_upsert_creates_201_then_updates_200_from_v46(client: httpx.AsyncClient) -> None:
    url = f"{V}/sobjects/Account/Test_Customer_Id__c/cus_1"
    first = await client.patch(url, json={"Name": "One"})
    second = await client.patch(url, json={"Name": "One bis"})
    assert first.status_code == 201 and first.json()["created"] is True
    assert second.status_code == 200
    assert second.json() == {"id": first.json()["id"], "success": True, "errors": [], "created": False}


async def test_upsert_update_before_v46_is_204_without_body(client: httpx.AsyncClient) -> None:
    url = "/services/data/v45.0/sobjects/Account/Test_Customer_Id__c/cus_2"
    assert (await client.patch(url, json={"Name": "Two"})).status_code == 201
    again = await client.patch(url, json={"Name": "Two bis"})
    assert again.status_code == 204 and again.content == b""


async def test_upsert_by_id_updates_and_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    rid = (await client.post(f"{V}/sobjects/Account", json={"Name": "A"})).json()["id"]
    ok = await client.patch(f"{V}/sobjects/Account/Id/{rid}", json={"Name": "B"})
    missing = await client.patch(f"{V}/sobjects/Account/Id/001000000000000AAA", json={"Name": "C"})
    assert ok.status_code == 200 and ok.json()["created"] is False
    assert missing.status_code == 404


async def test_upsert_matching_several_records_is_300_with_urls(client: httpx.AsyncClient) -> None:
    a = (await client.post(f"{V}/sobjects/Account", json={"Name": "A", "Legacy_Code__c": "L1"})).json()["id"]
    b = (await client.post(f"{V}/sobjects/Account", json={"Name": "B", "Legacy_Code__c": "l1"})).json()["id"]
    r = await client.patch(f"{V}/sobjects/Account/Legacy_Code__c/L1", json={"Name": "C"})
    assert r.status_code == 300
    assert sorted(r.json()) == sorted([f"{V}/sobjects/Account/{a}", f"{V}/sobjects/Account/{b}"])


async def test_upsert_by_field_that_is_not_external_id_is_404(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    r = await client.patch(f"{V}/sobjects/Account/Name/x", json={"Name": "x"})
    assert r.status_code == 404
    assert r.json()[0]["errorCode"] == "NOT_FOUND" and "Name" in r.json()[0]["message"]
    assert snapshot(app) == {}


async def test_parent_reference_by_external_id_sets_lookup(client: httpx.AsyncClient) -> None:
    cust = await client.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/c1", json={"Plan__c": "pro"})
    inv = await client.patch(
        f"{V}/sobjects/TestInvoice__c/Ext_Id__c/i1",
        json={"Customer__r": {"Ext_Id__c": "c1"}, "Amount__c": 10.5},
    )
    got = (await client.get(f"{V}/sobjects/TestInvoice__c/{inv.json()['id']}")).json()
    assert got["Customer__c"] == cust.json()["id"] and got["Amount__c"] == 10.5


async def test_missing_parent_by_external_id_is_invalid_field_and_writes_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    r = await client.patch(
        f"{V}/sobjects/TestInvoice__c/Ext_Id__c/i1", json={"Customer__r": {"Ext_Id__c": "nope"}}
    )
    assert r.status_code == 400
    assert r.json() == [
        {
            "message": "Foreign key external ID: nope not found for field Ext_Id__c "
            "in entity TestCustomer__c",
            "errorCode": "INVALID_FIELD",
            "fields": [],
        }
    ]
    assert snapshot(app) == {}


@pytest.mark.parametrize(
    ("body", "code", "fields"),
    [
        ({"Plan__c": "pro", "Nope__c": 1}, "INVALID_FIELD", []),
        ({"Seats__c": 3}, "REQUIRED_FIELD_MISSING", ["Plan__c"]),
        ({"Plan__c": "pro", "Seats__c": "many"}, "JSON_PARSER_ERROR", []),
        ({"Plan__c": "pro", "Since__c": "yesterday"}, "JSON_PARSER_ERROR", []),
        ({"Plan__c": "x" * 11}, "STRING_TOO_LONG", ["Plan__c"]),
        (
            {"Plan__c": "pro", "CreatedDate": "2024-01-01T00:00:00Z"},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["CreatedDate"],
        ),
        ({"Plan__c": "pro", "Account__c": "001000000000000"}, "INVALID_CROSS_REFERENCE_KEY", []),
        ({"Plan__c": "pro", "Account__c": "bogus"}, "MALFORMED_ID", ["Account__c"]),
    ],
)
async def test_invalid_record_is_rejected_with_salesforce_error_and_nothing_changes(
    client: httpx.AsyncClient, app: Starlette, body: dict[str, Any], code: str, fields: list[str]
) -> None:
    r = await client.post(f"{V}/sobjects/TestCustomer__c", json=body)
    assert r.status_code == 400
    [error] = r.json()
    assert error["errorCode"] == code and error["message"]
    assert error.get("fields", []) == fields
    assert snapshot(app) == {}


async def test_string_too_long_message_names_the_limit(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{V}/sobjects/TestCustomer__c", json={"Plan__c": "x" * 11})
    assert r.json()[0]["message"] == f"Plan: data value too large: {'x' * 11} (max length=10)"


async def test_unknown_sobject_is_not_found(client: httpx.AsyncClient) -> None:
    r = await client.post(f"{V}/sobjects/Nope__c", json={"Name": "x"})
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"


async def test_malformed_json_and_wrong_content_type_change_nothing(
    client: httpx.AsyncClient, app: Starlette
) -> None:
    bad_json = await client.post(
        f"{V}/sobjects/Account", content=b'{"Name": ', headers={"Content-Type": "application/json"}
    )
    wrong_type = await client.post(
        f"{V}/sobjects/Account",
        content=b"Name=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert bad_json.status_code == 400 and bad_json.json()[0]["errorCode"] == "JSON_PARSER_ERROR"
    assert wrong_type.status_code == 415 and wrong_type.json()[0]["errorCode"] == "UNSUPPORTED_MEDIA_TYPE"
    assert snapshot(app) == {}


async def test_duplicate_unique_external_id_is_duplicate_value(client: httpx.AsyncClient) -> None:
    await client.post(f"{V}/sobjects/Account", json={"Name": "A", "Test_Customer_Id__c": "dup"})
    r = await client.post(f"{V}/sobjects/Account", json={"Name": "B", "Test_Customer_Id__c": "DUP"})
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "DUPLICATE_VALUE"


async def test_derived_fields_follow_salesforce(client: httpx.AsyncClient) -> None:
    acct = (await client.post(f"{V}/sobjects/Account", json={"Name": "A"})).json()["id"]
    opp = await client.post(
        f"{V}/sobjects/Opportunity",
        json={"Name": "Deal", "AccountId": acct, "StageName": "Closed Won", "CloseDate": "2025-01-31"},
    )
    contact = await client.post(f"{V}/sobjects/Contact", json={"FirstName": "Ann", "LastName": "Lee"})
    got_opp = (await client.get(f"{V}/sobjects/Opportunity/{opp.json()['id']}")).json()
    got_contact = (await client.get(f"{V}/sobjects/Contact/{contact.json()['id']}")).json()
    assert got_opp["IsWon"] is True and got_opp["IsClosed"] is True
    assert got_contact["Name"] == "Ann Lee"


async def test_limits_reports_daily_api_requests(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{V}/limits/")
    assert r.json()["DailyApiRequests"] == {"Max": 100_000, "Remaining": 100_000 - 1}


async def test_duplicate_rule_blocks_insert_unless_allow_save_header(app: Starlette) -> None:
    dup_app = make_app(
        FakeClock(), duplicate_rules=[{"object": "Account", "fields": ["Name", "BillingCity"]}]
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=dup_app), base_url="http://sf.test") as c:
        await login(c)
        first = await c.post(f"{V}/sobjects/Account", json={"Name": "Acme", "BillingCity": "Paris"})
        blocked = await c.post(f"{V}/sobjects/Account", json={"Name": "ACME", "BillingCity": "paris"})
        saved = await c.post(
            f"{V}/sobjects/Account",
            json={"Name": "ACME", "BillingCity": "paris"},
            headers={"Sforce-Duplicate-Rule-Header": "allowSave=true"},
        )
        in_collection = await c.post(
            f"{V}/composite/sobjects",
            json={"records": [{"attributes": {"type": "Account"}, "Name": "Acme", "BillingCity": "Paris"}]},
        )
    [error] = blocked.json()
    assert blocked.status_code == 400 and error["errorCode"] == "DUPLICATES_DETECTED"
    matched = error["duplicateResult"]["matchResults"][0]["matchRecords"][0]["record"]["Id"]
    assert matched == first.json()["id"]
    assert saved.status_code == 201
    assert in_collection.json()[0]["errors"][0]["statusCode"] == "DUPLICATES_DETECTED"
    assert (
        len(in_collection.json()[0]["errors"][0]["duplicateResult"]["matchResults"][0]["matchRecords"]) == 2
    )
