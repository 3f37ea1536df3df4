"""No secret, nor its base64 / Basic-auth form, appears in logs, error bodies, metrics, DLQ or reports."""

from __future__ import annotations

import base64
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import httpx
import orjson
import pytest
from pydantic import SecretStr
from receiver_harness import running_receiver

from bridge.logs import configure_logging
from bridge.sandbox import demo
from bridge.settings import Settings
from bridge.sources.orb import sign

ORB_SECRET = "orbhook-Zq7-SECRET-4412"
CB_USER, CB_PASSWORD = "cb-leaktest", "cbpass-Xw9-SECRET-8831"
CB_API_KEY = "cbkey-Lr2-SECRET-5520"
OTHER = {
    "orb_api_key": "orbkey-Pm4-SECRET-1187",
    "salesforce_client_secret": "sfcs-Hy6-SECRET-3390",
    "salesforce_password": "sfpw-Ke1-SECRET-7764",
    "salesforce_access_token": "00Dsftok-Ua8-SECRET-2205",
}
# The demo logs in to the Salesforce sandbox with these (bridge/sandbox/demo.py).
DEMO_SF = ["sandbox-client-secret", "sandbox-password"]


@pytest.fixture(scope="module")
def log_sink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TextIO]:
    """All logging (structlog, stdlib, uvicorn) at DEBUG into one file for the module, left
    open: structlog caches loggers on first use, so they keep writing here, never to a closed
    capture."""
    sink = (tmp_path_factory.mktemp("logs") / "all.log").open("w+")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stderr", sink)
        configure_logging("DEBUG", json=True, stream=sink)
        logging.getLogger("uvicorn").setLevel(logging.DEBUG)
        yield sink
    configure_logging()


def _read(sink: TextIO) -> str:
    sink.flush()
    return Path(sink.name).read_text()


def _forms(secret: str) -> list[str]:
    b64 = base64.b64encode(secret.encode()).decode()
    return [secret, b64, b64.rstrip("=")]


def _forbidden() -> list[str]:
    out = [*_forms(ORB_SECRET), *_forms(CB_PASSWORD), *_forms(CB_API_KEY), *DEMO_SF]
    out += _forms(f"{CB_USER}:{CB_PASSWORD}") + _forms(f"{CB_API_KEY}:")
    for value in OTHER.values():
        out += _forms(value)
    return out


def _assert_clean(text: str, where: str) -> None:
    leaked = [s for s in _forbidden() if s in text]
    assert not leaked, f"{where} leaks {leaked}"


async def test_receiver_failures_metrics_and_logs_carry_no_secret(
    settings: Settings, log_sink: TextIO
) -> None:
    s = settings.model_copy(
        update={
            "orb_webhook_secret": SecretStr(ORB_SECRET),
            "chargebee_webhook_username": CB_USER,
            "chargebee_webhook_password": SecretStr(CB_PASSWORD),
            "chargebee_api_key": SecretStr(CB_API_KEY),
            **{k: SecretStr(v) for k, v in OTHER.items()},
        }
    )
    body = orjson.dumps({"id": "e1", "type": "customer.created", "created_at": "2026-01-01T00:00:00Z"})
    bodies: list[str] = [repr(s), str(s.model_dump()), s.model_dump_json()]
    async with running_receiver(s) as url, httpx.AsyncClient(base_url=url) as client:
        # Correct secret, wrong time; a wrong secret; the right password with a wrong user.
        ts = "2020-01-01T00:00:00+00:00"
        for headers in (
            {"X-Orb-Timestamp": ts, "X-Orb-Signature": f"v1={sign(ORB_SECRET, ts, body)}"},
            {"X-Orb-Timestamp": ts, "X-Orb-Signature": f"v1={ORB_SECRET}"},
        ):
            bodies.append((await client.post("/webhooks/orb", content=body, headers=headers)).text)
        for user, password in ((f"x{CB_USER}", CB_PASSWORD), (CB_USER, CB_PASSWORD + "x")):
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            r = await client.post(
                "/webhooks/chargebee", content=b"{}", headers={"Authorization": f"Basic {basic}"}
            )
            assert r.status_code == 401
            bodies.append(r.text)
        basic = base64.b64encode(f"{CB_USER}:{CB_PASSWORD}".encode()).decode()
        bad_json = await client.post(
            "/webhooks/chargebee", content=b"{nope", headers={"Authorization": f"Basic {basic}"}
        )
        assert bad_json.status_code == 400
        bodies += [
            bad_json.text,
            (await client.get("/metrics")).text,
            (await client.get("/openapi.json")).text,
        ]
    logs = _read(log_sink)
    assert "webhook_rejected" in logs  # the logs were captured
    _assert_clean("\n".join(bodies), "an HTTP answer or settings dump")
    _assert_clean(logs, "the logs")


async def test_the_full_demo_flow_leaks_no_secret(
    kafka_bootstrap: str, log_sink: TextIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Receiver + sync + CDC + writeback on the sandboxes, with rejected webhooks and dead letters."""
    monkeypatch.setattr(demo, "ORB_SECRET", ORB_SECRET)
    monkeypatch.setattr(demo, "CB_USER", CB_USER)
    monkeypatch.setattr(demo, "CB_PASSWORD", CB_PASSWORD)
    monkeypatch.setattr(demo, "CB_API_KEY", CB_API_KEY)
    said: list[str] = []
    report = await demo.run_demo(kafka_bootstrap, said.append)
    logs = _read(log_sink)
    assert report.dead_letters, "the scenario should dead-letter at least one record"
    assert any(status == 401 for *_, status in report.webhooks), "and to refuse a webhook"
    assert '"component"' in logs and "webhook_rejected" in logs  # structlog lines were captured
    _assert_clean(repr(report) + "\n".join(said), "the demo report (webhook answers, DLQ messages)")
    _assert_clean(logs, "the logs")
