"""Writeback benchmark: people editing Salesforce at a fixed rate → CDC → Kafka → Chargebee.

Every part runs in its own process: the Salesforce sandbox, a Chargebee sandbox (wrapped to
count API calls), the receiver, `bridge sync`, `bridge listen` and `bridge writeback`. The
Chargebee sandbox sends its webhooks to the receiver, so the whole loop is closed, as in
`bridge demo`: an edit becomes a Chargebee update, whose webhook comes back to sync, which must
not write to Salesforce again (an echo write).

Setup: --accounts Chargebee customers, synced into Salesforce Accounts by their webhooks.
Then edits at --rate/s for --seconds, open loop, as a human user through the sandbox control
route: each sets a new BillingCity (and Sync_with_Chargebee__c) on the next Account in turn.
Latency per edit: from the change's CDC commitTimestamp to the `resource_version` (ms) of the
first Chargebee customer update that carries this edit or a later one of the same Account.

    python bench/writeback.py [--rate 100] [--seconds 60] [--accounts 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import cpu_seconds, free_port, start  # noqa: E402
from bench.sync import BRIDGE, counts, pipeline_env, wait_drained  # noqa: E402
from bench.sync_rate import quantile  # noqa: E402
from bridge.events import HEADER_EXPECT, HEADER_ORIGIN, ORIGIN_WRITEBACK  # noqa: E402
from bridge.kafka import Topics, make_consumer, partitions_of  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.settings import Settings  # noqa: E402

CB_KEY = "test_sandbox_key"
CB_USER, CB_PASSWORD = "chargebee-bench", "bench-password"
EDITOR = "Ann Lee (Sales Ops)"
# The Chargebee sandbox behind a counter of its /api/v2 calls (GET /_bench/calls).
CHARGEBEE = """
import sys, uvicorn
from collections import Counter
from bridge.sandbox.chargebee.app import create_app
inner, calls = create_app(), Counter()
async def app(scope, receive, send):
    path = scope.get("path", "")
    if scope["type"] == "http" and path == "/_bench/calls":
        body = ('{"calls": %d, "reads": %d}' % (sum(calls.values()), calls["GET"])).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})
        return
    if scope["type"] == "http" and path.startswith("/api/v2/"):
        calls[scope["method"]] += 1
    await inner(scope, receive, send)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""


async def seed(cb: str, accounts: int, run: str) -> list[str]:
    """Create the Chargebee customers (their webhooks make the Salesforce Accounts)."""
    ids = [f"{run}cb{i}" for i in range(accounts)]
    limits = httpx.Limits(max_connections=16)
    async with httpx.AsyncClient(auth=(CB_KEY, ""), timeout=30, limits=limits) as client:
        sem = asyncio.Semaphore(16)

        async def create(cid: str) -> None:
            async with sem:
                r = await client.post(
                    f"{cb}/api/v2/customers",
                    data={"id": cid, "company": f"Company {cid}", "email": f"{cid}@bench.test"},
                )
                r.raise_for_status()

        await asyncio.gather(*(create(cid) for cid in ids))
    return ids


def synced_accounts(sf: str, ids: list[str], timeout: float = 180) -> dict[str, str]:
    """Chargebee id → Salesforce Account Id, once sync has made every Account."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while True:
        rows = httpx.get(f"{sf}/_sandbox/records/Account", timeout=60).json()
        found = {r["Chargebee_Id__c"]: r["Id"] for r in rows if r.get("Chargebee_Id__c") in wanted}
        if len(found) == len(wanted) or time.monotonic() > deadline:
            return found
        time.sleep(1.0)


async def edit(sf: str, accounts: list[str], rate: int, seconds: int) -> tuple[int, int, float, str]:
    """Edits at `rate`/s (open loop); returns (sent, failed, seconds taken, the editor's user id)."""
    total = rate * seconds
    failed = 0
    editor = ""
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(base_url=sf, timeout=60, limits=limits) as client:

        async def one(n: int) -> None:
            nonlocal failed, editor
            r = await client.patch(
                f"/_sandbox/records/Account/{accounts[n % len(accounts)]}",
                json={"user": EDITOR, "fields": {"BillingCity": f"City {n}", "Sync_with_Chargebee__c": True}},
            )
            failed += r.status_code >= 300
            editor = editor or r.json().get("commitUser", "")

        began = time.perf_counter()
        tasks = []
        for n in range(total):
            delay = began + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        return total, failed, time.perf_counter() - began, editor


async def commits(settings: Settings, editor: str) -> dict[int, tuple[str, float, float]]:
    """Edit number → (Account Id, CDC commit time, listener publish time), in seconds, of the
    person's own commits."""
    topic = Topics.from_settings(settings).salesforce_changes
    tps = await partitions_of(settings, topic)
    consumer = make_consumer(settings, None)
    await consumer.start()
    out: dict[int, tuple[str, float, float]] = {}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    payload = orjson.loads(r.value)["payload"]
                    city = (payload.get("fields") or {}).get("BillingCity")
                    header = payload.get("ChangeEventHeader") or {}
                    if header.get("commitUser") != editor:
                        continue  # only the person's edits (the listener drops the bridge's own)
                    if isinstance(city, str) and city.startswith("City "):
                        committed = header["commitTimestamp"] / 1000
                        out[int(city[5:])] = (r.key.decode(), committed, r.timestamp / 1000)
        return out
    finally:
        await consumer.stop()


async def expectations(settings: Settings) -> dict[int, float]:
    """Edit number → when writeback announced its Chargebee update (just before making it)."""
    topic = Topics.from_settings(settings).chargebee_events
    tps = await partitions_of(settings, topic)
    consumer = make_consumer(settings, None)
    await consumer.start()
    out: dict[int, float] = {}
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    headers = dict(r.headers)
                    if headers.get(HEADER_ORIGIN) != ORIGIN_WRITEBACK.encode() or HEADER_EXPECT in headers:
                        continue
                    customer = orjson.loads(r.value)["payload"]["content"]["customer"]
                    city = (customer.get("billing_address") or {}).get("city") or ""
                    if city.startswith("City "):
                        out.setdefault(int(city[5:]), r.timestamp / 1000)
        return out
    finally:
        await consumer.stop()


def stages(
    edits: dict[int, tuple[str, float, float]],
    announced: dict[int, float],
    updates: dict[str, list[tuple[int, float]]],
    cb_of: dict[str, str],
) -> dict[str, list[float]]:
    """Per edit applied on its own: seconds spent in each stage of the path."""
    made: dict[tuple[str, int], float] = {}
    for cid, ups in updates.items():
        for seq, at in ups:  # an edit can be sent twice (a later change re-read it): the first
            made[(cid, seq)] = min(at, made.get((cid, seq), at))
    out: dict[str, list[float]] = defaultdict(list)
    for n, (account, committed, published) in edits.items():
        done = made.get((cb_of.get(account, ""), n))
        if n not in announced or done is None:
            continue  # coalesced with a later edit, or never applied
        out["commit→listener publish"].append(published - committed)
        out["publish→writeback announce"].append(announced[n] - published)
        out["announce→Chargebee update"].append(done - announced[n])
    return out


def billing_updates(cb: str) -> dict[str, list[tuple[int, float]]]:
    """Chargebee customer → [(edit number, update time)] from its customer_changed events."""
    events = httpx.get(f"{cb}/_sandbox/snapshot", auth=(CB_KEY, ""), timeout=120).json()["events"]
    out: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for e in events:
        if e["event_type"] != "customer_changed":
            continue
        customer = e["content"]["customer"]
        city = (customer.get("billing_address") or {}).get("city") or ""
        if city.startswith("City "):
            out[customer["id"]].append((int(city[5:]), customer["resource_version"] / 1000))
    return out


def latencies(
    edits: dict[int, tuple[str, float, float]],
    cb_of: dict[str, str],
    updates: dict[str, list[tuple[int, float]]],
) -> tuple[list[float], int]:
    """Per edit: first billing update carrying it or a later edit of its Account; and misses."""
    out, missed = [], 0
    for n, (account, committed, _) in edits.items():
        later = [at for seq, at in updates.get(cb_of.get(account, ""), []) if seq >= n]
        if later:
            out.append(max(0.0, min(later) - committed))
        else:
            missed += 1
    return out, missed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--accounts", type=int, default=500)
    args = parser.parse_args()
    run = uuid.uuid4().hex[:6]
    settings = Settings(topic_prefix=f"bench{run}.")
    if not broker_answers(settings.kafka_bootstrap):
        LocalKafka().start()
    sf_port, cb_port, rx_port = free_port(), free_port(), free_port()
    sf, cb, receiver = (f"http://127.0.0.1:{p}" for p in (sf_port, cb_port, rx_port))
    env = {
        **pipeline_env(settings, sf),
        "BRIDGE_CHARGEBEE_API_URL": f"{cb}/api/v2",
        "BRIDGE_CHARGEBEE_API_KEY": CB_KEY,
        "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME": CB_USER,
        "BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD": CB_PASSWORD,
    }
    procs = [
        start([*BRIDGE, "sandbox", "salesforce", "--port", str(sf_port)], env, sf_port),
        start([sys.executable, "-c", CHARGEBEE, str(cb_port)], {**env, "PYTHONPATH": str(ROOT)}, cb_port),
        start([*BRIDGE, "serve", "--port", str(rx_port)], env, rx_port),
    ]
    try:
        for _ in range(100):
            if httpx.get(f"{receiver}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        for role in ("sync", "listen", "writeback"):
            procs.append(start([*BRIDGE, role], env))
        httpx.put(
            f"{cb}/_sandbox/webhooks/endpoints",
            json={
                "endpoints": [
                    {"url": f"{receiver}/webhooks/chargebee", "username": CB_USER, "password": CB_PASSWORD}
                ]
            },
        ).raise_for_status()
        ids = asyncio.run(seed(cb, args.accounts, run))
        by_cb = synced_accounts(sf, ids)
        if len(by_cb) < len(ids):
            raise SystemExit(f"only {len(by_cb)} of {len(ids)} Accounts synced; giving up")
        # Every seeding webhook delivered and synced (and the listener long subscribed) before
        # the write count is taken: a late one would pass for an echo write.
        httpx.post(f"{cb}/_sandbox/webhooks/wait", json={"timeout": 60}, timeout=70)
        wait_drained(settings, env, topic=Topics.from_settings(settings).chargebee_events)
        time.sleep(2)
        writes_before = _writes(sf)
        calls_before = httpx.get(f"{cb}/_bench/calls").json()
        load_before = os.getloadavg()[0]
        edits_began = time.time()
        cpu_before = [cpu_seconds(proc.pid) for proc in procs]
        sent, failed, took, editor = asyncio.run(edit(sf, list(by_cb.values()), args.rate, args.seconds))
        cpu = [(cpu_seconds(proc.pid) - b) / took for proc, b in zip(procs, cpu_before, strict=True)]
        load_after = os.getloadavg()[0]
        topics = Topics.from_settings(settings)
        drained = wait_drained(
            settings,
            env,
            timeout=300,
            topic=topics.salesforce_changes,
            group=f"{settings.topic_prefix}sync-writeback",
        )
        # Chargebee's webhooks about the updates go back through the receiver to sync.
        httpx.post(f"{cb}/_sandbox/webhooks/wait", json={"timeout": 60}, timeout=70)
        wait_drained(settings, env, timeout=120, topic=topics.chargebee_events)
        echo_writes = _writes(sf) - writes_before
        echo_kinds = {k: v for k, v in counts(sf)["by_kind"].items() if k.startswith("collections")}
        writers = _writers_since(sf, edits_began)
        calls_after = httpx.get(f"{cb}/_bench/calls").json()
        edits = asyncio.run(commits(settings, editor))
        announced = asyncio.run(expectations(settings))
        final = _final_cities(sf, cb, by_cb)
        updates = billing_updates(cb)
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:  # a sandbox still holding a CometD long poll
                proc.kill()
                proc.wait()
    cb_of = {account: cid for cid, account in by_cb.items()}
    lat, missed = latencies(edits, cb_of, updates)
    calls = calls_after["calls"] - calls_before["calls"]
    reads = calls_after["reads"] - calls_before["reads"]
    print(
        f"load: {sent} Account edits by '{EDITOR}' over {args.accounts} Accounts, paced at "
        f"{args.rate}/s for {args.seconds}s (open loop, httpx); Salesforce and Chargebee sandboxes, "
        f"receiver, sync, listen, writeback in their own processes; 2 cores shared with the broker "
        f"and other users (load average {load_before:.2f} before, {load_after:.2f} after)"
    )
    print(
        f"achieved: {sent} edits sent in {took:.1f}s = {sent / took:.0f} edits/s ({failed} refused); "
        f"{len(edits)} reached salesforce.changes; writeback drained {drained:.1f}s after the last edit"
    )
    names = ("salesforce sandbox", "chargebee sandbox", "receiver", "sync", "listen", "writeback")
    print(
        "CPU while editing (share of one core): "
        + ", ".join(f"{n} {c:.0%}" for n, c in zip(names, cpu, strict=True))
    )
    if lat:
        ms = {q: quantile(lat, q) * 1000 for q in (0.5, 0.95, 0.99, 1.0)}
        print(
            f"latency SF commit→Chargebee update ({len(lat)} edits, {missed} never applied): "
            f"p50 {ms[0.5]:.0f} ms, p95 {ms[0.95]:.0f} ms, p99 {ms[0.99]:.0f} ms, max {ms[1.0]:.0f} ms"
        )
    parts = stages(edits, announced, updates, cb_of)
    if parts:
        print(
            f"stages ({len(next(iter(parts.values())))} edits applied on their own), p50/p95 ms: "
            + "; ".join(
                f"{name} {quantile(v, 0.5) * 1000:.0f}/{quantile(v, 0.95) * 1000:.0f}"
                for name, v in parts.items()
            )
        )
    print(
        f"billing API calls: {calls} ({reads} reads) = {calls / max(sent, 1):.3f} per edit; "
        f"Chargebee updates made: {sum(len(v) for v in updates.values())}"
    )
    lost_sf, lost_cb = lost_edits(edits, final)
    diverged = sum(1 for s_city, c_city in final.values() if s_city != c_city)
    print(
        f"Accounts not holding their last edit at the end: {lost_sf} in Salesforce, {lost_cb} in "
        f"Chargebee (of {len(final)}); Salesforce and Chargebee differ on {diverged}"
    )
    print(
        f"echo writes (Salesforce write calls caused by Chargebee's webhooks about the updates): "
        f"{echo_writes} (all write calls of the run by kind: {echo_kinds}); records written since "
        f"the edits began, by SObject and last writer: {writers}"
    )


def _final_cities(sf: str, cb: str, by_cb: dict[str, str]) -> dict[str, tuple[str | None, str | None]]:
    """Account Id → (BillingCity in Salesforce, city of its Chargebee customer) at the end."""
    rows = {r["Id"]: r for r in httpx.get(f"{sf}/_sandbox/records/Account", timeout=60).json()}
    customers = httpx.get(f"{cb}/_sandbox/snapshot", timeout=120).json()["objects"]["customer"]
    cities = {c["id"]: (c.get("billing_address") or {}).get("city") for c in customers}
    return {account: (rows[account].get("BillingCity"), cities.get(cid)) for cid, account in by_cb.items()}


def lost_edits(
    edits: dict[int, tuple[str, float, float]], final: dict[str, tuple[str | None, str | None]]
) -> tuple[int, int]:
    """Accounts whose last edit is not what (Salesforce, Chargebee) hold at the end."""
    last: dict[str, int] = {}
    for n, (account, _, _) in edits.items():
        last[account] = max(n, last.get(account, -1))
    sf = sum(1 for a, n in last.items() if final[a][0] != f"City {n}")
    cb = sum(1 for a, n in last.items() if final[a][1] != f"City {n}")
    return sf, cb


def _writers_since(sf: str, began: float) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for sobject in ("Account", "Contact"):
        for row in httpx.get(f"{sf}/_sandbox/records/{sobject}", timeout=60).json():
            modified = datetime.strptime(row["LastModifiedDate"], "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            if modified >= began:
                out[f"{sobject} by {row.get('LastModifiedById')}"] += 1
    return dict(out)


def _writes(sf: str) -> int:
    return sum(v for k, v in counts(sf)["by_kind"].items() if k.startswith("collections"))


if __name__ == "__main__":
    main()
