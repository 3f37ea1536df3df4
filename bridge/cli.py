"""The `bridge` command: one line per command group, each implemented in `bridge/commands/`."""

from __future__ import annotations

import typer

from bridge import __version__
from bridge.commands import (
    backfill,
    config,
    consumers,
    demo,
    dlq,
    kafka,
    mapping,
    reconcile,
    replay,
    run,
    sandbox,
    schema,
    serve,
)

app = typer.Typer(
    name="bridge",
    help="Billing ⇄ Salesforce event bridge.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

app.add_typer(kafka.app, name="kafka")
app.add_typer(sandbox.app, name="sandbox")
app.add_typer(mapping.app, name="mapping")
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)
app.command("sync")(consumers.sync)
app.command("listen")(consumers.listen)
app.command("writeback")(consumers.writeback)
app.command("run")(run.run)
app.command("replay")(replay.replay)
app.add_typer(dlq.app, name="dlq")
app.command("backfill")(backfill.backfill)
app.command("reconcile")(reconcile.reconcile)
app.add_typer(config.app, name="config")
app.add_typer(schema.app, name="schema")


@app.command()
def version() -> None:
    """Print the bridge's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
