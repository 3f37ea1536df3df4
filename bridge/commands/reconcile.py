"""`bridge reconcile`: report drift between billing and Salesforce; `--repair` corrects it."""

from __future__ import annotations

import typer
from rich.table import Table

from bridge.commands.backfill import progress_per_list, split_objects
from bridge.commands.ops_output import confirm, err, fail, load_settings, out, print_json, run
from bridge.errors import BadInput
from bridge.logs import configure_logging
from bridge.ops.reconcile import ReconcileReport, periodic_reconcile, run_reconcile
from bridge.runner import run_process

SHOWN = 5  # ids listed per cell; --json has all of them


def reconcile(
    objects: str | None = typer.Option(
        None, "--objects", help="Object types, comma separated; default: BRIDGE_SYNC_OBJECTS."
    ),
    repair: bool = typer.Option(
        False, "--repair", help="Publish corrections for missing and different records (sync applies them)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="With --repair: count corrections, publish none."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask before publishing corrections."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress)."),
    schedule: str | None = typer.Option(
        None,
        "--schedule",
        help='Keep running and reconcile on this schedule ("daily", "daily@HH:MM" UTC, "every 6h"); '
        "with --repair, corrections are published without asking. `bridge run --reconcile-schedule` "
        "does the same inside the all-in-one process.",
    ),
) -> None:
    """Compare billing with Salesforce. Exit 0: no drift (or all of it repaired); 1: drift left."""
    settings = load_settings()
    if schedule is not None:
        configure_logging(settings.log_level, settings.log_json)
        try:
            job = periodic_reconcile(settings, schedule, repair and not dry_run)
        except BadInput as exc:
            fail(f"--schedule: {exc}", 2)
        raise typer.Exit(run_process({}, [job]))
    objs = split_objects(objects)
    with progress_per_list(not json) as progress:
        report = run(run_reconcile(settings, objs, False, progress=progress))
        if repair and report.repairable and not dry_run:
            if not json:
                _print(report)
            confirm(f"Publish corrections for {report.repairable} records?", yes or json)
            report = run(run_reconcile(settings, objs, True, progress=progress))
        elif repair:
            report = run(run_reconcile(settings, objs, True, dry_run=True, progress=progress))
    if json:
        print_json(report.as_dict())
    else:
        _print(report)
    if report.repair and report.records_repaired:
        verb = "would publish" if report.dry_run else "published"
        err.print(f"{verb} {report.repairs_published} corrections for {report.records_repaired} records")
    if report.extra:
        err.print(
            f"[yellow]{report.extra} extra records[/yellow]: in Salesforce but not in billing; not deleted"
        )
    raise typer.Exit(0 if report.clean_after_repair else 1)


def _print(report: ReconcileReport) -> None:
    table = Table(title=f"reconcile: {report.objects_read:,} billing objects read, drift {report.drift}")
    for column in ("SObject", "expected", "in Salesforce", "missing", "extra", "different"):
        table.add_column(column, justify="left" if column in ("SObject", "different") else "right")
    for s in report.sobjects:
        diff = "; ".join(f"{ext}: {', '.join(fields)}" for ext, fields in list(s.different.items())[:SHOWN])
        if len(s.different) > SHOWN:
            diff += f"; … {len(s.different) - SHOWN} more"
        table.add_row(
            s.sobject,
            f"{s.expected:,}",
            f"{s.in_salesforce:,}",
            _ids(s.missing),
            _ids(s.extra) if s.extras_checked else "n/a",
            diff,
        )
    out.print(table)
    for note in report.skipped:
        err.print(f"[yellow]skipped:[/yellow] {note}")


def _ids(ids: list[str]) -> str:
    if not ids:
        return "0"
    shown = ", ".join(ids[:SHOWN])
    return f"{len(ids)} ({shown}{', …' if len(ids) > SHOWN else ''})"
