"""`bridge run` as a real process: SIGTERM under load loses nothing, crashes exit non-zero."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path

import httpx
import orjson
import pytest
from run_harness import WEBHOOK_PASSWORD, WEBHOOK_USER, BridgeProcess, bridge_env, free_port
from sync_harness import Org, salesforce_sandbox

from bridge.kafka import Topics
from bridge.sandbox.payloads import cb_customer, cb_event
from bridge.settings import Settings
from tests.receiver_harness import read_topic

pytestmark = pytest.mark.kafka

EVENTS = 400
SIGNAL_AFTER = 80  # answers seen before SIGTERM: the load is well under way
WORKERS = 12


def _webhook(i: int) -> bytes:
    body = cb_event("customer_created", event_id=f"ev_run_{i}", customer=cb_customer(f"cb_run_{i}"))
    return orjson.dumps(body)


async def _fire(url: str, on_answer: int, proc: BridgeProcess) -> dict[str, str]:
    """Send every webhook from WORKERS concurrent clients; SIGTERM once `on_answer` came back.

    Returns event id → "2xx", "503", "conn" (no answer) or the unexpected status."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(EVENTS):
        queue.put_nowait(i)
    outcome: dict[str, str] = {}

    async def worker() -> None:
        async with httpx.AsyncClient(
            base_url=url, auth=(WEBHOOK_USER, WEBHOOK_PASSWORD), timeout=30
        ) as client:
            while not queue.empty():
                i = queue.get_nowait()
                try:
                    r = await client.post("/webhooks/chargebee", content=_webhook(i))
                    outcome[f"ev_run_{i}"] = "2xx" if 200 <= r.status_code < 300 else str(r.status_code)
                except httpx.TransportError:
                    outcome[f"ev_run_{i}"] = "conn"
                if len(outcome) == on_answer:
                    proc.signal(signal.SIGTERM)

    await asyncio.gather(*(worker() for _ in range(WORKERS)))
    return outcome


def _wait_applied(org: Org, ids: set[str], limit: float = 60.0) -> set[str]:
    """Chargebee ids among `ids` that have an Account, once all do (or `limit` passed)."""
    deadline = time.monotonic() + limit
    while True:
        have = {r.get("Chargebee_Id__c") for r in org.records("Account")} & ids
        if have == ids or time.monotonic() > deadline:
            return have
        time.sleep(0.2)


async def test_sigterm_under_load_loses_no_acknowledged_webhook(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with salesforce_sandbox() as sf_url:
        org = Org(sf_url)
        env = bridge_env(settings, sf_url, port)
        first = BridgeProcess(["--roles", "receiver,sync"], env, tmp_path / "first.log")
        try:
            first.wait_ready(url)
            outcome = await _fire(url, SIGNAL_AFTER, first)
            code = first.wait()
        finally:
            first.kill()
        assert code == 0, first.log()
        assert '"stopped_cleanly"' in first.log()
        unexpected = {k: v for k, v in outcome.items() if v not in ("2xx", "503", "conn")}
        assert unexpected == {}, "after the stop only 2xx, 503 or no connection are allowed"
        acked = {k for k, v in outcome.items() if v == "2xx"}
        assert len(acked) >= SIGNAL_AFTER
        # the load went on past the shutdown: later requests found the door closed
        assert {"conn", "503"} & set(outcome.values()), outcome

        stored = await read_topic(settings, Topics.from_settings(settings).chargebee_events, timeout=10)
        stored_ids = {orjson.loads(r.value)["event_id"] for r in stored}
        assert acked <= stored_ids, f"acknowledged but not in Kafka: {sorted(acked - stored_ids)}"

        second = BridgeProcess(["--roles", "receiver,sync"], env, tmp_path / "second.log")
        try:
            second.wait_ready(url)
            customers = {i.replace("ev_run_", "cb_run_") for i in acked}
            applied = await asyncio.to_thread(_wait_applied, org, customers)
            second.signal(signal.SIGTERM)
            code = second.wait()
        finally:
            second.kill()
        assert applied == customers, f"acknowledged but never applied: {sorted(customers - applied)}"
        assert code == 0, second.log()


def test_a_second_signal_exits_at_once_while_a_request_holds_the_shutdown(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with salesforce_sandbox() as sf_url:
        proc = BridgeProcess(["--roles", "receiver"], bridge_env(settings, sf_url, port), tmp_path / "b.log")
        try:
            proc.wait_ready(f"http://127.0.0.1:{port}")
            # A request whose body never completes: the graceful shutdown waits for it.
            with socket.create_connection(("127.0.0.1", port)) as hold:
                hold.sendall(b"POST /webhooks/chargebee HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
                proc.signal(signal.SIGTERM)
                proc.wait_log('"shutting_down"')
                proc.signal(signal.SIGTERM)
                code = proc.wait()
        finally:
            proc.kill()
    assert code == 128 + signal.SIGTERM.value, proc.log()
    assert '"forced_exit"' in proc.log()


def test_a_role_that_cannot_start_stops_the_process_with_exit_1(settings: Settings, tmp_path: Path) -> None:
    with socket.socket() as taken, salesforce_sandbox() as sf_url:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = BridgeProcess(
            ["--roles", "receiver,sync"], bridge_env(settings, sf_url, port), tmp_path / "c.log"
        )
        try:
            code = proc.wait()
        finally:
            proc.kill()
    assert code == 1, proc.log()
    assert "receiver could not start" in proc.log()
    assert '"sync_stopped"' in proc.log()  # the healthy role was stopped cleanly, not abandoned
    assert "Unclosed AIOKafkaProducer" not in proc.log()  # the producer it had begun to open is closed
