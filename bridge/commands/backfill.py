"""`bridge backfill`: publish every billing object as a webhook-shaped envelope (resumable)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bridge.commands.ops_output import confirm, err, load_settings, out, print_json, run, when
from bridge.ops.backfill import run_backfill


@contextmanager
def progress_per_list(enabled: bool) -> Iterator[Callable[[str, int], None]]:
    """One rich progress line per list (totals are unknown: vendors do not count for us)."""
    if not enabled:
        yield lambda label, done: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TextColumn("{task.completed:,} objects"),
        TimeElapsedColumn(),
        console=err,
    ) as bar:
        tasks: dict[str, TaskID] = {}

        def update(label: str, done: int) -> None:
            if label not in tasks:
                tasks[label] = bar.add_task(label, total=None)
            bar.update(tasks[label], completed=done)

        yield update


def split_objects(objects: str | None) -> list[str] | None:
    """`--objects customer,invoice` as a list (None: the active sync configuration)."""
    if objects is None:
        return None
    return [o.strip() for o in objects.split(",") if o.strip()]


def backfill(
    objects: str | None = typer.Option(
        None,
        "--objects",
        help="Object types, comma separated (customer, invoice, orb:plan…); default: BRIDGE_SYNC_OBJECTS.",
    ),
    since: str | None = typer.Option(
        None,
        "--since",
        help="Only objects changed (Chargebee) or created (Orb) since: ISO 8601 or an age (7d).",
    ),
    restart: bool = typer.Option(False, "--restart", help="Ignore checkpoints of an interrupted run."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Page through and count; publish nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before --restart."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress)."),
) -> None:
    """Publish billing objects to the billing topics for the sync to write (initial full sync).

    Resumes an interrupted run from its last completed page unless --restart.
    """
    settings = load_settings()
    since_at = when(since, "--since")
    if restart and not dry_run:
        confirm("Forget the checkpoints and publish every object again?", yes)
    with progress_per_list(not json) as progress:
        report = run(
            run_backfill(
                settings,
                split_objects(objects),
                since=since_at,
                dry_run=dry_run,
                restart=restart,
                progress=progress,
            )
        )
    if json:
        print_json(report.as_dict())
        return
    table = Table(title="backfill" + (" (dry run: nothing published)" if dry_run else ""))
    for column, justify in (
        ("list", "left"),
        ("pages", "right"),
        ("objects", "right"),
        ("resumed after", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for p in report.lists:
        table.add_row(p.label, str(p.pages), f"{p.published:,}", str(p.resumed_after_pages or ""))
    table.add_row("[bold]total", "", f"[bold]{report.published:,}", "")
    out.print(table)
    for note in report.skipped:
        err.print(f"[yellow]skipped:[/yellow] {note}")
