"""Change Data Capture: ChangeEventHeader contents, and the CometD long-polling Streaming API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fixtures.sf_sandbox_server import FakeClock, V, login, make_app
from starlette.applications import Starlette

COMETD = "/cometd/59.0"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(clock: FakeClock) -> Starlette:
    return make_app(clock, long_poll_timeout=0.3, token_lifetime=10 * 24 * 3600, cometd_client_ttl=1e9)


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        yield c


async def bayeux(client: httpx.AsyncClient, *messages: dict[str, Any]) -> list[dict[str, Any]]:
    r = await client.post(COMETD, json=list(messages))
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


async def handshake(client: httpx.AsyncClient) -> str:
    [reply] = await bayeux(
        client, {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}
    )
    assert reply["successful"] is True
    cid: str = reply["clientId"]
    return cid


async def subscribe(client: httpx.AsyncClient, cid: str, channel: str, replay: int) -> dict[str, Any]:
    [reply] = await bayeux(
        client,
        {
            "channel": "/meta/subscribe",
            "clientId": cid,
            "subscription": channel,
            "ext": {"replay": {channel: replay}},
        },
    )
    return reply


async def connect(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    return await bayeux(
        client, {"channel": "/meta/connect", "clientId": cid, "connectionType": "long-polling"}
    )


async def events_of(client: httpx.AsyncClient, cid: str) -> list[dict[str, Any]]:
    """Connect until a connect answer brings no more events."""
    seen: list[dict[str, Any]] = []
    for _ in range(5):
        batch = [m for m in await connect(client, cid) if not m["channel"].startswith("/meta/")]
        if not batch:
            break
        seen += batch
    return seen


async def test_api_change_has_full_change_event_header(client: httpx.AsyncClient, app: Starlette) -> None:
    created = await client.post(
        f"{V}/sobjects/Account", json={"Name": "Acme"}, headers={"Sforce-Call-Options": "client=bridge-sync"}
    )
    await client.patch(f"{V}/sobjects/Account/{created.json()['id']}", json={"Name": "Acme 2", "Phone": None})
    create, update = [e["data"]["payload"] for e in (await client.get("/_sandbox/events")).json()]
    header = create["ChangeEventHeader"]
    assert header["entityName"] == "Account" and header["changeType"] == "CREATE"
    assert header["recordIds"] == [created.json()["id"]]
    assert header["changeOrigin"] == "com/salesforce/api/rest/59.0;client=bridge-sync"
    assert header["commitUser"] == app.state.org.integration_user_id
    assert header["sequenceNumber"] == 1 and header["transactionKey"]
    assert isinstance(header["commitTimestamp"], int) and isinstance(header["commitNumber"], int)
    assert create["Name"] == "Acme"
    up = update["ChangeEventHeader"]
    assert up["changeType"] == "UPDATE" and up["changedFields"] == ["Name", "LastModifiedDate"]
    assert up["nulledFields"] == [] and up["commitNumber"] > header["commitNumber"]
    assert update["Name"] == "Acme 2"


async def test_human_edit_shows_a_different_commit_user(client: httpx.AsyncClient, app: Starlette) -> None:
    rid = (await client.post(f"{V}/sobjects/Account", json={"Name": "Acme", "Phone": "1"})).json()["id"]
    r = await client.patch(
        f"/_sandbox/records/Account/{rid}", json={"user": "Ann Lee", "fields": {"Phone": None}}
    )
    assert r.status_code == 200
    payload = (await client.get("/_sandbox/events")).json()[-1]["data"]["payload"]
    last = payload["ChangeEventHeader"]
    assert last["commitUser"] == r.json()["commitUser"] != app.state.org.integration_user_id
    assert last["nulledFields"] == ["Phone"] and last["changeOrigin"] == ""
    assert last["changedFields"] == ["Phone", "LastModifiedDate", "LastModifiedById"]
    assert payload["Phone"] is None and payload["LastModifiedById"] == r.json()["commitUser"]


async def test_collection_changes_share_a_transaction_key(client: httpx.AsyncClient) -> None:
    recs = [{"attributes": {"type": "Account"}, "Name": n} for n in ("A", "B")]
    await client.post(f"{V}/composite/sobjects", json={"records": recs})
    headers = [
        e["data"]["payload"]["ChangeEventHeader"] for e in (await client.get("/_sandbox/events")).json()
    ]
    assert len({h["transactionKey"] for h in headers}) == 1
    assert [h["sequenceNumber"] for h in headers] == [1, 2]


async def test_identical_updates_in_one_transaction_merge_into_one_event(client: httpx.AsyncClient) -> None:
    recs = [{"attributes": {"type": "Account"}, "Name": n} for n in ("A", "B", "C")]
    ids = [x["id"] for x in (await client.post(f"{V}/composite/sobjects", json={"records": recs})).json()]
    same = [{"attributes": {"type": "Account"}, "id": i, "Industry": "Retail"} for i in ids[:2]]
    other = [{"attributes": {"type": "Account"}, "id": ids[2], "Industry": "Energy"}]
    await client.patch(f"{V}/composite/sobjects", json={"records": same + other})
    updates = [
        e["data"]["payload"]["ChangeEventHeader"]
        for e in (await client.get("/_sandbox/events")).json()
        if e["data"]["payload"]["ChangeEventHeader"]["changeType"] == "UPDATE"
    ]
    assert [u["recordIds"] for u in updates] == [ids[:2], ids[2:]]
    assert [u["sequenceNumber"] for u in updates] == [1, 2]


async def test_bulk_changes_carry_bulkapi_origin(client: httpx.AsyncClient) -> None:
    headers = {"Sforce-Call-Options": "client=backfill"}
    job = (
        await client.post(
            f"{V}/jobs/ingest", json={"object": "Account", "operation": "insert"}, headers=headers
        )
    ).json()["id"]
    await client.put(
        f"{V}/jobs/ingest/{job}/batches", content="Name\nA\n", headers={"Content-Type": "text/csv", **headers}
    )
    await client.patch(f"{V}/jobs/ingest/{job}", json={"state": "UploadComplete"}, headers=headers)
    [event] = (await client.get("/_sandbox/events")).json()
    assert (
        event["data"]["payload"]["ChangeEventHeader"]["changeOrigin"]
        == "com/salesforce/api/bulkapi/59.0;client=backfill"
    )


async def test_subscriber_receives_new_events_on_object_and_all_channels(client: httpx.AsyncClient) -> None:
    cid = await handshake(client)
    assert (await subscribe(client, cid, "/data/AccountChangeEvent", -1))["successful"] is True
    assert (await subscribe(client, cid, "/data/ChangeEvents", -1))["successful"] is True
    await connect(client, cid)
    poll = asyncio.create_task(connect(client, cid))
    await asyncio.sleep(0.05)
    await client.post(f"{V}/sobjects/Account", json={"Name": "Live"})
    await client.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/x", json={"Plan__c": "p"})
    got = await poll
    got += await events_of(client, cid)
    channels = sorted(m["channel"] for m in got if not m["channel"].startswith("/meta/"))
    assert channels == ["/data/AccountChangeEvent", "/data/ChangeEvents", "/data/ChangeEvents"]
    assert got[-1]["channel"] == "/meta/connect" or any(m["channel"] == "/meta/connect" for m in got)


async def test_replay_minus_two_explicit_and_minus_one(client: httpx.AsyncClient) -> None:
    for n in range(3):
        await client.post(f"{V}/sobjects/Account", json={"Name": f"A{n}"})
    cid = await handshake(client)
    await subscribe(client, cid, "/data/AccountChangeEvent", -2)
    all_ids = [m["data"]["event"]["replayId"] for m in await events_of(client, cid)]
    cid2 = await handshake(client)
    await subscribe(client, cid2, "/data/AccountChangeEvent", all_ids[0])
    after_first = [m["data"]["event"]["replayId"] for m in await events_of(client, cid2)]
    cid3 = await handshake(client)
    await subscribe(client, cid3, "/data/AccountChangeEvent", -1)
    newest_only = await events_of(client, cid3)
    assert len(all_ids) == 3 and after_first == all_ids[1:] and newest_only == []


async def test_replay_id_past_retention_is_refused_with_documented_error(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    await client.post(f"{V}/sobjects/Account", json={"Name": "Old"})
    clock.advance(72 * 3600 + 1)
    await client.post(f"{V}/sobjects/Account", json={"Name": "New"})
    cid = await handshake(client)
    reply = await subscribe(client, cid, "/data/ChangeEvents", 0)
    assert reply["successful"] is False
    assert reply["error"] == (
        "400::The replayId {0} you provided was invalid. Please provide a valid ID, "
        "-2 to replay all events, or -1 to replay only new events."
    )
    await subscribe(client, cid, "/data/ChangeEvents", -2)
    names = [m["data"]["payload"]["Name"] for m in await events_of(client, cid)]
    assert names == ["New"]


async def test_unknown_client_gets_403_and_handshake_advice(client: httpx.AsyncClient) -> None:
    cid = await handshake(client)
    await client.post("/_sandbox/cometd/drop-clients")
    [reply] = await connect(client, cid)
    assert reply["successful"] is False and reply["error"] == "403::Unknown client"
    assert reply["advice"]["reconnect"] == "handshake"


async def test_cometd_without_valid_session_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post(
        COMETD, json=[{"channel": "/meta/handshake"}], headers={"Authorization": "Bearer x"}
    )
    assert r.status_code == 401 and r.json()[0]["error"] == "401::Authentication invalid"


async def test_subscribe_to_unknown_channel_fails(client: httpx.AsyncClient) -> None:
    cid = await handshake(client)
    reply = await subscribe(client, cid, "/data/NopeChangeEvent", -1)
    assert reply["successful"] is False


async def test_custom_object_channel_name_drops_the_c(client: httpx.AsyncClient) -> None:
    cid = await handshake(client)
    assert (await subscribe(client, cid, "/data/TestCustomer__ChangeEvent", -1))["successful"] is True
    await connect(client, cid)
    await client.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/z", json={"Plan__c": "p"})
    got = await events_of(client, cid)
    assert [m["data"]["payload"]["ChangeEventHeader"]["entityName"] for m in got] == ["TestCustomer__c"]


async def test_client_that_stops_polling_expires(clock: FakeClock) -> None:
    app = make_app(clock, long_poll_timeout=0.05, cometd_client_ttl=40, token_lifetime=10 * 24 * 3600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        cid = await handshake(c)
        await connect(c, cid)
        clock.advance(41)
        [reply] = await connect(c, cid)
    assert reply["error"] == "403::Unknown client"


async def test_event_datetimes_use_z_suffix(client: httpx.AsyncClient) -> None:
    await client.post(f"{V}/sobjects/Account", json={"Name": "Acme"})
    [event] = (await client.get("/_sandbox/events")).json()
    assert event["data"]["payload"]["CreatedDate"].endswith(".000Z")


async def test_gap_events_carry_only_the_header(client: httpx.AsyncClient) -> None:
    await client.post("/_sandbox/cdc/gaps", json={"count": 1})
    first = (await client.post(f"{V}/sobjects/Account", json={"Name": "A"})).json()["id"]
    await client.post(f"{V}/sobjects/Account", json={"Name": "B"})
    gap, normal = [e["data"]["payload"] for e in (await client.get("/_sandbox/events")).json()]
    assert gap["ChangeEventHeader"]["changeType"] == "GAP_CREATE"
    assert gap["ChangeEventHeader"]["recordIds"] == [first] and "Name" not in gap
    assert normal["ChangeEventHeader"]["changeType"] == "CREATE" and normal["Name"] == "B"


async def test_delivered_events_are_counted(client: httpx.AsyncClient) -> None:
    cid = await handshake(client)
    await subscribe(client, cid, "/data/ChangeEvents", -1)
    await subscribe(client, cid, "/data/AccountChangeEvent", -1)
    await connect(client, cid)
    await client.post(f"{V}/sobjects/Account", json={"Name": "A"})
    await events_of(client, cid)
    assert (await client.get("/_sandbox/counts")).json()["cdc_events_delivered"] == 2


async def test_event_capacity_drops_oldest_like_retention() -> None:
    app = make_app(FakeClock(), event_capacity=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sf.test") as c:
        await login(c)
        for n in range(3):
            await c.post(f"{V}/sobjects/Account", json={"Name": f"A{n}"})
        kept = [e["data"]["payload"]["Name"] for e in (await c.get("/_sandbox/events")).json()]
        cid = await handshake(c)
        refused = await subscribe(c, cid, "/data/ChangeEvents", 0)
    assert kept == ["A1", "A2"] and refused["successful"] is False


async def test_custom_channel_delivers_only_filtered_members(client: httpx.AsyncClient) -> None:
    made = await client.post(
        "/_sandbox/cdc/channels",
        json={
            "name": "Bridge__chn",
            "members": [{"entity": "AccountChangeEvent", "filter": "Industry = 'Retail'"}],
        },
    )
    bad = await client.post(
        "/_sandbox/cdc/channels", json={"name": "Bad__chn", "members": [{"entity": "Nope"}]}
    )
    cid = await handshake(client)
    assert (await subscribe(client, cid, "/data/Bridge__chn", -1))["successful"] is True
    await connect(client, cid)
    await client.post(f"{V}/sobjects/Account", json={"Name": "Shop", "Industry": "Retail"})
    await client.post(f"{V}/sobjects/Account", json={"Name": "Bank", "Industry": "Banking"})
    await client.patch(f"{V}/sobjects/TestCustomer__c/Ext_Id__c/x", json={"Plan__c": "p"})
    got = await events_of(client, cid)
    assert made.status_code == 201 and bad.status_code == 400
    assert [(m["channel"], m["data"]["payload"]["Name"]) for m in got] == [("/data/Bridge__chn", "Shop")]


async def test_replay_from_the_middle_gives_that_channels_later_events_in_order(
    client: httpx.AsyncClient,
) -> None:
    # Accounts and Contacts interleaved: a channel's events after a replay id, oldest first,
    # and nothing of the other channel nor anything at or before that id.
    for n in range(6):
        await client.post(f"{V}/sobjects/Account", json={"Name": f"A{n}"})
        await client.post(f"{V}/sobjects/Contact", json={"LastName": f"C{n}"})
    logged = (await client.get("/_sandbox/events")).json()
    middle = logged[5]["data"]["event"]["replayId"]
    cid = await handshake(client)
    assert (await subscribe(client, cid, "/data/AccountChangeEvent", middle))["successful"] is True
    got = await events_of(client, cid)
    replay_ids = [m["data"]["event"]["replayId"] for m in got]
    assert [m["data"]["payload"]["Name"] for m in got] == ["A3", "A4", "A5"]
    assert replay_ids == sorted(replay_ids) and min(replay_ids) > middle
