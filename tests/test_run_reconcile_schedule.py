"""`bridge run --reconcile-schedule`: the periodic reconcile inside the all-in-one process repairs
what someone changed behind the bridge's back, with no operator involved."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import httpx
from chargebee_sandbox_support import API_KEY as CB_KEY
from chargebee_sandbox_support import serve as cb_serve
from pydantic import SecretStr
from run_harness import BridgeProcess, bridge_env, free_port
from sync_harness import Org, salesforce_sandbox

from bridge.ops.backfill import run_backfill
from bridge.sandbox.chargebee.app import create_app as chargebee_app
from bridge.settings import Settings

T = TypeVar("T")


def _poll(probe: Callable[[], T | None], proc: BridgeProcess, limit: float = 60.0) -> T:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.proc.poll() is not None:
            raise AssertionError(f"bridge run exited with {proc.proc.returncode}:\n{proc.log()}")
        if (found := probe()) is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"condition not met in {limit}s:\n{proc.log()}")


def test_scheduled_reconcile_restores_a_contact_deleted_in_salesforce(
    settings: Settings, tmp_path: Path
) -> None:
    with salesforce_sandbox() as sf_url, cb_serve(chargebee_app()) as cb_url:
        loaded = httpx.post(f"{cb_url}/_sandbox/tenant", json={"seed": 5, "customers": 6}, timeout=60)
        assert loaded.status_code == 200, loaded.text
        org = Org(sf_url)
        env = bridge_env(
            settings,
            sf_url,
            free_port(),
            BRIDGE_CHARGEBEE_API_URL=f"{cb_url}/api/v2",
            BRIDGE_CHARGEBEE_API_KEY=CB_KEY,
        )
        s = settings.model_copy(
            update={"chargebee_api_url": f"{cb_url}/api/v2", "chargebee_api_key": SecretStr(CB_KEY)}
        )
        asyncio.run(run_backfill(s, ["customer"]))

        proc = BridgeProcess(
            ["--roles", "sync", "--reconcile-schedule", "every 2s"], env, tmp_path / "run.log"
        )
        try:
            _poll(lambda: True if len(org.by_ext("Contact", "Chargebee_Id__c")) == 6 else None, proc)
            contacts = org.by_ext("Contact", "Chargebee_Id__c")
            victim_ext, victim = next(iter(sorted(contacts.items())))
            gone = org.http.delete(f"/_sandbox/records/Contact/{victim['Id']}", params={"user": "Ann Lee"})
            assert gone.status_code < 300
            assert victim_ext not in org.by_ext("Contact", "Chargebee_Id__c")
            back = _poll(lambda: org.by_ext("Contact", "Chargebee_Id__c").get(victim_ext), proc)
            proc.wait_log("reconcile_done")
        finally:
            proc.signal()
            code = proc.wait()
        assert code == 0, proc.log()
        assert back["Id"] != victim["Id"]  # recreated, not undeleted
        assert back["LastName"] == victim["LastName"]
