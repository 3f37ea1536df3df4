"""The demo: the whole bridge in one process on the real broker and the Salesforce sandbox.

Webhooks go through real HTTP into the receiver (signed for Orb, Basic auth for Chargebee),
through Kafka into `bridge sync`, into the Salesforce sandbox; human edits in the sandbox come
back through CDC into `salesforce.changes`. `run_demo` returns what happened; the CLI prints it.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import httpx
import orjson
import uvicorn
from pydantic import SecretStr
from starlette.applications import Starlette

from bridge.app import create_app as create_receiver
from bridge.billing.chargebee import ChargebeeClient
from bridge.events import decode_headers
from bridge.kafka import Topics, delete_topics_with_prefix, ensure_topics, make_producer, partitions_of
from bridge.mapping import build_mapper, default_mappings
from bridge.ops.reading import TopicReader
from bridge.salesforce.cdc import CdcListener
from bridge.salesforce.factory import salesforce_client
from bridge.sandbox import payloads as p
from bridge.sandbox.chargebee.app import create_app as create_chargebee
from bridge.sandbox.salesforce.app import create_app as create_salesforce
from bridge.settings import Settings
from bridge.sources.orb import sign
from consumers.loop import ConsumeLoop
from consumers.sync import run_sync
from consumers.writeback import WritebackHandler, run_writeback

ORB_SECRET = "whsec_demo"
CB_USER, CB_PASSWORD = "chargebee-demo", "demo-password"
CB_API_KEY = "test_sandbox_key"
SYNCED_OBJECTS = (
    "OrbCustomer__c",
    "OrbPlan__c",
    "OrbSubscription__c",
    "OrbSubscriptionVersion__c",
    "OrbInvoice__c",
    "OrbInvoiceLineItemBilling__c",
    "Account",
    "Contact",
    "Product2",
    "Pricebook2",
    "PricebookEntry",
    "Opportunity",
    "OpportunityLineItem",
    "CB_Site__c",
    "CB_Item_Price__c",
    "CB_Subscription__c",
    "CB_Invoice__c",
    "CB_Invoice_Line_Item__c",
)


@dataclass
class Webhook:
    """One delivery the scenario makes, and why."""

    source: str
    body: dict[str, Any]
    note: str = ""


@dataclass
class DemoReport:
    """Everything the closing report shows."""

    webhooks: list[tuple[str, str, str, int]] = field(default_factory=list)  # source, type, note, status
    topics: dict[str, int] = field(default_factory=dict)
    sync_outcomes: dict[str, int] = field(default_factory=dict)
    sync_retries: int = 0
    salesforce_records: dict[str, int] = field(default_factory=dict)
    salesforce_calls: dict[str, int] = field(default_factory=dict)
    cdc: dict[str, int] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[tuple[str, str, str]] = field(default_factory=list)  # event type, class, message
    side_by_side: list[tuple[str, str, str, str]] = field(default_factory=list)
    seconds: float = 0.0
    topic_prefix: str = ""
    writeback: dict[str, Any] = field(default_factory=dict)


def scenario() -> list[Webhook]:
    """A small Orb tenant and a small Chargebee site, with a duplicate and an out-of-order event."""
    now = datetime.now(UTC)

    def at(minutes: int) -> str:
        return (now - timedelta(minutes=60 - minutes)).isoformat()

    out: list[Webhook] = []
    names = {"cus_acme": "Acme Corp", "cus_globex": "Globex", "cus_initech": "Initech"}
    for i, (cid, name) in enumerate(names.items()):
        customer = p.orb_customer(cid, name=name, email=f"billing@{cid[4:]}.test")
        out.append(
            Webhook(
                "orb",
                p.orb_event(
                    "customer.created", event_id=f"evt_{cid}_created", created_at=at(i), customer=customer
                ),
            )
        )
        sub = p.orb_subscription(f"sub_{cid[4:]}", customer=customer)
        out.append(
            Webhook(
                "orb",
                p.orb_event(
                    "subscription.started", event_id=f"evt_sub_{cid}", created_at=at(10 + i), subscription=sub
                ),
            )
        )
        invoice = p.orb_invoice(f"inv_{cid[4:]}_1", customer_id=cid, lines=2)
        invoice["customer"]["external_customer_id"] = None
        invoice["subscription"] = {"id": f"sub_{cid[4:]}"}
        out.append(
            Webhook(
                "orb",
                p.orb_event(
                    "invoice.issued", event_id=f"evt_inv_{cid}", created_at=at(20 + i), invoice=invoice
                ),
            )
        )
    paid = p.orb_invoice("inv_acme_1", customer_id="cus_acme", lines=2)
    paid.update(status="paid", paid_at=at(31), amount_due="0.00", subscription={"id": "sub_acme"})
    out.append(
        Webhook(
            "orb",
            p.orb_event(
                "invoice.payment_succeeded", event_id="evt_inv_acme_paid", created_at=at(31), invoice=paid
            ),
        )
    )
    out.append(Webhook("orb", out[2].body, "duplicate: Orb retried a delivery"))
    newer = p.orb_customer("cus_globex", name="Globex Corporation", email="billing@globex.test")
    older = p.orb_customer("cus_globex", name="Globex (old name)", email="billing@globex.test")
    out.append(
        Webhook(
            "orb",
            p.orb_event("customer.edited", event_id="evt_globex_renamed", created_at=at(40), customer=newer),
        )
    )
    out.append(
        Webhook(
            "orb",
            p.orb_event("customer.edited", event_id="evt_globex_stale", created_at=at(35), customer=older),
            "out of order: older than the rename before it",
        )
    )

    t = int(now.timestamp()) - 600
    out.append(
        Webhook(
            "chargebee", p.cb_event("item_created", event_id="ev_item", occurred_at=t, item=p.cb_item("team"))
        )
    )
    out.append(
        Webhook(
            "chargebee",
            p.cb_event(
                "item_price_created",
                event_id="ev_price",
                occurred_at=t + 1,
                item_price=p.cb_item_price("team-EUR-monthly"),
            ),
        )
    )
    hooli = p.cb_customer(
        "cb_hooli",
        company="Hooli",
        first_name="Gavin",
        last_name="Belson",
        email="gavin@hooli.test",
        resource_version=(t + 2) * 1000,
    )
    out.append(
        Webhook(
            "chargebee",
            p.cb_event("customer_created", event_id="ev_hooli", occurred_at=t + 2, customer=hooli),
        )
    )
    sub = p.cb_subscription("cb_sub_hooli", customer_id="cb_hooli")
    out.append(
        Webhook(
            "chargebee",
            p.cb_event(
                "subscription_created",
                event_id="ev_hooli_sub",
                occurred_at=t + 3,
                subscription=sub,
                customer=hooli,
            ),
        )
    )
    inv = p.cb_invoice("cb_inv_hooli_1", customer_id="cb_hooli", sub_id="cb_sub_hooli")
    out.append(
        Webhook(
            "chargebee",
            p.cb_event("invoice_generated", event_id="ev_hooli_inv", occurred_at=t + 4, invoice=inv),
        )
    )
    renamed = {**hooli, "company": "Hooli XYZ", "resource_version": (t + 5) * 1000}
    stale = {**hooli, "company": "Hooli (stale)", "resource_version": (t + 1) * 1000}
    out.append(
        Webhook(
            "chargebee",
            p.cb_event("customer_changed", event_id="ev_hooli_renamed", occurred_at=t + 5, customer=renamed),
        )
    )
    out.append(
        Webhook(
            "chargebee",
            p.cb_event("customer_changed", event_id="ev_hooli_stale", occurred_at=t + 1, customer=stale),
            "out of order: Chargebee redelivered an older version",
        )
    )
    return out


@asynccontextmanager
async def _serve(app: Starlette, lifespan: Literal["on", "off"]) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan=lifespan))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
        sock.close()


async def run_demo(kafka_bootstrap: str, say: Callable[[str], None]) -> DemoReport:
    """Run the scenario end to end and collect the report."""
    began = time.monotonic()
    report = DemoReport()
    base = Settings(
        kafka_bootstrap=kafka_bootstrap, topic_prefix=f"demo-{uuid.uuid4().hex[:6]}.", log_level="WARNING"
    )
    async with _serve(create_salesforce(long_poll_timeout=0.5), "off") as sf_url:
        settings = base.model_copy(
            update={
                "orb_webhook_secret": SecretStr(ORB_SECRET),
                "chargebee_webhook_username": CB_USER,
                "chargebee_webhook_password": SecretStr(CB_PASSWORD),
                "salesforce_login_url": sf_url,
                "salesforce_instance_url": sf_url,
                "salesforce_client_id": "sandbox-client-id",
                "salesforce_client_secret": SecretStr("sandbox-client-secret"),
                "salesforce_username": "integration@bridge.sandbox",
                "salesforce_password": SecretStr("sandbox-password"),
                "sync_group_id": f"{base.topic_prefix}sync",
            }
        )
        await ensure_topics(settings)
        say(f"Salesforce sandbox at {sf_url}; topics prefixed {settings.topic_prefix!r}")
        control = httpx.AsyncClient(base_url=sf_url, timeout=10)
        async with (
            _serve(create_chargebee(api_key=CB_API_KEY), "on") as cb_url,
            _serve(create_receiver(settings), "on") as receiver_url,
        ):
            say(f"receiver at {receiver_url}; Chargebee sandbox at {cb_url}")
            stop = asyncio.Event()
            loops: list[ConsumeLoop] = []
            sync_task = asyncio.create_task(
                run_sync(settings, stop, mapper=build_mapper().map_event, on_loop=loops.append)
            )
            http = httpx.AsyncClient(timeout=30)
            sf = salesforce_client(settings, http)
            producer = make_producer(settings)
            await producer.start()
            listener = CdcListener(settings, http, sf.tokens, sf, producer)
            listen_task = asyncio.create_task(listener.run(stop))
            chargebee = ChargebeeClient(http, f"{cb_url}/api/v2", CB_API_KEY)
            # The site already knows Hooli (created before any webhook endpoint existed).
            await chargebee.create_customer(
                {
                    "id": "cb_hooli",
                    "company": "Hooli XYZ",
                    "first_name": "Gavin",
                    "last_name": "Belson",
                    "email": "gavin@hooli.test",
                },
                idempotency_key="demo-hooli",
            )
            handlers: list[WritebackHandler] = []

            def writeback_handler(state: Any, producer: Any) -> WritebackHandler:
                handlers.append(
                    WritebackHandler(settings, sf, default_mappings(), state, producer, chargebee=chargebee)
                )
                return handlers[0]

            writeback_task = asyncio.create_task(run_writeback(settings, stop, writeback_handler))
            try:
                await _until(lambda: bool(loops) and loops[0].ready.is_set(), 30)
                await asyncio.wait_for(listener.subscribed.wait(), 15)
                await _deliver(receiver_url, scenario(), report, say)
                accepted = sum(1 for w in report.webhooks if w[3] in (200, 202))
                await _until(lambda: sum(loops[0].stats.outcomes.values()) >= accepted, 60)
                say("billing → Salesforce settled; now a person edits Salesforce")
                await http.put(
                    f"{cb_url}/_sandbox/webhooks/endpoints",
                    json={
                        "endpoints": [
                            {
                                "url": f"{receiver_url}/webhooks/chargebee",
                                "username": CB_USER,
                                "password": CB_PASSWORD,
                            }
                        ]
                    },
                )
                await _until(lambda: bool(handlers), 30)
                writes_before = await _collections_calls(control)
                settled_before = sum(loops[0].stats.outcomes.values())
                await _human_edits(control, listener, report)
                await _until(lambda: handlers[0].billing_calls >= 1, 20)
                # The expectation and Chargebee's own webhook about the change both reach sync.
                await _until(lambda: sum(loops[0].stats.outcomes.values()) >= settled_before + 2, 20)
                await asyncio.sleep(1.0)  # let the bridge's own writes come back as CDC echoes
                customer = (await chargebee.retrieve("customers", "cb_hooli"))["customer"]
                report.writeback = {
                    "billing_calls": handlers[0].billing_calls,
                    "chargebee_city": (customer.get("billing_address") or {}).get("city"),
                    "echo_writes": await _collections_calls(control) - writes_before,
                }
                report.sync_outcomes = dict(loops[0].stats.outcomes)
                report.sync_retries = loops[0].stats.retries
                report.cdc = dict(listener.stats.outcomes)
            finally:
                stop.set()
                await asyncio.gather(sync_task, listen_task, writeback_task, return_exceptions=True)
                await producer.stop()
                await http.aclose()
        await _collect(settings, control, report)
        await control.aclose()
        # Each run has its own topics; leaving them would slowly fill the local broker.
        await delete_topics_with_prefix(settings, settings.topic_prefix)
    report.seconds = time.monotonic() - began
    report.topic_prefix = base.topic_prefix
    return report


async def _collections_calls(control: httpx.AsyncClient) -> int:
    counts = (await control.get("/_sandbox/counts")).json()["by_kind"]
    return sum(v for k, v in counts.items() if k.startswith("collections"))


async def _deliver(url: str, hooks: list[Webhook], report: DemoReport, say: Callable[[str], None]) -> None:
    basic = "Basic " + base64.b64encode(f"{CB_USER}:{CB_PASSWORD}".encode()).decode()

    async def send(client: httpx.AsyncClient, hook: Webhook) -> tuple[str, str, str, int]:
        body = orjson.dumps(hook.body)
        if hook.source == "orb":
            ts = datetime.now(UTC).isoformat()
            headers = {"X-Orb-Timestamp": ts, "X-Orb-Signature": f"v1={sign(ORB_SECRET, ts, body)}"}
            event_type = hook.body["type"]
        else:
            headers = {"Authorization": basic}
            event_type = hook.body["event_type"]
        r = await client.post(
            f"{url}/webhooks/{hook.source}",
            content=body,
            headers={**headers, "Content-Type": "application/json"},
        )
        return hook.source, event_type, hook.note, r.status_code

    async with httpx.AsyncClient(timeout=30) as client:
        # Vendors deliver concurrently; the retried and out-of-order ones come afterwards.
        plain = [h for h in hooks if not h.note]
        report.webhooks.extend(await asyncio.gather(*(send(client, h) for h in plain)))
        for hook in (h for h in hooks if h.note):
            report.webhooks.append(await send(client, hook))
        # One forged delivery, to show what the receiver refuses.
        forged = orjson.dumps(hooks[0].body)
        r = await client.post(
            f"{url}/webhooks/orb",
            content=forged,
            headers={"X-Orb-Timestamp": datetime.now(UTC).isoformat(), "X-Orb-Signature": "v1=forged"},
        )
        report.webhooks.append(
            ("orb", "customer.created", "forged signature: refused, not stored", r.status_code)
        )
    say(f"{len(report.webhooks)} webhooks delivered over HTTP")


async def _human_edits(control: httpx.AsyncClient, listener: CdcListener, report: DemoReport) -> None:
    accounts = (await control.get("/_sandbox/records/Account")).json()
    hooli = next((a for a in accounts if a.get("Chargebee_Id__c") == "cb_hooli"), None)
    before = listener.stats.outcomes["published"]
    if hooli is not None:
        await control.patch(
            f"/_sandbox/records/Account/{hooli['Id']}",
            json={
                "user": "Ann Lee (Sales Ops)",
                "fields": {"BillingCity": "Palo Alto", "Sync_with_Chargebee__c": True},
            },
        )
    opp = await control.post(
        "/_sandbox/records/Opportunity",
        json={
            "user": "Sam Seller",
            "fields": {
                "Name": "Initech expansion",
                "StageName": "Negotiation",
                "CloseDate": "2026-12-31",
                **({"AccountId": hooli["Id"]} if hooli else {}),
            },
        },
    )
    opp_id = opp.json().get("id")
    await control.patch(
        f"/_sandbox/records/Opportunity/{opp_id}",
        json={"user": "Sam Seller", "fields": {"StageName": "Closed Won"}},
    )
    await _until(lambda: listener.stats.outcomes["published"] >= before + 3, 15)


async def _collect(settings: Settings, control: httpx.AsyncClient, report: DemoReport) -> None:
    from aiokafka import AIOKafkaConsumer

    topics = Topics.from_settings(settings)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await consumer.start()
    try:
        for name in (
            topics.orb_events,
            topics.chargebee_events,
            topics.salesforce_changes,
            topics.sync_dlq,
            topics.sync_state,
        ):
            ends = await consumer.end_offsets(await partitions_of(settings, name))
            report.topics[name.removeprefix(settings.topic_prefix)] = sum(ends.values())
    finally:
        await consumer.stop()
    snapshot = (await control.get("/_sandbox/records")).json()
    report.salesforce_records = {k: len(v) for k, v in snapshot.items() if k in SYNCED_OBJECTS and v}
    counts = (await control.get("/_sandbox/counts")).json()
    report.salesforce_calls = counts["by_kind"]
    by_ext = {
        o: {r.get("Orb_Id__c") or r.get("Chargebee_Id__c"): r for r in snapshot.get(o, [])}
        for o in ("OrbCustomer__c", "OrbInvoice__c", "Account")
    }
    globex = by_ext["OrbCustomer__c"].get("cus_globex", {})
    report.side_by_side.append(
        (
            "Orb customer cus_globex · name",
            "Globex Corporation",
            "OrbCustomer__c.Name",
            str(globex.get("Name")),
        )
    )
    acme_inv = by_ext["OrbInvoice__c"].get("inv_acme_1", {})
    report.side_by_side.append(
        ("Orb invoice inv_acme_1 · status", "paid", "OrbInvoice__c.Status__c", str(acme_inv.get("Status__c")))
    )
    hooli = by_ext["Account"].get("cb_hooli", {})
    report.side_by_side.append(
        ("Chargebee customer cb_hooli · company", "Hooli XYZ", "Account.Name", str(hooli.get("Name")))
    )
    for value, headers in await _read_records(settings, topics.sync_dlq):
        report.dead_letters.append(
            (
                orjson.loads(value)["event_type"],
                headers.get("dlq-error-code", ""),
                headers.get("dlq-error-message", ""),
            )
        )
    changes = [orjson.loads(v) for v, _ in await _read_records(settings, topics.salesforce_changes)]
    report.changes = [
        {
            "type": c["event_type"],
            "account": c["customer_id"],
            "changed": (c["payload"].get("ChangeEventHeader") or {}).get("changedFields"),
            "by": (c["payload"].get("ChangeEventHeader") or {}).get("commitUser"),
        }
        for c in changes
    ]


async def _read_records(settings: Settings, topic: str) -> list[tuple[bytes, dict[str, str]]]:
    async with TopicReader(settings, topic) as reader:
        return [(r.value, decode_headers(r.headers)) async for r in reader.read_all()]


async def _until(cond: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:  # noqa: ASYNC110 - polls stats of other tasks
        await asyncio.sleep(0.1)


def summarize_calls(report: DemoReport) -> tuple[int, int, float]:
    """(records written, write calls, calls per record)."""
    records = sum(report.salesforce_records.values())
    writes = sum(v for k, v in report.salesforce_calls.items() if k.startswith("collections"))
    return records, writes, writes / records if records else 0.0


def webhook_summary(report: DemoReport) -> Counter[str]:
    return Counter(f"{source} {status}" for source, _, _, status in report.webhooks)
