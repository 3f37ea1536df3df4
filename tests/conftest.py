"""Shared fixtures: one real Kafka broker per run, a fresh topic prefix per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

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
def settings(kafka_bootstrap: str, topic_prefix: str) -> Settings:
    """Settings pointing at the test broker with this test's own topics."""
    return Settings(
        kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix,
        _env_file=None,  # type: ignore[call-arg]
    )
