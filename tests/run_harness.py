"""`bridge run` as a child process: the environment it needs and start/stop helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bridge.settings import Settings

WEBHOOK_USER = "cb-hooks"
WEBHOOK_PASSWORD = "s3cret-hooks"
BRIDGE = [sys.executable, "-m", "bridge.cli"]


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bridge_env(settings: Settings, sf_url: str, port: int, **extra: str) -> dict[str, str]:
    """The child's environment: this test's broker and topics, the sandbox org, Chargebee webhooks."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env.update(
        {
            "BRIDGE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "BRIDGE_TOPIC_PREFIX": settings.topic_prefix,
            "BRIDGE_TOPIC_PARTITIONS": str(settings.topic_partitions),
            "BRIDGE_HTTP_PORT": str(port),
            "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME": WEBHOOK_USER,
            "BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD": WEBHOOK_PASSWORD,
            "BRIDGE_SALESFORCE_LOGIN_URL": sf_url,
            "BRIDGE_SALESFORCE_INSTANCE_URL": sf_url,
            "BRIDGE_SALESFORCE_AUTH_FLOW": "password",
            "BRIDGE_SALESFORCE_CLIENT_ID": "sandbox-client-id",
            "BRIDGE_SALESFORCE_CLIENT_SECRET": "sandbox-client-secret",
            "BRIDGE_SALESFORCE_USERNAME": "integration@bridge.sandbox",
            "BRIDGE_SALESFORCE_PASSWORD": "sandbox-password",
            "BRIDGE_SYNC_GROUP_ID": f"{settings.topic_prefix}sync",
            "BRIDGE_LOG_JSON": "true",
            **extra,
        }
    )
    return env


class BridgeProcess:
    """One `bridge run` child; its log goes to a file so a failing test can show it."""

    def __init__(self, args: list[str], env: dict[str, str], log_file: Path) -> None:
        self.log_file = log_file
        self._log = log_file.open("ab")
        self.proc = subprocess.Popen([*BRIDGE, "run", *args], env=env, stdout=self._log, stderr=self._log)

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def wait_ready(self, url: str, limit: float = 30.0) -> None:
        """Until the receiver's /readyz answers 200 (the broker is connected)."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bridge run exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"bridge run not ready in {limit}s:\n{self.log()}")

    def wait_log(self, text: str, limit: float = 30.0) -> None:
        """Until `text` appears in the child's log."""
        deadline = time.monotonic() + limit
        while text not in self.log():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise AssertionError(f"{text!r} never logged:\n{self.log()}")
            time.sleep(0.05)

    def signal(self, sig: signal.Signals = signal.SIGTERM) -> None:
        self.proc.send_signal(sig)

    def wait(self, limit: float = 60.0) -> int:
        """The exit code (killing the child if it overstays `limit`)."""
        try:
            return self.proc.wait(limit)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"bridge run still running after {limit}s:\n{self.log()}") from None
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()
