"""Repairs end to end: replay into the source topic is harmless, a DLQ redrive after a mapping fix lands.

Real broker, the Salesforce sandbox, the real `bridge replay` / `bridge dlq` / `bridge run` commands.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from run_harness import BridgeProcess, bridge_env, free_port
from sync_harness import Org, publish_all, running_sync, salesforce_sandbox, settled, sync_settings, wait_for
from typer.testing import CliRunner

from bridge.cli import app
from bridge.events import Envelope
from bridge.sandbox.payloads import (
    cb_customer,
    cb_envelope,
    cb_event,
    orb_customer,
    orb_envelope,
    orb_event,
    orb_invoice,
)
from bridge.settings import Settings

pytestmark = pytest.mark.kafka


def _events() -> list[Envelope]:
    """Two Orb customers with an invoice each, three Chargebee customers (one edited later)."""
    out: list[Envelope] = []
    for i in range(2):
        cus = orb_customer(f"cus_rp{i}", name=f"Replay {i}")
        out.append(orb_envelope(orb_event("customer.created", event_id=f"e_c{i}", customer=cus)))
        inv = orb_invoice(f"inv_rp{i}", customer_id=f"cus_rp{i}", lines=2)
        out.append(
            orb_envelope(
                orb_event(
                    "invoice.issued", event_id=f"e_i{i}", created_at="2024-03-01T12:05:00+00:00", invoice=inv
                )
            )
        )
    for i in range(3):
        out.append(
            cb_envelope(cb_event("customer_created", event_id=f"cb_c{i}", customer=cb_customer(f"cb_rp{i}")))
        )
    edited = cb_customer("cb_rp0", phone="+49 30 1234", resource_version=1709294999000)
    out.append(
        cb_envelope(cb_event("customer_changed", event_id="cb_e0", occurred_at=1709295000, customer=edited))
    )
    return out


def _cli(settings: Settings, *args: str) -> Any:
    env = {"BRIDGE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "BRIDGE_TOPIC_PREFIX": settings.topic_prefix}
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


async def _replay_all(settings: Settings) -> int:
    """`bridge replay` of both billing topics from the start into themselves; how many were sent."""
    sent = 0
    for topic in ("billing.orb.events", "billing.chargebee.events"):
        report = await asyncio.to_thread(
            _cli, settings, "replay", "--topic", topic, "--from-offset", "0", "--json"
        )
        sent += int(report["published"])
    return sent


async def test_replaying_the_source_topics_twice_leaves_salesforce_unchanged_with_no_api_writes(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        events = _events()
        await publish_all(s, events)
        async with running_sync(s) as loop:
            await wait_for(settled(loop, len(events)))
            applied = loop.stats.outcomes.get("applied", 0)
            before_records = org.http.get("/_sandbox/records").json()
            before_calls = org.counts()
            assert (
                applied > 0 and org.by_ext("Account", "Chargebee_Id__c")["cb_rp0"]["Phone"] == "+49 30 1234"
            )

            seen = len(events)
            for _ in range(2):
                seen += await _replay_all(s)
                await wait_for(settled(loop, seen))

            assert seen == len(events) * 4  # the second replay re-sends the first one's copies too
            assert loop.stats.outcomes.get("applied", 0) == applied
            assert loop.stats.outcomes.get("dead_lettered", 0) == 0
            assert org.http.get("/_sandbox/records").json() == before_records
            after_calls = org.counts()
            assert after_calls["by_kind"] == before_calls["by_kind"]
            assert after_calls["total"] == before_calls["total"]


BROKEN_MAPPING = """
[chargebee.objects.account]
rename = { Phone = "Phone_Number_Typo__c" }
"""
FIXED_MAPPING = """
# the typo is gone: Phone maps to Phone again, as by default
[chargebee.objects.account]
constants = { Description = "mapping fixed" }
"""


def _poll(what: Any, proc: BridgeProcess, limit: float = 60.0) -> Any:
    """`what()` once it is truthy (or its last value when `proc` ended or `limit` passed)."""
    deadline = time.monotonic() + limit
    while not (value := what()) and time.monotonic() < deadline and proc.proc.poll() is None:
        time.sleep(0.2)
    return value


PHONES = ["+1 555 0100", "+1 555 0101", "+1 555 0102"]


def _accounts(org: Org, customers: list[str]) -> dict[str, dict[str, Any]] | None:
    """The Accounts of `customers`, once every one exists."""
    have = {c: a for c, a in org.by_ext("Account", "Chargebee_Id__c").items() if c in customers}
    return have if len(have) == len(customers) else None


def test_dead_letters_of_a_bad_mapping_land_after_the_fix_and_a_redrive(
    settings: Settings, tmp_path: Path
) -> None:
    mapping = tmp_path / "mapping.toml"
    mapping.write_text(BROKEN_MAPPING)
    customers = [f"cb_dl{i}" for i in range(3)]
    events = [
        cb_envelope(
            cb_event("customer_created", event_id=f"cb_dl{i}", customer=cb_customer(c, phone=f"+1 555 {i}"))
        )
        for i, c in enumerate(customers)
    ]
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        asyncio.run(publish_all(s, events))
        env = bridge_env(s, url, free_port(), BRIDGE_MAPPING_FILE=str(mapping))

        broken = BridgeProcess(["--roles", "sync"], env, tmp_path / "broken.log")
        try:
            groups = _poll(lambda: [g for g in _cli(s, "dlq", "list", "--json") if g["count"] >= 3], broken)
        finally:
            broken.signal()
            code = broken.wait()
        assert code == 0, broken.log()
        assert len(groups) == 1 and groups[0]["count"] == 3, groups
        error_class = groups[0]["error_class"]
        assert "Phone_Number_Typo__c" in broken.log()  # the dead letter names the bad field
        assert not set(customers) & set(org.by_ext("Account", "Chargebee_Id__c"))

        mapping.write_text(FIXED_MAPPING)
        redriven = _cli(s, "dlq", "redrive", "--class", error_class, "--yes", "--json")
        assert len(redriven["redriven"]) == 3

        fixed = BridgeProcess(["--roles", "sync"], env, tmp_path / "fixed.log")
        try:
            landed = _poll(lambda: _accounts(org, customers), fixed)
        finally:
            fixed.signal()
            code = fixed.wait()
        assert code == 0, fixed.log()
        assert landed is not None, fixed.log()
        assert {c: a["Phone"] for c, a in landed.items()} == {
            c: f"+1 555 {i}" for i, c in enumerate(customers)
        }
        assert _cli(s, "dlq", "list", "--json") == []  # every letter handled
