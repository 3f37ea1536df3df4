"""`bridge demo`: the whole bridge on the local Kafka and the sandbox, then a closing report."""

from __future__ import annotations

import asyncio
import logging
import time

import typer
from rich.console import Console
from rich.table import Table

from bridge.local_kafka import LocalKafka, LocalKafkaError, broker_answers
from bridge.logs import configure_logging
from bridge.settings import Settings

console = Console()


def demo() -> None:
    """Run billing webhooks → Kafka → Salesforce and Salesforce edits → Kafka, and report."""
    from bridge.sandbox.demo import run_demo, summarize_calls

    configure_logging("ERROR", json=False)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    settings = Settings()
    if not broker_answers(settings.kafka_bootstrap):
        console.print(f"No Kafka at {settings.kafka_bootstrap}: starting the local broker…")
        try:
            seconds = LocalKafka().start()
        except LocalKafkaError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from exc
        console.print(f"Kafka answering after {seconds:.1f}s")
    started = time.monotonic()
    report = asyncio.run(
        run_demo(
            settings.kafka_bootstrap, lambda m: console.print(f"[{time.monotonic() - started:5.1f}s] {m}")
        )
    )

    hooks = Table(title="1. Webhooks into the receiver (real HTTP)")
    for col in ("source", "event", "note", "answer"):
        hooks.add_column(col)
    for source, event_type, note, status in report.webhooks:
        colour = "green" if status < 300 else "yellow"
        hooks.add_row(source, event_type, note, f"[{colour}]{status}[/{colour}]")
    console.print(hooks)

    topics = Table(title="2. On Kafka (records per topic)")
    topics.add_column("topic")
    topics.add_column("records", justify="right")
    for name, count in report.topics.items():
        topics.add_row(name, str(count))
    console.print(topics)

    outcomes = Table(title="3. bridge sync: what happened to each billing event")
    outcomes.add_column("outcome")
    outcomes.add_column("events", justify="right")
    for name, count in sorted(report.sync_outcomes.items()):
        outcomes.add_row(name, str(count))
    outcomes.add_row("retries (transient)", str(report.sync_retries))
    console.print(outcomes)

    records, writes, per_record = summarize_calls(report)
    sf = Table(title="4. Salesforce sandbox: records written")
    sf.add_column("SObject")
    sf.add_column("records", justify="right")
    for name, count in sorted(report.salesforce_records.items()):
        sf.add_row(name, str(count))
    console.print(sf)
    console.print(
        f"Salesforce write calls: {writes} for {records} records = "
        f"[bold]{per_record:.3f} calls per record[/bold] (naive per-record sync: 1.0); "
        f"all API calls: {sum(report.salesforce_calls.values())} {report.salesforce_calls}"
    )

    side = Table(title="5. Billing vs Salesforce, side by side")
    for col in ("billing", "value", "Salesforce", "value"):
        side.add_column(col)
    for row in report.side_by_side:  # billing field, value, Salesforce field, value
        match = "green" if row[1] == row[3] else "red"
        side.add_row(row[0], row[1], row[2], f"[{match}]{row[3]}[/{match}]")
    console.print(side)

    cdc = Table(title="6. Salesforce → Kafka (CDC listener): human edits published, echoes dropped")
    for col in ("change", "Account key", "changed fields", "commit user"):
        cdc.add_column(col)
    for change in report.changes:
        cdc.add_row(
            change["type"],
            change["account"],
            ", ".join(change["changed"] or []) or "(create)",
            str(change["by"]),
        )
    console.print(cdc)
    console.print(
        f"listener: {report.cdc.get('published', 0)} published, "
        f"{report.cdc.get('echo', 0)} of the bridge's own writes dropped as echoes"
    )
    dlq = Table(title=f"7. Dead letters ({len(report.dead_letters)}): parked, the rest went on")
    for col in ("event", "error code", "message"):
        dlq.add_column(col)
    for dead in report.dead_letters:
        dlq.add_row(*dead)
    console.print(dlq)
    if report.dead_letters:
        console.print(
            "[dim]A record Salesforce refuses is parked with its error and everything else is "
            'committed. A lookup whose parent is not in Salesforce yet ("Foreign key external '
            'ID … not found") is parked as MissingParent and redriven by the sync itself after '
            "30 s, doubling, up to 5 times (BRIDGE_SYNC_PARENT_RETRY_SECONDS / _RETRIES): it "
            "lands once its parent is synced; `bridge dlq redrive` sends it at once.[/dim]"
        )
    wb = report.writeback
    console.print(
        f"8. Writeback: Ann's Account edit reached Chargebee with {wb.get('billing_calls')} billing "
        f"call(s) (customer cb_hooli billing city now: {wb.get('chargebee_city')}); Chargebee's "
        f"webhook about it cost {wb.get('echo_writes')} Salesforce writes (no echo)."
    )
    console.print(f"Demo took {report.seconds:.1f}s.")
