"""The local single-node KRaft broker: fetch its jars from Maven Central, format, start, stop.

Used by `bridge kafka …`, `make kafka`, the test fixtures and the demo. Every failure a
person can fix (no Java, no Maven, a port in use, a broken data dir) ends in one
`LocalKafkaError` whose message names the problem and the fix, never a Java stack trace.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from bridge.errors import ConfigError

KAFKA_VERSION = "4.1.2"
_PACKAGED = Path(__file__).parent / "_deploy_kafka"
_REPO = Path(__file__).resolve().parent.parent / "deploy" / "kafka"


class LocalKafkaError(ConfigError):
    """The local broker cannot be fetched, started or stopped; the message says how to fix it."""


def _deploy_dir() -> Path:
    """deploy/kafka in a checkout, or the copy packaged into the wheel."""
    return _REPO if (_REPO / "pom.xml").exists() else _PACKAGED


@dataclass(frozen=True)
class LocalKafka:
    """Paths and ports of one local broker; `home` holds jars, data, log and pid file."""

    home: Path = field(
        default_factory=lambda: Path(
            os.environ.get("BRIDGE_LOCAL_KAFKA_HOME", Path.home() / ".cache" / "bridge" / "kafka")
        )
    )
    port: int = field(default_factory=lambda: int(os.environ.get("BRIDGE_LOCAL_KAFKA_PORT", "19092")))
    controller_port: int = field(
        default_factory=lambda: int(os.environ.get("BRIDGE_LOCAL_KAFKA_CONTROLLER_PORT", "19093"))
    )
    heap_mb: int = field(default_factory=lambda: int(os.environ.get("BRIDGE_LOCAL_KAFKA_HEAP_MB", "1024")))

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def jars(self) -> Path:
        return self.home / f"jars-{KAFKA_VERSION}"

    @property
    def data(self) -> Path:
        return self.home / "data"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def config_file(self) -> Path:
        return self.home / "server.properties"

    # -- fetch ---------------------------------------------------------------------------

    def fetch(self) -> Path:
        """Copy the broker's jars from Maven Central into the cache; reuse them when present."""
        marker = self.jars / ".complete"
        if marker.exists():
            return self.jars
        mvn = shutil.which("mvn")
        if mvn is None:
            raise LocalKafkaError(
                "Maven (mvn) not found: install it (apt-get install maven) to fetch the Kafka jars"
            )
        _require_java()
        tmp = self.jars.with_name(self.jars.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        proc = subprocess.run(
            [
                mvn,
                "-q",
                "-B",
                "-f",
                str(_deploy_dir() / "pom.xml"),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={tmp}",
                "-DincludeScope=runtime",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not any(tmp.glob("kafka_2.13-*.jar")):
            last = _last_error_line(proc.stdout + proc.stderr)
            raise LocalKafkaError(
                f"fetching Kafka {KAFKA_VERSION} jars with Maven failed: {last}; "
                "check that Maven Central is reachable (mvn dependency:get works)"
            )
        (tmp / ".complete").write_text(KAFKA_VERSION)
        shutil.rmtree(self.jars, ignore_errors=True)
        tmp.rename(self.jars)
        return self.jars

    # -- lifecycle ---------------------------------------------------------------------

    def pid(self) -> int | None:
        """The broker's pid if the pid file names a live process."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def is_answering(self, timeout: float = 2.0) -> bool:
        """True when a broker on our port answers a metadata request."""
        return broker_answers(self.bootstrap, timeout)

    def start(self, wait_seconds: float = 60.0) -> float:
        """Start the broker (fetching and formatting as needed); return seconds until it answered."""
        if self.pid() is not None and self.is_answering():
            return 0.0
        java = _require_java()
        self.fetch()
        for port in (self.port, self.controller_port):
            if _port_in_use(port):
                raise LocalKafkaError(
                    f"port {port} on 127.0.0.1 is in use by another process: stop it, or choose other "
                    "ports with BRIDGE_LOCAL_KAFKA_PORT / BRIDGE_LOCAL_KAFKA_CONTROLLER_PORT"
                )
        self.home.mkdir(parents=True, exist_ok=True)
        self._write_config()
        self._format(java)
        began = time.monotonic()
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            [
                java,
                f"-Xmx{self.heap_mb}m",
                f"-Xms{min(self.heap_mb, 256)}m",
                f"-Dlog4j2.configurationFile={_deploy_dir() / 'log4j2.xml'}",
                f"-Dkafka.logs.dir={self.home / 'logs'}",
                "-cp",
                f"{self.jars}/*",
                "kafka.Kafka",
                str(self.config_file),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # the broker outlives the CLI call that started it
        )
        log.close()
        self.pid_file.write_text(str(proc.pid))
        deadline = began + wait_seconds
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self.pid_file.unlink(missing_ok=True)
                raise LocalKafkaError(self._explain_exit())
            if self.is_answering(timeout=1.0):
                return time.monotonic() - began
            time.sleep(0.2)
        self.stop()
        raise LocalKafkaError(f"the broker did not answer within {wait_seconds:.0f}s; see {self.log_file}")

    def stop(self, wipe: bool = False, timeout: float = 30.0) -> bool:
        """Stop the broker (SIGTERM, then SIGKILL); with wipe, delete its data. True if one ran."""
        pid = self.pid()
        ran = pid is not None
        if pid is not None:
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and _alive(pid):
                time.sleep(0.1)
            if _alive(pid):
                _signal_group(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        if wipe:
            shutil.rmtree(self.data, ignore_errors=True)
            shutil.rmtree(self.home / "logs", ignore_errors=True)
            self.log_file.unlink(missing_ok=True)
        return ran

    def status(self) -> dict[str, object]:
        """What is known about the broker: pid, whether it answers, where its files are."""
        return {
            "version": KAFKA_VERSION,
            "bootstrap": self.bootstrap,
            "pid": self.pid(),
            "answering": self.is_answering(timeout=1.0),
            "jars_cached": (self.jars / ".complete").exists(),
            "data_dir": str(self.data),
            "log_file": str(self.log_file),
        }

    # -- internals -------------------------------------------------------------------------

    def _write_config(self) -> None:
        template = (_deploy_dir() / "server.properties.in").read_text()
        text = (
            template.replace("@PORT@", str(self.port))
            .replace("@CONTROLLER_PORT@", str(self.controller_port))
            .replace("@DATA_DIR@", str(self.data))
        )
        self.config_file.write_text(text)

    def _format(self, java: str) -> None:
        meta = self.data / "meta.properties"
        if meta.exists():
            text = meta.read_text()
            if "cluster.id" not in text or "node.id=1" not in text:
                raise LocalKafkaError(
                    f"the broker data dir {self.data} is broken (meta.properties unreadable): "
                    "run `bridge kafka stop --wipe` and start again"
                )
            return
        if self.data.exists() and any(self.data.iterdir()):
            raise LocalKafkaError(
                f"the broker data dir {self.data} holds data but no meta.properties: "
                "run `bridge kafka stop --wipe` and start again"
            )
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        proc = subprocess.run(
            [
                java,
                "-cp",
                f"{self.jars}/*",
                f"-Dlog4j2.configurationFile={_deploy_dir() / 'log4j2.xml'}",
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.config_file),
                "--ignore-formatted",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise LocalKafkaError(
                f"formatting {self.data} failed: {_last_error_line(proc.stdout + proc.stderr)}; "
                "run `bridge kafka stop --wipe` and start again"
            )

    def _explain_exit(self) -> str:
        tail = self.log_file.read_text(errors="replace")[-20000:] if self.log_file.exists() else ""
        if "Address already in use" in tail:
            return (
                f"port {self.port} or {self.controller_port} is already in use: stop the other "
                "process or set BRIDGE_LOCAL_KAFKA_PORT"
            )
        if re.search(r"meta\.properties|Invalid cluster|cluster.id", tail):
            return (
                f"the broker data dir {self.data} is broken: run `bridge kafka stop --wipe` and start again"
            )
        return f"the broker exited at start: {_last_error_line(tail)} (full log: {self.log_file})"


def broker_answers(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when a Kafka broker at `bootstrap` answers a metadata request within `timeout`."""
    from aiokafka.client import AIOKafkaClient  # local: keeps `bridge kafka status` light

    async def probe() -> bool:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout)
            return True
        except Exception:
            return False
        finally:
            await client.close()

    host, _, port = bootstrap.split(",")[0].rpartition(":")
    try:  # a cheap TCP check first: no connection, no need to build a client
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError:
        return False
    return asyncio.run(probe())


def _require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError(
            "Java not found: the local Kafka broker needs Java 17 or newer "
            "(apt-get install openjdk-17-jre-headless)"
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    if match and int(match.group(1)) < 17:
        raise LocalKafkaError(
            f"Java {match.group(1)} found at {java}; Kafka {KAFKA_VERSION} needs Java 17 or newer"
        )
    return java


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie child of ours counts as gone once reaped
        done, _ = os.waitpid(pid, os.WNOHANG)
        return done == 0
    except ChildProcessError:
        return True


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _last_error_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for line in reversed(lines):
        if re.search(r"ERROR|Exception|error:", line):
            return line[:300]
    return lines[-1][:300] if lines else "no output"
