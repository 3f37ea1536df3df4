"""`bridge run`: receiver, sync, writeback and CDC listener in one process (the single-machine default)."""

from __future__ import annotations

import typer

from bridge import roles
from bridge.commands.ops_output import fail, load_settings
from bridge.errors import BadInput, BridgeError
from bridge.logs import configure_logging, get_logger
from bridge.ops.reconcile import periodic_reconcile
from bridge.runner import RoleMain, run_process
from bridge.salesforce.cdc import DEFAULT_CHANNELS

log = get_logger("cli")


def run(
    roles_spec: str = typer.Option(
        "all",
        "--roles",
        help="Roles to run, comma separated: receiver, sync, writeback, listener (default all; "
        "with all, the listener runs only when a Salesforce login is configured).",
    ),
    port: int = typer.Option(None, help="Receiver port (default: BRIDGE_HTTP_PORT, 8080)."),
    host: str = typer.Option(None, help="Receiver address (default: BRIDGE_HTTP_HOST)."),
    channels: str = typer.Option(",".join(DEFAULT_CHANNELS), help="CDC channels of the listener."),
    reconcile_schedule: str | None = typer.Option(
        None,
        "--reconcile-schedule",
        help='Also run reconcile --repair on this schedule: "daily", "daily@HH:MM" (UTC), "every 6h".',
    ),
) -> None:
    """Run the bridge in one process; SIGTERM stops it cleanly, a failing role stops it with exit 1."""
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_json)
    try:
        wanted = roles.parse_roles(roles_spec)
    except BadInput as exc:
        fail(f"--roles: {exc}", 2)
    if "listener" in wanted and (why := roles.cdc_unconfigured(settings)):
        if "all" not in roles_spec.lower():
            fail(f"--roles listener: {why}", 2)
        log.info("listener_skipped", reason=why)
        wanted = tuple(r for r in wanted if r != "listener")
    mains: dict[str, RoleMain] = {}
    try:
        for name in wanted:
            if name == "receiver":
                mains[name] = roles.receiver(settings, host, port)
            elif name == "sync":
                mains[name] = roles.sync(settings)
            elif name == "writeback":
                mains[name] = roles.writeback(settings)
            else:
                mains[name] = roles.listener(settings, channels)
    except BridgeError as exc:  # a bad mapping file, a missing key file: nothing started
        fail(f"{exc}", 2)
    periodic = []
    if reconcile_schedule:
        try:
            periodic.append(periodic_reconcile(settings, reconcile_schedule))
        except BadInput as exc:
            fail(f"--reconcile-schedule: {exc}", 2)
    code = run_process(mains, periodic)
    if code:
        raise typer.Exit(code)
