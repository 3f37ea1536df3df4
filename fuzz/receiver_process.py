"""`bridge serve` as a child process on a free loopback port, configured through the environment."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from bridge.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class ServedReceiver:
    """A running `bridge serve`: its URL, process and the file its stderr goes to."""

    url: str
    process: subprocess.Popen[bytes]
    stderr: Path

    def rss_bytes(self) -> int:
        """Resident memory of the process now, from /proc."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS line in /proc status")


def environment(settings: Settings, port: int) -> dict[str, str]:
    """BRIDGE_* variables that reproduce `settings` (secrets included) for a child process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"BRIDGE_{name.upper()}"] = str(raw).lower() if isinstance(raw, bool) else str(raw)
    env["BRIDGE_HTTP_PORT"] = str(port)
    env["BRIDGE_HTTP_HOST"] = "127.0.0.1"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


@contextmanager
def served_receiver(settings: Settings, wait_ready: bool = True) -> Iterator[ServedReceiver]:
    """`bridge serve` with these settings until the block ends (then SIGTERM, then kill)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    workdir = Path(tempfile.mkdtemp(prefix="bridge-serve-"))  # no stray bridge.toml is read
    stderr = workdir / "stderr.log"
    with stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "serve"],
            env=environment(settings, port),
            cwd=workdir,
            stdout=err,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, proc, "/readyz" if wait_ready else "/healthz", stderr)
        yield ServedReceiver(url, proc, stderr)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait(url: str, proc: subprocess.Popen[bytes], path: str, stderr: Path) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"bridge serve exited {proc.returncode}: {stderr.read_text()[-2000:]}")
        try:
            if httpx.get(url + path, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"bridge serve did not answer {path} within 60 s")
