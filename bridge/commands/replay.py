"""`bridge replay`: re-publish a topic range (by offsets or times), optionally filtered."""

from __future__ import annotations

import typer
from rich.table import Table

from bridge.commands.ops_output import fail, load_settings, out, print_json, progress_bar, run, when
from bridge.ops.replay import ReplayRequest
from bridge.ops.replay import replay as replay_range


def replay(
    topic: str = typer.Option(
        ...,
        "--topic",
        help="Source topic, e.g. billing.orb.events. The topic-prefix setting is added unless the "
        "name already starts with it, so both 'billing.orb.events' and 'prod.billing.orb.events' work.",
    ),
    from_offset: int | None = typer.Option(None, "--from-offset", help="First offset (each partition)."),
    to_offset: int | None = typer.Option(
        None, "--to-offset", help="Last offset, inclusive (each partition); default: the end now."
    ),
    since: str | None = typer.Option(
        None, "--since", help="From this time (ISO 8601, e.g. 2026-01-31T12:00:00Z, or an age: 30m, 2h, 7d)."
    ),
    until: str | None = typer.Option(None, "--until", help="Up to this time, exclusive; default: now."),
    partition: list[int] = typer.Option(  # noqa: B008 - typer's way to declare options
        [], "--partition", "-p", help="Only this partition (repeatable); default: all."
    ),
    customer: str | None = typer.Option(None, "--customer", help="Only records with this key (customer id)."),
    event_type: str | None = typer.Option(
        None, "--event-type", help="Only records whose event_type header matches this glob, e.g. 'invoice.*'."
    ),
    to_topic: str | None = typer.Option(
        None, "--to-topic", help="Publish here instead of back into --topic (prefix as for --topic)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Scan and count; publish nothing."),
    json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress bar)."),
) -> None:
    """Re-publish a range of a topic with keys and headers kept, plus a replayed-from header.

    The range end is fixed when the command starts, so replaying into the source topic stops there.
    """
    if from_offset is None and to_offset is None and since is None and until is None:
        fail("give a range: --from-offset/--to-offset or --since/--until", 2)
    req = ReplayRequest(
        topic=topic,
        from_offset=from_offset,
        to_offset=to_offset,
        since=when(since, "--since"),
        until=when(until, "--until"),
        partitions=tuple(partition),
        customer=customer,
        event_type=event_type,
        to_topic=to_topic,
        dry_run=dry_run,
    )
    settings = load_settings()
    with progress_bar("replay" + (" (dry run)" if dry_run else ""), enabled=not json) as progress:
        result = run(replay_range(settings, req, progress))
    if json:
        print_json(result.as_dict())
        return
    table = Table(title=f"replay {result.source} → {result.target}" + (" (dry run)" if dry_run else ""))
    for column in ("scanned", "matched", "published"):
        table.add_column(column, justify="right")
    table.add_row(str(result.scanned), str(result.matched), str(result.published))
    out.print(table)
