"""The Streaming API over CometD/Bayeux long polling at `/cometd/{version}`.

Handshake, subscribe (replay extension: -1 newest, -2 all retained, or an explicit replay id),
connect (long poll), unsubscribe, disconnect. An unknown or expired client gets
`403::Unknown client` with advice to re-handshake; a replay id past retention is refused with
Salesforce's `400::The replayId {N} you provided was invalid…` text.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from bridge.sandbox.salesforce.org import VERSIONS, Org


def invalid_replay(replay_id: int) -> str:
    return (
        f"400::The replayId {{{replay_id}}} you provided was invalid. Please provide a valid ID, "
        "-2 to replay all events, or -1 to replay only new events."
    )


@dataclass
class Client:
    client_id: str
    user_id: str
    last_seen: float
    cursors: dict[str, int] = field(default_factory=dict)
    connected_once: bool = False


class CometD:
    """Bayeux server state: the handshaken clients and their subscription cursors."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.clients: dict[str, Client] = {}

    def drop_all(self) -> int:
        n = len(self.clients)
        self.clients.clear()
        return n

    def _client(self, message: dict[str, Any]) -> Client | None:
        self._expire()
        client = self.clients.get(str(message.get("clientId", "")))
        if client is not None:
            client.last_seen = self.org.clock()
        return client

    def _expire(self) -> None:
        horizon = self.org.clock() - self.org.config.cometd_client_ttl
        for cid in [c for c, cl in self.clients.items() if cl.last_seen < horizon]:
            del self.clients[cid]

    def _advice(self) -> dict[str, Any]:
        return {"reconnect": "retry", "interval": 0, "timeout": int(self.org.config.long_poll_timeout * 1000)}

    async def handle(self, request: Request) -> Response:
        org = self.org
        if request.path_params["version"] not in VERSIONS:
            return Response(status_code=404)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        user_id = org.session_user(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _json([{"successful": False, "error": "400::Bad request: body is not JSON"}], 400)
        messages = body if isinstance(body, list) else [body]
        if user_id is None:
            return _json(
                [
                    {
                        "channel": m.get("channel") if isinstance(m, dict) else None,
                        "id": m.get("id") if isinstance(m, dict) else None,
                        "successful": False,
                        "error": "401::Authentication invalid",
                        "advice": {"reconnect": "none"},
                    }
                    for m in messages
                ],
                401,
            )
        out: list[dict[str, Any]] = []
        for m in messages:
            if not isinstance(m, dict):
                out.append({"successful": False, "error": "400::Bad request: message is not an object"})
                continue
            out.extend(await self._one(m, user_id))
        return _json(out)

    async def _one(self, m: dict[str, Any], user_id: str) -> list[dict[str, Any]]:
        channel = m.get("channel")
        reply: dict[str, Any] = {"channel": channel}
        if "id" in m:
            reply["id"] = m["id"]
        if channel == "/meta/handshake":
            cid = secrets.token_hex(12)
            self.clients[cid] = Client(cid, user_id, self.org.clock())
            reply.update(
                version="1.0",
                minimumVersion="1.0",
                supportedConnectionTypes=["long-polling"],
                clientId=cid,
                successful=True,
                advice=self._advice(),
                ext={"replay": True, "payload.format": True},
            )
            return [reply]
        client = self._client(m)
        if client is None:
            reply.update(
                successful=False,
                error="403::Unknown client",
                advice={"reconnect": "handshake", "interval": 0},
            )
            return [reply]
        reply["clientId"] = client.client_id
        if channel == "/meta/subscribe":
            return [self._subscribe(client, m, reply)]
        if channel == "/meta/unsubscribe":
            client.cursors.pop(str(m.get("subscription")), None)
            reply.update(successful=True, subscription=m.get("subscription"))
            return [reply]
        if channel == "/meta/disconnect":
            self.clients.pop(client.client_id, None)
            reply.update(successful=True)
            return [reply]
        if channel == "/meta/connect":
            events = await self._poll(client)
            reply.update(successful=True, advice=self._advice())
            return [*events, reply]
        reply.update(successful=False, error=f"403::Publishing to {channel} is not allowed")
        return [reply]

    def _subscribe(self, client: Client, m: dict[str, Any], reply: dict[str, Any]) -> dict[str, Any]:
        sub = str(m.get("subscription", ""))
        reply["subscription"] = sub
        events = self.org.events
        if not events.channel_exists(sub):
            reply.update(
                successful=False,
                error=f"400::The channel you requested to subscribe to does not exist {{{sub}}}",
            )
            return reply
        replay_map = (m.get("ext") or {}).get("replay") or {}
        raw = replay_map.get(sub, -1) if isinstance(replay_map, dict) else -1
        try:
            replay_id = int(raw)
        except (TypeError, ValueError):
            replay_id = -9
        if not events.valid_replay_id(replay_id):
            reply.update(successful=False, error=invalid_replay(replay_id))
            return reply
        client.cursors[sub] = events.start_cursor(replay_id)
        reply.update(successful=True)
        return reply

    def _pending(self, client: Client) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for channel, cursor in list(client.cursors.items()):
            found = self.org.events.after(cursor, channel)
            for e in found:
                out.append({"channel": channel, "data": e.data})
            # Every delivered event counts against the daily delivery allocation.
            self.org.events.delivered += len(found)
            if found:
                client.cursors[channel] = found[-1].replay_id
        return out

    async def _poll(self, client: Client) -> list[dict[str, Any]]:
        if not client.connected_once:
            client.connected_once = True
            return self._pending(client)
        deadline = self.org.config.long_poll_timeout
        found = self._pending(client)
        if not found:
            await self.org.events.wait(deadline)
            if client.client_id not in self.clients:
                return []
            found = self._pending(client)
        client.last_seen = self.org.clock()
        return found


def _json(body: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")
