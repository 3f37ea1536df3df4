"""The Bulk API 2.0 ingest client against the Salesforce sandbox (in process, ASGI transport)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, make_app
from pydantic import SecretStr
from starlette.applications import Starlette

from bridge.salesforce.auth import SalesforceAuth, TokenProvider
from bridge.salesforce.bulk import BulkIngest, JobReport, job_failure, parse_record_error, to_csv_chunks
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.errors import SalesforceError, SalesforceTransientError
from bridge.salesforce.limits import ApiBudget, ApiUsage

BASE = "http://sf.test"


@pytest.fixture
def app() -> Starlette:
    return make_app(FakeClock())


@pytest.fixture
async def sf(app: Starlette) -> AsyncIterator[SalesforceClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        auth = SalesforceAuth.model_validate(
            {
                "flow": "password",
                "login_url": BASE,
                "instance_url": BASE,
                "client_id": "sandbox-client-id",
                "client_secret": SecretStr("sandbox-client-secret"),
                "username": "integration@bridge.sandbox",
                "password": SecretStr("sandbox-password"),
            }
        )
        client = SalesforceClient(http, TokenProvider(http, auth), api_version="59.0")
        [acme] = await client.upsert_collection(
            "Account", "Test_Customer_Id__c", [{"Test_Customer_Id__c": "acc1", "Name": "Acme"}]
        )
        assert acme.success, acme.error
        yield client


def _customer(i: int, **over: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "attributes": {"type": "TestCustomer__c"},
        "Ext_Id__c": f"c{i}",
        "Plan__c": "pro",
        "Seats__c": i,
        "Balance__c": 0.00001 * i,
        "Active__c": i % 2 == 0,
        "Account__r": {"Test_Customer_Id__c": "acc1"},
    }
    record.update(over)
    return record


async def test_large_upload_is_split_into_several_jobs_and_every_record_lands(
    sf: SalesforceClient, app: Starlette
) -> None:
    records = [_customer(i) for i in range(60)]
    limit = 1500
    bulk = BulkIngest(sf, max_upload_bytes=limit, poll_initial=0.01)
    results = await bulk.upsert("TestCustomer__c", "Ext_Id__c", records)
    chunks = to_csv_chunks(records, limit)
    assert len(chunks) > 1 and all(len(data) <= limit for data, _ in chunks)
    assert len(bulk.jobs) == len(chunks)
    assert sum(j.records for j in bulk.jobs) == 60
    assert [r.error for r in results if not r.success] == []
    assert all(r.success and r.created and r.id for r in results)
    org = app.state.org.snapshot()
    [account] = org["Account"]
    saved = {r["Ext_Id__c"]: r for r in org["TestCustomer__c"]}
    assert len(saved) == 60
    assert {r["Account__c"] for r in saved.values()} == {account["Id"]}  # Account__r.… resolved
    assert saved["c7"]["Seats__c"] == 7 and saved["c7"]["Active__c"] is False


async def test_none_clears_a_field_and_absent_fields_stay(sf: SalesforceClient, app: Starlette) -> None:
    bulk = BulkIngest(sf, poll_initial=0.01)
    await bulk.upsert("TestCustomer__c", "Ext_Id__c", [_customer(1, Since__c="2024-01-02")])
    update = {"Ext_Id__c": "c1", "Seats__c": None, "Plan__c": "team"}
    [result] = await bulk.upsert("TestCustomer__c", "Ext_Id__c", [update])
    [saved] = app.state.org.snapshot()["TestCustomer__c"]
    assert result.success and not result.created
    assert saved["Seats__c"] is None and saved["Plan__c"] == "team"
    assert saved["Since__c"] == "2024-01-02"


async def test_failed_records_get_their_own_classified_error_in_input_order(sf: SalesforceClient) -> None:
    records = [_customer(0), _customer(1, Seats__c="many"), _customer(2, Plan__c=None), _customer(3)]
    results = await BulkIngest(sf, poll_initial=0.01).upsert("TestCustomer__c", "Ext_Id__c", records)
    assert [r.success for r in results] == [True, False, False, True]
    assert isinstance(results[1].error, SalesforceError)
    assert results[1].error.code == "INVALID_TYPE_ON_FIELD_IN_RECORD"
    assert isinstance(results[2].error, SalesforceError)
    assert results[2].error.code == "REQUIRED_FIELD_MISSING"


async def test_bulk_calls_are_counted_and_held_back_by_the_api_budget(sf: SalesforceClient) -> None:
    bulk = BulkIngest(sf, poll_initial=0.01)
    await bulk.upsert("TestCustomer__c", "Ext_Id__c", [_customer(i) for i in range(10)])
    assert {"bulk_create", "bulk_upload", "bulk_close", "bulk_poll", "bulk_results"} <= set(sf.calls)
    assert sf.calls["bulk_results"] == 1  # nothing failed: no failedResults call
    sf.budget = ApiBudget(probe_seconds=3600)
    sf.budget.observe(ApiUsage(990, 1000))
    with pytest.raises(SalesforceTransientError) as caught:
        await bulk.upsert("TestCustomer__c", "Ext_Id__c", [_customer(11)])
    assert caught.value.code == "API_BUDGET"


async def test_repeated_external_ids_are_refused_before_any_call(sf: SalesforceClient) -> None:
    before = sum(sf.calls.values())
    with pytest.raises(ValueError):
        await BulkIngest(sf).upsert("TestCustomer__c", "Ext_Id__c", [_customer(1), _customer(1)])
    assert sum(sf.calls.values()) == before


def test_csv_uses_relationship_columns_null_marker_and_no_exponents() -> None:
    [(data, count)] = to_csv_chunks([_customer(1), {"Ext_Id__c": "x", "Plan__c": None}], 10_000)
    rows = list(csv.DictReader(io.StringIO(data.decode())))
    assert count == 2
    assert rows[0]["Account__r.Test_Customer_Id__c"] == "acc1"
    assert rows[0]["Balance__c"] == "0.00001" and rows[0]["Active__c"] == "false"
    assert rows[1]["Plan__c"] == "#N/A" and rows[1]["Seats__c"] == ""


def test_record_errors_and_job_failures_are_classified() -> None:
    lock = parse_record_error("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--")
    missing = parse_record_error("REQUIRED_FIELD_MISSING:Required fields are missing: [Plan__c]:Plan__c --")
    assert isinstance(lock, SalesforceTransientError)
    assert isinstance(missing, SalesforceError) and missing.fields == ["Plan__c"]
    bad = JobReport("750x", "Failed", 5, 0, 0, "InvalidBatch : Field name not found : Nope__c")
    busy = JobReport("750y", "Failed", 5, 2, 0, "InvalidBatch : Max CPU time exceeded")
    aborted = JobReport("750z", "Aborted", 5, 0, 0)
    assert isinstance(job_failure("X", bad), SalesforceError)
    assert isinstance(job_failure("X", busy), SalesforceTransientError)
    assert isinstance(job_failure("X", aborted), SalesforceTransientError)
