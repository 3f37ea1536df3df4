"""`bridge run` role selection as a real process: every role starts and stops; no login, no listener."""

from __future__ import annotations

import signal
from pathlib import Path

import orjson
import pytest
from run_harness import BridgeProcess, bridge_env, free_port
from sync_harness import salesforce_sandbox

from bridge.settings import Settings

pytestmark = pytest.mark.kafka


def _roles_started(log: str) -> list[str]:
    line = next(x for x in log.splitlines() if '"roles_started"' in x)
    return list(orjson.loads(line)["roles"])


def test_run_with_all_roles_starts_each_and_stops_each_cleanly(settings: Settings, tmp_path: Path) -> None:
    port = free_port()
    with salesforce_sandbox() as sf_url:
        proc = BridgeProcess([], bridge_env(settings, sf_url, port), tmp_path / "all.log")
        try:
            proc.wait_ready(f"http://127.0.0.1:{port}")
            proc.wait_log('"cdc_subscribed"')  # the listener reached the org
            proc.signal(signal.SIGINT)
            code = proc.wait()
        finally:
            proc.kill()
    log = proc.log()
    assert code == 0, log
    assert _roles_started(log) == ["receiver", "sync", "writeback", "listener"]
    for stopped in ("receiver_stopped", "sync_stopped", "writeback_stopped", "listener_stopped"):
        assert f'"{stopped}"' in log, stopped


def test_run_all_without_a_salesforce_login_skips_the_listener_and_says_why(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    with salesforce_sandbox() as sf_url:
        env = bridge_env(settings, sf_url, port, BRIDGE_SALESFORCE_USERNAME="")
        proc = BridgeProcess(["--roles", "all"], env, tmp_path / "skip.log")
        try:
            proc.wait_ready(f"http://127.0.0.1:{port}")
            proc.signal(signal.SIGTERM)
            code = proc.wait()
        finally:
            proc.kill()
    log = proc.log()
    assert code == 0, log
    assert _roles_started(log) == ["receiver", "sync", "writeback"]
    skipped = orjson.loads(next(x for x in log.splitlines() if '"listener_skipped"' in x))
    assert "BRIDGE_SALESFORCE_USERNAME" in skipped["reason"]
