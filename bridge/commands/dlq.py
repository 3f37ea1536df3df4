"""`bridge dlq list|show|redrive|purge`: live with dead letters."""

from __future__ import annotations

import typer
from rich.table import Table

from bridge.commands.ops_output import confirm, fail, load_settings, out, print_json, progress_bar, run, when
from bridge.errors import BadInput
from bridge.ops import dlq as ops

app = typer.Typer(help="Dead letters: list, show, redrive, purge.", no_args_is_help=True)

TOPIC_HELP = "Which DLQ: sync (bridge.sync.dlq) or writeback (bridge.writeback.dlq); default: both."


def _kind(topic: str | None) -> str | None:
    if topic is not None and topic not in ops.KINDS:
        fail(f"--topic must be one of: {', '.join(ops.KINDS)} (got {topic!r})", 2)
    return topic


def _ts(value: object) -> str:
    # Minutes tell "still failing" from "stopped a day ago" and keep the table in 80 columns.
    return str(value)[:16]


@app.command("list")
def list_(
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Dead letters not yet redriven or purged, grouped by error class, with first/last seen."""
    settings = load_settings()
    groups = run(ops.list_groups(settings, _kind(topic)))
    if json:
        print_json([g.as_dict() for g in groups])
        return
    kind_of = {settings.topic(name): kind for kind, name in ops.KINDS.items()}
    table = Table(title="dead letters by error class")
    widest = max((len(g.error_class) for g in groups), default=11)
    table.add_column("error class", no_wrap=True, min_width=min(widest, 40))
    table.add_column("count", justify="right", no_wrap=True, min_width=5)
    table.add_column("first seen (UTC)", no_wrap=True, min_width=16)
    table.add_column("last seen (UTC)", no_wrap=True, min_width=16)
    table.add_column("DLQ", no_wrap=True, min_width=9)
    with_example = out.width >= 110  # the example needs room; `dlq show` has the full text
    if with_example:
        table.add_column("example error", overflow="ellipsis", no_wrap=True)
    for g in groups:
        table.add_row(
            g.error_class,
            str(g.count),
            _ts(g.first_seen),
            _ts(g.last_seen),
            ", ".join(sorted(kind_of.get(t, t) for t in g.topics)),
            *([g.example_message[:200]] if with_example else []),
        )
    out.print(table if groups else "no dead letters")


@app.command()
def show(
    ref: str = typer.Argument(
        ..., help="<partition>:<offset> in the DLQ topic, as `dlq list --json` or logs give."
    ),
    topic: str = typer.Option("sync", "--topic", help="Which DLQ: sync or writeback."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One dead letter: the original event and its error headers."""
    settings = load_settings()
    kind = _kind(topic) or "sync"
    try:
        partition, offset = ops.parse_ref(ref)
    except BadInput as exc:
        fail(str(exc), 2)
    data = run(ops.show(settings, kind, partition, offset)).as_dict()
    if json:
        print_json(data)
        return
    table = Table(title=f"{data['dlq_topic']}:{partition}:{offset}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    table.add_row("dead-lettered at", data["dead_lettered_at"])
    table.add_row("key (customer)", str(data["key"]))
    table.add_row("handled", str(data["handled"] or "no"))
    for name, value in data["error"].items():
        table.add_row(name, value)
    for name, value in data["headers"].items():
        table.add_row(f"header {name}", value)
    out.print(table)
    out.print_json(data=data["event"]) if isinstance(data["event"], dict) else out.print(data["event"])


def _selection(
    error_class: list[str], since: str | None, before: str | None, customer: str | None
) -> ops.Selection:
    return ops.Selection(
        classes=tuple(error_class),
        since=when(since, "--since"),
        before=when(before, "--before"),
        customer=customer,
    )


@app.command()
def redrive(
    error_class: list[str] = typer.Option(  # noqa: B008 - typer's way to declare options
        [], "--class", help="Only this error class (repeatable), as `dlq list` shows it."
    ),
    since: str | None = typer.Option(
        None, "--since", help="Only dead-lettered since (ISO 8601 or 30m/2h/7d)."
    ),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer (record key)."),
    all_: bool = typer.Option(
        False, "--all", help="Every unhandled dead letter (required without a filter)."
    ),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be redriven; send nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Send selected dead letters back to their original topic, once: redriven ones are marked."""
    selection = _selection(error_class, since, None, customer)
    if selection.empty and not all_:
        fail("choose what to redrive: --class, --since, --customer, or --all", 2)
    settings = load_settings()
    letters = run(ops.select(settings, _kind(topic), selection))
    if dry_run or not letters:
        if json:
            print_json({"dry_run": dry_run, "would_redrive": [x.ref for x in letters], "redriven": []})
        else:
            out.print(f"{len(letters)} dead letter(s) {'would be ' if dry_run else ''}redriven")
            for x in letters:
                out.print(f"  {x.ref} → {x.original_topic} ({x.error_class})")
        return
    confirm(f"Redrive {len(letters)} dead letter(s) to their original topics?", yes)
    with progress_bar("redrive", enabled=not json) as progress:
        result = run(ops.redrive(settings, letters, progress))
    if json:
        print_json({"dry_run": False, "redriven": result.redriven, "skipped": result.skipped})
        return
    out.print(f"redriven: {len(result.redriven)}, skipped: {len(result.skipped)}")
    for ref, reason in result.skipped:
        out.print(f"  skipped {ref}: {reason}")


@app.command()
def purge(
    error_class: list[str] = typer.Option(  # noqa: B008 - typer's way to declare options
        [], "--class", help="Only this error class (repeatable): marked handled, hidden from list."
    ),
    before: str | None = typer.Option(
        None, "--before", help="Dead-lettered before this time (ISO 8601 or 30m/2h/7d)."
    ),
    topic: str | None = typer.Option(None, "--topic", help=TOPIC_HELP),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would go; change nothing."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Drop dead letters. Without --class: delete every record before --before (or all) from the
    DLQ topic (Kafka delete_records, irreversible). With --class: mark those as handled."""
    settings = load_settings()
    plan = run(ops.plan_purge(settings, _kind(topic), _selection(error_class, None, before, None)))
    how = "mark as handled" if plan.mark else "delete from the DLQ topic (irreversible)"
    if dry_run or plan.count == 0:
        if json:
            print_json({"dry_run": dry_run, "plan": plan.as_dict(), "purged": 0})
        else:
            out.print(f"{plan.count} dead letter(s) {'would be purged: ' + how if dry_run else 'to purge'}")
        return
    confirm(f"Purge {plan.count} dead letter(s): {how}?", yes)
    purged = run(ops.apply_purge(settings, plan))
    if json:
        print_json({"dry_run": False, "plan": plan.as_dict(), "purged": purged})
    else:
        out.print(f"purged: {purged}")
