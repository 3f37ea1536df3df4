"""`bridge sync` and `bridge listen`: the long-running consumers, stopped cleanly by SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bridge.kafka import ensure_topics, make_producer
from bridge.logs import configure_logging, get_logger
from bridge.mapping import build_mapper, chargebee_site_from_url, load_overrides
from bridge.salesforce.cdc import DEFAULT_CHANNELS, CdcListener
from bridge.salesforce.factory import salesforce_client
from bridge.settings import Settings

log = get_logger("cli")


def _run_until_signal(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    asyncio.run(runner())


def sync() -> None:
    """Consume billing events and keep Salesforce equal to billing (billing → Salesforce)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    mapper = build_mapper(
        chargebee_site=chargebee_site_from_url(settings.chargebee_api_url),
        overrides=load_overrides(Path(settings.mapping_file)) if settings.mapping_file else None,
        sync_objects=settings.sync_objects or None,
    )

    async def main(stop: asyncio.Event) -> None:
        from consumers.sync import run_sync

        loop = await run_sync(settings, stop, mapper=mapper.map_event)
        log.info("sync_stopped", outcomes=loop.stats.outcomes, retries=loop.stats.retries)

    _run_until_signal(main)


def listen(
    channels: str = ",".join(DEFAULT_CHANNELS),
) -> None:
    """Publish Salesforce Change Data Capture events to salesforce.changes (run exactly one)."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)

    async def main(stop: asyncio.Event) -> None:
        await ensure_topics(settings)
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            sf = salesforce_client(settings, http)
            producer = make_producer(settings)
            await producer.start()
            try:
                listener = CdcListener(
                    settings,
                    http,
                    sf.tokens,
                    sf,
                    producer,
                    tuple(c.strip() for c in channels.split(",") if c.strip()),
                )
                await listener.run(stop)
                log.info("listener_stopped", outcomes=dict(listener.stats.outcomes))
            finally:
                await producer.stop()

    _run_until_signal(main)


def writeback() -> None:
    """Push Salesforce changes (Accounts, won Opportunities) back to Orb and Chargebee."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)

    async def main(stop: asyncio.Event) -> None:
        from bridge.billing.chargebee import ChargebeeClient
        from bridge.billing.orb import OrbClient
        from bridge.mapping import default_mappings
        from consumers.writeback import WritebackHandler, run_writeback

        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            sf = salesforce_client(settings, http)
            orb = (
                OrbClient(http, settings.orb_api_url, settings.orb_api_key.get_secret_value())
                if settings.orb_api_key
                else None
            )
            chargebee = (
                ChargebeeClient(
                    http, settings.chargebee_api_url, settings.chargebee_api_key.get_secret_value()
                )
                if settings.chargebee_api_key
                else None
            )
            site = chargebee_site_from_url(settings.chargebee_api_url)

            def factory(state: Any, producer: Any) -> WritebackHandler:
                return WritebackHandler(
                    settings,
                    sf,
                    default_mappings(chargebee_site=site),
                    state,
                    producer,
                    orb=orb,
                    chargebee=chargebee,
                    chargebee_site=site,
                )

            loop = await run_writeback(settings, stop, factory)
            log.info("writeback_stopped", outcomes=loop.stats.outcomes)

    _run_until_signal(main)
