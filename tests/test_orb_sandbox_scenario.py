"""The Orb scenario driver and the sandbox's configuration and control routes."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import orjson
import pytest
from orb_sandbox_servers import API_KEY, SECRET, Receiver, control, serve

from bridge.sandbox.orb.app import DEFAULT_API_KEY, create_app
from bridge.sandbox.orb.scenario import plan_steps, run


def test_scenario_steps_are_the_same_for_the_same_seed() -> None:
    ids = [f"cus_{n}" for n in range(30)]
    assert plan_steps(5, ids, 50) == plan_steps(5, ids, 50)
    assert plan_steps(5, ids, 50) != plan_steps(6, ids, 50)
    actions = Counter(step.action for step in plan_steps(5, ids, 400))
    assert {"issue_invoice", "pay_invoice", "edit_customer", "change_plan"} <= set(actions)


def test_scenario_run_moves_the_tenant_and_every_change_is_delivered() -> None:
    rec = Receiver()
    with serve(rec.app()) as hook:
        app = create_app(
            api_keys=API_KEY,
            webhook_endpoints=[f"{hook}/hook"],
            webhook_secret=SECRET,
            retry_backoff_seconds=0.01,
        )
        with serve(app) as base:

            async def go() -> dict[str, object]:
                async with httpx.AsyncClient(timeout=30) as http:
                    result = await run(http, base, api_key=API_KEY, seed=2, customers=25, steps=40)
                    return result.as_dict()

            result = asyncio.run(go())
            done = result["done"]
            assert isinstance(done, dict) and sum(done.values()) > 10
            assert control(base, "POST", "/_sandbox/webhooks/settle", {"timeout_seconds": 20})["settled"]
            emitted = control(base, "GET", "/_sandbox/snapshot")["counts"]["events_emitted"]
            assert emitted >= sum(done.values())
            assert len(rec.wait_for(emitted, timeout=0)) == emitted


def test_create_app_without_arguments_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BRIDGE_SANDBOX_ORB_API_KEYS", "k1,k2")
    monkeypatch.setenv("BRIDGE_SANDBOX_ORB_WEBHOOK_URLS", "http://127.0.0.1:9/a")
    monkeypatch.setenv("BRIDGE_ORB_WEBHOOK_SECRET", "s-from-env,old-secret")
    monkeypatch.setenv("BRIDGE_SANDBOX_ORB_PAYLOAD_STYLE", "standard")
    sb = create_app().state.sandbox
    assert sb.api_keys == {"k1", "k2"}
    [endpoint] = sb.dispatcher.endpoints
    assert (endpoint.url, endpoint.secret, endpoint.payload_style) == (
        "http://127.0.0.1:9/a",
        "s-from-env,old-secret",
        "standard",
    )
    monkeypatch.delenv("BRIDGE_SANDBOX_ORB_API_KEYS")
    assert create_app().state.sandbox.api_keys == {DEFAULT_API_KEY}


def test_control_routes_reset_and_reject_bad_input() -> None:
    with serve(create_app(api_keys=API_KEY)) as base:
        summary = control(base, "POST", "/_sandbox/tenant", {"seed": 1, "customers": 5})
        assert summary["customers"] == 5
        assert control(base, "GET", "/_sandbox/snapshot?full=true")["counts"]["customers"] == 5
        bad = httpx.post(f"{base}/_sandbox/tenant", json={"customers": -1})
        assert bad.status_code == 400 and "customers" in bad.json()["validation_errors"][0]
        unknown = httpx.post(f"{base}/_sandbox/actions/explode", json={})
        assert unknown.status_code == 404
        missing = httpx.post(f"{base}/_sandbox/actions/edit_customer", json={"customer_id": "nope"})
        assert missing.status_code == 404
        assert control(base, "GET", "/_sandbox/snapshot")["counts"]["customers"] == 5
        control(base, "POST", "/_sandbox/reset")
        assert control(base, "GET", "/_sandbox/snapshot")["counts"]["customers"] == 0
        bad_clock = httpx.post(f"{base}/_sandbox/clock/advance", json={"days": "soon"})
        assert bad_clock.status_code == 400
        revenue = httpx.get(f"{base}/_sandbox/daily_line_item_revenue", params={"limit": 0})
        assert revenue.status_code == 400 and "limit" in revenue.json()["detail"]


def test_rotating_secrets_sign_once_per_secret_and_the_sdk_accepts_either() -> None:
    from orb import Orb

    rec = Receiver()
    with serve(rec.app()) as hook:
        app = create_app(
            api_keys=API_KEY, webhook_endpoints=[f"{hook}/hook"], webhook_secret="new-secret,old-secret"
        )
        with serve(app) as base:
            control(base, "POST", "/_sandbox/tenant", {"seed": 1, "customers": 2})
            control(base, "POST", "/_sandbox/actions/edit_customer", {})
            [got] = rec.wait_for(1)
    assert got.headers["x-orb-signature"].count("v1=") == 2
    for secret in ("new-secret", "old-secret"):
        Orb(api_key="unused").webhooks.verify_signature(got.body, got.headers, secret=secret)


def test_a_delivery_refused_every_time_fails_after_the_bounded_attempts_and_the_lane_moves_on() -> None:
    rec = Receiver(fail_first=3)
    with serve(rec.app()) as hook:
        app = create_app(
            api_keys=API_KEY,
            webhook_endpoints=[f"{hook}/hook"],
            retry_backoff_seconds=0.01,
            max_delivery_attempts=3,
        )
        with serve(app) as base:
            control(base, "POST", "/_sandbox/tenant", {"seed": 1, "customers": 2})
            control(base, "POST", "/_sandbox/actions/edit_customer", {"fields": {"name": "First"}})
            control(base, "POST", "/_sandbox/actions/edit_customer", {"fields": {"name": "Second"}})
            assert control(base, "POST", "/_sandbox/webhooks/settle", {})["settled"]
            rows = control(base, "GET", "/_sandbox/deliveries")["data"]
    assert [(r["status"], r["attempts"]) for r in rows] == [("failed", 3), ("delivered", 1)]
    assert [orjson.loads(g.body)["customer"]["name"] for g in rec.got] == ["Second"]
