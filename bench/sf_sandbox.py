"""Throughput of the Salesforce sandbox for 200-record sObject Collections upserts.

Runs the sandbox with uvicorn in a child process on a free loopback port, then for about
`--seconds` per phase sends 200-record upserts (first creating, then updating the same external
ids) one at a time and with a few in flight. Prints records/s and call latency.

    .venv/bin/python bench/sf_sandbox.py [--seconds 4] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

SCHEMA = {
    "family": "bench",
    "objects": [
        {
            "name": "BenchCustomer__c",
            "label": "Bench Customer",
            "labelPlural": "Bench Customers",
            "keyPrefix": "a9B",
            "custom": True,
            "fields": [
                {
                    "name": "Ext_Id__c",
                    "label": "Ext",
                    "type": "string",
                    "length": 64,
                    "externalId": True,
                    "unique": True,
                },
                {"name": "Amount__c", "label": "Amount", "type": "currency", "precision": 18, "scale": 2},
                {"name": "Status__c", "label": "Status", "type": "picklist", "picklist": ["a", "b"]},
                {"name": "Since__c", "label": "Since", "type": "date"},
            ],
        }
    ],
}
SERVER = """
import sys, uvicorn
from pathlib import Path
from bridge.salesforce.schema import load_schema
from bridge.sandbox.salesforce.app import create_app
app = create_app(load_schema(extra=(Path(sys.argv[1]),)), api_allowance=10**9)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning")
"""
URL = "/services/data/v59.0/composite/sobjects/BenchCustomer__c/Ext_Id__c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def phase(
    client: httpx.AsyncClient, seconds: float, concurrency: int, ids: range, amount: float
) -> None:
    latencies: list[float] = []
    records = 0
    batches = [ids[i : i + 200] for i in range(0, len(ids), 200)]
    next_batch = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal records, next_batch
        while time.perf_counter() < deadline and next_batch < len(batches):
            batch = batches[next_batch]
            next_batch += 1
            body = {
                "allOrNone": False,
                "records": [
                    {
                        "attributes": {"type": "BenchCustomer__c"},
                        "Ext_Id__c": f"cus_{n}",
                        "Name": f"Customer {n}",
                        "Amount__c": amount + n,
                        "Status__c": "a",
                        "Since__c": "2025-01-01",
                    }
                    for n in batch
                ],
            }
            start = time.perf_counter()
            r = await client.patch(URL, json=body)
            latencies.append(time.perf_counter() - start)
            r.raise_for_status()
            if not all(x["success"] for x in r.json()):
                raise RuntimeError(f"upsert failed: {r.json()[:2]}")
            records += len(batch)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - began
    kind = "create" if amount == 0 else "update"
    p50 = statistics.median(latencies) * 1000
    p95 = sorted(latencies)[int(len(latencies) * 0.95) - 1] * 1000
    print(
        f"{kind:6} concurrency={concurrency}: {records} records in {elapsed:.2f}s = "
        f"{records / elapsed:,.0f} records/s ({len(latencies)} calls, p50 {p50:.1f} ms, p95 {p95:.1f} ms)"
    )
    return records


async def run(base: str, seconds: float, concurrency: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(200):
            try:
                token = await client.post(
                    "/services/oauth2/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": "sandbox-client-id",
                        "client_secret": "sandbox-client-secret",
                    },
                )
                break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("sandbox did not start")
        client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        print(f"sandbox on {base}; ~{seconds:.1f}s per phase")
        # Updates touch only the external ids the create phase made, so every row is an update.
        made = await phase(client, seconds, 1, range(0, 500_000), 0.0)
        await phase(client, seconds, 1, range(0, made), 1.0)
        made = await phase(client, seconds, concurrency, range(500_000, 1_000_000), 0.0)
        await phase(client, seconds, concurrency, range(500_000, 500_000 + made), 1.0)


def main(seconds: float, concurrency: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        schema_file = Path(tmp) / "bench.json"
        schema_file.write_text(json.dumps(SCHEMA))
        port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", SERVER, str(schema_file), str(port)])
        try:
            asyncio.run(run(f"http://127.0.0.1:{port}", seconds, concurrency))
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    main(args.seconds, args.concurrency)
