"""The real simple-salesforce client, unmodified, against the sandbox on a real port.

simple-salesforce always builds https:// URLs; the sandbox serves plain HTTP, so the client gets
a `requests.Session` whose https:// adapter sends the same requests over http (PlainHttpAdapter).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, make_app, plain_http_session, serve
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)
from starlette.applications import Starlette


@pytest.fixture(scope="module")
def app() -> Starlette:
    return make_app(FakeClock(), query_batch_size=3)


@pytest.fixture(scope="module")
def base_url(app: Starlette) -> Iterator[str]:
    with serve(app) as url:
        yield url


def _token(base_url: str) -> str:
    r = httpx.post(
        f"{base_url}/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
        },
    )
    token: str = r.json()["access_token"]
    return token


@pytest.fixture
def sf(app: Starlette, base_url: str) -> Salesforce:
    app.state.org.reset()
    host = base_url.removeprefix("http://")
    return Salesforce(
        instance_url=f"https://{host}",
        session_id=_token(base_url),
        session=plain_http_session(),
        version="59.0",
    )


def test_describe_global_and_object(sf: Salesforce) -> None:
    names = {o["name"] for o in sf.describe()["sobjects"]}
    fields = {f["name"]: f for f in sf.TestCustomer__c.describe()["fields"]}
    assert {"Account", "Opportunity", "TestInvoice__c"} <= names
    assert fields["Ext_Id__c"]["externalId"] is True


def test_crud_and_upsert_through_sobject_api(sf: Salesforce) -> None:
    created = sf.Account.create({"Name": "Acme"})
    rid = created["id"]
    assert sf.Account.get(rid)["Name"] == "Acme"
    assert sf.Account.update(rid, {"Name": "Acme 2"}) == 204
    assert sf.Account.upsert("Test_Customer_Id__c/cus_9", {"Name": "Nine"}) == 201
    assert sf.Account.upsert("Test_Customer_Id__c/cus_9", {"Name": "Nine bis"}) == 200
    assert sf.Account.get_by_custom_id("Test_Customer_Id__c", "cus_9")["Name"] == "Nine bis"
    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(rid)
    limits = sf.limits()
    used, total = sf.api_usage["api-usage"]
    assert used == total - limits["DailyApiRequests"]["Remaining"] and used > 8


def test_query_all_pages_through_next_records_url(sf: Salesforce) -> None:
    for n in range(7):
        sf.TestCustomer__c.upsert(f"Ext_Id__c/c{n}", {"Plan__c": "pro", "Seats__c": n})
    result = sf.query_all(
        "SELECT Ext_Id__c, Seats__c FROM TestCustomer__c WHERE Seats__c >= 2 ORDER BY Seats__c"
    )
    first_page = sf.query("SELECT Id FROM TestCustomer__c")
    more = sf.query_more(first_page["nextRecordsUrl"], identifier_is_url=True)
    assert [r["Ext_Id__c"] for r in result["records"]] == [f"c{n}" for n in range(2, 7)]
    assert result["totalSize"] == 5
    assert first_page["done"] is False and len(more["records"]) == 3


def test_composite_collections_upsert_through_restful(sf: Salesforce) -> None:
    body: dict[str, Any] = {
        "allOrNone": False,
        "records": [
            {"attributes": {"type": "TestCustomer__c"}, "Ext_Id__c": f"k{n}", "Plan__c": "basic"}
            for n in range(3)
        ],
    }
    results = sf.restful("composite/sobjects/TestCustomer__c/Ext_Id__c", method="PATCH", json=body)
    assert [r["created"] for r in results] == [True, True, True]
    again = sf.restful("composite/sobjects/TestCustomer__c/Ext_Id__c", method="PATCH", json=body)
    assert [r["created"] for r in again] == [False, False, False]


def test_client_sees_salesforce_exceptions(sf: Salesforce, app: Starlette) -> None:
    with pytest.raises(SalesforceMalformedRequest) as bad:
        sf.query("SELECT Id FORM Account")
    assert bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    sf.Account.create({"Name": "A", "Legacy_Code__c": "L"})
    sf.Account.create({"Name": "B", "Legacy_Code__c": "L"})
    with pytest.raises(SalesforceMoreThanOneRecord):
        sf.Account.upsert("Legacy_Code__c/L", {"Name": "C"})
    app.state.org.sessions.clear()
    with pytest.raises(SalesforceExpiredSession):
        sf.Account.describe()


def test_bulk2_upsert_reports_successes_and_failures(sf: Salesforce) -> None:
    records = [{"Ext_Id__c": f"b{n}", "Plan__c": "pro", "Seats__c": str(n)} for n in range(5)]
    records.append({"Ext_Id__c": "bad", "Plan__c": "pro", "Seats__c": "lots"})
    [result] = sf.bulk2.TestCustomer__c.upsert(records=records, external_id_field="Ext_Id__c", wait=0.05)
    assert result["numberRecordsProcessed"] == 6 and result["numberRecordsFailed"] == 1
    failed = sf.bulk2.TestCustomer__c.get_failed_records(result["job_id"])
    ok = sf.bulk2.TestCustomer__c.get_successful_records(result["job_id"])
    assert "INVALID_TYPE_ON_FIELD_IN_RECORD" in failed and '"bad"' in failed
    assert ok.count('"true"') == 5
    pages = list(
        sf.bulk2.TestCustomer__c.query("SELECT Ext_Id__c FROM TestCustomer__c", max_records=2, wait=0.05)
    )
    assert len(pages) == 3
    assert sum(p.count("\n") - 1 for p in pages) == 5


def test_more_sobject_and_query_calls(sf: Salesforce) -> None:
    meta = sf.TestCustomer__c.metadata()
    created = sf.restful(
        "composite/sobjects",
        method="POST",
        json={"records": [{"attributes": {"type": "Account"}, "Name": f"N{n}"} for n in range(4)]},
    )
    sf.Account.delete(created[0]["id"])
    names = [r["Name"] for r in sf.query_all_iter("SELECT Name FROM Account ORDER BY Name")]
    with_deleted = sf.query("SELECT Name, IsDeleted FROM Account", include_deleted=True)
    assert meta["objectDescribe"]["keyPrefix"] == "a0T"
    assert names == ["N1", "N2", "N3"]
    assert with_deleted["totalSize"] == 4


def test_updated_and_deleted_windows(sf: Salesforce, app: Starlette) -> None:
    now = datetime.fromtimestamp(app.state.org.clock(), tz=UTC)
    keep = sf.Account.create({"Name": "Keep"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    window = (now - timedelta(minutes=1), now + timedelta(minutes=1))
    updated = sf.Account.updated(*window)
    deleted = sf.Account.deleted(*window)
    assert updated["ids"] == [keep]
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]


def test_bulk2_insert_and_unprocessed_records(sf: Salesforce) -> None:
    [result] = sf.bulk2.Account.insert(records=[{"Name": f"B{n}"} for n in range(3)], wait=0.05)
    unprocessed = sf.bulk2.Account.get_unprocessed_records(result["job_id"])
    assert result["numberRecordsProcessed"] == 3 and result["numberRecordsFailed"] == 0
    assert unprocessed.strip() == '"Name"'
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_bulk2_update_and_delete_by_id(sf: Salesforce) -> None:
    ids = [r["Id"] for r in sf.query_all("SELECT Id FROM Account")["records"]]
    for n in range(2):
        ids.append(sf.Account.create({"Name": f"U{n}"})["id"])
    [updated] = sf.bulk2.Account.update(records=[{"Id": i, "Name": "Renamed"} for i in ids], wait=0.05)
    names = {r["Name"] for r in sf.query_all("SELECT Name FROM Account")["records"]}
    [deleted] = sf.bulk2.Account.delete(records=[{"Id": ids[0]}], wait=0.05)
    assert updated["numberRecordsFailed"] == 0 and names == {"Renamed"}
    assert deleted["numberRecordsProcessed"] == 1
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == len(ids) - 1


def test_dropped_connection_fault_breaks_the_answer(base_url: str, sf: Salesforce) -> None:
    httpx.post(f"{base_url}/_sandbox/faults", json={"kind": "drop", "count": 1, "after": True})
    headers = {"Authorization": f"Bearer {_token(base_url)}"}
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.post(f"{base_url}/services/data/v59.0/sobjects/Account", json={"Name": "Lost"}, headers=headers)
    assert [a["Name"] for a in httpx.get(f"{base_url}/_sandbox/records/Account").json()] == ["Lost"]
