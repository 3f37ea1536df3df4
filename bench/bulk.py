"""Bulk API 2.0 vs sObject Collections: N records of one SObject through the sync's write paths.

Starts the Salesforce sandbox (shipped schema) in a child process, creates one OrbCustomer__c,
then upserts `--records` OrbInvoice__c (each with a lookup to it by external id) once through
`SalesforceClient.upsert_many` (collections, 200 a call) and once through `BulkIngest.upsert`
(Bulk API 2.0 jobs), each onto fresh external ids, then again as updates. Prints records/s and
API calls per path, as the client counted them and as the sandbox did.

    .venv/bin/python bench/bulk.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from processes import free_port, start
from pydantic import SecretStr

from bridge.salesforce.auth import SalesforceAuth, TokenProvider
from bridge.salesforce.bulk import BulkIngest
from bridge.salesforce.client import SalesforceClient, UpsertResult

SERVER = """
import sys, uvicorn
from bridge.sandbox.salesforce.app import create_app
uvicorn.run(create_app(api_allowance=10**9), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


def invoices(prefix: str, n: int, total: float) -> list[dict[str, Any]]:
    return [
        {
            "Orb_Id__c": f"{prefix}{i}",
            "Name": f"INV-{i}",
            "Total__c": total + i,
            "Status__c": "issued",
            "Orb_Customer__r": {"Orb_Id__c": "cus_bench"},
        }
        for i in range(n)
    ]


def sandbox_calls(base: str) -> int:
    return int(httpx.get(f"{base}/_sandbox/counts").json()["total"])


async def measure(
    label: str,
    base: str,
    sf: SalesforceClient,
    write: Callable[[list[dict[str, Any]]], Awaitable[list[UpsertResult]]],
    records: list[dict[str, Any]],
) -> None:
    calls_before, server_before = sum(sf.calls.values()), sandbox_calls(base)
    began = time.perf_counter()
    results = await write(records)
    elapsed = time.perf_counter() - began
    failed = [r.error for r in results if not r.success]
    if failed:
        raise SystemExit(f"{label}: {len(failed)} records failed, first: {failed[0]}")
    calls = sum(sf.calls.values()) - calls_before
    server = sandbox_calls(base) - server_before
    print(
        f"{label:22} {len(records):>7} records in {elapsed:6.2f}s = "
        f"{len(records) / elapsed:>8,.0f} records/s, "
        f"{calls:>4} API calls ({calls / len(records):.4f} per record; sandbox counted {server})"
    )


async def run(base: str, n: int) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0, connect=5.0)) as http:
        auth = SalesforceAuth.model_validate(
            {
                "flow": "client_credentials",
                "login_url": base,
                "instance_url": base,
                "client_id": "sandbox-client-id",
                "client_secret": SecretStr("sandbox-client-secret"),
            }
        )
        sf = SalesforceClient(http, TokenProvider(http, auth))
        [parent] = await sf.upsert_collection("OrbCustomer__c", "Orb_Id__c", [{"Orb_Id__c": "cus_bench"}])
        if not parent.success:
            raise SystemExit(f"could not create the parent: {parent.error}")
        bulk = BulkIngest(sf)

        async def collections(rs: list[dict[str, Any]]) -> list[UpsertResult]:
            return await sf.upsert_many("OrbInvoice__c", "Orb_Id__c", rs)

        async def bulk_job(rs: list[dict[str, Any]]) -> list[UpsertResult]:
            return await bulk.upsert("OrbInvoice__c", "Orb_Id__c", rs)

        print(f"sandbox on {base}; {n} OrbInvoice__c records per run, lookup by external id")
        await measure("collections create", base, sf, collections, invoices("c", n, 0.0))
        await measure("bulk create", base, sf, bulk_job, invoices("b", n, 0.0))
        await measure("collections update", base, sf, collections, invoices("c", n, 1.0))
        await measure("bulk update", base, sf, bulk_job, invoices("b", n, 1.0))
        print("bulk jobs: " + ", ".join(f"{j.records} records/{j.state}" for j in bulk.jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    port = free_port()
    proc = start([sys.executable, "-c", SERVER, str(port)], dict(os.environ), port)
    try:
        asyncio.run(run(f"http://127.0.0.1:{port}", args.records))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
