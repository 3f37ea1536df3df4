"""What the benchmarks share: free loopback ports and servers started as child processes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(
    cmd: list[str],
    env: dict[str, str],
    port: int | None = None,
    log: Path | None = None,
    wait: float = 10.0,
) -> subprocess.Popen[bytes]:
    """Start `cmd` (output to `log`, else dropped); with `port`, wait until it accepts connections
    there (`wait` seconds at most)."""
    out = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log is not None:
            out.close()  # type: ignore[union-attr]
    if port is None:
        return proc
    for _ in range(int(wait / 0.05)):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.05)
    proc.kill()
    raise SystemExit(f"{' '.join(cmd)} did not start on port {port}")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) of a process and its direct children (uvicorn workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
    return total
