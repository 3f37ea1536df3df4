"""Webhook delivery as Orb does it: one signed POST per event and endpoint, in order per
customer, retried with exponential backoff on any non-2xx answer or network error.

Signature: `X-Orb-Timestamp` (ISO 8601, UTC, no zone) and `X-Orb-Signature: v1=<hex>` where
hex = HMAC-SHA256(secret, "v1:{timestamp}:{body}"). The timestamp is the wall clock at each
attempt (receivers reject one more than 5 minutes off), not the sandbox clock.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import orjson

from bridge.sandbox.orb import objects as o

PayloadStyle = Literal["expanded", "standard"]
OBJECT_KINDS = ("customer", "subscription", "invoice", "credit_note")


@dataclass(frozen=True)
class Endpoint:
    """Where events go, the secret they are signed with (several, comma separated, during a
    rotation: one `v1=` value each), and the payload style."""

    url: str
    secret: str
    payload_style: PayloadStyle = "expanded"


@dataclass
class Delivery:
    """One event on its way to one endpoint, with what happened so far."""

    id: str
    event_id: str
    event_type: str
    customer_id: str
    endpoint: Endpoint
    body: bytes
    created_at: str
    status: Literal["pending", "retrying", "delivered", "failed"] = "pending"
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def summary(self, with_body: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "customer_id": self.customer_id,
            "endpoint_url": self.endpoint.url,
            "payload_style": self.endpoint.payload_style,
            "status": self.status,
            "attempts": self.attempts,
            "last_status_code": self.last_status_code,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
            "history": self.history,
        }
        if with_body:
            out["body"] = orjson.loads(self.body)
        return out


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Orb's v1 signature: hex HMAC-SHA256 over `v1:{timestamp}:{body}`."""
    message = b"v1:" + timestamp.encode() + b":" + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def render(event: dict[str, Any], style: PayloadStyle) -> bytes:
    """The event body an endpoint of this style receives."""
    if style == "expanded":
        return orjson.dumps(event)
    body = dict(event, payload_style="standard")
    for kind in OBJECT_KINDS:
        if isinstance(body.get(kind), dict):
            body[kind] = o.standard(kind, body[kind])
    return orjson.dumps(body)


def wall_timestamp() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


class Dispatcher:
    """Queues events per (endpoint, customer) and delivers each lane in order, in the
    background; `pause()` holds every lane before its next attempt."""

    def __init__(
        self,
        endpoints: list[Endpoint],
        *,
        max_attempts: int = 8,
        backoff_seconds: float = 10.0,
        max_backoff_seconds: float = 3600.0,
        timeout_seconds: float = 10.0,
        keep: int = 50_000,
    ) -> None:
        self.endpoints = list(endpoints)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self.timeout_seconds = timeout_seconds
        self.deliveries: deque[Delivery] = deque(maxlen=keep)
        self._by_id: dict[str, Delivery] = {}
        self._lanes: dict[tuple[int, str], deque[Delivery]] = {}
        self._tasks: dict[tuple[int, str], asyncio.Task[None]] = {}
        self._running = asyncio.Event()
        self._running.set()
        self._client: httpx.AsyncClient | None = None
        self._seq = 0

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def pause(self) -> None:
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def submit(self, event: dict[str, Any], customer_id: str) -> None:
        """Queue the event for every endpoint (called by the store on each change)."""
        for index, endpoint in enumerate(self.endpoints):
            self._seq += 1
            delivery = Delivery(
                id=f"dlv_{self._seq:08d}",
                event_id=event["id"],
                event_type=event["type"],
                customer_id=customer_id,
                endpoint=endpoint,
                body=render(event, endpoint.payload_style),
                created_at=event["created_at"],
            )
            if len(self.deliveries) == self.deliveries.maxlen:
                self._by_id.pop(self.deliveries[0].id, None)
            self.deliveries.append(delivery)
            self._by_id[delivery.id] = delivery
            key = (index, customer_id)
            self._lanes.setdefault(key, deque()).append(delivery)
            self._start(key)

    def get(self, delivery_id: str) -> Delivery | None:
        return self._by_id.get(delivery_id)

    def _start(self, key: tuple[int, str]) -> None:
        if key in self._tasks:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop yet (building a tenant synchronously): `kick()` starts it later
        self._tasks[key] = loop.create_task(self._drain(key))

    def kick(self) -> None:
        """Start lanes queued while no event loop was running."""
        for key, lane in self._lanes.items():
            if lane:
                self._start(key)

    async def _drain(self, key: tuple[int, str]) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                await self._deliver(lane[0])
                lane.popleft()
        finally:
            self._tasks.pop(key, None)
            if not lane:
                self._lanes.pop(key, None)

    async def _deliver(self, delivery: Delivery) -> None:
        while True:
            await self._running.wait()
            delivery.attempts += 1
            timestamp = wall_timestamp()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Orb-Webhooks (bridge sandbox)",
                "X-Orb-Timestamp": timestamp,
                "X-Orb-Signature": " ".join(
                    f"v1={sign(secret.strip(), timestamp, delivery.body)}"
                    for secret in delivery.endpoint.secret.split(",")
                ),
            }
            code: int | None = None
            error: str | None = None
            try:
                resp = await self._http().post(delivery.endpoint.url, content=delivery.body, headers=headers)
                code = resp.status_code
            except httpx.HTTPError as exc:
                error = f"{type(exc).__name__}: {exc}"
            delivery.last_status_code, delivery.last_error = code, error
            delivery.history.append({"at": timestamp, "status_code": code, "error": error})
            if code is not None and 200 <= code < 300:
                delivery.status = "delivered"
                delivery.delivered_at = timestamp
                return
            if delivery.attempts >= self.max_attempts:
                delivery.status = "failed"
                return
            delivery.status = "retrying"
            delay = min(self.backoff_seconds * 2 ** (delivery.attempts - 1), self.max_backoff_seconds)
            await asyncio.sleep(delay)

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_seconds)
        return self._client

    @property
    def outstanding(self) -> int:
        """Deliveries queued or being retried."""
        return sum(len(lane) for lane in self._lanes.values())

    async def settle(self, timeout: float = 10.0) -> bool:
        """Wait until no lane has work left (or `timeout` passes); True if all settled."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._tasks and asyncio.get_running_loop().time() < deadline:
            await asyncio.wait(list(self._tasks.values()), timeout=0.05)
        return not self._tasks

    def clear(self) -> None:
        """Drop queued work and history (reset)."""
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()
        self._lanes.clear()
        self.deliveries.clear()
        self._by_id.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks.values()):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
            self._client = None
