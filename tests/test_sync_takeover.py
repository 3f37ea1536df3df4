"""Taking a partition over: after a clean handover the new owner writes at once; after an owner
died holding it (kill -9), the new owner first waits out Salesforce writes that may still be in
flight from the dead one, so such a late write cannot land over a newer version."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
from mapping_payloads import orb_customer, orb_envelope, orb_event
from sync_harness import Org, publish_all, salesforce_sandbox, sync_settings, wait_for

from bridge.events import Envelope
from bridge.mapping.registry import build_mapper
from bridge.salesforce.factory import salesforce_client
from bridge.settings import Settings
from consumers.loop import ConsumeLoop
from consumers.sync import run_sync


def _edit(version: int) -> Envelope:
    customer = orb_customer("cus_take", name=f"Take v{version}")
    at = f"2026-01-01T00:00:0{version}+00:00"
    return orb_envelope(
        orb_event("customer.edited", event_id=f"e_take_{version}", created_at=at, customer=customer)
    )


async def _start(
    s: Settings, http: httpx.AsyncClient
) -> tuple[asyncio.Task[None], asyncio.Event, ConsumeLoop]:
    stop = asyncio.Event()
    holder: list[ConsumeLoop] = []
    sf = salesforce_client(s, http)  # a 1 s call timeout: in-doubt writes are waited out 6 s
    task = asyncio.create_task(
        run_sync(s, stop, mapper=build_mapper().map_event, salesforce=sf, on_loop=holder.append)  # type: ignore[arg-type]
    )
    await wait_for(lambda: bool(holder) and holder[0].ready.is_set(), timeout=30)
    return task, stop, holder[0]


def _name(org: Org) -> str | None:
    found = org.by_ext("OrbCustomer__c", "Orb_Id__c").get("cus_take")
    return None if found is None else str(found["Name"])


async def _takeover(
    settings: Settings, end_first: Callable[[asyncio.Task[None], asyncio.Event], Awaitable[None]]
) -> tuple[list[str | None], ConsumeLoop]:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with httpx.AsyncClient(timeout=httpx.Timeout(1.0, connect=5.0)) as http:
            await publish_all(s, [_edit(1)])
            task, stop, _first = await _start(s, http)
            await wait_for(lambda: _name(org) == "Take v1", timeout=30)
            await end_first(task, stop)
            await publish_all(s, [_edit(2)])
            task, stop, second = await _start(s, http)
            await asyncio.sleep(1.5)
            seen = [_name(org)]
            await wait_for(lambda: _name(org) == "Take v2", timeout=30)
            seen.append(_name(org))
            stop.set()
            await asyncio.wait_for(task, 20)
    return seen, second


async def test_after_an_owner_died_the_new_owner_waits_out_its_writes_in_doubt(settings: Settings) -> None:
    async def kill(task: asyncio.Task[None], stop: asyncio.Event) -> None:
        task.cancel()  # no clean handover: the partition stays marked as held
        await asyncio.gather(task, return_exceptions=True)

    seen, second = await _takeover(settings, kill)
    assert seen == ["Take v1", "Take v2"]  # nothing written during the wait, then the new version
    assert second.stats.retries >= 1


async def test_after_a_clean_stop_the_new_owner_writes_at_once(settings: Settings) -> None:
    async def clean(task: asyncio.Task[None], stop: asyncio.Event) -> None:
        stop.set()
        await asyncio.wait_for(task, 20)

    seen, second = await _takeover(settings, clean)
    assert seen == ["Take v2", "Take v2"]
    assert second.stats.retries == 0
