"""Regressions for what the fuzzers found, replay and XML attacks: a clear 4xx, nothing published."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest
from mapping_payloads import cb_customer, cb_event, orb_customer, orb_event
from pydantic import SecretStr
from receiver_harness import read_topic, running_receiver

from bridge.events import Envelope
from bridge.kafka import Topics
from bridge.settings import Settings
from bridge.sources import orb
from bridge.sources.request import Rejected

SECRET = "whsec_regress"
CB_USER, CB_PASS = "cb", "cb-pass"


def _settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "orb_webhook_secret": SecretStr(SECRET),
            "chargebee_webhook_username": CB_USER,
            "chargebee_webhook_password": SecretStr(CB_PASS),
        }
    )


def _signed(body: bytes, ts: str | None = None) -> dict[str, str]:
    ts = ts or datetime.now(UTC).isoformat()
    return {"X-Orb-Timestamp": ts, "X-Orb-Signature": f"v1={orb.sign(SECRET, ts, body)}"}


def _basic() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{CB_USER}:{CB_PASS}".encode()).decode()}


def _soap(last_modified: str = "2026-01-01T00:00:00.000Z", declaration: str = "") -> bytes:
    return (
        f'{declaration}<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        "<OrganizationId>00D5g000004ZwyXEAS</OrganizationId><Notification><Id>04l000000000001</Id>"
        '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>0015g000000001</sf:Id><sf:LastModifiedDate>{last_modified}</sf:LastModifiedDate>"
        "</sObject></Notification></notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


async def test_non_ascii_signature_is_401_not_a_crash(settings: Settings) -> None:
    """atheris orb_verify: `v1=\\xff…` made hmac.compare_digest raise TypeError (a 500)."""
    s = _settings(settings)
    body = orjson.dumps(orb_event("customer.created", customer=orb_customer("cus_1")))
    headers = [
        (b"X-Orb-Timestamp", datetime.now(UTC).isoformat().encode()),
        (b"X-Orb-Signature", b"v1=\xff\xe9 v1=abc"),
    ]
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        r = await client.post(f"{url}/webhooks/orb", content=body, headers=headers)
    assert (r.status_code, r.json()["error"]) == (401, "bad_signature")
    assert await read_topic(s, Topics.from_settings(s).orb_events) == []


async def test_dates_that_do_not_fit_in_utc_are_400_not_a_crash(settings: Settings) -> None:
    """schemathesis: Chargebee `occurred_at` 53082761153025 (year 1.7M) and Orb `created_at` in year 1
    with a positive offset raised from datetime (a 500)."""
    s = _settings(settings)
    cb = orjson.dumps(
        {**cb_event("customer_created", customer=cb_customer("c1")), "occurred_at": 53082761153025}
    )
    orb_early = orjson.dumps(
        {
            **orb_event("customer.created", customer=orb_customer("cus_1")),
            "created_at": "0001-01-01T00:00:00+05:00",
        }
    )
    orb_late = orjson.dumps(
        {
            **orb_event("customer.created", customer=orb_customer("cus_1")),
            "created_at": "9999-12-31T23:59:59-05:00",
        }
    )
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        r_cb = await client.post(f"{url}/webhooks/chargebee", content=cb, headers=_basic())
        r_early = await client.post(f"{url}/webhooks/orb", content=orb_early, headers=_signed(orb_early))
        r_late = await client.post(f"{url}/webhooks/orb", content=orb_late, headers=_signed(orb_late))
    assert r_cb.status_code == 400 and "occurred_at" in r_cb.json()["detail"]
    for r in (r_early, r_late):
        assert r.status_code == 400 and "created_at" in r.json()["detail"], r.text
    topics = Topics.from_settings(s)
    assert await read_topic(s, topics.orb_events) == []
    assert await read_topic(s, topics.chargebee_events) == []


@pytest.mark.parametrize(("encoding", "says"), [("UTF-6", "unknown encoding"), ("EUC-JP", "multi-byte")])
async def test_outbound_message_in_an_unsupported_encoding_is_400(
    settings: Settings, encoding: str, says: str
) -> None:
    """atheris soap: `encoding="UTF-6"` raised LookupError, `"EUC-JP"` ValueError (both a 500)."""
    s = _settings(settings)
    body = _soap(declaration=f'<?xml version="1.0" encoding="{encoding}"?>')
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        r = await client.post(f"{url}/webhooks/salesforce", content=body)
    assert r.status_code == 400 and says in r.text and "faultstring" in r.text
    assert await read_topic(s, Topics.from_settings(s).salesforce_changes) == []


async def test_outbound_message_with_a_modstamp_out_of_utc_range_is_stored_as_received(
    settings: Settings,
) -> None:
    """A LastModifiedDate that cannot be put in UTC is ignored like any unparseable one."""
    s = _settings(settings)
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        r = await client.post(f"{url}/webhooks/salesforce", content=_soap("0001-01-01T00:00:00+05:00"))
    assert r.status_code == 200, r.text
    [rec] = await read_topic(s, Topics.from_settings(s).salesforce_changes)
    assert Envelope.from_bytes(rec.value).occurred_at.year >= 2025


async def test_a_replayed_orb_delivery_is_refused_once_its_timestamp_is_old(settings: Settings) -> None:
    """The same signed request, re-sent: accepted now, refused 401 naming the timestamp 5 min later."""
    s = _settings(settings)
    body = orjson.dumps(orb_event("customer.created", event_id="evt_replay", customer=orb_customer("cus_1")))
    headers = _signed(body)
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        first = await client.post(f"{url}/webhooks/orb", content=body, headers=headers)
    assert first.status_code == 200
    sent = datetime.fromisoformat(headers["X-Orb-Timestamp"])
    lowered = {k.lower(): v for k, v in headers.items()}
    orb.verify([SECRET], lowered, body, now=sent + orb.TOLERANCE)  # still inside the window
    with pytest.raises(Rejected) as refused:
        orb.verify([SECRET], lowered, body, now=sent + orb.TOLERANCE + timedelta(seconds=1))
    assert refused.value.status == 401 and refused.value.code == "expired_timestamp"
    assert "X-Orb-Timestamp" in refused.value.message
    assert len(await read_topic(s, Topics.from_settings(s).orb_events)) == 1  # only the first


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param(b'<?xml version="1.0"?><!DOCTYPE x><x/>', id="bare-dtd"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><x/>', id="external-dtd"
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p">%p;]><x/>',
            id="parameter-entity",
        ),
        pytest.param(
            _soap()
            .replace(b"<soapenv:Envelope", b'<!DOCTYPE e [<!ENTITY a "b">]><soapenv:Envelope', 1)
            .replace(b"0015g000000001", b"&a;"),
            id="entity-in-a-valid-message",
        ),
    ],
)
async def test_dtds_of_every_kind_are_refused_and_nothing_is_published(
    settings: Settings, attack: bytes
) -> None:
    s = _settings(settings)
    async with running_receiver(s) as url, httpx.AsyncClient() as client:
        r = await client.post(f"{url}/webhooks/salesforce", content=attack)
    assert r.status_code == 400 and "DTDs or entities is refused" in r.text, r.text
    assert await read_topic(s, Topics.from_settings(s).salesforce_changes) == []
