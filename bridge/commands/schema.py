"""`bridge schema export`: the Salesforce metadata the active mappings need, ready to deploy."""

from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import orjson
import typer

from bridge.commands.ops_output import err, fail, load_settings, out
from bridge.errors import BridgeError
from bridge.mapping import build_mapper, chargebee_site_from_url, load_overrides
from bridge.salesforce.metadata import needed_metadata, package_manifest, source_files
from bridge.salesforce.schema import load_schema

DEFAULT_OUT = Path("salesforce-metadata")

app = typer.Typer(help="Salesforce metadata for the objects and fields the mappings use.")


class Format(StrEnum):
    METADATA = "metadata"
    JSON = "json"


@app.command("export")
def export(
    format: Annotated[
        Format, typer.Option("--format", help="metadata: a DX source package; json: the same on stdout.")
    ] = Format.METADATA,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder of the package.")] = DEFAULT_OUT,
    objects: Annotated[
        str, typer.Option("--objects", help="Object types to include, as BRIDGE_SYNC_OBJECTS (default: it).")
    ] = "",
    overrides: Annotated[
        Path | None, typer.Option("--overrides", help="Mapping overrides (default: BRIDGE_MAPPING_FILE).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Write into a folder that is not empty.")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Write the custom objects and fields the active mappings need (standard objects only get
    their custom fields); `--format json` prints the same on stdout."""
    settings = load_settings()
    file = overrides or (Path(settings.mapping_file) if settings.mapping_file else None)
    try:
        mapper = build_mapper(
            chargebee_site=chargebee_site_from_url(settings.chargebee_api_url),
            overrides=load_overrides(file) if file else None,
            sync_objects=objects or settings.sync_objects,
            origin=str(file) if file else "overrides",
        )
        needs = needed_metadata(mapper.mappings.values(), load_schema())
        manifest = package_manifest(needs, settings.salesforce_api_version)
    except BridgeError as exc:
        fail(str(exc), 2)
    if format is Format.JSON:
        typer.echo(orjson.dumps(manifest, option=orjson.OPT_INDENT_2).decode())
        return
    if out_dir.exists() and not out_dir.is_dir():
        fail(f"{out_dir} is not a folder", 2)
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not force:
            fail(f"{out_dir} is not empty; pass --force to replace the package in it", 2)
        # Replace what an earlier export wrote, so a dropped object does not linger and deploy.
        shutil.rmtree(out_dir / "objects", ignore_errors=True)
        (out_dir / "package.xml").unlink(missing_ok=True)
    files = source_files(manifest)
    for rel, text in files.items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    summary = {
        "out": str(out_dir),
        "custom_objects": len(manifest["types"]["CustomObject"]),
        "custom_fields": len(manifest["types"]["CustomField"]),
        "files": sorted(files),
        "api_version": manifest["version"],
    }
    if json_out:
        typer.echo(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode())
        return
    out.print(
        f"wrote {len(files)} files to {out_dir}: {summary['custom_objects']} custom objects, "
        f"{summary['custom_fields']} custom fields (API {manifest['version']})"
    )
    err.print(f"deploy: sf project deploy start --source-dir {out_dir} --target-org <alias>")
