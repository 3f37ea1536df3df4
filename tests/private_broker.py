"""A broker of a test's own, for tests that stop or restart it (the shared one must stay up)."""

from __future__ import annotations

from pathlib import Path

from bench.processes import free_port
from bridge.local_kafka import KAFKA_VERSION, LocalKafka


def private_broker(home: Path) -> LocalKafka:
    """A not yet started broker on free ports with its data in `home`, sharing the fetched jars."""
    shared = LocalKafka().jars
    if (shared / ".complete").exists():
        (home / f"jars-{KAFKA_VERSION}").symlink_to(shared, target_is_directory=True)
    return LocalKafka(home=home, port=free_port(), controller_port=free_port(), heap_mb=256)
