"""`bridge config show`: effective settings with their source and meaning, secrets masked."""

from __future__ import annotations

import typer
from rich.table import Table

from bridge.commands.ops_output import fail, load_settings, out, print_json
from bridge.errors import ConfigError
from bridge.ops.settings_view import describe

app = typer.Typer(help="Inspect the bridge's settings.", no_args_is_help=True)


@app.command()
def show(json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print every setting: value (secrets as ********), source (default/env/bridge.toml), meaning."""
    try:
        views = describe(load_settings())
    except ConfigError as exc:
        fail(str(exc))
    if json:
        print_json([v.as_dict() for v in views])
        return
    table = Table(title="bridge settings")
    table.add_column("setting", overflow="fold")
    table.add_column("value")
    table.add_column("source")
    table.add_column("description")
    for v in views:
        table.add_row(
            f"{v.name}\n[dim]{v.env_var}[/dim]",
            "" if v.value is None else str(v.value),
            v.source,
            v.description,
        )
    out.print(table)
