"""Backfill benchmark: a Chargebee tenant → `bridge backfill` → Kafka → `bridge sync` → Salesforce.

Every part runs in its own process: the Chargebee and Salesforce sandboxes, the sync (started
first, idle) and the backfill. `--records` Salesforce records are produced from customers
(`--objects customer`: an Account and a Contact each). Prints records/s from the backfill's
start until the sync group has committed every event, the backfill's own time, Salesforce API
calls (the sandbox's counts) and the peak RSS of the sync and backfill processes.
Targets: 100k records < 2 min, each process < 300 MB.

    python bench/backfill.py [--records 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import free_port, start  # noqa: E402
from bridge.kafka import Topics, delete_topics_with_prefix, partitions_of  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.sandbox.chargebee.app import DEFAULT_API_KEY  # noqa: E402
from bridge.settings import Settings  # noqa: E402

BRIDGE = [sys.executable, "-m", "bridge.cli"]


class PeakRss:
    """Samples a process's peak resident set (VmHWM) until it exits or `stop()`."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak_kb, self._done = pid, 0, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._done.wait(0.2):
            try:
                for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        self.peak_kb = max(self.peak_kb, int(line.split()[1]))
            except (OSError, ValueError):
                return

    def stop(self) -> float:
        self._done.set()
        return self.peak_kb / 1024


def lag(settings: Settings, group: str) -> int:
    """Events on the Chargebee topic the sync group has not committed yet."""
    from aiokafka import AIOKafkaConsumer

    async def count() -> int:
        tps = await partitions_of(settings, Topics.from_settings(settings).chargebee_events)
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=group)
        await consumer.start()
        try:
            ends = await consumer.end_offsets(tps)
            behind = 0
            for tp in tps:
                behind += ends[tp] - (await consumer.committed(tp) or 0)
            return behind
        finally:
            await consumer.stop()

    return asyncio.run(count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    customers = args.records // 2
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    if not broker_answers(settings.kafka_bootstrap):
        LocalKafka().start()
    sf_port, cb_port = free_port(), free_port()
    sf, cb = f"http://127.0.0.1:{sf_port}", f"http://127.0.0.1:{cb_port}"
    group = f"{settings.topic_prefix}sync"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BRIDGE_TOPIC_PREFIX": settings.topic_prefix,
        "BRIDGE_LOG_LEVEL": "WARNING",
        "BRIDGE_SALESFORCE_LOGIN_URL": sf,
        "BRIDGE_SALESFORCE_INSTANCE_URL": sf,
        "BRIDGE_SALESFORCE_CLIENT_ID": "sandbox-client-id",
        "BRIDGE_SALESFORCE_CLIENT_SECRET": "sandbox-client-secret",
        "BRIDGE_SALESFORCE_USERNAME": "integration@bridge.sandbox",
        "BRIDGE_SALESFORCE_PASSWORD": "sandbox-password",
        "BRIDGE_SYNC_GROUP_ID": group,
        "BRIDGE_CHARGEBEE_API_URL": f"{cb}/api/v2",
        "BRIDGE_CHARGEBEE_API_KEY": DEFAULT_API_KEY,
    }
    env.pop("BRIDGE_ORB_API_KEY", None)
    procs = [
        start([*BRIDGE, "sandbox", "salesforce", "--port", str(sf_port)], env, sf_port),
        start([*BRIDGE, "sandbox", "chargebee", "--port", str(cb_port)], env, cb_port),
    ]
    try:
        began = time.perf_counter()
        loaded = httpx.post(
            f"{cb}/_sandbox/tenant",
            json={"seed": 1, "customers": customers, "history_months": 1},
            timeout=600,
        ).json()["loaded"]
        print(f"tenant: {loaded['customer']} customers loaded in {time.perf_counter() - began:.1f}s")
        sync = start([*BRIDGE, "sync"], env)
        procs.append(sync)
        sync_rss = PeakRss(sync.pid)
        time.sleep(3)  # let the idle sync join its group before events arrive
        began = time.perf_counter()
        backfill = subprocess.Popen(
            [*BRIDGE, "backfill", "--objects", "customer", "--json"], env=env, stdout=subprocess.PIPE
        )
        backfill_rss = PeakRss(backfill.pid)
        output, _ = backfill.communicate(timeout=900)
        published_after = time.perf_counter() - began
        backfill_peak = backfill_rss.stop()
        if backfill.returncode != 0:
            raise SystemExit(f"backfill failed ({backfill.returncode}): {output.decode()[-500:]}")
        while lag(settings, group) > 0 and time.perf_counter() - began < 900:
            time.sleep(0.5)
        settled_after = time.perf_counter() - began
        sync_peak = sync_rss.stop()
        counts = httpx.get(f"{sf}/_sandbox/counts", timeout=30).json()
        synced = sum(
            len(httpx.get(f"{sf}/_sandbox/records/{o}", timeout=120).json()) for o in ("Account", "Contact")
        )
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            proc.wait(30)
        asyncio.run(delete_topics_with_prefix(settings, settings.topic_prefix))
    print(
        f"backfill published {customers} customers in {published_after:.1f}s "
        f"({customers / published_after:.0f}/s)"
    )
    print(
        f"records in Salesforce: {synced} (Account + Contact); settled {settled_after:.1f}s after the "
        f"backfill started = {synced / settled_after:.0f} records/s"
    )
    calls = counts["by_kind"]
    print(
        f"Salesforce API calls: {counts['total']} {dict(calls)}; "
        f"per record: {counts['total'] / max(synced, 1):.4f}"
    )
    print(f"peak RSS: sync {sync_peak:.0f} MB, backfill {backfill_peak:.0f} MB")


if __name__ == "__main__":
    main()
