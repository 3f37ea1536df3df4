"""`bridge replay` on the real broker: ranges by offset and time, filters, bounded self-replay."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.errors import BadInput
from bridge.events import decode_headers
from bridge.kafka import Topics, ensure_topics
from bridge.ops.replay import ReplayRequest, replay
from bridge.settings import Settings
from tests.kafka_records import end_total, event, produce, read_all

pytestmark = pytest.mark.kafka


def _env(settings: Settings) -> dict[str, str]:
    return {"BRIDGE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "BRIDGE_TOPIC_PREFIX": settings.topic_prefix}


async def _setup(settings: Settings) -> tuple[Topics, str]:
    topics = Topics.from_settings(settings)
    target = settings.topic("replay.target")
    await ensure_topics(settings, [topics.orb_events, target])
    return topics, target


async def test_replay_by_offsets_into_another_topic_keeps_key_and_headers_and_adds_replayed_from(
    settings: Settings,
) -> None:
    topics, target = await _setup(settings)
    events = [event(i, f"cus_{i % 3}", "invoice.issued" if i % 2 else "customer.created") for i in range(30)]
    placed = await produce(settings, topics.orb_events, events)
    by_place = {p: e for p, e in zip(placed, events, strict=True)}

    result = await replay(
        settings,
        ReplayRequest(topic="billing.orb.events", from_offset=0, customer="cus_1", to_topic="replay.target"),
    )

    copies = await read_all(settings, target)
    wanted = [e for e in events if e.customer_id == "cus_1"]
    assert (result.matched, result.published, result.scanned) == (len(wanted), len(wanted), 30)
    assert sorted(c.value for c in copies) == sorted(e.to_bytes() for e in wanted)
    for c in copies:
        h = decode_headers(c.headers)
        src_topic, part, off = h["replayed-from"].rsplit(":", 2)
        original = by_place[(int(part), int(off))]
        assert src_topic == topics.orb_events
        assert c.key == b"cus_1" and c.value == original.to_bytes()
        assert (h["source"], h["event_type"], h["event_id"]) == (
            "orb",
            original.event_type,
            original.event_id,
        )
    # per-customer order survives the replay
    assert [orjson.loads(c.value)["payload"]["seq"] for c in copies] == [e.payload["seq"] for e in wanted]


async def test_replay_offset_window_on_one_partition_is_inclusive_and_filters_event_type_glob(
    settings: Settings,
) -> None:
    topics, target = await _setup(settings)
    events = [event(i, "cus_a", "invoice.issued" if i % 2 else "customer.created") for i in range(10)]
    placed = await produce(settings, topics.orb_events, events)
    partition = placed[0][0]  # one key: one partition, offsets 0..9

    result = await replay(
        settings,
        ReplayRequest(
            topic=topics.orb_events,  # the full name works too
            from_offset=2,
            to_offset=6,
            partitions=(partition,),
            event_type="invoice.*",
            to_topic=target,
        ),
    )

    copies = await read_all(settings, target)
    assert result.scanned == 5
    assert sorted(decode_headers(c.headers)["event_id"] for c in copies) == ["evt_3", "evt_5"]
    assert result.published == 2


async def test_replay_by_time_takes_only_records_stamped_inside_the_window(settings: Settings) -> None:
    topics, target = await _setup(settings)
    # Recent stamps: the broker deletes records stamped older than its retention (7 days).
    t0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ms = int(t0.timestamp() * 1000)
    await produce(settings, topics.orb_events, [event(i, f"cus_{i}") for i in range(0, 5)], ms)
    await produce(settings, topics.orb_events, [event(i, f"cus_{i}") for i in range(5, 10)], ms + 60_000)
    await produce(settings, topics.orb_events, [event(i, f"cus_{i}") for i in range(10, 15)], ms + 120_000)

    result = await replay(
        settings,
        ReplayRequest(
            topic="billing.orb.events",
            since=t0 + timedelta(seconds=30),
            until=t0 + timedelta(seconds=90),
            to_topic="replay.target",
        ),
    )

    copies = await read_all(settings, target)
    assert sorted(decode_headers(c.headers)["event_id"] for c in copies) == sorted(
        f"evt_{i}" for i in range(5, 10)
    )
    assert result.scanned == 5 and result.published == 5


def test_cli_replay_into_the_source_topic_doubles_the_count_exactly_once(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    asyncio.run(ensure_topics(settings, [topics.orb_events]))
    asyncio.run(produce(settings, topics.orb_events, [event(i, f"cus_{i % 4}") for i in range(20)]))

    run = CliRunner().invoke(
        app, ["replay", "--topic", "billing.orb.events", "--from-offset", "0", "--json"], env=_env(settings)
    )

    assert run.exit_code == 0, run.output
    report = orjson.loads(run.stdout)
    assert (report["scanned"], report["matched"], report["published"]) == (20, 20, 20)
    records = asyncio.run(read_all(settings, topics.orb_events))
    assert len(records) == 40
    ids = Counter(decode_headers(r.headers)["event_id"] for r in records)
    assert set(ids.values()) == {2}
    assert sum("replayed-from" in decode_headers(r.headers) for r in records) == 20


def test_cli_dry_run_counts_matches_and_publishes_nothing(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    asyncio.run(ensure_topics(settings, [topics.orb_events]))
    asyncio.run(produce(settings, topics.orb_events, [event(i, f"cus_{i % 2}") for i in range(12)]))

    run = CliRunner().invoke(
        app,
        ["replay", "--topic", "billing.orb.events", "--from-offset", "0", "--customer", "cus_0", "--dry-run"],
        env=_env(settings),
    )

    assert run.exit_code == 0, run.output
    assert "6" in run.stdout and "dry run" in run.stdout
    assert asyncio.run(end_total(settings, topics.orb_events)) == 12


def test_cli_replay_with_offsets_and_times_together_is_refused_and_publishes_nothing(
    settings: Settings,
) -> None:
    topics = Topics.from_settings(settings)
    asyncio.run(ensure_topics(settings, [topics.orb_events]))
    asyncio.run(produce(settings, topics.orb_events, [event(1, "cus_1")]))

    run = CliRunner().invoke(
        app,
        ["replay", "--topic", "billing.orb.events", "--from-offset", "0", "--since", "2h"],
        env=_env(settings),
    )

    assert run.exit_code == 2
    assert "not both" in run.stderr
    assert asyncio.run(end_total(settings, topics.orb_events)) == 1


async def test_replay_into_a_missing_topic_names_it_and_publishes_nothing(settings: Settings) -> None:
    topics = Topics.from_settings(settings)
    await ensure_topics(settings, [topics.orb_events])
    await produce(settings, topics.orb_events, [event(1, "cus_1")])

    with pytest.raises(BadInput, match="nowhere"):
        await replay(settings, ReplayRequest(topic="billing.orb.events", from_offset=0, to_topic="nowhere"))
    assert await end_total(settings, topics.orb_events) == 1


def test_unparseable_since_is_a_clear_error(settings: Settings) -> None:
    run = CliRunner().invoke(
        app, ["replay", "--topic", "billing.orb.events", "--since", "yesterday"], env=_env(settings)
    )
    assert run.exit_code == 2
    assert "--since" in run.stderr and "ISO 8601" in run.stderr
