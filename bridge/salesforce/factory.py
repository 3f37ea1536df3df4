"""Build the Salesforce client from settings."""

from __future__ import annotations

from pathlib import Path

import httpx

from bridge.errors import ConfigError
from bridge.salesforce.auth import SalesforceAuth, TokenProvider
from bridge.salesforce.client import SalesforceClient
from bridge.salesforce.limits import ApiBudget
from bridge.settings import Settings


def auth_from_settings(settings: Settings) -> SalesforceAuth:
    """The login configuration; the JWT key is read from its file here, once."""
    key = None
    if settings.salesforce_private_key_file:
        path = Path(settings.salesforce_private_key_file)
        if not path.is_file():
            raise ConfigError(f"BRIDGE_SALESFORCE_PRIVATE_KEY_FILE: no file at {path}")
        key = path.read_text()
    return SalesforceAuth.model_validate(
        {
            "flow": settings.salesforce_auth_flow,
            "login_url": settings.salesforce_login_url,
            "instance_url": settings.salesforce_instance_url,
            "client_id": settings.salesforce_client_id,
            "client_secret": settings.salesforce_client_secret,
            "username": settings.salesforce_username,
            "password": settings.salesforce_password,
            "private_key": key,
            "access_token": settings.salesforce_access_token,
        }
    )


def salesforce_client(settings: Settings, http: httpx.AsyncClient | None = None) -> SalesforceClient:
    """A client for the configured org; pass `http` to choose the transport (tests)."""
    http = http or httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, connect=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    return SalesforceClient(
        http,
        TokenProvider(http, auth_from_settings(settings)),
        api_version=settings.salesforce_api_version,
        client_name=settings.salesforce_client_name,
        allow_duplicates=settings.salesforce_allow_duplicates,
        budget=ApiBudget(
            settings.api_budget_slow_share,
            settings.api_budget_stop_share,
            probe_seconds=settings.api_budget_probe_seconds,
        ),
    )
