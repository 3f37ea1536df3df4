"""OAuth token flows, session checks, Sforce-Limit-Info and the daily allowance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app

from bridge.errors import ConfigError
from bridge.sandbox.salesforce.auth import JWT_GRANT


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client(clock: FakeClock, rsa_key: rsa.RSAPrivateKey) -> AsyncIterator[httpx.AsyncClient]:
    app = make_app(clock, jwt_public_key=_public_pem(rsa_key), token_lifetime=600, api_allowance=5)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        yield c


def _assertion(key: rsa.RSAPrivateKey, exp: object, **claims: object) -> str:
    body = {
        "iss": "sandbox-client-id",
        "sub": "integration@bridge.sandbox",
        "aud": "https://login.salesforce.com",
        "exp": exp,
        **claims,
    }
    return jwt.encode(body, key, algorithm="RS256")


async def test_password_grant_returns_token_and_instance_url(client: httpx.AsyncClient) -> None:
    token = await login(client)
    r = await client.get(f"{V}/limits")
    assert r.status_code == 200
    assert token.startswith("00D")
    assert r.json()["DailyApiRequests"]["Max"] == 5


async def test_wrong_password_is_invalid_grant_object(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": "sandbox-client-id",
            "client_secret": "sandbox-client-secret",
            "username": "integration@bridge.sandbox",
            "password": "nope",
        },
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


async def test_client_credentials_checks_secret(client: httpx.AsyncClient) -> None:
    form = {"grant_type": "client_credentials", "client_id": "sandbox-client-id", "client_secret": "x"}
    bad = await client.post("/services/oauth2/token", data=form)
    good = await client.post(
        "/services/oauth2/token", data={**form, "client_secret": "sandbox-client-secret"}
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    assert good.status_code == 200 and good.json()["token_type"] == "Bearer"


@pytest.mark.parametrize("as_string", [False, True])
async def test_jwt_bearer_accepts_exp_as_int_or_string(
    client: httpx.AsyncClient, clock: FakeClock, rsa_key: rsa.RSAPrivateKey, as_string: bool
) -> None:
    exp = int(clock.now) + 120
    r = await client.post(
        "/services/oauth2/token",
        data={"grant_type": JWT_GRANT, "assertion": _assertion(rsa_key, str(exp) if as_string else exp)},
    )
    assert r.status_code == 200, r.text
    token = r.json()["access_token"]
    limits = await client.get(f"{V}/limits", headers={"Authorization": f"Bearer {token}"})
    assert limits.status_code == 200


async def test_jwt_verified_against_a_certificate(clock: FakeClock, rsa_key: rsa.RSAPrivateKey) -> None:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    app = make_app(clock, jwt_public_key=pem)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        r = await c.post(
            "/services/oauth2/token",
            data={"grant_type": JWT_GRANT, "assertion": _assertion(rsa_key, int(clock.now) + 60)},
        )
    assert r.status_code == 200 and r.json()["access_token"]


def test_bad_certificate_fails_at_start() -> None:
    with pytest.raises(ConfigError):
        make_app(FakeClock(), jwt_public_key="-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")


async def test_jwt_signed_by_another_key_is_refused(client: httpx.AsyncClient, clock: FakeClock) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    r = await client.post(
        "/services/oauth2/token",
        data={"grant_type": JWT_GRANT, "assertion": _assertion(other, int(clock.now) + 60)},
    )
    assert r.status_code == 400
    assert r.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}


async def test_jwt_expired_or_wrong_audience_is_refused(
    client: httpx.AsyncClient, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    expired = await client.post(
        "/services/oauth2/token",
        data={"grant_type": JWT_GRANT, "assertion": _assertion(rsa_key, int(clock.now) - 1)},
    )
    wrong_aud = await client.post(
        "/services/oauth2/token",
        data={
            "grant_type": JWT_GRANT,
            "assertion": _assertion(rsa_key, int(clock.now) + 60, aud="https://evil.example"),
        },
    )
    assert expired.status_code == 400 and expired.json()["error"] == "invalid_grant"
    assert wrong_aud.status_code == 400 and wrong_aud.json()["error_description"] == "audience is invalid"


async def test_unknown_grant_type_is_unsupported(client: httpx.AsyncClient) -> None:
    r = await client.post("/services/oauth2/token", data={"grant_type": "authorization_code"})
    assert r.status_code == 400 and r.json()["error"] == "unsupported_grant_type"


async def test_bad_token_is_invalid_session_401_with_limit_header(client: httpx.AsyncClient) -> None:
    r = await client.get(f"{V}/sobjects", headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.json() == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    assert r.headers["Sforce-Limit-Info"] == "api-usage=0/5"


async def test_token_expires_and_a_new_login_works(client: httpx.AsyncClient, clock: FakeClock) -> None:
    await login(client)
    assert (await client.get(f"{V}/limits")).status_code == 200
    clock.advance(601)
    expired = await client.get(f"{V}/limits")
    assert expired.status_code == 401 and expired.json()[0]["errorCode"] == "INVALID_SESSION_ID"
    await login(client)
    assert (await client.get(f"{V}/limits")).status_code == 200


async def test_every_answer_counts_usage_and_allowance_is_enforced(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await login(client)
    seen = []
    for _ in range(5):
        r = await client.get(f"{V}/sobjects/Account/describe")
        seen.append(r.headers["Sforce-Limit-Info"])
    over = await client.get(f"{V}/sobjects/Account/describe")
    assert seen == [f"api-usage={n}/5" for n in range(1, 6)]
    assert over.status_code == 403
    assert over.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert over.headers["Sforce-Limit-Info"] == "api-usage=5/5"
    clock.advance(24 * 3600 + 61)
    await login(client)
    assert (await client.get(f"{V}/limits")).headers["Sforce-Limit-Info"] == "api-usage=1/5"


async def test_unknown_api_version_is_not_found(client: httpx.AsyncClient) -> None:
    await login(client)
    r = await client.get("/services/data/v12.0/sobjects")
    versions = await client.get("/services/data/")
    assert r.status_code == 404 and r.json()[0]["errorCode"] == "NOT_FOUND"
    assert {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"} in versions.json()
