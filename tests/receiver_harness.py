"""Running the receiver for tests: real uvicorn on a free port (lifespan on), real broker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import uvicorn

from bridge.kafka import make_consumer, partitions_of
from bridge.roles import receiver_config
from bridge.settings import Settings


@asynccontextmanager
async def running_receiver(settings: Settings, wait_ready: bool = True) -> AsyncIterator[str]:
    """The receiver on a free loopback port, in this event loop; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = receiver_config(settings)  # the deployed configuration: limits, proxies, protocol
    app = config.app
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    if wait_ready:
        for _ in range(200):
            if app.state.publisher.started:
                break
            await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def read_topic(settings: Settings, topic: str, timeout: float = 2.0) -> list[Any]:
    """Every record now on `topic` (all partitions), read from the start."""
    tps = await partitions_of(settings, topic)
    if not tps:
        return []
    consumer = make_consumer(settings, None)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            done = True
            for tp in tps:
                if await consumer.position(tp) < ends[tp]:
                    done = False
            if done:
                break
            for recs in (await consumer.getmany(timeout_ms=200)).values():
                out.extend(recs)
        return out
    finally:
        await consumer.stop()
