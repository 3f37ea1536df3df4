"""`bridge sandbox salesforce|orb|chargebee`: run one emulator on its own port.

Each emulator package exposes `create_app() -> Starlette` in its `app` module.
"""

from __future__ import annotations

import importlib

import typer
import uvicorn

app = typer.Typer(help="Run a local emulator of Salesforce, Orb or Chargebee.")


def _serve(name: str, host: str, port: int) -> None:
    module = importlib.import_module(f"bridge.sandbox.{name}.app")
    uvicorn.run(module.create_app(), host=host, port=port, log_level="warning")


@app.command()
def salesforce(
    port: int = typer.Option(8181, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """A local Salesforce: REST, sObject Collections, Bulk API 2.0, CDC over CometD."""
    _serve("salesforce", host, port)


@app.command()
def orb(
    port: int = typer.Option(8282, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """A local Orb: /v1 API and signed webhooks."""
    _serve("orb", host, port)


@app.command()
def chargebee(
    port: int = typer.Option(8383, help="Port to listen on."),
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
) -> None:
    """A local Chargebee: /api/v2 API and Basic-auth webhooks."""
    _serve("chargebee", host, port)
