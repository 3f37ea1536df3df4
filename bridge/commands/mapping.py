"""`bridge mapping check|preview`: validate the mappings against the schema; dry-run an event."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import httpx
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
    touched_sobjects,
)
from bridge.salesforce.factory import salesforce_client
from bridge.salesforce.org_schema import OrgSchema, describe_org
from bridge.salesforce.schema import Schema, load_schema
from bridge.settings import Settings, get_settings

app = typer.Typer(help="Check the billing → Salesforce mappings, or preview what an event writes.")

OVERRIDES = typer.Option(
    None, "--overrides", envvar="BRIDGE_MAPPING_OVERRIDES", help="TOML file overriding the default mappings."
)

EVENT = typer.Argument(..., help="A bridge envelope or a raw Orb/Chargebee webhook body (JSON).")


def _mapper(overrides: Path | None, schema: Schema | None = None, settings: Settings | None = None) -> Mapper:
    settings = settings or get_settings()
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
    org: bool = typer.Option(
        False, "--org", help="Check against the connected org's live describe (BRIDGE_SALESFORCE_*)."
    ),
) -> None:
    """Validate every mapping against the Salesforce schema; exit 1 on any problem."""
    if org and schema_file:
        _fail("--org and --schema-file are exclusive: check against the org or against files")
    try:
        settings = Settings()
    except Exception as exc:  # pydantic's ValidationError names the setting
        _fail(f"invalid settings: {exc}")
    try:
        mapper = _mapper(overrides, settings=settings)
        schema = load_schema(None, tuple(schema_file)) if not org else None
    except BridgeError as exc:
        _fail(str(exc))
    if schema is None:
        schema = _org_schema(settings, touched_sobjects(mapper.mappings.values()))
    problems = check_mappings(mapper.mappings.values(), schema)
    for problem in problems:
        typer.echo(str(problem))
    count = sum(len(vm.objects) for vm in mapper.mappings.values())
    typer.echo(f"{len(problems)} problem(s) in {count} object mappings", err=True)
    if problems:
        raise typer.Exit(1)


def _org_schema(settings: Settings, sobjects: list[str]) -> Schema:
    """The org's describe of `sobjects`, with what it cost on stderr; exit 2 when it cannot be had."""
    try:
        described = asyncio.run(_describe_org(settings, sobjects))
    except BridgeError as exc:
        _fail(str(exc))
    missing = f" (missing: {', '.join(described.missing)})" if described.missing else ""
    typer.echo(
        f"described {len(described.schema.objects)} of {len(sobjects)} SObjects the mappings touch"
        f"{missing} with {described.api_calls} API calls",
        err=True,
    )
    return described.schema


async def _describe_org(settings: Settings, sobjects: list[str]) -> OrgSchema:
    async with httpx.AsyncClient(timeout=httpx.Timeout(30.0, connect=5.0)) as http:
        try:
            client = salesforce_client(settings, http)
            await client.tokens.token()
        except ConfigError as exc:
            raise ConfigError(
                f"no usable Salesforce login: {exc} (set the BRIDGE_SALESFORCE_* settings;"
                " `bridge config show` lists them)"
            ) from exc
        except BridgeError as exc:
            raise ConfigError(f"cannot log in to Salesforce: {exc}") from exc
        try:
            return await describe_org(client, sobjects)
        except BridgeError as exc:
            raise ConfigError(f"cannot describe the org: {exc}") from exc


def _fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


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
