"""The receiver's path to Kafka: shared idempotent producers, started in the background.

Requests never serialise on a producer: each awaits its own ack while the concurrent records of
a partition are sent as one batch (bridge/partition_batcher.py). aiokafka keeps one produce
request in flight per broker connection; `receiver_producers` > 1 spreads keys over several
producers (a key always uses the same one, so its order holds).

A broker that is down at startup (or later) makes `publish` raise `BrokerUnavailable` (the
receiver answers 503) while the producers keep reconnecting, so a broker restart never needs
a receiver restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from bridge.errors import BrokerUnavailable
from bridge.events import Envelope
from bridge.kafka import ensure_topics, make_producer
from bridge.logs import get_logger
from bridge.partition_batcher import PartitionBatcher
from bridge.settings import Settings

log = get_logger("publisher")


class Publisher:
    """Owns the producer; `publish_all` returns only once the broker has every event."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producers: list[AIOKafkaProducer] = []
        self._batchers: list[PartitionBatcher] = []
        self._starter: asyncio.Task[None] | None = None

    @property
    def producer(self) -> AIOKafkaProducer | None:
        """The first producer (the only one by default), None until connected."""
        return self.producers[0] if self.producers else None

    @property
    def started(self) -> bool:
        return bool(self.producers)

    async def start(self) -> None:
        """Start connecting in the background; returns at once."""
        self._starter = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        delay = 0.5
        while True:
            producers = [make_producer(self.settings) for _ in range(self.settings.receiver_producers)]
            try:
                for producer in producers:
                    await producer.start()
                await ensure_topics(self.settings)
            except asyncio.CancelledError:  # stopped while connecting: close what was opened
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            except Exception as exc:
                for producer in producers:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                log.warning("broker_unreachable_retrying", error=repr(exc), delay=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
                continue
            timeout = self.settings.publish_timeout_seconds
            self._batchers = [PartitionBatcher(p, timeout) for p in producers]
            self.producers = producers
            log.info("publisher_ready", bootstrap=self.settings.kafka_bootstrap)
            return

    async def stop(self) -> None:
        """Flush what is in flight and close."""
        if self._starter is not None and not self._starter.done():
            self._starter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._starter
        producers, self.producers = self.producers, []
        batchers, self._batchers = self._batchers, []
        for batcher in batchers:  # records already handed over are acked (or failed) first
            await batcher.drain()
        for producer in producers:
            await producer.stop()

    async def publish_all(
        self, topic: str, envelopes: Sequence[Envelope], headers: Sequence[dict[str, str]]
    ) -> list[tuple[int, int]]:
        """Publish concurrently and wait for every ack; raise `BrokerUnavailable` otherwise."""
        batchers = self._batchers
        if not batchers:
            raise BrokerUnavailable("the Kafka broker is not reachable yet")
        if len(envelopes) == 1:  # the common case: no gather, no extra task
            env = envelopes[0]
            return [await _for(env, batchers).send(topic, env.key, env.to_bytes(), env.headers(headers[0]))]
        return list(
            await asyncio.gather(
                *(
                    _for(env, batchers).send(topic, env.key, env.to_bytes(), env.headers(extra))
                    for env, extra in zip(envelopes, headers, strict=True)
                )
            )
        )

    async def ready(self, timeout: float = 2.0) -> bool:
        """True when the broker answers a metadata request now."""
        if self.producer is None:
            return False
        try:
            await asyncio.wait_for(self.producer.client.fetch_all_metadata(), timeout)
        except Exception:
            return False
        return True


def _for(envelope: Envelope, batchers: list[PartitionBatcher]) -> PartitionBatcher:
    if len(batchers) == 1:
        return batchers[0]
    return batchers[zlib.crc32(envelope.key) % len(batchers)]
