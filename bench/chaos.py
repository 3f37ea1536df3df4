"""Chaos run: the whole bridge as separate processes on its own broker and the sandboxes,
under a seeded vendor-like workload, while processes are killed, the broker restarts and the
APIs fail; then a scorecard of what was lost, duplicated, overwritten or echoed.

    python bench/chaos.py --seed 1 [--events 10000] [--rate 120] [--kill-every 10] [--json]

Exit code 1 when LOST, DUPLICATE CREATES, STALE OVERWRITES or ECHO WRITES is not 0; 2 when the
run hit `--max-seconds` or could not be set up.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chaos_cluster import BRIDGE, PARENT_RETRIES, ROLES, Cluster  # noqa: E402
from bench.chaos_compare import compare, dlq_classes, dlq_examples  # noqa: E402
from bench.chaos_humans import Humans  # noqa: E402
from bench.chaos_workload import Sender, Truth, workload  # noqa: E402
from bridge.events import decode_headers  # noqa: E402
from bridge.kafka import Topics, partitions_of  # noqa: E402
from bridge.ops.dlq import Selection  # noqa: E402
from bridge.ops.dlq import load as load_dead_letters  # noqa: E402
from bridge.ops.dlq import select as select_dead_letters  # noqa: E402
from bridge.ops.reading import TopicReader  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from consumers.parent_retry import CLASS as MISSING_PARENT  # noqa: E402
from consumers.parent_retry import has_redrive_left  # noqa: E402

MUST_BE_ZERO = ("lost", "duplicate_creates", "stale_overwrites", "echo_writes")


@dataclass
class Options:
    """One run's knobs (the CLI flags)."""

    seed: int = 1
    events: int = 10_000
    rate: float = 120.0
    kill_every: float = 10.0
    kills: int | None = None  # at most this many kills (None: every `kill_every` until sent)
    broker_restart: bool = True
    accounts: int = 20
    sf_timeout_ms: int = 31_000  # one Salesforce call answered after the client's 30 s timeout
    converge_timeout: float = 120.0
    quiet_seconds: float = 3.0
    max_seconds: float = 900.0
    keep_logs: bool = False


def salesforce_faults(timeout_ms: int) -> list[dict[str, Any]]:
    """One of each Salesforce fault kind the bridge must ride out."""
    faults: list[dict[str, Any]] = [
        {"kind": "server_error", "status": 503, "count": 3, "match": "collections"},
        {"kind": "server_error", "status": 500, "count": 2},
        {"kind": "unable_to_lock_row", "count": 3, "match": "collections"},
        {"kind": "unable_to_lock_row", "count": 2, "match": "collections", "per_record": True},
        {"kind": "request_limit_exceeded", "count": 2},
        {"kind": "drop", "count": 2, "match": "collections"},
        {"kind": "drop", "count": 2, "match": "collections", "after": True},
    ]
    if timeout_ms:
        faults.append({"kind": "latency", "count": 1, "latency_ms": timeout_ms, "match": "collections"})
    return faults


CHARGEBEE_FAULTS: list[dict[str, Any]] = [
    {"status": 503, "count": 2},
    {"status": 429, "retry_after": 2, "count": 2},
]


class Chaos:
    """Kills, the broker restart and fault injection while the workload is being sent."""

    def __init__(self, cluster: Cluster, opts: Options, truth: Truth) -> None:
        self.cluster = cluster
        self.opts = opts
        self.truth = truth
        self.rng = random.Random(opts.seed + 3)
        self.broker_away = 0.0
        self.answers_while_broker_down: dict[str, int] = {}
        self.faults_sent = 0

    async def run(self, sending: asyncio.Task[None], expected_seconds: float) -> None:
        http = httpx.AsyncClient(timeout=10)
        faults = [("salesforce", f) for f in salesforce_faults(self.opts.sf_timeout_ms)]
        faults += [("chargebee", f) for f in CHARGEBEE_FAULTS]
        plan = sorted((self.rng.uniform(0.05, 0.7) * expected_seconds, who, f) for who, f in faults)
        restart_at = 0.4 * expected_seconds if self.opts.broker_restart else None
        began = time.monotonic()
        next_kill = began + self.opts.kill_every
        kills = 0
        try:
            while not sending.done():
                now = time.monotonic()
                while plan and began + plan[0][0] <= now:
                    _, who, fault = plan.pop(0)
                    path = "/_sandbox/faults"
                    r = await http.post(f"{self.cluster.url(who)}{path}", json=fault)
                    r.raise_for_status()
                    self.faults_sent += 1
                if restart_at is not None and now - began >= restart_at:
                    restart_at = None
                    before = dict(self.truth.statuses)
                    self.broker_away = await asyncio.to_thread(self.cluster.restart_broker)
                    self.answers_while_broker_down = {
                        k: v - before.get(k, 0)
                        for k, v in self.truth.statuses.items()
                        if v != before.get(k, 0)
                    }
                await asyncio.to_thread(self.cluster.revive)
                if now >= next_kill and (self.opts.kills is None or kills < self.opts.kills):
                    await asyncio.to_thread(self.cluster.kill, self.rng.choice(ROLES))
                    kills += 1
                    next_kill = time.monotonic() + self.opts.kill_every
                await asyncio.sleep(0.2)
        finally:
            await http.aclose()


async def _lag(settings: Settings, group: str, topics: list[str]) -> int:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        total = 0
        for topic in topics:
            tps = await partitions_of(settings, topic)
            ends = await consumer.end_offsets(tps)
            for tp in tps:
                total += ends[tp] - (await consumer.committed(tp) or 0)
        return total
    finally:
        await consumer.stop()


async def quiesce(cluster: Cluster, opts: Options) -> tuple[float, bool]:
    """Wait until both consumer groups have no lag and Salesforce saw no call for a few seconds."""
    settings = cluster.settings
    topics = Topics.from_settings(settings)
    began = time.monotonic()
    last_calls, quiet_since = -1, time.monotonic()
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() - began < opts.converge_timeout:
            try:
                lag = await _lag(
                    settings, settings.sync_group_id, [topics.orb_events, topics.chargebee_events]
                )
                lag += await _lag(
                    settings, f"{settings.sync_group_id}-writeback", [topics.salesforce_changes]
                )
            except Exception:  # the group coordinator may still be loading after the restart
                lag = -1
            if await asyncio.to_thread(cluster.revive):
                lag = -1
            if lag == 0 and await _parents_awaited(settings):
                lag = -1  # a MissingParent letter still has a redrive to come
            calls = (await http.get(f"{cluster.url('salesforce')}/_sandbox/counts")).json()["total"]
            if calls != last_calls or lag != 0:
                last_calls, quiet_since = calls, time.monotonic()
            elif time.monotonic() - quiet_since >= opts.quiet_seconds:
                return quiet_since - began, True
            await asyncio.sleep(0.5)
    return time.monotonic() - began, False


async def _parents_awaited(settings: Settings) -> bool:
    """Whether a MissingParent dead letter still has an automatic redrive to come."""
    try:
        letters = await select_dead_letters(settings, "sync", Selection(classes=(MISSING_PARENT,)))
    except Exception:  # the broker may still be coming back
        return True
    return any(has_redrive_left(x, PARENT_RETRIES) for x in letters)


async def _read(settings: Settings, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    async with TopicReader(settings, topic) as reader:
        return [(r.value, decode_headers(r.headers)) async for r in reader.read_all()]


async def _billing(humans: Humans, http: httpx.AsyncClient) -> dict[str, Any]:
    from bench.chaos_cluster import CB_API_KEY

    out: dict[str, Any] = {}
    for deal in humans.deals:
        r = await http.get(
            f"{humans.cb}/api/v2/customers/{deal.customer}", auth=httpx.BasicAuth(CB_API_KEY, "")
        )
        customer = r.json().get("customer", {})
        out[deal.customer] = {
            "city": (customer.get("billing_address") or {}).get("city"),
            "subscriptions": await humans.subscriptions(http, deal.customer),
        }
    return out


async def _wait_ready(cluster: Cluster) -> None:
    async with httpx.AsyncClient(timeout=5) as http:
        for name in ("receiver-1", "receiver-2"):
            for _ in range(150):
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{cluster.url(name)}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.2)


async def backfill_catalog(
    cluster: Cluster, http: httpx.AsyncClient, prices: int, timeout: float = 120.0
) -> None:
    """`bridge backfill` of the Chargebee catalog, as a deployment's initial full sync does.

    The site's plans existed before the bridge was connected, so no webhook ever carries them;
    without them in Salesforce the subscriptions of won Opportunities could not point at their
    item prices and would be dead-lettered.
    """
    cmd = [*BRIDGE, "backfill", "--objects", "item,item_price", "--json"]
    done = await asyncio.to_thread(
        subprocess.run, cmd, env=cluster.env(), capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise RuntimeError(f"catalog backfill failed ({done.returncode}): {done.stderr[-2000:]}")
    deadline = time.monotonic() + timeout
    sf = cluster.url("salesforce")
    while time.monotonic() < deadline:
        rows = (await http.get(f"{sf}/_sandbox/records/CB_Item_Price__c")).json()
        if len(rows) >= prices:
            return
        await asyncio.sleep(0.5)
    raise RuntimeError(f"catalog backfill: {prices} item prices published, not all in Salesforce")


async def run_chaos(opts: Options) -> dict[str, Any]:
    """Run once and return the scorecard."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"bridge-chaos-{opts.seed}-"))
    cluster = Cluster(run_dir=run_dir, seed=opts.seed)
    began = time.monotonic()
    try:
        await asyncio.to_thread(cluster.start_all)
        await _wait_ready(cluster)
        return await _run(cluster, opts, began)
    finally:
        await asyncio.to_thread(cluster.stop, opts.keep_logs)


async def _run(cluster: Cluster, opts: Options, began: float) -> dict[str, Any]:
    sf = cluster.url("salesforce")
    http = httpx.AsyncClient(timeout=60)
    humans = Humans(sf, cluster.url("chargebee"), opts.seed)
    if opts.accounts:
        prices = await humans.load_catalog(http)
        await backfill_catalog(cluster, http, prices)
        await humans.setup(http, cluster.url("receiver-1"), opts.accounts)
    setup_seconds = time.monotonic() - began
    await http.post(f"{sf}/_sandbox/counts/reset")
    deliveries = workload(opts.seed, opts.events)
    truth = Truth()
    sender = Sender([cluster.url("receiver-1"), cluster.url("receiver-2")], truth, opts.seed)
    expected = len(deliveries) / opts.rate
    sending = asyncio.create_task(sender.run(deliveries, opts.rate))
    chaos = Chaos(cluster, opts, truth)
    await asyncio.gather(sending, chaos.run(sending, expected), humans.play(http, expected * 0.8))
    sent_at = time.monotonic()
    converge, settled = await quiesce(cluster, opts)
    settings = cluster.settings
    topics = Topics.from_settings(settings)
    records = (await http.get(f"{sf}/_sandbox/records")).json()
    cdc = (await http.get(f"{sf}/_sandbox/events")).json()
    counts = (await http.get(f"{sf}/_sandbox/counts")).json()
    integration = (await http.post(f"{sf}/_sandbox/users", json={"name": "Integration User"})).json()["id"]
    # Faults the bridge never met must not hit the driver's own reads.
    cb_faults = (await http.get(f"{cluster.url('chargebee')}/_sandbox/faults")).json()
    await http.delete(f"{cluster.url('chargebee')}/_sandbox/faults")
    billing = await _billing(humans, http)
    await http.aclose()
    changes = [orjson.loads(v) for v, _ in await _read(settings, topics.salesforce_changes)]
    found = compare(truth, records, cdc, humans, billing, integration, changes)
    if opts.keep_logs:  # what the comparison saw, for a post-mortem next to the process logs
        for name, data in {"records": records, "cdc": cdc, "changes": changes, "billing": billing}.items():
            (cluster.run_dir / f"{name}.json").write_bytes(orjson.dumps(data, default=str))
    # Dead letters a person must look at: the ones the sync redrove itself are counted apart.
    letters = await load_dead_letters(settings, None, include_handled=True)
    sync_dlq = [x.headers for x in letters if x.handled is None and x.dlq_topic == topics.sync_dlq]
    writeback_dlq = [x.headers for x in letters if x.handled is None and x.dlq_topic == topics.writeback_dlq]
    writes = sum(v for k, v in counts["by_kind"].items() if k.startswith("collections"))
    synced = len(truth.acked)
    card: dict[str, Any] = {
        "seed": opts.seed,
        "events_sent": truth.sent,
        "http_attempts": truth.attempts,
        "acknowledged": truth.acknowledged,
        "vendor_gave_up": truth.gave_up,
        "answers": dict(sorted(truth.statuses.items())),
        "records": synced,
        "applied": found.applied,
        "lost": len(found.lost),
        "duplicate_creates": len(found.duplicate_creates),
        "stale_overwrites": len(found.stale_overwrites),
        "echo_writes": len(found.echo_writes),
        "dlq": {"sync": dlq_classes(sync_dlq), "writeback": dlq_classes(writeback_dlq)},
        "dlq_examples": dlq_examples(sync_dlq + writeback_dlq),
        "dlq_redriven_by_sync": dlq_classes([x.headers for x in letters if x.handled == "redriven"]),
        "crashes": dict(cluster.crashes),
        "salesforce_write_calls": writes,
        "salesforce_calls": counts["total"],
        "api_calls_per_record": round(counts["total"] / synced, 4) if synced else 0.0,
        "write_calls_per_record": round(writes / synced, 4) if synced else 0.0,
        "writeback": {
            "accounts": len(humans.deals),
            "edits": humans.edits,
            "applied": found.writeback_applied,
        },
        "kills": dict(cluster.kills),
        "broker_restart_seconds": round(chaos.broker_away, 1),
        "answers_while_broker_restarted": chaos.answers_while_broker_down,
        "faults_injected": {
            "salesforce": counts["faults_injected"],
            "chargebee_left": len(cb_faults["faults"]),
        },
        "converged": settled,
        "time_to_converge_seconds": round(converge, 1),
        "sending_seconds": round(sent_at - began - setup_seconds, 1),
        "total_seconds": round(time.monotonic() - began, 1),
        "examples": {
            "lost": found.lost[:5],
            "duplicate_creates": found.duplicate_creates[:5],
            "stale_overwrites": found.stale_overwrites[:5],
            "echo_writes": found.echo_writes[:5],
        },
    }
    return card


def failed(card: dict[str, Any]) -> bool:
    """True when a must-be-zero figure is not zero or the run did not settle."""
    return any(card[k] for k in MUST_BE_ZERO) or not card["converged"]


def render(card: dict[str, Any]) -> str:
    """The scorecard as aligned text lines."""
    lines = [f"chaos scorecard (seed {card['seed']})"]
    for key, value in card.items():
        if key == "seed":
            continue
        mark = "  <-- must be 0" if key in MUST_BE_ZERO and value else ""
        lines.append(f"  {key:<32} {json.dumps(value, default=sorted)}{mark}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events", type=int, default=10_000, help="billing webhooks to deliver")
    parser.add_argument("--rate", type=float, default=120.0, help="deliveries per second")
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kill -9s")
    parser.add_argument("--accounts", type=int, default=20, help="Accounts people edit and win")
    parser.add_argument("--no-broker-restart", action="store_true")
    parser.add_argument("--sf-timeout-ms", type=int, default=31_000, help="0: no Salesforce timeout fault")
    parser.add_argument("--max-seconds", type=float, default=900.0, help="hard wall-clock cap")
    parser.add_argument("--keep-logs", action="store_true", help="keep process logs in the run dir")
    parser.add_argument("--json", action="store_true", help="print the scorecard as JSON")
    args = parser.parse_args()
    opts = Options(
        seed=args.seed,
        events=args.events,
        rate=args.rate,
        kill_every=args.kill_every,
        broker_restart=not args.no_broker_restart,
        accounts=args.accounts,
        sf_timeout_ms=args.sf_timeout_ms,
        max_seconds=args.max_seconds,
        keep_logs=args.keep_logs,
    )
    try:
        card = asyncio.run(asyncio.wait_for(run_chaos(opts), opts.max_seconds))
    except TimeoutError:
        print(f"chaos run exceeded --max-seconds {opts.max_seconds:.0f}", file=sys.stderr)
        raise SystemExit(2) from None
    print(json.dumps(card, default=sorted, indent=2) if args.json else render(card))
    raise SystemExit(1 if failed(card) else 0)


if __name__ == "__main__":
    main()
