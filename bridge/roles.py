"""The four long-running roles as coroutines that share one stop signal.

    receiver    the webhook receiver (uvicorn)         `bridge serve`
    sync        billing events → Salesforce            `bridge sync`
    writeback   Salesforce changes → Orb / Chargebee   `bridge writeback`
    listener    Salesforce CDC → salesforce.changes    `bridge listen`

Each builder checks its configuration at once (a bad mapping file fails before anything
starts) and returns a `RoleMain`: run until `stop` is set, then finish the work in hand and
close. `bridge/runner.py` runs one or several of them in one process.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Generator
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from bridge.app import create_app
from bridge.errors import BadInput, ConfigError
from bridge.http_protocol import BoundedHttpToolsProtocol
from bridge.kafka import ensure_topics, make_producer
from bridge.logs import get_logger
from bridge.mapping import build_mapper, chargebee_site_from_url, load_overrides
from bridge.runner import RoleFailed, RoleMain
from bridge.salesforce.cdc import DEFAULT_CHANNELS, CdcListener
from bridge.salesforce.factory import salesforce_client
from bridge.settings import Settings

log = get_logger("roles")

ROLES = ("receiver", "sync", "writeback", "listener")


def receiver_config(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    app: str | None = None,
    workers: int = 1,
) -> uvicorn.Config:
    """The receiver's uvicorn configuration (shared by `bridge serve` and `bridge run`); `app`
    names a factory for `workers` > 1 processes, each building its own app and producer."""
    return uvicorn.Config(
        app if app is not None else create_app(settings),
        factory=app is not None,
        workers=workers,
        host=host or settings.http_host,
        port=port or settings.http_port,
        http=BoundedHttpToolsProtocol,  # httptools, with the request head bounded (431)
        loop="uvloop",
        log_level="warning",
        # Each answer is counted in /metrics and each refusal logged with its reason; uvicorn's
        # access log formatted every request even when its level drops the line (bench/ingest.py).
        access_log=False,
        # Forwarding headers are trusted only from proxies named for it: by default a caller
        # cannot spoof its address past the Chargebee allow-list, and no header scan per request.
        proxy_headers=bool(settings.http_trusted_proxies),
        forwarded_allow_ips=settings.http_trusted_proxies or None,
        lifespan="on",
        # Bounded on purpose (README "Receiver limits"): slow or idle clients must not pin
        # memory or sockets, and overload must answer 503 rather than queue without end.
        timeout_keep_alive=5,  # an idle keep-alive connection is closed after 5 s
        limit_concurrency=2000,  # connections + requests in flight; beyond, 503 at once
        backlog=2048,  # accepted-but-not-served connections the kernel may queue
        h11_max_incomplete_event_size=16 * 1024,  # the head bound if run with h11 instead
        timeout_graceful_shutdown=20,
    )


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its own signal handlers: the runner owns SIGTERM/SIGINT."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def receiver(settings: Settings, host: str | None = None, port: int | None = None) -> RoleMain:
    """The receiver: on stop it refuses new connections, lets in-flight requests finish (their
    publishes acked), then flushes and closes the producer."""
    config = receiver_config(settings, host, port)

    async def main(stop: asyncio.Event) -> None:
        server = _EmbeddedServer(config)

        async def exit_on_stop() -> None:
            await stop.wait()
            server.should_exit = True

        watcher = asyncio.create_task(exit_on_stop())
        try:
            await server.serve()
        except SystemExit:  # uvicorn exits the process when it cannot bind or start the app
            raise RoleFailed(f"receiver could not start on {config.host}:{config.port}") from None
        finally:
            watcher.cancel()
        if not server.started:
            raise RoleFailed(f"receiver could not start on {config.host}:{config.port}")
        log.info("receiver_stopped")

    return main


def sync(settings: Settings) -> RoleMain:
    """billing → Salesforce; the mapping (and override file) is loaded and checked now."""
    mapper = build_mapper(
        chargebee_site=chargebee_site_from_url(settings.chargebee_api_url),
        overrides=load_overrides(Path(settings.mapping_file)) if settings.mapping_file else None,
        sync_objects=settings.sync_objects or None,
    )

    async def main(stop: asyncio.Event) -> None:
        from consumers.sync import run_sync

        sf = salesforce_client(settings)
        try:
            loop = await run_sync(settings, stop, mapper=mapper.map_event, salesforce=sf)
        finally:
            await sf.http.aclose()
        log.info("sync_stopped", outcomes=loop.stats.outcomes, retries=loop.stats.retries)

    return main


def cdc_unconfigured(settings: Settings) -> str | None:
    """Why the CDC listener cannot log in with these settings, or None when it can."""
    flow = settings.salesforce_auth_flow
    needed: dict[str, tuple[tuple[str, object], ...]] = {
        "password": (
            ("BRIDGE_SALESFORCE_CLIENT_ID", settings.salesforce_client_id),
            ("BRIDGE_SALESFORCE_USERNAME", settings.salesforce_username),
            ("BRIDGE_SALESFORCE_PASSWORD", settings.salesforce_password),
        ),
        "jwt": (
            ("BRIDGE_SALESFORCE_CLIENT_ID", settings.salesforce_client_id),
            ("BRIDGE_SALESFORCE_USERNAME", settings.salesforce_username),
            ("BRIDGE_SALESFORCE_PRIVATE_KEY_FILE", settings.salesforce_private_key_file),
        ),
        "client_credentials": (
            ("BRIDGE_SALESFORCE_CLIENT_ID", settings.salesforce_client_id),
            ("BRIDGE_SALESFORCE_CLIENT_SECRET", settings.salesforce_client_secret),
        ),
        "token": (("BRIDGE_SALESFORCE_ACCESS_TOKEN", settings.salesforce_access_token),),
    }
    missing = [name for name, value in needed[flow] if not value]
    if missing:
        return f"Salesforce login ({flow} flow) needs {', '.join(missing)}"
    return None


def listener(settings: Settings, channels: str = ",".join(DEFAULT_CHANNELS)) -> RoleMain:
    """Salesforce CDC → salesforce.changes (run exactly one per org)."""
    names = tuple(c.strip() for c in channels.split(",") if c.strip())
    if not names:
        raise ConfigError("no CDC channel given (e.g. /data/AccountChangeEvent)")

    async def main(stop: asyncio.Event) -> None:
        await ensure_topics(settings)
        async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
            sf = salesforce_client(settings, http)
            producer = make_producer(settings)
            await producer.start()
            try:
                cdc = CdcListener(settings, http, sf.tokens, sf, producer, names)
                await cdc.run(stop)
                log.info("listener_stopped", outcomes=dict(cdc.stats.outcomes))
            finally:
                await producer.stop()

    return main


def writeback(settings: Settings) -> RoleMain:
    """Salesforce changes (Accounts, won Opportunities) → Orb and Chargebee."""

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

    return main


def parse_roles(spec: str) -> tuple[str, ...]:
    """Role names from "all" or a comma-separated list, in start order; `BadInput` names a wrong one."""
    names = [part.strip().lower() for part in spec.split(",") if part.strip()]
    if not names:
        raise BadInput(f"no role given; choose from all, {', '.join(ROLES)}")
    if "all" in names:
        return ROLES
    unknown = [n for n in names if n not in ROLES]
    if unknown:
        raise BadInput(f"unknown role(s) {', '.join(unknown)}; choose from all, {', '.join(ROLES)}")
    return tuple(r for r in ROLES if r in names)
