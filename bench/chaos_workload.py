"""The chaos run's billing side: a seeded stream of Orb and Chargebee webhooks, delivered the
way the vendors deliver them, and the ground truth of what was acknowledged.

Each record goes through versions v1…vN (the record's name says which: `<id> v<k>`). Some
deliveries are repeated with the same event id (vendor retries), some older versions are sent
after newer ones (out of order). Every non-2xx answer or broken connection is retried with
backoff, as Orb and Chargebee do; only a 2xx makes a version part of the truth.
"""

from __future__ import annotations

import asyncio
import base64
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson

from bench.chaos_cluster import CB_PASSWORD, CB_USER, ORB_SECRET
from bridge.sandbox import payloads as p
from bridge.sources.orb import sign

VERSIONS = 4


@dataclass(frozen=True)
class Delivery:
    """One webhook a vendor sends: which record, which version, and the body."""

    source: str  # "orb" | "chargebee"
    record: str  # the billing customer id
    version: int  # 1…VERSIONS
    body: bytes
    note: str = ""  # "", "duplicate", "out-of-order"


def name_of(record: str, version: int) -> str:
    """The value a version writes into Salesforce's Name: the version is readable back."""
    return f"{record} v{version}"


def version_in(name: Any) -> int | None:
    """The version a Name says, or None when it is not one of ours."""
    if not isinstance(name, str) or " v" not in name:
        return None
    tail = name.rsplit(" v", 1)[1]
    return int(tail) if tail.isdigit() else None


def _orb(record: str, version: int, base: datetime) -> bytes:
    customer = p.orb_customer(record, name=name_of(record, version), email=f"{record}@chaos.test")
    kind = "customer.created" if version == 1 else "customer.edited"
    at = (base + timedelta(seconds=version)).isoformat()
    return orjson.dumps(
        p.orb_event(kind, event_id=f"evt_{record}_{version}", created_at=at, customer=customer)
    )


def _chargebee(record: str, version: int, base: datetime) -> bytes:
    t = int(base.timestamp()) + version
    customer = p.cb_customer(
        record, company=name_of(record, version), email=f"{record}@chaos.test", resource_version=t * 1000
    )
    kind = "customer_created" if version == 1 else "customer_changed"
    return orjson.dumps(p.cb_event(kind, event_id=f"ev_{record}_{version}", occurred_at=t, customer=customer))


def workload(
    seed: int, events: int, duplicate_share: float = 0.05, late_share: float = 0.05
) -> list[Delivery]:
    """About `events` deliveries over both vendors, seeded; duplicates and late versions included."""
    rng = random.Random(seed)
    base = datetime.now(UTC) - timedelta(hours=1)
    records = max(2, round(events / (VERSIONS * (1 + duplicate_share + late_share))))
    streams: list[list[Delivery]] = []
    for i in range(records):
        source = "orb" if i % 2 == 0 else "chargebee"
        record = f"cus_s{seed}_{i}" if source == "orb" else f"cb_s{seed}_{i}"
        build = _orb if source == "orb" else _chargebee
        stream = [Delivery(source, record, v, build(record, v, base)) for v in range(1, VERSIONS + 1)]
        extra: list[Delivery] = []
        for d in stream:
            if rng.random() < duplicate_share:
                extra.append(Delivery(d.source, d.record, d.version, d.body, "duplicate"))
        if rng.random() < late_share * VERSIONS:
            old = stream[rng.randrange(VERSIONS - 1)]
            extra.append(Delivery(old.source, old.record, old.version, old.body, "out-of-order"))
        streams.append(stream + extra)
    # Interleave the records at random, keeping each record's own deliveries in their order, so
    # a late version really arrives after the newer ones.
    out: list[Delivery] = []
    cursors = [0] * len(streams)
    live = list(range(len(streams)))
    while live:
        k = rng.randrange(len(live))
        s = live[k]
        out.append(streams[s][cursors[s]])
        cursors[s] += 1
        if cursors[s] == len(streams[s]):
            live[k] = live[-1]
            live.pop()
    return out


@dataclass
class Truth:
    """What the vendors know: per record, the newest version a receiver acknowledged."""

    acked: dict[tuple[str, str], int] = field(default_factory=dict)
    sent: int = 0
    acknowledged: int = 0
    attempts: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0

    def ack(self, d: Delivery) -> None:
        key = (d.source, d.record)
        self.acked[key] = max(self.acked.get(key, 0), d.version)
        self.acknowledged += 1


class Sender:
    """Delivers webhooks like a vendor: signed (Orb) or Basic auth (Chargebee), spread over the
    receivers, retried with backoff on anything but 2xx."""

    def __init__(self, receivers: list[str], truth: Truth, seed: int, give_up_after: float = 120.0) -> None:
        self.receivers = receivers
        self.truth = truth
        self.rng = random.Random(seed + 1)
        self.give_up_after = give_up_after
        self.basic = "Basic " + base64.b64encode(f"{CB_USER}:{CB_PASSWORD}".encode()).decode()

    def _headers(self, d: Delivery) -> dict[str, str]:
        if d.source == "orb":
            ts = datetime.now(UTC).isoformat()
            return {
                "Content-Type": "application/json",
                "X-Orb-Timestamp": ts,
                "X-Orb-Signature": f"v1={sign(ORB_SECRET, ts, d.body)}",
            }
        return {"Content-Type": "application/json", "Authorization": self.basic}

    async def deliver(self, client: httpx.AsyncClient, d: Delivery) -> bool:
        """Send until a 2xx (True) or the vendor gives up (False)."""
        self.truth.sent += 1
        began = time.monotonic()
        first = self.rng.randrange(len(self.receivers))
        attempt = 0
        while True:
            url = self.receivers[(first + attempt) % len(self.receivers)]
            self.truth.attempts += 1
            try:
                r = await client.post(f"{url}/webhooks/{d.source}", content=d.body, headers=self._headers(d))
                self.truth.statuses[str(r.status_code)] += 1
                if 200 <= r.status_code < 300:
                    self.truth.ack(d)
                    return True
            except httpx.HTTPError as exc:
                self.truth.statuses[type(exc).__name__] += 1
            attempt += 1
            if time.monotonic() - began > self.give_up_after:
                self.truth.gave_up += 1
                return False
            await asyncio.sleep(min(0.1 * 2**attempt, 2.0) * (0.5 + self.rng.random()))

    async def run(self, deliveries: list[Delivery], rate: float, connections: int = 32) -> None:
        """Deliver everything at about `rate` per second over `connections` concurrent senders."""
        queue: asyncio.Queue[tuple[float, Delivery]] = asyncio.Queue()
        began = time.monotonic()
        for n, d in enumerate(deliveries):
            queue.put_nowait((began + n / rate, d))

        async def worker(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                due, d = queue.get_nowait()
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await self.deliver(client, d)

        limits = httpx.Limits(max_connections=connections)
        async with httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=3.0), limits=limits) as client:
            await asyncio.gather(*(worker(client) for _ in range(connections)))
