"""`bridge dlq` on the real broker, with dead letters written by the real consume loop."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from typer.testing import CliRunner

from bridge.cli import app
from bridge.errors import PermanentError
from bridge.events import Envelope, decode_headers
from bridge.kafka import Topics, ensure_topics, make_consumer, make_producer
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.outcomes import Outcome, Result
from tests.kafka_records import event, produce, read_all

pytestmark = pytest.mark.kafka


class MappingError(PermanentError):
    """Stands in for a bad mapping that a later fix repairs."""


class Sink:
    """A handler that dead-letters the event ids it is told are broken and applies the rest."""

    def __init__(self, broken: dict[str, type[Exception]]) -> None:
        self.broken = broken
        self.applied: list[str] = []

    async def handle(self, batch: dict[TopicPartition, Sequence[Any]]) -> dict[TopicPartition, list[Result]]:
        out: dict[TopicPartition, list[Result]] = {}
        for tp, records in batch.items():
            out[tp] = []
            for rec in records:
                env = Envelope.from_bytes(rec.value)
                error = self.broken.get(env.event_id)
                if error is not None:
                    out[tp].append(Result.dead(error(f"cannot map {env.event_id}")))
                else:
                    self.applied.append(env.event_id)
                    out[tp].append(Result(Outcome.APPLIED))
        return out


async def _consume(settings: Settings, sink: Sink, until: Any) -> ConsumeLoop:
    topics = Topics.from_settings(settings)
    loop = ConsumeLoop(
        settings,
        name="sync",
        group_id=f"{settings.topic_prefix}sync",
        topics=[topics.orb_events],
        handler=sink,
        dlq_topic=topics.sync_dlq,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        for _ in range(400):  # bounded: 20 s
            if until(loop) or task.done():
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
    return loop


BROKEN: dict[str, type[Exception]] = {
    "evt_1": MappingError,
    "evt_4": MappingError,
    "evt_7": MappingError,
    "evt_2": ValueError,
    "evt_5": ValueError,
}


async def _dead_letters(settings: Settings) -> list[Envelope]:
    """10 events through the loop: 3 MappingError and 2 ValueError dead letters in bridge.sync.dlq."""
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    events = [event(i, f"cus_{i}") for i in range(10)]
    await produce(settings, topics.orb_events, events)
    loop = await _consume(
        settings, Sink(dict(BROKEN)), lambda lp: lp.stats.outcomes.get("dead_lettered", 0) == 5
    )
    assert loop.stats.outcomes == {"applied": 5, "dead_lettered": 5}
    return events


def _cli(settings: Settings, *args: str, input: str | None = None) -> Any:
    env = {"BRIDGE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "BRIDGE_TOPIC_PREFIX": settings.topic_prefix}
    return CliRunner().invoke(app, ["dlq", *args], env=env, input=input)


def _groups(settings: Settings) -> dict[str, int]:
    run = _cli(settings, "list", "--json")
    assert run.exit_code == 0, run.output
    return {g["error_class"]: g["count"] for g in orjson.loads(run.stdout)}


def test_list_groups_dead_letters_by_error_class_with_counts_and_first_last_seen(settings: Settings) -> None:
    asyncio.run(_dead_letters(settings))

    run = _cli(settings, "list", "--topic", "sync", "--json")

    assert run.exit_code == 0, run.output
    groups = orjson.loads(run.stdout)
    assert [(g["error_class"], g["count"]) for g in groups] == [("MappingError", 3), ("ValueError", 2)]
    assert all(g["first_seen"] <= g["last_seen"] for g in groups)
    assert groups[0]["topics"] == [Topics.from_settings(settings).sync_dlq]
    empty = _cli(settings, "list", "--topic", "writeback", "--json")
    assert empty.exit_code == 0 and orjson.loads(empty.stdout) == []
    table = _cli(settings, "list")
    assert table.exit_code == 0 and "MappingError" in table.stdout and "ValueError" in table.stdout


def test_show_gives_the_original_event_and_its_error_headers(settings: Settings) -> None:
    events = asyncio.run(_dead_letters(settings))
    records = asyncio.run(read_all(settings, Topics.from_settings(settings).sync_dlq))
    rec = next(r for r in records if decode_headers(r.headers)["event_id"] == "evt_4")

    run = _cli(settings, "show", f"{rec.partition}:{rec.offset}", "--json")

    assert run.exit_code == 0, run.output
    shown = orjson.loads(run.stdout)
    assert shown["event"] == orjson.loads(events[4].to_bytes())
    assert shown["key"] == "cus_4"
    assert shown["error"]["error-class"] == "MappingError"
    assert shown["error"]["original-topic"] == Topics.from_settings(settings).orb_events
    assert shown["error"]["attempts"] == "1"
    assert shown["headers"]["event_id"] == "evt_4"
    missing = _cli(settings, "show", f"{rec.partition}:{rec.offset + 100}")
    assert missing.exit_code == 2 and "offsets" in missing.stderr
    malformed = _cli(settings, "show", "three")
    assert malformed.exit_code == 2 and "<partition>:<offset>" in malformed.stderr


def test_redrive_of_a_fixed_class_lands_once_and_a_second_redrive_sends_nothing(settings: Settings) -> None:
    asyncio.run(_dead_letters(settings))
    topics = Topics.from_settings(settings)

    dry = _cli(settings, "redrive", "--class", "MappingError", "--dry-run")
    assert dry.exit_code == 0 and "3 dead letter(s) would be redriven" in dry.stdout
    assert len(asyncio.run(read_all(settings, topics.orb_events))) == 10

    first = _cli(settings, "redrive", "--class", "MappingError", "--yes", "--json")
    assert first.exit_code == 0, first.output
    assert {t for _, t in orjson.loads(first.stdout)["redriven"]} == {topics.orb_events}
    redriven = [
        r
        for r in asyncio.run(read_all(settings, topics.orb_events))
        if r.offset >= 1 and "redriven-from" in decode_headers(r.headers)
    ]
    assert sorted(decode_headers(r.headers)["event_id"] for r in redriven) == ["evt_1", "evt_4", "evt_7"]
    assert all(decode_headers(r.headers)["dlq-attempts"] == "1" for r in redriven)
    assert not any("dlq-error-class" in decode_headers(r.headers) for r in redriven)

    # the mapping is fixed: only ValueError stays broken, the redriven events land
    fixed = Sink({"evt_2": ValueError, "evt_5": ValueError})
    asyncio.run(_consume(settings, fixed, lambda lp: len(fixed.applied) == 3))
    assert sorted(fixed.applied) == ["evt_1", "evt_4", "evt_7"]

    second = _cli(settings, "redrive", "--class", "MappingError", "--yes", "--json")
    assert second.exit_code == 0 and orjson.loads(second.stdout)["redriven"] == []
    assert len(asyncio.run(read_all(settings, topics.orb_events))) == 13
    assert _groups(settings) == {"ValueError": 2}


def test_redriven_letter_that_fails_again_keeps_first_failure_and_counts_attempts(settings: Settings) -> None:
    asyncio.run(_dead_letters(settings))
    topics = Topics.from_settings(settings)
    before = {
        decode_headers(r.headers)["event_id"]: decode_headers(r.headers)
        for r in asyncio.run(read_all(settings, topics.sync_dlq))
    }

    run = _cli(settings, "redrive", "--customer", "cus_2", "--yes")
    assert run.exit_code == 0, run.output
    asyncio.run(
        _consume(settings, Sink(dict(BROKEN)), lambda lp: lp.stats.outcomes.get("dead_lettered", 0) == 1)
    )

    again = [
        decode_headers(r.headers)
        for r in asyncio.run(read_all(settings, topics.sync_dlq))
        if decode_headers(r.headers)["dlq-attempts"] == "2"
    ]
    assert [h["event_id"] for h in again] == ["evt_2"]
    assert again[0]["dlq-first-failure"] == before["evt_2"]["dlq-first-failure"]
    assert _groups(settings) == {
        "MappingError": 3,
        "ValueError": 2,
    }  # the old copy is handled, the new one is listed


def test_redrive_without_a_filter_or_all_is_refused(settings: Settings) -> None:
    run = _cli(settings, "redrive", "--yes")
    assert run.exit_code == 2 and "--all" in run.stderr


def test_purge_of_a_class_asks_first_and_a_no_keeps_everything(settings: Settings) -> None:
    asyncio.run(_dead_letters(settings))

    refused = _cli(settings, "purge", "--class", "ValueError", input="n\n")
    assert refused.exit_code == 1 and "nothing changed" in refused.stderr
    assert _groups(settings) == {"MappingError": 3, "ValueError": 2}

    accepted = _cli(settings, "purge", "--class", "ValueError", input="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "purged: 2" in accepted.stdout
    assert _groups(settings) == {"MappingError": 3}
    # a purged class is not redriven by --all either
    everything = _cli(settings, "redrive", "--all", "--dry-run", "--json")
    assert len(orjson.loads(everything.stdout)["would_redrive"]) == 3


def test_purge_everything_deletes_the_records_from_the_dlq_topic(settings: Settings) -> None:
    asyncio.run(_dead_letters(settings))
    dlq = Topics.from_settings(settings).sync_dlq

    dry = _cli(settings, "purge", "--topic", "sync", "--dry-run", "--json")
    assert dry.exit_code == 0 and orjson.loads(dry.stdout)["plan"]["count"] == 5
    assert len(asyncio.run(read_all(settings, dlq))) == 5

    run = _cli(settings, "purge", "--topic", "sync", "--yes")
    assert run.exit_code == 0, run.output
    assert asyncio.run(read_all(settings, dlq)) == []
    assert asyncio.run(_low_watermarks(settings, dlq)) == asyncio.run(_ends(settings, dlq))
    assert _groups(settings) == {}


async def _low_watermarks(settings: Settings, topic: str) -> dict[int, int]:
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return {tp.partition: o for tp, o in (await consumer.beginning_offsets(tps)).items()}
    finally:
        await consumer.stop()


async def _ends(settings: Settings, topic: str) -> dict[int, int]:
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.topic_partitions)]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def test_purge_before_a_time_deletes_only_older_dead_letters(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    asyncio.run(ensure_topics(settings, [topics.sync_dlq]))
    # Recent stamps: the broker deletes records stamped older than its retention (7 days).
    old = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=3)
    asyncio.run(_write_dead_letter(settings, event(1, "cus_same"), "MappingError", old))
    asyncio.run(_write_dead_letter(settings, event(2, "cus_same"), "MappingError", old + timedelta(hours=1)))
    asyncio.run(_write_dead_letter(settings, event(3, "cus_same"), "ValueError", old + timedelta(days=2)))

    cutoff = (old + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    run = _cli(settings, "purge", "--before", cutoff, "--yes", "--json")

    assert run.exit_code == 0, run.output
    assert orjson.loads(run.stdout)["purged"] == 2
    left = asyncio.run(read_all(settings, topics.sync_dlq))
    assert [decode_headers(r.headers)["event_id"] for r in left] == ["evt_3"]
    assert _groups(settings) == {"ValueError": 1}


async def _write_dead_letter(settings: Settings, env: Envelope, error_class: str, at: datetime) -> None:
    """A dead letter with the headers consumers/loop.py writes, stamped at `at`."""
    topics = Topics.from_settings(settings)
    stamp = at.isoformat().replace("+00:00", "Z")
    headers = env.headers(
        {
            "dlq-error-class": error_class,
            "dlq-error-code": "permanent",
            "dlq-error-message": "cannot map",
            "dlq-attempts": "1",
            "dlq-original-topic": topics.orb_events,
            "dlq-original-partition": "0",
            "dlq-original-offset": "0",
            "dlq-first-failure": stamp,
            "dlq-last-failure": stamp,
            "dlq-consumer": "sync",
        }
    )
    producer = make_producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            topics.sync_dlq,
            value=env.to_bytes(),
            key=env.key,
            headers=headers,
            timestamp_ms=int(at.timestamp() * 1000),
        )
    finally:
        await producer.stop()
