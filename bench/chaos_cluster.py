"""The chaos run's cluster: its own Kafka broker, the sandboxes and every bridge role, each a
separate process that can be killed with SIGKILL and started again on the same port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.processes import free_port, start
from bridge.local_kafka import KAFKA_VERSION, LocalKafka
from bridge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
BRIDGE = [sys.executable, "-m", "bridge.cli"]
ORB_SECRET = "whsec_chaos"
CB_USER, CB_PASSWORD = "chargebee-chaos", "chaos-password"
PARENT_RETRIES = 5
CB_API_KEY = "test_sandbox_key"
# The roles `kill -9` may hit: two receivers, two syncs in one group, writeback, listener.
ROLES = ("receiver-1", "receiver-2", "sync-1", "sync-2", "writeback", "listen")


@dataclass
class Cluster:
    """Everything one chaos run starts; `run_dir` holds the broker's data and process logs."""

    run_dir: Path
    seed: int
    broker: LocalKafka = field(init=False)
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    kills: dict[str, int] = field(default_factory=dict)
    crashes: dict[str, int] = field(default_factory=dict)
    prefix: str = "chaos."

    def __post_init__(self) -> None:
        home = self.run_dir / "kafka"
        home.mkdir(parents=True, exist_ok=True)
        shared = LocalKafka().jars
        if (shared / ".complete").exists():  # reuse the fetched jars, never the shared data
            (home / f"jars-{KAFKA_VERSION}").symlink_to(shared, target_is_directory=True)
        self.broker = LocalKafka(home=home, port=free_port(), controller_port=free_port(), heap_mb=512)
        for name in ("salesforce", "chargebee", "receiver-1", "receiver-2"):
            self.ports[name] = free_port()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    @property
    def settings(self) -> Settings:
        """Settings as the bridge processes see them (the driver reads topics with these)."""
        return Settings(
            kafka_bootstrap=self.broker.bootstrap,
            topic_prefix=self.prefix,
            topic_partitions=4,
            sync_group_id=f"{self.prefix}sync",
            _env_file=None,  # type: ignore[call-arg]
        )

    def env(self) -> dict[str, str]:
        sf = self.url("salesforce")
        return {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "BRIDGE_KAFKA_BOOTSTRAP": self.broker.bootstrap,
            "BRIDGE_TOPIC_PREFIX": self.prefix,
            "BRIDGE_TOPIC_PARTITIONS": "4",
            "BRIDGE_LOG_LEVEL": "WARNING",
            "BRIDGE_PUBLISH_TIMEOUT_SECONDS": "5",
            "BRIDGE_ORB_WEBHOOK_SECRET": ORB_SECRET,
            "BRIDGE_CHARGEBEE_WEBHOOK_USERNAME": CB_USER,
            "BRIDGE_CHARGEBEE_WEBHOOK_PASSWORD": CB_PASSWORD,
            "BRIDGE_SALESFORCE_LOGIN_URL": sf,
            "BRIDGE_SALESFORCE_INSTANCE_URL": sf,
            "BRIDGE_SALESFORCE_CLIENT_ID": "sandbox-client-id",
            "BRIDGE_SALESFORCE_CLIENT_SECRET": "sandbox-client-secret",
            "BRIDGE_SALESFORCE_USERNAME": "integration@bridge.sandbox",
            "BRIDGE_SALESFORCE_PASSWORD": "sandbox-password",
            "BRIDGE_CHARGEBEE_API_URL": f"{self.url('chargebee')}/api/v2",
            "BRIDGE_CHARGEBEE_API_KEY": CB_API_KEY,
            "BRIDGE_SYNC_GROUP_ID": f"{self.prefix}sync",
            # Seconds instead of 30 s doubling, as for the vendors' retries: a bounded run.
            "BRIDGE_SYNC_PARENT_RETRY_SECONDS": "2",
            "BRIDGE_SYNC_PARENT_RETRIES": str(PARENT_RETRIES),
        }

    def _command(self, name: str) -> tuple[list[str], int | None]:
        if name == "salesforce":
            return [*BRIDGE, "sandbox", "salesforce", "--port", str(self.ports[name])], self.ports[name]
        if name == "chargebee":
            cmd = [sys.executable, "-m", "bench.chaos_sandboxes", "chargebee", str(self.ports[name])]
            return [*cmd, str(self.seed)], self.ports[name]
        if name.startswith("receiver"):
            return [*BRIDGE, "serve", "--port", str(self.ports[name])], self.ports[name]
        return [*BRIDGE, name.split("-")[0]], None

    def start(self, name: str) -> None:
        cmd, port = self._command(name)
        self.procs[name] = start(cmd, self.env(), port, log=self.run_dir / f"{name}.log", wait=60.0)

    def start_all(self) -> None:
        """Broker, sandboxes, then the bridge roles."""
        self.broker.start()
        for name in ("salesforce", "chargebee", *ROLES):
            self.start(name)

    def kill(self, name: str) -> None:
        """SIGKILL one process (no goodbye: no flush, no commit, no leave-group) and start it again."""
        proc = self.procs[name]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.kills[name] = self.kills.get(name, 0) + 1
        self.start(name)

    def restart_broker(self) -> float:
        """Stop the broker (SIGTERM) and start it on the same data; seconds it was away."""
        began = time.monotonic()
        self.broker.stop()
        self.broker.start()
        return time.monotonic() - began

    def revive(self) -> list[str]:
        """Start again every bridge role that exited by itself (a crash: a bug to report)."""
        crashed = [name for name in ROLES if self.procs[name].poll() is not None]
        for name in crashed:
            self.crashes[name] = self.crashes.get(name, 0) + 1
            self.start(name)
        return crashed

    def stop(self, keep_logs: bool = False) -> None:
        """Stop every process, then the broker, and wipe the broker's data."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.broker.stop(wipe=True)
        if not keep_logs:
            shutil.rmtree(self.run_dir, ignore_errors=True)
