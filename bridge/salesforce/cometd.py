"""A Bayeux (CometD) long-polling client for Salesforce's Streaming API, with replay.

It speaks only the protocol: handshake, subscribe (with the replay extension), connect. The
listener (`cdc.py`) decides what to do with events and failures. Known field failures it is
built against (VENDOR-FACTS.md): after a re-handshake every channel is re-subscribed from the
last replay id *received*, never -1; a long poll that goes quiet is abandoned by a watchdog
after the advised timeout; a replay id past retention is raised, never swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bridge.errors import PermanentError, TransientError

NEWEST = -1
ALL_RETAINED = -2


class UnknownClient(TransientError):
    """`403::Unknown client`: the server forgot us; handshake again."""


class AuthRejected(TransientError):
    """The session was refused (401, or `403::Handshake denied`): re-authenticate."""


class ReplayIdInvalid(PermanentError):
    """The replay id asked for is past retention (or was never valid)."""

    def __init__(self, message: str, channel: str, replay_id: int) -> None:
        super().__init__(message, code="REPLAY_ID_INVALID")
        self.channel = channel
        self.replay_id = replay_id


@dataclass
class Event:
    """One delivered event: its channel, replay id and data (`payload` holds the change)."""

    channel: str
    replay_id: int
    data: dict[str, Any]


@dataclass
class Session:
    """Handshake state: the client id and the server's advice."""

    client_id: str
    timeout_ms: int = 110_000
    interval_ms: int = 0
    last_replay: dict[str, int] = field(default_factory=dict)


class CometdClient:
    """One CometD session against `{instance}/cometd/{version}`."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, access_token: str) -> None:
        self.http = http
        self.url = base_url.rstrip("/")
        self.access_token = access_token
        self.session: Session | None = None
        self._ids = 0

    def _next_id(self) -> str:
        self._ids += 1
        return str(self._ids)

    async def _post(
        self, messages: list[dict[str, Any]], timeout: float | None = None
    ) -> list[dict[str, Any]]:
        try:
            resp = await self.http.post(
                self.url,
                content=orjson.dumps(messages),
                headers={"Authorization": f"Bearer {self.access_token}", "Content-Type": "application/json"},
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise TransientError("CometD request timed out (watchdog)", code="CDC_TIMEOUT") from exc
        except httpx.TransportError as exc:
            raise TransientError(f"CometD request failed: {exc!r}", code="CDC_NETWORK") from exc
        if resp.status_code == 401:
            raise AuthRejected("CometD: session refused (401)", code="INVALID_SESSION_ID")
        if resp.status_code >= 500:
            raise TransientError(f"CometD answered {resp.status_code}", code="CDC_SERVER")
        if resp.status_code >= 400:
            raise AuthRejected(f"CometD answered {resp.status_code}: {resp.text[:200]}", code="CDC_REFUSED")
        body = orjson.loads(resp.content) if resp.content else []
        return body if isinstance(body, list) else [body]

    async def handshake(self) -> Session:
        """Start a session with the replay extension enabled."""
        [reply, *_] = await self._post(
            [
                {
                    "channel": "/meta/handshake",
                    "id": self._next_id(),
                    "version": "1.0",
                    "minimumVersion": "1.0",
                    "supportedConnectionTypes": ["long-polling"],
                    "ext": {"replay": True},
                }
            ]
        )
        if not reply.get("successful"):
            error = str(reply.get("error", "handshake failed"))
            raise AuthRejected(f"CometD handshake refused: {error}", code="CDC_HANDSHAKE")
        advice = reply.get("advice") or {}
        self.session = Session(
            client_id=str(reply["clientId"]),
            timeout_ms=int(advice.get("timeout", 110_000)),
            interval_ms=int(advice.get("interval", 0)),
        )
        return self.session

    async def subscribe(self, channel: str, replay_from: int) -> None:
        """Subscribe to `channel`, replaying events after `replay_from` (-1 newest, -2 all)."""
        assert self.session is not None
        replies = await self._post(
            [
                {
                    "channel": "/meta/subscribe",
                    "id": self._next_id(),
                    "clientId": self.session.client_id,
                    "subscription": channel,
                    "ext": {"replay": {channel: replay_from}},
                }
            ]
        )
        reply = next((r for r in replies if r.get("channel") == "/meta/subscribe"), {})
        if reply.get("successful"):
            return
        error = str(reply.get("error", "subscribe failed"))
        if "replayId" in error or error.startswith("400::"):
            raise ReplayIdInvalid(error, channel, replay_from)
        self._raise_meta_error(error)

    async def connect(self) -> list[Event]:
        """One long poll: the events delivered meanwhile (possibly none)."""
        assert self.session is not None
        watchdog = self.session.timeout_ms / 1000 + 15
        replies = await self._post(
            [
                {
                    "channel": "/meta/connect",
                    "id": self._next_id(),
                    "clientId": self.session.client_id,
                    "connectionType": "long-polling",
                }
            ],
            timeout=watchdog,
        )
        events: list[Event] = []
        for msg in replies:
            channel = str(msg.get("channel", ""))
            if channel == "/meta/connect":
                if not msg.get("successful", False):
                    self._raise_meta_error(str(msg.get("error", "connect failed")), msg.get("advice"))
                advice = msg.get("advice") or {}
                if "timeout" in advice:
                    self.session.timeout_ms = int(advice["timeout"])
                continue
            if channel.startswith("/meta/"):
                continue
            data = msg.get("data") or {}
            replay_id = int((data.get("event") or {}).get("replayId", 0))
            events.append(Event(channel, replay_id, data))
        return events

    async def disconnect(self) -> None:
        """End the session politely (best effort)."""
        if self.session is None:
            return
        with contextlib.suppress(TransientError):
            await self._post(
                [{"channel": "/meta/disconnect", "id": self._next_id(), "clientId": self.session.client_id}],
                timeout=5,
            )
        self.session = None

    @staticmethod
    def _raise_meta_error(error: str, advice: Any = None) -> None:
        reconnect = (advice or {}).get("reconnect") if isinstance(advice, dict) else None
        if "Unknown client" in error or "403::" in error or reconnect == "handshake":
            raise UnknownClient(f"CometD: {error}", code="CDC_UNKNOWN_CLIENT")
        if error.startswith("401::"):
            raise AuthRejected(f"CometD: {error}", code="INVALID_SESSION_ID")
        raise TransientError(f"CometD: {error}", code="CDC_ERROR")


async def sleep_advised(session: Session | None) -> None:
    """Honour the server's advised interval between polls."""
    if session is not None and session.interval_ms > 0:
        await asyncio.sleep(session.interval_ms / 1000)
