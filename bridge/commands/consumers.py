"""`bridge sync`, `bridge listen` and `bridge writeback`: one role each (see bridge/roles.py),
stopped cleanly by SIGTERM; a failure exits non-zero."""

from __future__ import annotations

import typer

from bridge import roles
from bridge.logs import configure_logging
from bridge.runner import RoleMain, run_process
from bridge.salesforce.cdc import DEFAULT_CHANNELS
from bridge.settings import Settings


def _run_alone(name: str, main: RoleMain) -> None:
    code = run_process({name: main})
    if code:
        raise typer.Exit(code)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level, settings.log_json)
    return settings


def sync() -> None:
    """Consume billing events and keep Salesforce equal to billing (billing → Salesforce)."""
    settings = _settings()
    _run_alone("sync", roles.sync(settings))


def listen(
    channels: str = ",".join(DEFAULT_CHANNELS),
) -> None:
    """Publish Salesforce Change Data Capture events to salesforce.changes (run exactly one)."""
    settings = _settings()
    _run_alone("listener", roles.listener(settings, channels))


def writeback() -> None:
    """Push Salesforce changes (Accounts, won Opportunities) back to Orb and Chargebee."""
    settings = _settings()
    _run_alone("writeback", roles.writeback(settings))
