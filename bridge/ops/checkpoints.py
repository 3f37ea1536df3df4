"""Backfill checkpoints in a compacted Kafka topic (`bridge.backfill.progress`), not a file.

Key `<vendor>:<list>` (e.g. `chargebee:customers`); value the vendor cursor after the last page
whose events the broker acknowledged. Any machine can resume a run; a finished run leaves
tombstones so the next backfill starts from the beginning.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from bridge.errors import BrokerUnavailable
from bridge.kafka import Topics, ensure_topics
from bridge.ops.reading import TopicReader
from bridge.settings import Settings


@dataclass(frozen=True)
class Checkpoint:
    """How far one list got: the cursor to continue from and what was done before it."""

    cursor: str
    pages: int
    published: int
    since: str | None  # the run's --since: a checkpoint of another range does not apply
    done: bool = False  # the list was exported to its end (cursor is then empty)

    def as_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "cursor": self.cursor,
                "pages": self.pages,
                "published": self.published,
                "since": self.since,
                "done": self.done,
            }
        )

    @classmethod
    def from_bytes(cls, value: bytes) -> Checkpoint:
        data: dict[str, Any] = orjson.loads(value)
        return cls(
            str(data["cursor"]),
            int(data["pages"]),
            int(data["published"]),
            data.get("since"),
            bool(data.get("done", False)),
        )


def since_text(since: datetime | None) -> str | None:
    """How a run's --since is stored with its checkpoints."""
    return since.isoformat() if since is not None else None


class CheckpointStore:
    """Reads and writes the checkpoints of every list (the topic is small: one key per list)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = Topics.from_settings(settings).backfill_progress

    async def load(self) -> dict[str, Checkpoint]:
        """The latest checkpoint of every list that has one (tombstones remove it)."""
        await ensure_topics(self.settings, [self.topic])
        found: dict[str, Checkpoint] = {}
        async with TopicReader(self.settings, self.topic) as reader:
            async for rec in reader.read_all():
                key = rec.key.decode()
                if rec.value is None:
                    found.pop(key, None)
                else:
                    found[key] = Checkpoint.from_bytes(rec.value)
        return found

    async def save(self, producer: AIOKafkaProducer, label: str, checkpoint: Checkpoint) -> None:
        """Store a checkpoint and wait for the broker's ack."""
        await self._send(producer, label, checkpoint.as_bytes())

    async def clear(self, producer: AIOKafkaProducer, labels: list[str]) -> None:
        """Forget the checkpoints of `labels` (tombstones)."""
        for label in labels:
            await self._send(producer, label, None)

    async def _send(self, producer: AIOKafkaProducer, label: str, value: bytes | None) -> None:
        try:
            await producer.send_and_wait(self.topic, key=label.encode(), value=value)
        except KafkaError as exc:
            raise BrokerUnavailable(f"checkpoint write to {self.topic} failed: {exc!r}") from exc
