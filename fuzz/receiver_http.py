"""Schemathesis against a live receiver on the real broker, driven from its own /openapi.json.

Cases come from three sources: schemathesis positive cases (schema-valid), negative cases
(schema-violating), and mutants of real sender bodies (Orb events, Chargebee events, Salesforce
outbound messages). Orb cases are then signed with the receiver's secret (fresh, stale, or with
the fuzzed signature kept) and Chargebee cases get the right Basic credentials most of the time,
so the fuzzer reaches the parsers behind the authentication.

Invariants checked on every answer:
- no 5xx but 503, and an answer within the per-request timeout (no hang);
- an error is `{"error", "detail"}` JSON (a SOAP fault with a faultstring on /webhooks/salesforce);
- the topics' end offsets move only on 2xx, and by exactly the number of events accepted;
- schemathesis' own conformance checks (documented status, content type, schema, headers).
"""

from __future__ import annotations

import asyncio
import base64
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi import checks as oas_checks

from bridge.kafka import Topics, make_consumer, partitions_of
from bridge.sandbox.payloads import cb_customer, cb_event, orb_customer, orb_event, orb_invoice
from bridge.settings import Settings
from bridge.sources import salesforce_outbound
from bridge.sources.orb import sign

SECRET = "whsec_fuzz_0123456789"
CB_USER, CB_PASS = "chargebee-fuzz", "cb-fuzz-pass"
ORG = "00D5g000004ZwyXEAS"
TIMEOUT = (5.0, 20.0)  # connect, read: an answer later than this is a hang
SCHEMA_CHECKS = [
    oas_checks.status_code_conformance,
    oas_checks.content_type_conformance,
    oas_checks.response_schema_conformance,
    oas_checks.response_headers_conformance,
]


def fuzz_settings(base: Settings) -> Settings:
    """`base` with the secrets the fuzzer signs with and a 64 KiB body limit."""
    return base.model_copy(
        update={
            "orb_webhook_secret": SecretStr(SECRET),
            "chargebee_webhook_username": CB_USER,
            "chargebee_webhook_password": SecretStr(CB_PASS),
            "salesforce_organization_id": ORG[:15],
            "max_body_bytes": 64 * 1024,
            "log_level": "WARNING",
        }
    )


class EndOffsets:
    """Sum of end offsets per topic, read by an aiokafka consumer on its own thread's loop."""

    def __init__(self, settings: Settings, topics: Iterable[str]) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.consumer = self._run(self._start())

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)

    async def _start(self) -> Any:
        self.partitions = [tp for t in self.topics for tp in await partitions_of(self.settings, t)]
        if len(self.partitions) < len(self.topics):
            raise RuntimeError(f"not every topic of {self.topics} exists; is the receiver ready?")
        consumer = make_consumer(self.settings, None)
        await consumer.start()
        return consumer

    async def _totals(self) -> dict[str, int]:
        ends = await self.consumer.end_offsets(self.partitions)
        out = dict.fromkeys(self.topics, 0)
        for tp, end in ends.items():
            out[tp.topic] += end
        return out

    def totals(self) -> dict[str, int]:
        """Current sum of end offsets of each watched topic."""
        result: dict[str, int] = self._run(self._totals())
        return result

    def close(self) -> None:
        self._run(self.consumer.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


@dataclass
class Report:
    """What a run sent and found: cases by (operation, status), findings by kind with an example."""

    sent: Counter[str] = field(default_factory=Counter)
    unsendable: int = 0
    findings: dict[str, str] = field(default_factory=dict)
    finding_counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def add(self, kind: str, example: str) -> None:
        self.finding_counts[kind] += 1
        self.findings.setdefault(kind, example[:1500])

    def lines(self) -> list[str]:
        """A readable summary for the `make fuzz` output."""
        out = [f"cases sent: {self.total} (not sendable by an HTTP client: {self.unsendable})"]
        out += [f"  {n:6d}  {key}" for key, n in sorted(self.sent.items())]
        out.append(f"findings: {len(self.findings)}")
        for kind, example in self.findings.items():
            out.append(f"  [{self.finding_counts[kind]}x] {kind}\n      e.g. {example}")
        return out


# ---------------------------------------------------------------- what is sent


def _soap(n: int, org: str = ORG) -> bytes:
    notes = "".join(
        f"<Notification><Id>04l5g00000{i:08d}</Id>"
        '<sObject xsi:type="sf:Opportunity" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>0065g00000{i:08d}</sf:Id><sf:AccountId>0015g00000{i % 7:08d}</sf:AccountId>"
        '<sf:StageName>Closed Won</sf:StageName><sf:Description xsi:nil="true"/>'
        "</sObject></Notification>"
        for i in range(n)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5g000000SBXEAA4</ActionId>"
        f"{notes}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def seeds() -> dict[str, list[bytes]]:
    """Real-looking bodies per endpoint, the starting points of the mutants."""
    now = datetime.now(UTC).isoformat()
    return {
        "/webhooks/orb": [
            orjson.dumps(
                {**orb_event("customer.created", customer=orb_customer("cus_1")), "created_at": now}
            ),
            orjson.dumps(orb_event("invoice.issued", invoice=orb_invoice("inv_1", customer_id="cus_2"))),
            orjson.dumps({"id": "e", "type": "widget.new", "created_at": now, "widget": {"id": "w"}}),
        ],
        "/webhooks/chargebee": [
            orjson.dumps(cb_event("customer_created", customer=cb_customer("cb_1"))),
        ],
        "/webhooks/salesforce": [
            _soap(1),
            _soap(3),
            _soap(1, org="00D000000000001AAA"),
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>',
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
            b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/x.dtd"><x/>',
        ],
    }


SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False)
JSON_VALUES = st.recursive(  # integers within what orjson (and JSON senders) encode
    SCALARS | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def mutant(draw: st.DrawFn, bodies: dict[str, list[bytes]]) -> tuple[str, bytes]:
    """A real body, then changed: a field replaced or dropped, bytes cut, inserted or flipped."""
    path = draw(st.sampled_from(sorted(bodies)))
    body = draw(st.sampled_from(bodies[path]))
    how = draw(st.sampled_from(["field", "drop", "cut", "insert", "flip", "repeat", "as-is"]))
    if how in ("field", "drop") and path != "/webhooks/salesforce":
        data = orjson.loads(body)
        target = data
        if draw(st.booleans()):
            nested = [k for k, v in data.items() if isinstance(v, dict)]
            if nested:
                target = data[draw(st.sampled_from(sorted(nested)))]
        if target:
            key = draw(st.sampled_from(sorted(target)))
            if how == "drop":
                del target[key]
            else:
                target[key] = draw(JSON_VALUES)
        return path, orjson.dumps(data)
    if how == "cut" and body:
        start = draw(st.integers(0, len(body) - 1))
        end = draw(st.integers(start, len(body)))
        return path, body[:start] + body[end:]
    if how == "insert":
        at = draw(st.integers(0, len(body)))
        return path, body[:at] + draw(st.binary(min_size=1, max_size=40)) + body[at:]
    if how == "flip" and body:
        at = draw(st.integers(0, len(body) - 1))
        return path, body[:at] + bytes([body[at] ^ draw(st.integers(1, 255))]) + body[at + 1 :]
    if how == "repeat" and path == "/webhooks/salesforce":
        return path, _soap(draw(st.integers(95, 105)))
    return path, body


@dataclass
class Outgoing:
    """One request to send, and the schemathesis case it came from (None for mutants)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes | None
    case: Any = None
    label: str = ""


def _treat(out: Outgoing, draw: st.DrawFn) -> Outgoing:
    """Sign Orb requests / authenticate Chargebee ones, so most cases get past authentication."""
    if out.path == "/webhooks/orb" and out.method == "POST":
        how = draw(st.sampled_from(["signed", "signed", "signed", "stale", "fresh-fuzzed-sig", "as-is"]))
        body = out.body or b""
        if how in ("signed", "stale"):
            minutes = (
                draw(st.integers(-4, 4)) if how == "signed" else draw(st.sampled_from([-600, -6, 6, 90]))
            )
            ts = (datetime.now(UTC) + timedelta(minutes=minutes)).isoformat()
            out.headers["X-Orb-Timestamp"] = ts
            out.headers["X-Orb-Signature"] = f"v1={sign(SECRET, ts, body)}"
        elif how == "fresh-fuzzed-sig":
            # A current timestamp and the fuzzed signature: reaches the signature comparison itself.
            out.headers["X-Orb-Timestamp"] = datetime.now(UTC).isoformat()
            offered = out.headers.get("X-Orb-Signature", "")
            out.headers["X-Orb-Signature"] = draw(st.sampled_from([offered, f"v1={offered}"]))
        out.label += f" orb:{how}"
    if out.path == "/webhooks/chargebee" and out.method == "POST":
        how = draw(st.sampled_from(["basic", "basic", "basic", "wrong", "as-is"]))
        if how != "as-is":
            password = CB_PASS if how == "basic" else draw(st.text(max_size=12))
            token = base64.b64encode(f"{CB_USER}:{password}".encode()).decode()
            out.headers["Authorization"] = f"Basic {token}"
        out.label += f" cb:{how}"
    return out


def _from_case(case: Any) -> Outgoing:
    kwargs = case.as_transport_kwargs(base_url="http://placeholder")
    prepared = requests.Request(
        method=kwargs["method"],
        url=kwargs["url"],
        headers=kwargs.get("headers"),
        params=kwargs.get("params"),
        json=kwargs.get("json"),
        data=kwargs.get("data"),
    ).prepare()
    raw = prepared.body
    body = raw.encode() if isinstance(raw, str) else raw if isinstance(raw, bytes) else None
    path = (prepared.path_url or "/").split("?")[0]
    headers = {
        k: v if isinstance(v, str) else v.decode("latin-1")
        for k, v in prepared.headers.items()
        if k.lower() != "content-length"
    }
    return Outgoing(str(prepared.method), path, headers, body, case, label=f"{case.method} {case.path}")


@st.composite
def outgoing(draw: st.DrawFn, source: st.SearchStrategy[Any], kind: str) -> Outgoing:
    """One request from `source` (schemathesis cases or mutants), signed or authenticated."""
    item = draw(source)
    if kind == "mutant":
        path, body = item
        out = Outgoing("POST", path, {"Content-Type": "application/json"}, body, label=f"POST {path} mutant")
    else:
        out = _from_case(item)
        out.label += f" {kind}"
    return _treat(out, draw)


# ---------------------------------------------------------------- checking answers


def _expected_events(out: Outgoing) -> int:
    if out.path == "/webhooks/salesforce":
        return len(salesforce_outbound.parse(out.body or b"", ORG[:15]))
    return 1


def _error_shape(out: Outgoing, response: requests.Response) -> str | None:
    if out.path == "/webhooks/salesforce" and out.method == "POST":
        if "<faultstring>" not in response.text or "xml" not in response.headers.get("content-type", ""):
            return "error on /webhooks/salesforce is not a SOAP fault"
        return None
    try:
        data = response.json()
    except ValueError:
        return "error body is not JSON"
    if not (
        isinstance(data, dict)
        and set(data) == {"error", "detail"}
        and isinstance(data["error"], str)
        and isinstance(data["detail"], str)
        and data["detail"]
    ):
        return "error body is not {error, detail}"
    return None


class Exchanger:
    """Sends one `Outgoing`, then checks the answer and the topics against the invariants."""

    def __init__(self, url: str, settings: Settings, report: Report) -> None:
        self.url = url
        self.report = report
        topics = Topics.from_settings(settings)
        self.topic_of = {
            "/webhooks/orb": topics.orb_events,
            "/webhooks/chargebee": topics.chargebee_events,
            "/webhooks/salesforce": topics.salesforce_changes,
        }
        self.offsets = EndOffsets(settings, self.topic_of.values())
        self.session = requests.Session()
        # Only this fuzzer writes to these topics, one request at a time: the end offsets after
        # one exchange are the ones before the next.
        self.last = self.offsets.totals()

    def close(self) -> None:
        self.session.close()
        self.offsets.close()

    def __call__(self, out: Outgoing) -> list[str]:
        """The invariants this exchange broke (empty when it behaved)."""
        before = self.last
        example = (
            f"{out.label}: {out.method} {out.path} headers={out.headers} body={(out.body or b'')[:300]!r}"
        )
        try:
            response = self.session.request(
                out.method, self.url + out.path, headers=out.headers, data=out.body, timeout=TIMEOUT
            )
        except requests.Timeout:
            self.report.add(f"hang: no answer within {TIMEOUT[1]} s on {out.path}", example)
            return ["hang"]
        except (requests.exceptions.InvalidHeader, UnicodeEncodeError, ValueError):
            self.report.unsendable += 1  # e.g. a header value no HTTP client may send
            return []
        status = response.status_code
        self.report.sent[f"{out.method} {out.path} -> {status}"] += 1
        example += f" -> {status} {response.text[:300]!r}"
        broken: list[str] = []
        if status >= 500 and status != 503:
            broken.append(f"server error {status} on {out.method} {out.path}")
        if status >= 400 and (shape := _error_shape(out, response)):
            broken.append(f"{shape} ({status} {out.path})")
        after = self.last = self.offsets.totals()
        published = {t: after[t] - before[t] for t in after}
        wanted = dict.fromkeys(after, 0)
        if 200 <= status < 300 and out.path in self.topic_of and out.method == "POST":
            wanted[self.topic_of[out.path]] = _expected_events(out)
        if published != wanted:
            broken.append(f"published {published} but expected {wanted} for a {status} on {out.path}")
        if out.case is not None:
            try:
                out.case.validate_response(response, checks=SCHEMA_CHECKS)
            except FailureGroup as group:
                for failure in group.exceptions:
                    broken.append(f"schemathesis: {failure.title} ({out.method} {out.path} {status})")
            except Failure as failure:
                broken.append(f"schemathesis: {failure.title} ({out.method} {out.path} {status})")
        for kind in broken:
            self.report.add(kind, example)
        return broken


def run(url: str, settings: Settings, cases: int, report: Report, strict: bool = False) -> Report:
    """Send about `cases` requests (a third each: positive, negative, mutants).

    `strict` stops at the first finding (tests); otherwise every finding goes into `report`."""
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    exchange = Exchanger(url, settings, report)
    sources: list[tuple[str, st.SearchStrategy[Any]]] = [
        ("positive", schema.as_strategy(generation_mode=GenerationMode.POSITIVE)),
        ("negative", schema.as_strategy(generation_mode=GenerationMode.NEGATIVE)),
        ("mutant", mutant(seeds())),
    ]
    try:
        for kind, source in sources:
            _drive(outgoing(source, kind), max(1, cases // len(sources)), exchange, strict)
    finally:
        exchange.close()
    return report


def _drive(
    strategy: st.SearchStrategy[Outgoing], n: int, exchange: Callable[[Outgoing], list[str]], strict: bool
) -> None:
    @hsettings(
        max_examples=n,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(strategy)
    def one(out: Outgoing) -> None:
        broken = exchange(out)
        assert not (strict and broken), broken

    one()
