"""One emulated Chargebee site: its state, clock, webhook sender, idempotency memory and faults,
and the one place where events are recorded and handed to the webhook sender."""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field

from bridge.sandbox.chargebee.clock import SandboxClock
from bridge.sandbox.chargebee.faults import Faults
from bridge.sandbox.chargebee.idempotency import IdempotencyStore
from bridge.sandbox.chargebee.objects import Json
from bridge.sandbox.chargebee.store import Store
from bridge.sandbox.chargebee.tenant import Tenant
from bridge.sandbox.chargebee.webhooks import WebhookDispatcher


@dataclass
class Site:
    """Everything one sandbox app serves."""

    name: str
    api_key: str
    clock: SandboxClock
    store: Store
    webhooks: WebhookDispatcher
    faults: Faults
    idempotency: IdempotencyStore = field(default_factory=IdempotencyStore)
    api_user: str = "full_access_key_v1"
    seed: int = 0

    def __post_init__(self) -> None:
        self.actions_rng = random.Random(self.seed)
        self.webhooks.on_status.append(self._record_webhook_status)

    def now(self) -> int:
        """Sandbox time in whole seconds, as Chargebee timestamps are."""
        return int(self.clock.now())

    def emit(self, event_type: str, content: Json, *, source: str = "api") -> Json:
        """Record an event (content frozen as of now) and schedule its webhooks."""
        hooks = [
            {"id": e.id, "webhook_status": "scheduled", "object": "webhook"} for e in self.webhooks.endpoints
        ]
        event: Json = {
            "id": self.store.new_id("ev_"),
            "occurred_at": self.now(),
            "source": source,
            "object": "event",
            "api_version": "v2",
            "event_type": event_type,
            "content": copy.deepcopy(content),
            "webhook_status": "scheduled" if hooks else "not_configured",
            "webhooks": hooks,
        }
        if source == "api":
            event["user"] = self.api_user
        self.store.events.append(event)
        self.store.events_by_id[event["id"]] = event
        self._sequence_event(event)
        self.webhooks.enqueue(event)
        return event

    def _sequence_event(self, event: Json) -> None:
        # Events list by occurred_at; the sequence breaks ties in creation order.
        self.store.order.setdefault("event", {})[event["id"]] = len(self.store.events)

    def reset(self) -> None:
        """Empty site, empty idempotency memory and delivery log; faults cleared."""
        self.store.reset()
        self.idempotency.clear()
        self.faults.clear()
        self.webhooks.reset()
        self.actions_rng = random.Random(self.seed)

    def load(self, tenant: Tenant) -> dict[str, int]:
        """Put a generated tenant in the store as it is (no events: it existed before)."""
        for kind, rows in tenant.by_kind().items():
            for obj in rows:
                self.store.save(kind, obj, stamp=False)
        self.store.bump_numbers("invoice", max((int(i["id"]) for i in tenant.invoices), default=1000))
        self.store.bump_numbers("credit_note", len(tenant.credit_notes))
        self.store.bump_numbers("quote", len(tenant.quotes))
        self.store.observe_version(int(self.clock.now() * 1000))
        return self.store.counts()

    def _record_webhook_status(self, event_id: str, endpoint_id: str, status: str) -> None:
        event = self.store.events_by_id.get(event_id)
        if event is None:
            return
        for hook in event["webhooks"]:
            if hook["id"] == endpoint_id:
                hook["webhook_status"] = status
        statuses = {hook["webhook_status"] for hook in event["webhooks"]}
        for overall in ("failed", "re_scheduled", "scheduled"):
            if overall in statuses:
                event["webhook_status"] = overall
                break
        else:
            event["webhook_status"] = "succeeded"
