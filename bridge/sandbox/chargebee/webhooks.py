"""Webhook delivery as Chargebee does it: JSON event bodies, HTTP Basic auth, bounded retries.

Delivery is at-least-once. With `out_of_order` set, each batch of waiting events is shuffled
(seeded) and some events are sent twice, so receivers' de-duplication and version guards get
exercised; pausing, queueing and resuming makes a batch (and so the order) deterministic.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

Json = dict[str, Any]

# Chargebee retries a failed delivery 7 times: +2 min, +6 min, +30 min, +1 h, +5 h, +1 day, +2 days.
CHARGEBEE_RETRY_DELAYS: tuple[float, ...] = (120, 360, 1800, 3600, 18000, 86400, 172800)


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where events go, and the Basic-auth credentials Chargebee sends there."""

    url: str
    username: str | None = None
    password: str | None = None
    id: str = "whv2_sandbox"


@dataclass
class Delivery:
    """One copy of one event on its way to one endpoint (a duplicate is its own delivery)."""

    delivery_id: int
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    duplicate: bool
    endpoint: WebhookEndpoint = field(repr=False)
    status: str = "pending"  # pending | succeeded | retrying | failed
    attempts: int = 0
    last_http_status: int | None = None
    last_error: str | None = None
    body: bytes = field(default=b"", repr=False)

    def as_json(self) -> Json:
        """The control API's view of this delivery."""
        return {
            "delivery_id": self.delivery_id,
            "event_id": self.event_id,
            "event_type": self.event_type,
            "endpoint_id": self.endpoint_id,
            "url": self.url,
            "duplicate": self.duplicate,
            "status": self.status,
            "attempts": self.attempts,
            "last_http_status": self.last_http_status,
            "last_error": self.last_error,
        }


class WebhookDispatcher:
    """Queues events, sends them in a background task, retries failures with Chargebee's schedule."""

    def __init__(
        self,
        endpoints: list[WebhookEndpoint] | None = None,
        *,
        out_of_order: bool = False,
        duplicate_rate: float = 0.25,
        seed: int = 0,
        retry_delays: tuple[float, ...] = CHARGEBEE_RETRY_DELAYS,
        timeout: float = 5.0,
    ) -> None:
        self.endpoints = list(endpoints or [])
        self.out_of_order = out_of_order
        self.duplicate_rate = duplicate_rate
        self.retry_delays = retry_delays
        self.timeout = timeout
        self.paused = False
        self.deliveries: list[Delivery] = []
        self._seed = seed
        self._rng = random.Random(seed)
        self._queue: list[tuple[Json, WebhookEndpoint]] = []
        self._wakeup = asyncio.Event()
        self._running = asyncio.Event()  # cleared while paused, so retries wait too
        self._running.set()
        self._outstanding = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._worker: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.on_status: list[Callable[[str, str, str], None]] = []

    def configure(
        self,
        *,
        out_of_order: bool | None = None,
        duplicate_rate: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Change the delivery mode; a new seed restarts the shuffle sequence."""
        if out_of_order is not None:
            self.out_of_order = out_of_order
        if duplicate_rate is not None:
            self.duplicate_rate = duplicate_rate
        if seed is not None:
            self._seed = seed
            self._rng = random.Random(seed)

    async def start(self) -> None:
        """Start the sender (called from the app's lifespan)."""
        self._client = httpx.AsyncClient(timeout=self.timeout)
        self._worker = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Stop sending; queued and retrying deliveries are dropped."""
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            task.cancel()
        for task in [*self._tasks, *([self._worker] if self._worker else [])]:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.aclose()

    def reset(self) -> None:
        """Forget queued events and the delivery log (endpoints and mode stay)."""
        for task in self._tasks:
            task.cancel()
        self._queue.clear()
        self.deliveries.clear()
        self._outstanding = 0
        self._idle.set()
        self._rng = random.Random(self._seed)

    def enqueue(self, event: Json) -> None:
        """Schedule `event` for every endpoint."""
        for endpoint in self.endpoints:
            self._queue.append((event, endpoint))
            self._outstanding += 1
        if self._queue:
            self._idle.clear()
            self._wakeup.set()

    def pause(self) -> None:
        """Hold deliveries in the queue (events keep being recorded)."""
        self.paused = True
        self._running.clear()

    def resume(self) -> None:
        """Send everything held, as one batch."""
        self.paused = False
        self._running.set()
        self._wakeup.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Wait until nothing is queued, in flight or waiting to retry; False after `seconds`."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            if self.paused or not self._queue:
                continue
            batch, self._queue = self._queue, []
            for delivery in self._plan(batch):
                await self._attempt(delivery)

    def _plan(self, batch: list[tuple[Json, WebhookEndpoint]]) -> list[Delivery]:
        deliveries = [self._new_delivery(event, endpoint, duplicate=False) for event, endpoint in batch]
        if not self.out_of_order or not deliveries:
            return deliveries
        order = list(deliveries)
        self._rng.shuffle(order)
        if len(order) > 1 and order == deliveries:
            order = order[1:] + order[:1]  # a shuffle that changed nothing would hide the mode
        copies = max(1, round(self.duplicate_rate * len(order))) if self.duplicate_rate > 0 else 0
        for original in self._rng.sample(deliveries, min(copies, len(deliveries))):
            copy = self._new_delivery_from(original)
            position = order.index(original)
            order.insert(self._rng.randint(position + 1, len(order)), copy)
        return order

    def _new_delivery(self, event: Json, endpoint: WebhookEndpoint, *, duplicate: bool) -> Delivery:
        delivery = Delivery(
            delivery_id=len(self.deliveries) + 1,
            event_id=event["id"],
            event_type=event["event_type"],
            endpoint_id=endpoint.id,
            url=endpoint.url,
            duplicate=duplicate,
            endpoint=endpoint,
            body=orjson.dumps(event),
        )
        self.deliveries.append(delivery)
        return delivery

    def _new_delivery_from(self, original: Delivery) -> Delivery:
        self._outstanding += 1
        copy = Delivery(
            delivery_id=len(self.deliveries) + 1,
            event_id=original.event_id,
            event_type=original.event_type,
            endpoint_id=original.endpoint_id,
            url=original.url,
            duplicate=True,
            endpoint=original.endpoint,
            body=original.body,
        )
        self.deliveries.append(copy)
        return copy

    async def _attempt(self, delivery: Delivery) -> None:
        endpoint = delivery.endpoint
        assert self._client is not None
        delivery.attempts += 1
        headers = {"Content-Type": "application/json", "User-Agent": "ChargeBee"}
        if endpoint.username is not None:
            credentials = f"{endpoint.username}:{endpoint.password or ''}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
        try:
            response = await self._client.post(
                endpoint.url,
                content=delivery.body,
                headers=headers,
            )
            delivery.last_http_status = response.status_code
            delivery.last_error = None if response.is_success else response.text[:200]
            ok = response.is_success
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            ok = False
        if ok:
            self._finish(delivery, "succeeded")
        elif delivery.attempts <= len(self.retry_delays):
            delivery.status = "retrying"
            self._report(delivery, "re_scheduled")
            task = asyncio.create_task(self._retry_later(delivery, self.retry_delays[delivery.attempts - 1]))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        else:
            self._finish(delivery, "failed")

    async def _retry_later(self, delivery: Delivery, delay: float) -> None:
        await asyncio.sleep(delay)
        await self._running.wait()
        await self._attempt(delivery)

    def _finish(self, delivery: Delivery, status: str) -> None:
        delivery.status = status
        self._report(delivery, status)
        self._outstanding -= 1
        if self._outstanding <= 0 and not self._queue:
            self._outstanding = 0
            self._idle.set()

    def _report(self, delivery: Delivery, webhook_status: str) -> None:
        for callback in self.on_status:
            callback(delivery.event_id, delivery.endpoint_id, webhook_status)
