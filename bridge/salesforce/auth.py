"""Getting and refreshing a Salesforce access token: JWT bearer, client credentials, password.

One `TokenProvider` per process; concurrent callers that all saw an expired session trigger
a single refresh.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal

import httpx
import jwt
from pydantic import BaseModel, SecretStr

from bridge.errors import ConfigError
from bridge.salesforce.errors import SalesforceTransientError

Flow = Literal["jwt", "client_credentials", "password", "token"]


class SalesforceAuth(BaseModel):
    """How to authenticate; secrets stay `SecretStr`."""

    flow: Flow = "password"
    login_url: str = "https://login.salesforce.com"
    instance_url: str | None = None
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    private_key: SecretStr | None = None  # PEM, for the JWT bearer flow
    access_token: SecretStr | None = None  # the "token" flow: a session id given as is


@dataclass(frozen=True)
class Token:
    """An access token and the instance it is valid for."""

    access_token: str
    instance_url: str
    obtained_at: float


class TokenProvider:
    """Fetches a token on first use and again when the session expired."""

    def __init__(self, http: httpx.AsyncClient, auth: SalesforceAuth) -> None:
        self.http = http
        self.auth = auth
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self.refreshes = 0

    async def token(self) -> Token:
        """The current token, fetching one if there is none."""
        if self._token is None:
            async with self._lock:
                if self._token is None:
                    self._token = await self._fetch()
        return self._token

    async def refresh(self, stale: Token) -> Token:
        """A new token, unless another caller already replaced `stale`."""
        async with self._lock:
            if self._token is None or self._token.access_token == stale.access_token:
                self._token = await self._fetch()
                self.refreshes += 1
            return self._token

    async def _fetch(self) -> Token:
        a = self.auth
        if a.flow == "token":
            if a.access_token is None or a.instance_url is None:
                raise ConfigError("the token flow needs an access token and an instance URL")
            return Token(a.access_token.get_secret_value(), a.instance_url, time.time())
        form = self._grant_form()
        url = f"{a.login_url.rstrip('/')}/services/oauth2/token"
        try:
            resp = await self.http.post(url, data=form)
        except httpx.HTTPError as exc:
            raise SalesforceTransientError(
                f"token request to {url} failed: {exc!r}", code="AUTH_UNREACHABLE"
            ) from exc
        body = resp.json() if resp.headers.get("content-type", "").startswith("application/json") else {}
        if resp.status_code != 200 or "access_token" not in body:
            # Bad credentials cannot heal by retrying, but dead-lettering every event would
            # be worse: keep them in Kafka and say loudly what is wrong.
            raise SalesforceTransientError(
                f"Salesforce refused the {a.flow} login: {body.get('error', resp.status_code)}: "
                f"{body.get('error_description', resp.text[:200])}",
                code="AUTH_FAILED",
                retry_after=30.0,
            )
        return Token(body["access_token"], body.get("instance_url") or a.instance_url or "", time.time())

    def _grant_form(self) -> dict[str, str]:
        a = self.auth
        secret = a.client_secret.get_secret_value() if a.client_secret else ""
        if a.flow == "password":
            if not (a.client_id and a.username and a.password):
                raise ConfigError("the password flow needs client id, username and password")
            return {
                "grant_type": "password",
                "client_id": a.client_id,
                "client_secret": secret,
                "username": a.username,
                "password": a.password.get_secret_value(),
            }
        if a.flow == "client_credentials":
            if not (a.client_id and a.client_secret):
                raise ConfigError("the client credentials flow needs client id and secret")
            return {"grant_type": "client_credentials", "client_id": a.client_id, "client_secret": secret}
        if not (a.client_id and a.username and a.private_key):
            raise ConfigError("the JWT bearer flow needs client id, username and a private key")
        assertion = jwt.encode(
            {
                "iss": a.client_id,
                "sub": a.username,
                "aud": a.login_url.rstrip("/"),
                "exp": int(time.time()) + 180,
            },
            a.private_key.get_secret_value(),
            algorithm="RS256",
        )
        return {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
