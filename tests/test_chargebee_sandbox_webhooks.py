"""Chargebee sandbox webhooks: Basic auth, SDK-parseable envelopes, retries, and the
out-of-order/duplicate delivery mode."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager

import orjson
import pytest
from chargebee import Chargebee
from chargebee_sandbox_support import (
    WEBHOOK_PASSWORD,
    WEBHOOK_USER,
    Receiver,
    control,
    sdk,
    serve,
    wait_for_webhooks,
)

from bridge.sandbox.chargebee.app import create_app
from bridge.sandbox.chargebee.webhooks import WebhookEndpoint

FAST_RETRIES = (0.01, 0.02, 0.03)


@contextmanager
def sandbox_with_receiver(receiver: Receiver, **options: object) -> Iterator[str]:
    with serve(receiver.app()) as hooks_url:
        endpoint = WebhookEndpoint(f"{hooks_url}/hooks", WEBHOOK_USER, WEBHOOK_PASSWORD)
        app = create_app(webhook_endpoints=[endpoint], retry_delays=FAST_RETRIES, **options)  # type: ignore[arg-type]
        with serve(app) as url:
            yield url


@pytest.fixture(autouse=True)
def _plain_http_sdk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Chargebee, "verify_ca_certs", False)


def _bodies(receiver: Receiver) -> list[dict[str, object]]:
    return [orjson.loads(body) for _, body in receiver.requests]


def test_webhook_arrives_with_basic_auth_and_parses_with_sdk_event_model() -> None:
    receiver = Receiver()
    with sandbox_with_receiver(receiver) as url:
        cb = sdk(url)
        created = cb.Customer.create({"first_name": "Hook", "company": "Acme"}).customer
        wait_for_webhooks(url)
    assert len(receiver.requests) == 1
    headers, body = receiver.requests[0]
    expected = base64.b64encode(f"{WEBHOOK_USER}:{WEBHOOK_PASSWORD}".encode()).decode()
    assert headers["authorization"] == f"Basic {expected}"
    event = cb.Event.deserialize(body.decode())
    assert event.event_type == "customer_created"
    assert event.api_version == "v2"
    assert event.raw_data["object"] == "event"
    assert event.source == "api"
    assert event.content["customer"]["id"] == created.id
    assert event.content["customer"]["resource_version"] == created.resource_version
    assert isinstance(event.occurred_at, int)


def test_failed_delivery_is_retried_until_the_endpoint_accepts() -> None:
    receiver = Receiver(fail_first=2)
    with sandbox_with_receiver(receiver) as url:
        sdk(url).Customer.create({"first_name": "Retry"})
        wait_for_webhooks(url)
        deliveries = control(url, "GET", "/deliveries").json()["deliveries"]
        event = sdk(url).Event.list().list[0].event
    assert len(receiver.requests) == 3
    assert len({body for _, body in receiver.requests}) == 1, "every retry sends the same event"
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("succeeded", 3)]
    assert event.webhook_status == "succeeded"
    assert event.webhooks[0].webhook_status == "succeeded"


def test_delivery_gives_up_after_the_bounded_retries() -> None:
    receiver = Receiver(always_fail=True)
    with sandbox_with_receiver(receiver) as url:
        sdk(url).Customer.create({"first_name": "Doomed"})
        wait_for_webhooks(url)
        failed = control(url, "GET", "/deliveries?status=failed").json()["deliveries"]
        event = sdk(url).Event.list().list[0].event
    assert len(receiver.requests) == 1 + len(FAST_RETRIES)
    assert [d["attempts"] for d in failed] == [1 + len(FAST_RETRIES)]
    assert failed[0]["last_http_status"] == 500
    assert event.webhook_status == "failed"


def _emit_while_paused(url: str, changes: int) -> list[str]:
    """Pause, make `changes` customer edits, resume; returns event ids in the order they happened."""
    assert control(url, "POST", "/tenant", {"seed": 2, "customers": 3}).status_code == 200
    control(url, "POST", "/webhooks/pause")
    customer_id = control(url, "GET", "/snapshot").json()["objects"]["customer"][0]["id"]
    for n in range(changes):
        control(
            url, "POST", "/actions/edit_customer", {"customer_id": customer_id, "fields": {"phone": str(n)}}
        )
    assert control(url, "GET", "/deliveries").json()["deliveries"] == [], "paused: nothing sent yet"
    emitted = [row.event.id for row in reversed(sdk(url).Event.list({"limit": 100}).list)]
    control(url, "POST", "/webhooks/resume")
    wait_for_webhooks(url)
    return emitted


def test_in_order_mode_delivers_each_event_once_in_emission_order() -> None:
    receiver = Receiver()
    with sandbox_with_receiver(receiver) as url:
        emitted = _emit_while_paused(url, 6)
    assert [b["id"] for b in _bodies(receiver)] == emitted


def test_out_of_order_mode_reorders_and_duplicates_deterministically() -> None:
    runs = []
    for _ in range(2):
        receiver = Receiver()
        with sandbox_with_receiver(receiver, out_of_order=True, duplicate_rate=0.3, seed=42) as url:
            emitted = _emit_while_paused(url, 8)
            deliveries = control(url, "GET", "/deliveries").json()["deliveries"]
        received = [str(b["id"]) for b in _bodies(receiver)]
        runs.append([emitted.index(event_id) for event_id in received])
        assert set(received) == set(emitted), "nothing lost"
        assert len(received) > len(emitted), "some events arrive twice"
        assert any(d["duplicate"] for d in deliveries)
        positions = runs[-1]
        first_seen = sorted(set(positions), key=positions.index)
        assert first_seen != sorted(first_seen), "first arrivals are not in emission order"
        versions = [b["content"]["customer"]["resource_version"] for b in _bodies(receiver)]  # type: ignore[index]
        assert max(versions) == versions[positions.index(len(emitted) - 1)], (
            "newest version still identifiable"
        )
    assert runs[0] == runs[1], "same seed, same delivery order"
