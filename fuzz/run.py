"""`make fuzz`: atheris on every parser, then schemathesis on every endpoint of a live receiver.

    python fuzz/run.py [--runs 20000] [--http-cases 10500] [--only atheris|http]

Each atheris target runs in its own process (libFuzzer ends the process), from a seed corpus
of real bodies, with a per-input timeout so a hang is a finding. The HTTP part starts
`bridge serve` against the real broker with its own topic prefix (deleted afterwards). Prints
the case counts and every finding; exits 1 if there was any.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.kafka import delete_topics_with_prefix  # noqa: E402
from bridge.local_kafka import LocalKafka, broker_answers  # noqa: E402
from bridge.settings import Settings  # noqa: E402
from fuzz.receiver_http import Report, fuzz_settings, run, seeds  # noqa: E402
from fuzz.receiver_process import served_receiver  # noqa: E402

HERE = Path(__file__).resolve().parent
TARGETS = {  # target -> (dictionary, seed endpoint)
    "orb_verify": ("orb.dict", None),
    "orb_parse": ("json.dict", "/webhooks/orb"),
    "chargebee_auth": (None, None),
    "chargebee_parse": ("json.dict", "/webhooks/chargebee"),
    "soap": ("soap.dict", "/webhooks/salesforce"),
}


def fuzz_parser(target: str, runs: int, workdir: Path) -> tuple[int, str | None]:
    """Run one atheris target; (inputs executed, the crash report or None)."""
    dictionary, endpoint = TARGETS[target]
    corpus = workdir / f"corpus-{target}"
    corpus.mkdir()
    for i, body in enumerate(seeds().get(endpoint, []) if endpoint else []):
        (corpus / f"seed-{i}").write_bytes(body)
    cmd = [
        sys.executable,
        str(HERE / "parsers.py"),
        target,
        f"-runs={runs}",
        "-max_len=65536",
        "-timeout=10",
        "-print_final_stats=1",
        f"-artifact_prefix={workdir}/{target}-",
        *([f"-dict={HERE / 'dicts' / dictionary}"] if dictionary else []),
        str(corpus),
    ]
    done = subprocess.run(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # atheris prints the Python traceback on stdout
        text=True,
        errors="replace",
        timeout=3600,
        check=False,
    )
    log = done.stdout
    executed = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
    count = int(executed[-1]) if executed else 0
    if done.returncode == 0 and "Done" in log:
        return count, None
    noise = ("INFO:", "WARNING:", "#", "stat::", "MS:", "0x", "Base64", "INITED")
    lines = [line for line in log.splitlines() if not line.startswith(noise)]
    return count, "\n".join(lines)[-2500:]


def main() -> int:
    """Run the fuzzers and print what they found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="atheris inputs per parser target")
    parser.add_argument("--http-cases", type=int, default=10_500, help="requests sent to the receiver")
    parser.add_argument("--only", choices=["atheris", "http"])
    args = parser.parse_args()
    found = 0
    if args.only != "http":
        with tempfile.TemporaryDirectory(prefix="bridge-fuzz-") as tmp:
            for target in TARGETS:
                count, crash = fuzz_parser(target, args.runs, Path(tmp))
                print(f"atheris {target}: {count} inputs, {'CRASH' if crash else 'no finding'}", flush=True)
                if crash:
                    found += 1
                    print("    " + crash.replace("\n", "\n    "), flush=True)
    if args.only != "atheris":
        prefix = f"fuzz{uuid.uuid4().hex[:8]}."
        settings = fuzz_settings(Settings(topic_prefix=prefix, topic_partitions=2, _env_file=None))
        report = Report()
        broker = None if broker_answers(settings.kafka_bootstrap) else LocalKafka()
        if broker is not None:
            broker.start()
        try:
            with served_receiver(settings) as receiver:
                try:
                    run(receiver.url, settings, args.http_cases, report)
                finally:  # a harness error still prints what was sent and found so far
                    rss = receiver.rss_bytes() // 2**20
                    print("schemathesis on the live receiver:")
                    print("\n".join("  " + line for line in report.lines()))
                    print(f"  receiver RSS after the run: {rss} MiB", flush=True)
        finally:
            asyncio.run(delete_topics_with_prefix(settings, prefix))
            if broker is not None:
                broker.stop()
        found += len(report.findings)
    print(f"fuzz: {found} finding(s)")
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main())
