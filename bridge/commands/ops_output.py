"""Shared output pieces of the ops commands: error exits, JSON, progress bars, confirmation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import orjson
import typer
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bridge.errors import BadInput, BridgeError
from bridge.ops.times import parse_time
from bridge.settings import Settings

T = TypeVar("T")

# Tables and results go to stdout (pipe-able); progress and errors to stderr.
out = Console()
err = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error on stderr and exit with `code` (2: bad input, 1: anything else)."""
    err.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def load_settings() -> Settings:
    """Fresh settings per command (not the cached ones): the environment may have changed."""
    try:
        return Settings()
    except Exception as exc:  # pydantic ValidationError names the setting
        fail(f"invalid settings: {exc}")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a library coroutine; its `BridgeError` becomes a clear message and exit code."""
    try:
        return asyncio.run(coro)
    except BadInput as exc:
        fail(str(exc), 2)
    except BridgeError as exc:
        fail(str(exc), 1)
    except KafkaError as exc:  # e.g. the broker is not there at all
        fail(f"Kafka error: {exc!r} (is the broker running? `bridge kafka start` runs a local one)", 1)


def when(text: str | None, option: str) -> Any:
    """Parse a time option, naming the option when it is wrong."""
    if text is None:
        return None
    try:
        return parse_time(text)
    except BadInput as exc:
        fail(f"{option}: {exc}", 2)


def print_json(data: Any) -> None:
    """One JSON document on stdout, for scripts."""
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


@contextmanager
def progress_bar(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr; yields a `(done, total)` callback."""
    if not enabled:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def confirm(question: str, yes: bool) -> None:
    """Ask unless `--yes`; a 'no' exits 1 without changing anything."""
    if yes:
        return
    if not typer.confirm(question, default=False, err=True):
        err.print("aborted: nothing changed")
        raise typer.Exit(1)
