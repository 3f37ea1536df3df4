"""`bridge serve`: the webhook receiver on uvicorn (httptools + uvloop)."""

from __future__ import annotations

import typer
import uvicorn
from starlette.applications import Starlette

from bridge.app import create_app
from bridge.logs import configure_logging
from bridge.settings import Settings


def serve(
    port: int = typer.Option(None, help="Port (default: BRIDGE_HTTP_PORT, 8080)."),
    host: str = typer.Option(None, help="Address (default: BRIDGE_HTTP_HOST)."),
    workers: int = typer.Option(
        1, min=1, help="Processes sharing the port, each with its own Kafka producer (one per core)."
    ),
) -> None:
    """Receive Orb, Chargebee and Salesforce webhooks and publish them to Kafka."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        # Several workers are separate processes: each builds its app (and producer) itself.
        create_app(settings) if workers == 1 else f"{__name__}:worker_app",
        factory=workers > 1,
        workers=workers,
        host=host or settings.http_host,
        port=port or settings.http_port,
        http="httptools",
        loop="uvloop",
        log_level="warning",
        # Bounded on purpose: slow or idle clients must not pin memory or sockets.
        timeout_keep_alive=5,
        limit_concurrency=2000,
        h11_max_incomplete_event_size=16 * 1024,
        timeout_graceful_shutdown=20,
    )


def worker_app() -> Starlette:
    """The receiver app of one `--workers` process, configured from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
