"""Sync benchmark: Orb webhooks → receiver → Kafka → bridge sync → Salesforce sandbox.

Every part runs in its own process, as in production: the Salesforce sandbox
(`bridge sandbox salesforce`), the receiver (`bridge serve`) and the sync (`bridge sync`).

Phase 1, burst: N events (customer.created, subscription.started, invoice.issued,
invoice.payment_succeeded per customer), pre-signed, replayed by wrk over 64 connections, then
the same events again (vendor retries). Prints events/s to a settled Salesforce, write calls
per synced record, and write calls spent on the repeated events (target 0).
Latency at a sustained rate is `bench/sync_rate.py`: wrk paces webhooks open loop (500/s by
default), where a Python client on these two shared cores could not keep the pace.

    python bench/sync.py [--events 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import free_port, start  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.sandbox import payloads as p  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from bridge.sources.orb import sign  # noqa: E402

SECRET = "whsec_bench"
BRIDGE = [sys.executable, "-m", "bridge.cli"]


def tenant(customers: int, base: datetime) -> list[dict[str, Any]]:
    bodies = []
    for i in range(customers):
        cid = f"cus_{i}"

        def at(step: int, i: int = i) -> str:
            return (base + timedelta(seconds=i * 4 + step)).isoformat()

        customer = p.orb_customer(cid, name=f"Customer {i}")
        sub = p.orb_subscription(f"sub_{i}", customer=customer)
        for interval in sub.get("price_intervals", []):
            interval["id"] = f"pi_{i}"
        inv = p.orb_invoice(f"inv_{i}", customer_id=cid, lines=2)
        inv["subscription"] = {"id": f"sub_{i}"}
        paid = {**inv, "status": "paid", "amount_due": "0.00"}
        bodies += [
            p.orb_event("customer.created", event_id=f"e{i}a", created_at=at(0), customer=customer),
            p.orb_event("subscription.started", event_id=f"e{i}b", created_at=at(1), subscription=sub),
            p.orb_event("invoice.issued", event_id=f"e{i}c", created_at=at(2), invoice=inv),
            p.orb_event("invoice.payment_succeeded", event_id=f"e{i}d", created_at=at(3), invoice=paid),
        ]
    return bodies


WRK_SCRIPT = """
local bodies, sigs, n, next_i = {}, {}, 0, 0
local path, ts = os.getenv("BENCH_BODIES"), os.getenv("BENCH_TS")
for line in io.lines(path) do
  local tab = line:find("\\t")
  n = n + 1; sigs[n] = line:sub(1, tab - 1); bodies[n] = line:sub(tab + 1)
end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
function init(args) next_i = id - 1 end
local opened = false
function request()
  -- wrk can lose a thread's very first request: spend it on a health check.
  if not opened then opened = true; return wrk.format("GET", "/healthz") end
  -- Thread 1 sends bodies 1, 3, 5…, thread 2 bodies 2, 4, 6…; then only health checks.
  local i = next_i + 1
  next_i = next_i + 2
  if i > n then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/webhooks/orb", {["Content-Type"] = "application/json",
                    ["X-Orb-Timestamp"] = ts, ["X-Orb-Signature"] = "v1=" .. sigs[i]}, bodies[i])
end
"""


def wrk_burst(url: str, bodies: list[dict[str, Any]], done: Any) -> float:
    """Post every body once with wrk (2 threads, 64 connections, then idle health checks);
    return the seconds until `done()` held, polled while wrk runs."""
    ts = datetime.now(UTC).isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bodies.tsv"
        with data.open("w") as f:
            for body in bodies:
                raw = orjson.dumps(body)
                f.write(f"{sign(SECRET, ts, raw)}\t{raw.decode()}\n")
        script = Path(tmp) / "burst.lua"
        script.write_text(WRK_SCRIPT)
        began = time.perf_counter()
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c64", "-d20s", "-s", str(script), url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "BENCH_BODIES": str(data), "BENCH_TS": ts},
        )
        deadline = began + 300
        while not done() and time.perf_counter() < deadline:
            time.sleep(0.25)
        took = time.perf_counter() - began
        wrk.wait(60)
        return took


async def post_all(url: str, bodies: list[dict[str, Any]], connections: int = 64) -> int:
    queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    ok = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal ok
        while not queue.empty():
            body = orjson.dumps(queue.get_nowait())
            ts = datetime.now(UTC).isoformat()
            for _ in range(20):  # a vendor retries a 503
                r = await client.post(
                    url,
                    content=body,
                    headers={
                        "X-Orb-Timestamp": ts,
                        "X-Orb-Signature": f"v1={sign(SECRET, ts, body)}",
                        "Content-Type": "application/json",
                    },
                )
                if r.status_code < 300:
                    ok += 1
                    break
                await asyncio.sleep(0.2)

    limits = httpx.Limits(max_connections=connections)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(connections)))
    return ok


def topic_count(settings: Settings) -> int:
    """Events on the Orb topic now."""
    from aiokafka import AIOKafkaConsumer

    from bridge.kafka import Topics, partitions_of

    async def count() -> int:
        tps = await partitions_of(settings, Topics.from_settings(settings).orb_events)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
        await consumer.start()
        try:
            return sum((await consumer.end_offsets(tps)).values())
        finally:
            await consumer.stop()

    return asyncio.run(count())


def wait_drained(
    settings: Settings,
    env: dict[str, str],
    timeout: float = 120,
    topic: str | None = None,
    group: str | None = None,
) -> float:
    """Seconds until a group (the sync's) has committed everything on a topic (the Orb one)."""
    from aiokafka import AIOKafkaConsumer

    from bridge.kafka import Topics, partitions_of

    async def lag() -> int:
        tps = await partitions_of(settings, topic or Topics.from_settings(settings).orb_events)
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap,
            group_id=group or env["BRIDGE_SYNC_GROUP_ID"],
            enable_auto_commit=False,
        )
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            total = 0
            for tp in tps:
                total += ends[tp] - (await consumer.committed(tp) or 0)
            return total
        finally:
            await consumer.stop()

    began = time.perf_counter()
    while asyncio.run(lag()) > 0 and time.perf_counter() - began < timeout:
        time.sleep(0.5)
    return time.perf_counter() - began


def counts(sf: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(f"{sf}/_sandbox/counts", timeout=30).json()
    return data


def writes(sf: str) -> int:
    return sum(v for k, v in counts(sf)["by_kind"].items() if k.startswith("collections"))


def records(sf: str) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = httpx.get(f"{sf}/_sandbox/records", timeout=60).json()
    return data


def settled(sf: str, customers: int) -> bool:
    invoices = httpx.get(f"{sf}/_sandbox/records/OrbInvoice__c", timeout=60).json()
    return len(invoices) == customers and all(r.get("Status__c") == "paid" for r in invoices)


def pipeline_env(settings: Settings, sf: str) -> dict[str, str]:
    """Environment of the receiver and sync processes: the bench's topics, the SF sandbox."""
    return {
        **os.environ,
        "BRIDGE_TOPIC_PREFIX": settings.topic_prefix,
        "BRIDGE_LOG_LEVEL": "WARNING",
        "BRIDGE_ORB_WEBHOOK_SECRET": SECRET,
        "BRIDGE_SALESFORCE_LOGIN_URL": sf,
        "BRIDGE_SALESFORCE_INSTANCE_URL": sf,
        "BRIDGE_SALESFORCE_CLIENT_ID": "sandbox-client-id",
        "BRIDGE_SALESFORCE_CLIENT_SECRET": "sandbox-client-secret",
        "BRIDGE_SALESFORCE_USERNAME": "integration@bridge.sandbox",
        "BRIDGE_SALESFORCE_PASSWORD": "sandbox-password",
        "BRIDGE_SYNC_GROUP_ID": f"{settings.topic_prefix}sync",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=10_000)
    args = parser.parse_args()
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    if not broker_answers(settings.kafka_bootstrap):
        LocalKafka().start()
    sf_port, rx_port = free_port(), free_port()
    sf = f"http://127.0.0.1:{sf_port}"
    env = pipeline_env(settings, sf)
    procs = [
        start([*BRIDGE, "sandbox", "salesforce", "--port", str(sf_port)], env, sf_port),
        start([*BRIDGE, "serve", "--port", str(rx_port)], env, rx_port),
    ]
    receiver = f"http://127.0.0.1:{rx_port}"
    try:
        for _ in range(100):
            if httpx.get(f"{receiver}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        procs.append(start([*BRIDGE, "sync"], env))
        customers = args.events // 4
        bodies = tenant(customers, datetime(2024, 3, 1, tzinfo=UTC))
        burst = wrk_burst(receiver, bodies, lambda: settled(sf, customers))
        stored = topic_count(settings)
        snapshot = records(sf)
        synced = sum(len(v) for k, v in snapshot.items() if k.startswith("Orb"))
        burst_writes = writes(sf)
        repeat_began = time.perf_counter()
        asyncio.run(post_all(f"{receiver}/webhooks/orb", bodies))  # every event again
        repeat_posting = time.perf_counter() - repeat_began
        time.sleep(5)
        repeat_writes = writes(sf) - burst_writes
        drained = wait_drained(settings, env)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    print(
        f"burst: {len(bodies)} events posted by wrk; Salesforce settled {burst:.1f}s after the "
        f"first POST = {len(bodies) / burst:.0f} events/s end to end"
    )
    print(f"events stored by the burst: {stored} of {len(bodies)}")
    print(
        f"records synced: {synced}; collections write calls: {burst_writes}; "
        f"calls per synced record: {burst_writes / synced:.4f} (naive per-record sync: 1.0)"
    )
    print(
        f"write calls spent on {len(bodies)} repeated events: {repeat_writes} "
        f"(posted in {repeat_posting:.1f}s by the bench's httpx client; sync drained "
        f"{drained:.1f}s after)"
    )


if __name__ == "__main__":
    main()
