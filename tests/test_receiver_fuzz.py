"""Random bytes and headers at every receiver endpoint: never a 5xx, never a publish."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import orb
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr
from receiver_harness import read_topic, running_receiver

from bridge.kafka import Topics
from bridge.settings import Settings
from bridge.sources.orb import KNOWN_EVENT_TYPES
from fuzz.receiver_http import Report, fuzz_settings, run
from fuzz.receiver_process import served_receiver

HEADER_NAMES = st.sampled_from(
    [
        "X-Orb-Timestamp",
        "X-Orb-Signature",
        "Authorization",
        "Content-Type",
        "Content-Length",
        "Transfer-Encoding",
        "X-Forwarded-For",
        "SOAPAction",
    ]
)
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)


def test_known_orb_event_types_are_the_sdks() -> None:
    sdk_types = set()
    for path in Path(orb.__file__).parent.joinpath("types").glob("*_webhook_event.py"):
        sdk_types |= set(re.findall(r'type: Literal\["([a-z_.]+)"\]', path.read_text()))
    sdk_types.discard("tiered_percentage_discount")  # a price model, not an event
    assert sdk_types == KNOWN_EVENT_TYPES


async def test_random_requests_never_crash_and_never_publish(settings: Settings) -> None:
    s = settings.model_copy(
        update={
            "orb_webhook_secret": SecretStr("fuzz-secret"),
            "chargebee_webhook_username": "u",
            "chargebee_webhook_password": SecretStr("p"),
            "max_body_bytes": 4096,
        }
    )
    async with running_receiver(s) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:

        @hsettings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
        @given(
            path=st.sampled_from(["/webhooks/orb", "/webhooks/chargebee", "/webhooks/salesforce"]),
            method=st.sampled_from(["POST", "POST", "POST", "PUT", "GET"]),
            body=st.binary(max_size=6000) | st.sampled_from([b"{}", b"[]", b'{"id": 1}', b"<a/>"]),
            headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4),
        )
        def probe(path: str, method: str, body: bytes, headers: dict[str, Any]) -> None:
            headers.pop("Content-Length", None)  # framing headers are httpx's to set
            headers.pop("Transfer-Encoding", None)
            clean = {k: v.strip() for k, v in headers.items()}  # httpx refuses edge spaces
            results.append((path, method, body, clean))

        results: list[tuple[str, str, bytes, dict[str, Any]]] = []
        probe()  # hypothesis draws the cases; they are sent below, in this event loop
        for path, method, body, headers in results:
            r = await client.request(method, path, content=body, headers=headers)
            assert r.status_code < 500 or r.status_code == 503, (path, method, body[:80], headers, r.text)
            assert r.status_code != 200, (path, body[:80], headers)
    topics = Topics.from_settings(s)
    for topic in (topics.orb_events, topics.chargebee_events, topics.salesforce_changes):
        assert await read_topic(s, topic) == []
    assert len(results) == 150


def test_schemathesis_on_the_live_receiver_breaks_no_invariant(settings: Settings) -> None:
    """A small run of `make fuzz`'s HTTP part: schemathesis + signed mutants on `bridge serve`."""
    s = fuzz_settings(settings)
    report = Report()
    with served_receiver(s) as receiver:
        run(receiver.url, s, 90, report, strict=True)
    assert report.findings == {}
    assert report.total >= 60  # hypothesis may send fewer when a space is exhausted
    accepted = sum(n for key, n in report.sent.items() if key.endswith(("-> 200", "-> 202")))
    rejected = sum(n for key, n in report.sent.items() if " -> 4" in key)
    assert accepted and rejected  # both sides of authentication were reached


async def test_latin1_header_values_never_crash_the_orb_verifier(settings: Settings) -> None:
    """Every byte a client may put in a header (latin-1), with a fresh timestamp so the
    signature comparison itself runs (a non-ASCII `v1=` value once raised a 500)."""
    s = settings.model_copy(update={"orb_webhook_secret": SecretStr("fuzz-secret")})
    # Control bytes are refused by the HTTP parser itself (a plain 400) before the app runs.
    values = st.binary(max_size=40).map(lambda b: b"v1=" + bytes(c for c in b if c >= 0x20 and c != 0x7F))
    async with running_receiver(s) as url, httpx.AsyncClient(base_url=url, timeout=10) as client:
        sent: list[bytes] = []

        @hsettings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
        @given(signature=values)
        def probe(signature: bytes) -> None:
            sent.append(signature.strip(b" \t\x00"))

        probe()
        for signature in sent:
            now = datetime.now(UTC).isoformat().encode()
            headers = [(b"X-Orb-Timestamp", now), (b"X-Orb-Signature", signature)]
            r = await client.post("/webhooks/orb", content=b"{}", headers=headers)
            assert r.status_code == 401, (signature, r.text)
    assert await read_topic(s, Topics.from_settings(s).orb_events) == []
