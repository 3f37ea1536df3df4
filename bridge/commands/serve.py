"""`bridge serve`: the webhook receiver on uvicorn (httptools + uvloop)."""

from __future__ import annotations

import typer
import uvicorn

from bridge.app import create_app
from bridge.http_protocol import BoundedHttpToolsProtocol
from bridge.logs import configure_logging
from bridge.settings import Settings


def serve(
    port: int = typer.Option(None, help="Port (default: BRIDGE_HTTP_PORT, 8080)."),
    host: str = typer.Option(None, help="Address (default: BRIDGE_HTTP_HOST)."),
) -> None:
    """Receive Orb, Chargebee and Salesforce webhooks and publish them to Kafka."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    uvicorn.run(
        create_app(settings),
        host=host or settings.http_host,
        port=port or settings.http_port,
        http=BoundedHttpToolsProtocol,  # httptools, with the request head bounded (431)
        loop="uvloop",
        log_level="warning",
        # Bounded on purpose (README "Receiver limits"): slow or idle clients must not pin
        # memory or sockets, and overload must answer 503 rather than queue without end.
        timeout_keep_alive=5,  # an idle keep-alive connection is closed after 5 s
        limit_concurrency=2000,  # connections + requests in flight; beyond, 503 at once
        backlog=2048,  # accepted-but-not-served connections the kernel may queue
        h11_max_incomplete_event_size=16 * 1024,  # the head bound if run with h11 instead
        timeout_graceful_shutdown=20,
    )
