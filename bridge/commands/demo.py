"""`bridge demo`: run the bridge on the local broker and sandboxes, and report what happened."""

from __future__ import annotations

import asyncio
import uuid

import typer
from rich.console import Console
from rich.json import JSON
from rich.table import Table

from bridge.events import Envelope, decode_headers, utcnow
from bridge.kafka import Topics, ensure_topics, make_consumer, make_producer, publish
from bridge.local_kafka import LocalKafka, LocalKafkaError, broker_answers
from bridge.settings import Settings

console = Console()


def demo() -> None:
    """Start the local Kafka if needed, send one event through it and read it back."""
    settings = Settings()
    if not broker_answers(settings.kafka_bootstrap):
        console.print(f"No broker at {settings.kafka_bootstrap}: starting the local one…")
        try:
            seconds = LocalKafka().start()
        except LocalKafkaError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"Kafka answering after {seconds:.1f}s")
    asyncio.run(_round_trip(settings.model_copy(update={"topic_prefix": "demo."})))


async def _round_trip(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.orb_events])
    event = Envelope(
        source="orb",
        event_id=f"demo-{uuid.uuid4().hex[:12]}",
        event_type="customer.created",
        occurred_at=utcnow(),
        object_type="customer",
        object_id="cus_demo",
        customer_id="cus_demo",
        payload={"id": "demo", "type": "customer.created", "customer": {"id": "cus_demo"}},
    )
    producer = make_producer(settings)
    await producer.start()
    try:
        partition, offset = await publish(producer, topics.orb_events, event)
    finally:
        await producer.stop()
    consumer = make_consumer(settings, None, enable_auto_commit=False)
    await consumer.start()
    try:
        from aiokafka import TopicPartition

        tp = TopicPartition(topics.orb_events, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
        record = batch[tp][0]
    finally:
        await consumer.stop()
    back = Envelope.from_bytes(record.value)
    table = Table(title="One event through the real broker")
    table.add_column("field")
    table.add_column("value")
    table.add_row("topic", f"{record.topic} [partition {record.partition}, offset {record.offset}]")
    table.add_row("key", record.key.decode() if record.key else "")
    for name, value in decode_headers(record.headers).items():
        table.add_row(f"header {name}", value)
    table.add_row("round trip equal", str(back == event))
    console.print(table)
    console.print(JSON(record.value.decode()))
