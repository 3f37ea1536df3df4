"""Fixed-rate latency: Orb webhooks at a steady rate → receiver → Kafka → bridge sync → Salesforce.

Open-loop load from wrk: every connection takes the next send slot of its thread's schedule
(LuaJIT's clock through ffi), so the rate holds whatever the answers' latency, as long as a
connection is free (there are many more connections than requests in flight). Each event is
`customer.created` for a new customer, so each makes exactly one Salesforce record and every
event gets its own latency: from the event's Kafka timestamp (set by the receiver's producer
as it publishes, i.e. just before the 2xx) to that record's LastModifiedDate in the Salesforce
sandbox. Nothing polls Salesforce until the sync group has committed everything.

Prints the achieved rate, latency p50/p95/p99/max, the receiver's answer times (wrk), and
Salesforce API calls per record (write calls and all calls). Same processes as bench/sync.py.

    python bench/sync_rate.py [--rate 500] [--seconds 30] [--connections 100] [--linger-ms 250]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import free_port, start  # noqa: E402
from bench.sync import BRIDGE, SECRET, counts, pipeline_env, wait_drained  # noqa: E402
from bridge.kafka import Topics, make_consumer, partitions_of  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.sandbox import payloads as p  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from bridge.sources.orb import sign  # noqa: E402

# Thread t (of T) owns slots t-1, t-1+T, t-1+2T… of one schedule at 1/rate spacing: delay()
# reserves the next slot and waits for its time, then request() sends the thread's next body,
# so by any time no more bodies have gone than slots have come. A connection's first request
# (sent on connect, without delay) is a health check; when the bodies run out, health checks.
PACED_SCRIPT = """
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_usec; } timeval;
int gettimeofday(timeval *tv, void *tz);
]]
local tv = ffi.new("timeval")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.tv_sec) * 1000 + tonumber(tv.tv_usec) / 1000
end
local rate, start_ms = tonumber(os.getenv("BENCH_RATE")), tonumber(os.getenv("BENCH_START_MS"))
local threads, ts = tonumber(os.getenv("BENCH_THREADS")), os.getenv("BENCH_TS")
local per_thread = tonumber(os.getenv("BENCH_CONNECTIONS")) / threads
local bodies, sigs, n = {}, {}, 0
for line in io.lines(os.getenv("BENCH_BODIES")) do
  local tab = line:find("\\t")
  n = n + 1; sigs[n] = line:sub(1, tab - 1); bodies[n] = line:sub(tab + 1)
end
local counter = 0
function setup(thread) counter = counter + 1; thread:set("id", counter) end
local slot, body, warm
function init(args) slot = id - 1 - threads; body = id - threads; warm = per_thread end
function delay()
  slot = slot + threads
  local wait = start_ms + slot * 1000 / rate - now_ms()
  if wait < 0 then return 0 end
  return wait
end
function request()
  if warm > 0 then warm = warm - 1; return wrk.format("GET", "/healthz") end
  body = body + threads
  if body > n then return wrk.format("GET", "/healthz") end
  return wrk.format("POST", "/webhooks/orb", {["Content-Type"] = "application/json",
                    ["X-Orb-Timestamp"] = ts, ["X-Orb-Signature"] = "v1=" .. sigs[body]}, bodies[body])
end
"""


def bodies(count: int, run: str) -> list[bytes]:
    """`customer.created` for `count` new customers (one Salesforce record each)."""
    created = datetime.now(UTC).isoformat()
    return [
        orjson.dumps(
            p.orb_event(
                "customer.created",
                event_id=f"{run}e{i}",
                created_at=created,
                customer=p.orb_customer(f"{run}c{i}", name=f"Rate {i}"),
            )
        )
        for i in range(count)
    ]


def paced_wrk(url: str, payloads: list[bytes], rate: int, seconds: int, connections: int) -> str:
    """Send every payload at `rate`/s with wrk; return wrk's report."""
    threads = 2
    ts = datetime.now(UTC).isoformat()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "bodies.tsv"
        data.write_text("".join(f"{sign(SECRET, ts, raw)}\t{raw.decode()}\n" for raw in payloads))
        script = Path(tmp) / "paced.lua"
        script.write_text(PACED_SCRIPT)
        env = {
            **os.environ,
            "BENCH_BODIES": str(data),
            "BENCH_TS": ts,
            "BENCH_RATE": str(rate),
            "BENCH_THREADS": str(threads),
            "BENCH_CONNECTIONS": str(connections),
            # wrk connects first; the schedule starts a little later for every thread alike.
            "BENCH_START_MS": str(int(time.time() * 1000) + 500),
        }
        cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds + 3}s", "--latency", "-s", str(script)]
        return subprocess.run([*cmd, url], capture_output=True, text=True, check=True, env=env).stdout


async def stored_at(settings: Settings) -> dict[str, float]:
    """Customer id → Kafka timestamp (seconds) of its event on the Orb topic."""
    topic = Topics.from_settings(settings).orb_events
    tps = await partitions_of(settings, topic)
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: dict[str, float] = {}
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    out[r.key.decode()] = r.timestamp / 1000
        return out
    finally:
        await consumer.stop()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=100)
    parser.add_argument("--linger-ms", type=int, default=250, help="BRIDGE_SYNC_BATCH_LINGER_MS of the sync")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    run = uuid.uuid4().hex[:6]
    settings = Settings(topic_prefix=f"bench{run}.")
    if not broker_answers(settings.kafka_bootstrap):
        LocalKafka().start()
    sf_port, rx_port = free_port(), free_port()
    sf = f"http://127.0.0.1:{sf_port}"
    env = {**pipeline_env(settings, sf), "BRIDGE_SYNC_BATCH_LINGER_MS": str(args.linger_ms)}
    procs = [
        start([*BRIDGE, "sandbox", "salesforce", "--port", str(sf_port)], env, sf_port),
        start([*BRIDGE, "serve", "--port", str(rx_port)], env, rx_port),
    ]
    receiver = f"http://127.0.0.1:{rx_port}"
    events = args.rate * args.seconds
    payloads = bodies(events, run)
    try:
        for _ in range(100):
            if httpx.get(f"{receiver}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        procs.append(start([*BRIDGE, "sync"], env))
        time.sleep(3)  # the sync joins its group and restores state before the clock starts
        load_before = os.getloadavg()[0]
        report = paced_wrk(receiver, payloads, args.rate, args.seconds, args.connections)
        load_after = os.getloadavg()[0]
        drained = wait_drained(settings, env, timeout=300)
        stored = asyncio.run(stored_at(settings))
        rows = httpx.get(f"{sf}/_sandbox/records/OrbCustomer__c", timeout=120).json()
        usage = counts(sf)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(30)
    written = {
        r["Orb_Id__c"]: datetime.strptime(r["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
        for r in rows
    }
    latencies = [written[cid] - at for cid, at in stored.items() if cid in written]
    first, last = min(stored.values()), max(stored.values())
    achieved = (len(stored) - 1) / (last - first) if last > first else 0.0
    write_calls = sum(v for k, v in usage["by_kind"].items() if k.startswith("collections"))
    all_calls = sum(usage["by_kind"].values())
    answers = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", report))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    print(
        f"load: {events} customer.created webhooks paced at {args.rate}/s by wrk (-t2 "
        f"-c{args.connections}, open loop), {args.seconds}s; sync linger {args.linger_ms} ms; receiver, "
        f"sync and Salesforce sandbox "
        f"in their own processes; 2 cores shared with the broker and other users (load average "
        f"{load_before:.2f} before, {load_after:.2f} after)"
    )
    print(
        f"achieved: {len(stored)} events stored over {last - first:.1f}s = {achieved:.0f} events/s; "
        f"receiver answers p50 {answers.get('50', '?')}, p99 {answers.get('99', '?')}, "
        f"non-2xx {non2xx.group(1) if non2xx else 0}; sync drained {drained:.1f}s after the last send"
    )
    if latencies:
        ms = {q: quantile(latencies, q) * 1000 for q in (0.5, 0.95, 0.99, 1.0)}
        print(
            f"latency stored→Salesforce write ({len(latencies)} records): p50 {ms[0.5]:.0f} ms, "
            f"p95 {ms[0.95]:.0f} ms, p99 {ms[0.99]:.0f} ms, max {ms[1.0]:.0f} ms"
        )
    print(
        f"Salesforce API calls: {write_calls} collections writes = {write_calls / max(len(written), 1):.4f} "
        f"per record; {all_calls} calls of any kind = {all_calls / max(len(written), 1):.4f} per record "
        f"({usage['by_kind']})"
    )
    missing = len(stored) - len(latencies)
    print(f"records in Salesforce: {len(written)} of {len(stored)} events stored (missing: {missing})")


if __name__ == "__main__":
    main()
