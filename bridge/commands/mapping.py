"""`bridge mapping check|preview`: validate the mappings against the schema; dry-run an event."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer

from bridge.errors import BridgeError, ConfigError
from bridge.events import Envelope
from bridge.mapping import (
    Mapper,
    build_mapper,
    chargebee_site_from_url,
    check_mappings,
    load_overrides,
    preview,
)
from bridge.salesforce.schema import Schema, load_schema
from bridge.settings import get_settings

app = typer.Typer(help="Check the billing → Salesforce mappings, or preview what an event writes.")

OVERRIDES = typer.Option(
    None, "--overrides", envvar="BRIDGE_MAPPING_OVERRIDES", help="TOML file overriding the default mappings."
)

EVENT = typer.Argument(..., help="A bridge envelope or a raw Orb/Chargebee webhook body (JSON).")


def _mapper(overrides: Path | None, schema: Schema | None = None) -> Mapper:
    settings = get_settings()
    return build_mapper(
        chargebee_site=chargebee_site_from_url(settings.chargebee_api_url),
        overrides=load_overrides(overrides) if overrides else None,
        sync_objects=settings.sync_objects,
        origin=str(overrides) if overrides else "overrides",
        schema=schema,
    )


def _shipped_schema() -> Schema | None:
    try:
        return load_schema()
    except ConfigError:
        return None  # families incomplete (e.g. no standard.json yet): preview without length caps


@app.command()
def check(
    overrides: Path | None = OVERRIDES,
    schema_file: list[Path] = typer.Option(  # noqa: B008
        [], "--schema-file", help="Extra schema family files (e.g. an org's describe export)."
    ),
) -> None:
    """Validate every mapping against the Salesforce schema; exit 1 on any problem."""
    try:
        mapper = _mapper(overrides)
        schema = load_schema(None, tuple(schema_file))
    except BridgeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    problems = check_mappings(mapper.mappings.values(), schema)
    for problem in problems:
        typer.echo(str(problem))
    count = sum(len(vm.objects) for vm in mapper.mappings.values())
    typer.echo(f"{len(problems)} problem(s) in {count} object mappings", err=True)
    if problems:
        raise typer.Exit(1)


@app.command("preview")
def preview_command(
    event: Path = EVENT,
    overrides: Path | None = OVERRIDES,
) -> None:
    """Print the sObject Collections upserts an event would produce (dry run, nothing is sent)."""
    try:
        envelope = envelope_from_json(orjson.loads(event.read_bytes()))
        requests = preview(envelope, _mapper(overrides, _shipped_schema()))
    except (BridgeError, OSError, orjson.JSONDecodeError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if not requests:
        typer.echo(f"unmapped: nothing maps {envelope.source} {envelope.event_type}", err=True)
    typer.echo(orjson.dumps(requests, option=orjson.OPT_INDENT_2).decode())


def envelope_from_json(body: Any) -> Envelope:
    """An envelope as is, or one wrapped around a raw Orb or Chargebee webhook body."""
    if not isinstance(body, dict):
        raise ConfigError("the event file must hold a JSON object")
    if "payload" in body and "source" in body:
        return Envelope.model_validate(body)
    if "type" in body and "created_at" in body:
        kind = str(body["type"]).split(".")[0]
        found = body.get(kind)
        obj = found if isinstance(found, dict) else {}
        return Envelope(
            source="orb",
            event_id=str(body.get("id", "")),
            event_type=str(body["type"]),
            occurred_at=datetime.fromisoformat(str(body["created_at"])),
            object_type=kind,
            object_id=str(obj.get("id", "")),
            customer_id="preview",
            payload=body,
        )
    if "event_type" in body and isinstance(body.get("content"), dict):
        content = body["content"]
        kind = next(iter(content), "")
        found = content.get(kind)
        obj = found if isinstance(found, dict) else {}
        return Envelope(
            source="chargebee",
            event_id=str(body.get("id", "")),
            event_type=str(body["event_type"]),
            occurred_at=datetime.fromtimestamp(int(body.get("occurred_at", 0)), UTC),
            object_type=kind,
            object_id=str(obj.get("id", "")),
            customer_id="preview",
            payload=body,
        )
    raise ConfigError("not a bridge envelope, an Orb webhook body or a Chargebee event")
