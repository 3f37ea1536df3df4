"""The CDC listener against the Salesforce sandbox's CometD endpoint and the real broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import orjson
from receiver_harness import read_topic
from sync_harness import Org, salesforce_sandbox, sync_settings, wait_for

from bridge.events import Envelope
from bridge.kafka import Topics, ensure_topics, make_producer
from bridge.salesforce.cdc import CdcListener
from bridge.salesforce.factory import salesforce_client
from bridge.settings import Settings


@asynccontextmanager
async def listening(s: Settings) -> AsyncIterator[CdcListener]:
    await ensure_topics(s)
    http = httpx.AsyncClient(timeout=30)
    sf = salesforce_client(s, http)
    producer = make_producer(s)
    await producer.start()
    listener = CdcListener(s, http, sf.tokens, sf, producer)
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    try:
        await asyncio.wait_for(listener.subscribed.wait(), 15)
        yield listener
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)
        await producer.stop()
        await http.aclose()


def _human(org: Org, sobject: str, fields: dict[str, Any], record_id: str | None = None) -> str:
    if record_id is None:
        r = org.http.post(f"/_sandbox/records/{sobject}", json={"user": "Ann Lee", "fields": fields})
    else:
        r = org.http.patch(
            f"/_sandbox/records/{sobject}/{record_id}", json={"user": "Ann Lee", "fields": fields}
        )
    assert r.status_code in (200, 201), r.text
    return str(r.json().get("id", record_id))


async def _changes(s: Settings, want: int, timeout: float = 15) -> list[Envelope]:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        records = await read_topic(s, Topics.from_settings(s).salesforce_changes)
        if len(records) >= want or asyncio.get_running_loop().time() > deadline:
            return [Envelope.from_bytes(r.value) for r in records]
        await asyncio.sleep(0.2)


async def test_human_edits_are_published_and_the_bridges_own_writes_are_dropped(
    settings: Settings,
) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s) as listener:
            account = _human(org, "Account", {"Name": "Acme"})
            opp = _human(
                org,
                "Opportunity",
                {"Name": "Deal", "AccountId": account, "StageName": "Prospecting", "CloseDate": "2026-12-31"},
            )
            _human(org, "Opportunity", {"StageName": "Closed Won"}, opp)
            # The bridge writes through its own client (client=bridge): an echo to drop.
            sf = salesforce_client(s, httpx.AsyncClient(timeout=10))
            await sf.request(
                "PATCH", f"{sf.base_path}/sobjects/Account/{account}", body={"Phone": "+33 1 23 45 67 89"}
            )
            await sf.http.aclose()
            await wait_for(lambda: listener.stats.outcomes["echo"] >= 1, timeout=15)
        changes = await _changes(s, 3)
    assert [c.event_type for c in changes if c.object_type == "Opportunity"] == [
        "Opportunity.CREATE",
        "Opportunity.UPDATE",
    ]
    won = changes[-1]
    assert won.customer_id == account  # keyed by the Account, looked up for the UPDATE
    assert (
        won.payload["ChangeEventHeader"]["changedFields"] == ["StageName"]
        or "StageName" in won.payload["ChangeEventHeader"]["changedFields"]
    )
    assert won.payload["fields"]["StageName"] == "Closed Won"
    assert len(changes) == 3
    assert listener.stats.outcomes["echo"] == 1


async def test_restart_resumes_from_the_stored_replay_id_without_loss_or_duplicates(
    settings: Settings,
) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s):
            _human(org, "Account", {"Name": "Before"})
            await _changes(s, 1)
        _human(org, "Account", {"Name": "While away 1"})  # nobody listening
        _human(org, "Account", {"Name": "While away 2"})
        async with listening(s) as listener:
            changes = await _changes(s, 3)
            assert listener.stats.fallbacks == []
    # Each Account is its own key (partition): compare as a multiset, which also shows
    # that nothing was published twice.
    names = sorted(c.payload["fields"].get("Name") for c in changes)
    assert names == ["Before", "While away 1", "While away 2"]


async def test_replay_id_past_retention_falls_back_to_newest_and_says_so(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s):
            _human(org, "Account", {"Name": "Old"})
            await _changes(s, 1)
        _human(org, "Account", {"Name": "Missed"})  # made while away, then aged past 72 h
        org.http.post("/_sandbox/clock", json={"advance_seconds": 73 * 3600})
        async with listening(s) as listener:
            _human(org, "Account", {"Name": "After the gap"})
            changes = await _changes(s, 2)
        assert "/data/AccountChangeEvent" in listener.stats.fallbacks
    names = sorted(c.payload["fields"].get("Name") for c in changes)
    assert names == ["After the gap", "Old"]  # "Missed" is gone: reported, for reconcile


async def test_unknown_client_rehandshakes_and_gap_events_are_fetched(settings: Settings) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url:
        org = Org(url)
        s = sync_settings(settings, url)
        async with listening(s) as listener:
            account = _human(org, "Account", {"Name": "Gap Co", "Phone": "555"})
            await _changes(s, 1)
            org.http.post("/_sandbox/cometd/drop-clients")
            org.http.post("/_sandbox/cdc/gaps", json={"count": 1})
            _human(org, "Account", {"Phone": "556"}, account)
            changes = await _changes(s, 2)
            assert listener.stats.handshakes >= 2
    gap = changes[-1]
    assert gap.event_type.startswith("Account.GAP_")
    assert gap.payload["gap"] is True
    assert gap.payload["fields"]["Phone"] == "556"  # read from the record, not the event


async def test_expired_session_reauthenticates_and_resubscribes_from_the_last_replay_id(
    settings: Settings,
) -> None:
    with salesforce_sandbox(long_poll_timeout=0.3) as url:
        org = Org(url)
        s = sync_settings(settings, url)
        await ensure_topics(s)
        subscribed: list[dict[str, int]] = []  # the replay map of every /meta/subscribe sent
        armed = asyncio.Event()

        async def on_request(request: httpx.Request) -> None:
            if request.url.path.endswith("/oauth2/token") and armed.is_set():
                armed.clear()
                # The old session is dead and the new one not yet subscribed: changes made
                # now are only seen if the listener resumes from the last replay id.
                async with httpx.AsyncClient(base_url=url) as control:
                    for name in ("While re-authenticating 1", "While re-authenticating 2"):
                        body = {"user": "Ann Lee", "fields": {"Name": name}}
                        r = await control.post("/_sandbox/records/Account", json=body)
                        assert r.status_code == 201, r.text
            elif "/cometd/" in request.url.path:
                for message in orjson.loads(request.content):
                    if message.get("channel") == "/meta/subscribe":
                        subscribed.append(dict(message.get("ext", {}).get("replay", {})))

        http = httpx.AsyncClient(timeout=30, event_hooks={"request": [on_request]})
        sf = salesforce_client(s, http)
        producer = make_producer(s)
        await producer.start()
        listener = CdcListener(s, http, sf.tokens, sf, producer, channels=("/data/AccountChangeEvent",))
        stop = asyncio.Event()
        task = asyncio.create_task(listener.run(stop))
        try:
            await asyncio.wait_for(listener.subscribed.wait(), 15)
            _human(org, "Account", {"Name": "Before"})
            await _changes(s, 1)
            # The listener notes the replay id right after the broker's ack: wait for it too.
            await wait_for(lambda: "/data/AccountChangeEvent" in listener.last, timeout=15)
            last = listener.last["/data/AccountChangeEvent"]
            refreshes = sf.tokens.refreshes
            armed.set()
            org.http.post("/_sandbox/sessions/expire")
            changes = await _changes(s, 3)
            await wait_for(lambda: len(subscribed) >= 2)
            _human(org, "Account", {"Name": "After"})
            changes = await _changes(s, 4)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)
            await producer.stop()
            await http.aclose()
    assert not armed.is_set()  # the expiry did force a new token
    assert sf.tokens.refreshes == refreshes + 1
    assert listener.stats.handshakes == 2
    # First start: newest (no stored position); after re-authenticating: the last one received.
    assert subscribed == [{"/data/AccountChangeEvent": -1}, {"/data/AccountChangeEvent": last}]
    names = sorted(c.payload["fields"].get("Name") for c in changes)  # nothing lost, nothing twice
    assert names == ["After", "Before", "While re-authenticating 1", "While re-authenticating 2"]
