"""`POST /services/oauth2/token`: username-password, client credentials and JWT bearer (RS256)."""

from __future__ import annotations

from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bridge.errors import ConfigError
from bridge.sandbox.salesforce.errors import OAuthError
from bridge.sandbox.salesforce.org import ORG_ID, Org

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def load_public_key(pem: str) -> RSAPublicKey:
    """An RSA public key from a PEM certificate (as uploaded to a connected app) or public key."""
    data = pem.encode()
    try:
        key = (
            x509.load_pem_x509_certificate(data).public_key()
            if b"BEGIN CERTIFICATE" in data
            else load_pem_public_key(data)
        )
    except ValueError as exc:
        raise ConfigError(f"jwt certificate is not a PEM certificate or public key: {exc}") from exc
    if not isinstance(key, RSAPublicKey):
        raise ConfigError("jwt certificate must hold an RSA key (the JWT bearer flow signs with RS256)")
    return key


def _check_client(org: Org, form: dict[str, str], *, secret: bool) -> None:
    if form.get("client_id") != org.config.client_id:
        raise OAuthError(400, "invalid_client_id", "client identifier invalid")
    if secret and form.get("client_secret") != org.config.client_secret:
        raise OAuthError(400, "invalid_client", "invalid client credentials")


def _jwt_user(org: Org, assertion: str) -> str:
    if org.config.jwt_public_key is None:
        raise OAuthError(400, "invalid_grant", "invalid assertion")
    key = load_public_key(org.config.jwt_public_key)
    try:
        claims: dict[str, Any] = jwt.decode(
            assertion, key, algorithms=["RS256"], options={"verify_exp": False, "verify_aud": False}
        )
    except jwt.PyJWTError:
        raise OAuthError(400, "invalid_grant", "invalid assertion") from None
    if claims.get("iss") != org.config.client_id:
        raise OAuthError(400, "invalid_client_id", "client identifier invalid")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if not any(isinstance(a, str) and a.rstrip("/") in org.config.jwt_audiences for a in audiences):
        raise OAuthError(400, "invalid_grant", "audience is invalid")
    # Some clients send exp as a string of digits: Salesforce accepts both.
    try:
        exp = float(claims["exp"])
    except (KeyError, TypeError, ValueError):
        raise OAuthError(400, "invalid_grant", "invalid assertion") from None
    if exp <= org.clock():
        raise OAuthError(400, "invalid_grant", "expired authorization code")
    if claims.get("sub") != org.config.username:
        raise OAuthError(400, "invalid_grant", "user hasn't approved this consumer")
    return org.integration_user_id


def _user_for(org: Org, form: dict[str, str]) -> str:
    grant = form.get("grant_type", "")
    if grant == "password":
        _check_client(org, form, secret=True)
        expected = org.config.password + org.config.security_token
        if form.get("username") != org.config.username or form.get("password") != expected:
            raise OAuthError(400, "invalid_grant", "authentication failure")
        return org.integration_user_id
    if grant == "client_credentials":
        _check_client(org, form, secret=True)
        return org.integration_user_id
    if grant == JWT_GRANT:
        return _jwt_user(org, form.get("assertion", ""))
    raise OAuthError(400, "unsupported_grant_type", "grant type not supported")


async def token(request: Request) -> Response:
    """Issue an access token; errors are one `{"error", "error_description"}` object."""
    org: Org = request.app.state.org
    try:
        form = {k: str(v) for k, v in (await request.form()).items()}
        user_id = _user_for(org, form)
    except OAuthError as exc:
        return exc.response()
    access = org.issue_token(user_id)
    instance = org.config.instance_url or str(request.base_url).rstrip("/")
    issued = int(org.clock() * 1000)
    return JSONResponse(
        {
            "access_token": access,
            "instance_url": instance,
            "id": f"{instance}/id/{ORG_ID}/{user_id}",
            "token_type": "Bearer",
            "issued_at": str(issued),
            "signature": "sandbox",
            "scope": "api",
        }
    )
