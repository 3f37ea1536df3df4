"""`bridge serve`: the webhook receiver on uvicorn (httptools + uvloop)."""

from __future__ import annotations

import typer
import uvicorn

from bridge.logs import configure_logging
from bridge.roles import receiver_config
from bridge.settings import Settings


def serve(
    port: int = typer.Option(None, help="Port (default: BRIDGE_HTTP_PORT, 8080)."),
    host: str = typer.Option(None, help="Address (default: BRIDGE_HTTP_HOST)."),
) -> None:
    """Receive Orb, Chargebee and Salesforce webhooks and publish them to Kafka."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.Server(receiver_config(settings, host, port)).run()
