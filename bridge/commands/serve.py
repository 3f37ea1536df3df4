"""`bridge serve`: the webhook receiver on uvicorn (httptools + uvloop)."""

from __future__ import annotations

import typer
import uvicorn
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from bridge.app import create_app
from bridge.logs import configure_logging
from bridge.roles import receiver_config
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
    if workers == 1:
        uvicorn.Server(receiver_config(settings, host, port)).run()
        return
    # Several workers are separate processes: each builds its app (and producer) itself.
    config = receiver_config(settings, host, port, app=f"{__name__}:worker_app", workers=workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()


def worker_app() -> Starlette:
    """The receiver app of one `--workers` process, configured from the environment."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return create_app(settings)
