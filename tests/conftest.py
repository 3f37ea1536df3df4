"""Shared fixtures: one real Kafka broker per run, a fresh topic prefix per test."""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from typer.testing import CliRunner

from bridge.local_kafka import LocalKafka, broker_answers
from bridge.settings import Settings


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A broker that answers: the one at BRIDGE_KAFKA_BOOTSTRAP, else the local one we start."""
    wanted = os.environ.get("BRIDGE_KAFKA_BOOTSTRAP", "127.0.0.1:19092")
    if broker_answers(wanted):
        yield wanted
        return
    broker = LocalKafka()
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic_prefix() -> str:
    """A prefix no other test uses, so tests never see each other's data."""
    return f"t{uuid.uuid4().hex[:10]}."


@pytest.fixture
def settings(kafka_bootstrap: str, topic_prefix: str) -> Iterator[Settings]:
    """Settings pointing at the test broker with this test's own topics (deleted afterwards).

    4 partitions unless a test asks for more: a suite that left 7 topics × 12 partitions per
    test behind ran the single-node broker out of heap.
    """
    yield Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        topic_partitions=4,
        _env_file=None,  # type: ignore[call-arg]
    )
    # A fresh thread: the test's event loop may still be open here.
    worker = threading.Thread(target=asyncio.run, args=(_delete_topics(kafka_bootstrap, topic_prefix),))
    worker.start()
    worker.join(30)


async def _delete_topics(bootstrap: str, prefix: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        await admin.start()
        mine = [t for t in await admin.list_topics() if t.startswith(prefix)]
        if mine:
            await admin.delete_topics(mine)
    except Exception:  # cleanup must never fail a test
        pass
    finally:
        await admin.close()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """A CLI runner in an empty directory, without the shell's BRIDGE_ variables or bridge.toml."""
    for name in list(os.environ):
        if name.upper().startswith("BRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return CliRunner()
