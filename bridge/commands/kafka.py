"""`bridge kafka start|stop|status|fetch`: the local single-node broker for tests and the demo."""

from __future__ import annotations

import orjson
import typer
from rich.console import Console

from bridge.local_kafka import KAFKA_VERSION, LocalKafka, LocalKafkaError

app = typer.Typer(help="Run the local single-node Kafka broker (KRaft, from Maven Central jars).")
console = Console(stderr=True)


def _fail(exc: LocalKafkaError) -> None:
    console.print(f"[red]error:[/red] {exc}")
    raise typer.Exit(1)


@app.command()
def fetch() -> None:
    """Download the broker's jars into the cache (reused when present)."""
    try:
        path = LocalKafka().fetch()
    except LocalKafkaError as exc:
        _fail(exc)
    console.print(f"Kafka {KAFKA_VERSION} jars in {path}")


@app.command()
def start(wait: float = typer.Option(60.0, help="Seconds to wait for the first answer.")) -> None:
    """Start the broker on 127.0.0.1 and wait until it answers metadata requests."""
    broker = LocalKafka()
    try:
        seconds = broker.start(wait_seconds=wait)
    except LocalKafkaError as exc:
        _fail(exc)
    if seconds == 0.0:
        console.print(f"Kafka {KAFKA_VERSION} already running at {broker.bootstrap}")
    else:
        console.print(f"Kafka {KAFKA_VERSION} answering at {broker.bootstrap} after {seconds:.1f}s")


@app.command()
def stop(wipe: bool = typer.Option(False, "--wipe", help="Also delete the broker's data.")) -> None:
    """Stop the broker; with --wipe, delete its data dir too."""
    broker = LocalKafka()
    ran = broker.stop(wipe=wipe)
    what = "stopped" if ran else "was not running"
    console.print(f"Kafka {what}" + (f"; data wiped ({broker.data})" if wipe else ""))


@app.command()
def status(json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Say whether the broker runs and answers; exit 1 when it does not answer."""
    info = LocalKafka().status()
    if json:
        typer.echo(orjson.dumps(info).decode())
    else:
        for key, value in info.items():
            console.print(f"{key:12} {value}")
    if not info["answering"]:
        raise typer.Exit(1)
