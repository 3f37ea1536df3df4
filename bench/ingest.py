"""Ingest benchmark: signed Orb webhooks → receiver → Kafka, against a bare Starlette echo app.

Both apps run the same way (uvicorn, httptools, uvloop, one worker, loopback) and take the same
wrk load in the same run, alternated (echo, receiver, echo, receiver, …) --repeat times, so the
figure is a ratio of medians taken under the same background load; the load average before and
after is printed because the machine is shared. Every 2xx of the receiver must be an event on
the topic: the script counts both. Bounded: 2 × --repeat runs of --seconds each.

    python bench/ingest.py [--seconds 10] [--connections 64] [--repeat 3] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.processes import cpu_seconds, free_port, start  # noqa: E402
from bridge.kafka import Topics  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from bridge.sources.orb import sign  # noqa: E402

SECRET = "whsec_bench"
BRIDGE_SERVE = [sys.executable, "-m", "bridge.cli", "serve"]


def wrk_script(body: bytes, timestamp: str) -> str:
    headers = {
        "Content-Type": "application/json",
        "X-Orb-Timestamp": timestamp,
        "X-Orb-Signature": f"v1={sign(SECRET, timestamp, body)}",
    }
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua(body.decode())}"]
    lines += [f"wrk.headers[{_lua(k)}] = {_lua(v)}" for k, v in headers.items()]
    # Count answers by status so 2xx can be compared with what reached the topic.
    lines += [
        "statuses = {}",
        "response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end",
    ]
    return "\n".join(lines) + "\n"


def _lua(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def run_wrk(url: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = dict(re.findall(r"\s+(50|99)%\s+([\d.]+\w+)", out))
    return {
        "rps": rps,
        "requests": total,
        "non2xx": int(non2xx.group(1)) if non2xx else 0,
        "p50": _ms(lat.get("50", "0ms")),
        "p99": _ms(lat.get("99", "0ms")),
    }


def measured(url: str, script: Path, args: argparse.Namespace, pid: int) -> dict[str, float]:
    """One wrk run, plus the server's CPU microseconds per answered request."""
    before = cpu_seconds(pid)
    fig = run_wrk(url, script, args.seconds, args.connections)
    fig["cpu_us"] = (cpu_seconds(pid) - before) / max(fig["requests"], 1) * 1e6
    return fig


def _ms(text: str) -> float:
    value, unit = float(re.match(r"[\d.]+", text).group(0)), re.sub(r"[\d.]", "", text)  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}.get(unit, 1.0)


async def count_topic(settings: Settings, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            raise SystemExit(f"topic {topic} not found")
        ends = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return sum(ends.values())
    finally:
        await consumer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1, help="receiver processes (bridge serve --workers)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found: apt-get install wrk")
    settings = Settings(topic_prefix=f"bench{uuid.uuid4().hex[:6]}.")
    if not broker_answers(settings.kafka_bootstrap):
        LocalKafka().start()
    body = orjson.dumps(
        {
            "id": "evt_bench",
            "type": "customer.edited",
            "created_at": datetime.now(UTC).isoformat(),
            "properties": {},
            "payload_style": "expanded",
            "customer": {"id": "cus_bench", "name": "Bench Co", "email": "ops@bench.test"},
        }
    )
    timestamp = datetime.now(UTC).isoformat()
    env = {
        **os.environ,
        "BRIDGE_ORB_WEBHOOK_SECRET": SECRET,
        "BRIDGE_TOPIC_PREFIX": settings.topic_prefix,
        "BRIDGE_LOG_LEVEL": "WARNING",
    }
    bridge_port, echo_port = free_port(), free_port()
    workers = ["--workers", str(args.workers)] if args.workers > 1 else []
    uvicorn_flags = ["--http", "httptools", "--loop", "uvloop", "--log-level", "warning"]
    receiver = start([*BRIDGE_SERVE, "--port", str(bridge_port), *workers], env, bridge_port)
    echo = start(
        [sys.executable, "-m", "uvicorn", "bench.echo_app:app", "--port", str(echo_port), *uvicorn_flags],
        {**env, "PYTHONPATH": str(ROOT)},
        echo_port,
    )
    try:
        for _ in range(100):  # the receiver's producer connects in the background
            if httpx.get(f"http://127.0.0.1:{bridge_port}/readyz").status_code == 200:
                break
            time.sleep(0.1)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
            f.write(wrk_script(body, timestamp))
        script = Path(f.name)
        load_before = os.getloadavg()[0]
        echo_runs, bridge_runs = [], []
        for _ in range(args.repeat):
            echo_runs.append(measured(f"http://127.0.0.1:{echo_port}/webhooks/orb", script, args, echo.pid))
            bridge_runs.append(
                measured(f"http://127.0.0.1:{bridge_port}/webhooks/orb", script, args, receiver.pid)
            )
        load_after = os.getloadavg()[0]
        stored = asyncio.run(count_topic(settings, Topics.from_settings(settings).orb_events))
    finally:
        receiver.terminate()
        echo.terminate()
        receiver.wait(30)
        echo.wait(10)
    ok = sum(int(f["requests"] - f["non2xx"]) for f in bridge_runs)
    echo_fig, bridge_fig = _median(echo_runs), _median(bridge_runs)
    print(
        f"load: wrk -t2 -c{args.connections} -d{args.seconds}s, loopback, {args.repeat} alternated runs "
        f"each, medians; receiver workers: {args.workers}; 2 cores shared by wrk, servers, broker "
        f"and other users (load average {load_before:.2f} before, {load_after:.2f} after)"
    )
    columns = f"{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'CPU us/req':>12}"
    print(f"{'app':<22}{columns}   req/s of each run")
    for name, fig, runs in (
        ("bare Starlette echo", echo_fig, echo_runs),
        ("bridge receiver", bridge_fig, bridge_runs),
    ):
        each = " ".join(f"{r['rps']:.0f}" for r in runs)
        print(
            f"{name:<22}{fig['rps']:>10.0f}{fig['p50']:>9.2f}{fig['p99']:>9.2f}{fig['non2xx']:>9.0f}"
            f"{fig['cpu_us']:>12.0f}   {each}"
        )
    ratios = [b["rps"] / e["rps"] for e, b in zip(echo_runs, bridge_runs, strict=True)]
    print(
        f"ratio receiver/echo: {bridge_fig['rps'] / echo_fig['rps']:.0%} of medians "
        f"(pairwise: {' '.join(f'{r:.0%}' for r in ratios)})"
    )
    print(
        "CPU us/req: the server process's own CPU time per request (workers included, broker not): "
        "less sensitive to the shared machine than req/s"
    )
    # wrk stops mid-flight: a request cut off by the end of the run may be stored without its
    # answer being counted, never the reverse.
    print(
        f"receiver 2xx answers: {ok}; events on the topic: {stored}; "
        f"every 2xx stored: {'yes' if stored >= ok else 'NO'}"
    )


def _median(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


if __name__ == "__main__":
    main()
