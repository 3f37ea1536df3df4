"""Running `bridge sync` in a test: a Salesforce sandbox on a real port, the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
from fixtures.sf_sandbox_server import serve
from pydantic import SecretStr

from bridge.events import Envelope, decode_headers
from bridge.kafka import Topics, ensure_topics, make_consumer, make_producer, publish
from bridge.mapping import build_mapper
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox.salesforce.app import create_app
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.sync import run_sync


@contextmanager
def salesforce_sandbox(**options: Any) -> Iterator[str]:
    """A fresh org with the shipped schema, served on a free port; yields its URL."""
    with serve(create_app(**options)) as url:
        yield url


def sync_settings(settings: Settings, sf_url: str) -> Settings:
    """Settings that point the sync at the sandbox with its integration user."""
    return settings.model_copy(
        update={
            "salesforce_login_url": sf_url,
            "salesforce_instance_url": sf_url,
            "salesforce_auth_flow": "password",
            "salesforce_client_id": "sandbox-client-id",
            "salesforce_client_secret": SecretStr("sandbox-client-secret"),
            "salesforce_username": "integration@bridge.sandbox",
            "salesforce_password": SecretStr("sandbox-password"),
            "sync_group_id": f"{settings.topic_prefix}sync",
        }
    )


async def publish_all(settings: Settings, envelopes: list[Envelope]) -> None:
    """Publish envelopes to their source's topic, in order per key."""
    topics = Topics.from_settings(settings)
    await ensure_topics(settings)
    producer = make_producer(settings)
    await producer.start()
    try:
        for env in envelopes:
            await publish(producer, topics.billing(env.source), env)
    finally:
        await producer.stop()


@asynccontextmanager
async def running_sync(settings: Settings, **kw: Any) -> AsyncIterator[ConsumeLoop]:
    """Run the sync in a task; yields its loop once partitions are assigned."""
    stop = asyncio.Event()
    holder: list[ConsumeLoop] = []
    sf = salesforce_client(settings, httpx.AsyncClient(timeout=10))
    task = asyncio.create_task(
        run_sync(
            settings,
            stop,
            mapper=kw.pop("mapper", build_mapper().map_event),
            salesforce=sf,
            on_loop=holder.append,
            **kw,
        )
    )
    while not holder or not holder[0].ready.is_set():
        if task.done():
            task.result()
        await asyncio.sleep(0.05)
    try:
        yield holder[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        await sf.http.aclose()


async def wait_for(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll `cond` until true; fail with a clear message after `timeout`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not cond():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


def settled(loop: ConsumeLoop, n: int) -> Callable[[], bool]:
    """True once the loop has given `n` records an outcome."""
    return lambda: sum(loop.stats.outcomes.values()) >= n


class Org:
    """The sandbox's control API, for assertions."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=10)

    def records(self, sobject: str) -> list[dict[str, Any]]:
        data = self.http.get(f"/_sandbox/records/{sobject}").json()
        return data.get(sobject, data) if isinstance(data, dict) else data

    def by_ext(self, sobject: str, field: str) -> dict[str, dict[str, Any]]:
        return {r[field]: r for r in self.records(sobject)}

    def counts(self) -> dict[str, Any]:
        return self.http.get("/_sandbox/counts").json()

    def writes(self) -> int:
        return sum(v for k, v in self.counts()["by_kind"].items() if k.startswith("collections"))

    def fault(self, **fault: Any) -> None:
        assert self.http.post("/_sandbox/faults", json=fault).status_code == 200

    def set_usage(self, used: int) -> None:
        assert self.http.post("/_sandbox/usage", json={"used": used}).status_code == 200


async def dead_letter_headers(settings: Settings) -> list[dict[str, str]]:
    """The headers of every record in the sync DLQ topic."""
    consumer = make_consumer(settings, None)
    consumer.subscribe([Topics.from_settings(settings).sync_dlq])
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    return [decode_headers(r.headers) for recs in batch.values() for r in recs]
