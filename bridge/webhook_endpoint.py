"""The ASGI endpoint every webhook route shares: check → read body → parse → publish → answer.

It is a plain ASGI callable, so Starlette's router hands it the raw scope: no `Request` or
`Response` objects, no per-request wrapper tasks, answers written from prebuilt headers. The
receiver's throughput is bounded by this path (bench/ingest.py), the rest of the app is not.
Rejections and broker trouble become the documented answers here, counted once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import orjson
from starlette.types import Message, Receive, Scope, Send

from bridge.errors import BrokerUnavailable
from bridge.events import Envelope
from bridge.logs import get_logger
from bridge.publisher import Publisher
from bridge.receiver_metrics import PUBLISH_SECONDS, REQUESTS, InFlight
from bridge.sources.request import Rejected

log = get_logger("receiver")
RETRY_AFTER_SECONDS = "5"

Pairs = list[tuple[Envelope, dict[str, str]]]
# Runs before the body is read (credentials, caller address): refuse cheaply.
Precheck = Callable[[Mapping[str, str], str | None], None]
# Verifies and parses the body into the events to publish.
Accept = Callable[[Mapping[str, str], bytes], Pairs]


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, content type and body bytes."""

    status: int
    content_type: bytes
    body: bytes


JSON = b"application/json"
XML = b"text/xml; charset=utf-8"


def json_error(status: int, code: str, detail: str) -> Answer:
    """The receiver's one JSON error shape."""
    return Answer(status, JSON, orjson.dumps({"error": code, "detail": detail}))


class WebhookEndpoint:
    """One webhook route (one source, one topic) as an ASGI app."""

    def __init__(
        self,
        source: str,
        topic: str,
        publisher: Publisher,
        max_body_bytes: int,
        accept: Accept,
        answer: Callable[[Pairs], Answer],
        fault: Callable[[int, str, str], Answer] = json_error,
        precheck: Precheck | None = None,
    ) -> None:
        self.source = source
        self.topic = topic
        self.publisher = publisher
        self.max_body_bytes = max_body_bytes
        self.accept = accept
        self.answer = answer
        self.fault = fault
        self.precheck = precheck
        # Bound once: `labels()` is a locked dict lookup, too dear for every request.
        self._accepted = REQUESTS.labels(source, "accepted")
        self._broker_down = REQUESTS.labels(source, "broker_unavailable")
        self._publish_seconds = PUBLISH_SECONDS.labels(source)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        InFlight.count += 1
        try:
            answer = await self._handle(scope, receive)
        except Exception:
            # The app's error middleware is not on this path (see app.Receiver): answer here.
            log.exception("webhook_failed", source=self.source)
            answer = self.fault(500, "internal_error", "the receiver failed; retry later")
        finally:
            InFlight.count -= 1
        if answer is not None:
            await _send(send, answer)

    async def _handle(self, scope: Scope, receive: Receive) -> Answer | None:
        headers = _headers(scope["headers"])
        try:
            if self.precheck is not None:
                client = scope.get("client")
                self.precheck(headers, client[0] if client else None)
            body = await _read_body(receive, headers.get("content-length"), self.max_body_bytes)
            if body is None:
                return None  # the caller hung up: nothing to answer, nothing published
            pairs = self.accept(headers, body)
            began = time.perf_counter()
            await self.publisher.publish_all(self.topic, [e for e, _ in pairs], [h for _, h in pairs])
            self._publish_seconds.observe(time.perf_counter() - began)
        except Rejected as exc:
            REQUESTS.labels(self.source, exc.code).inc()
            log.info(
                "webhook_rejected", source=self.source, status=exc.status, error=exc.code, detail=exc.message
            )
            return self.fault(exc.status, exc.code, exc.message)
        except BrokerUnavailable as exc:
            self._broker_down.inc()
            log.warning("webhook_not_stored", source=self.source, error=str(exc))
            detail = "the event could not be stored (Kafka unavailable); retry later"
            return self.fault(503, "broker_unavailable", detail)
        self._accepted.inc()
        return self.answer(pairs)


def _headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    # uvicorn gives lower-case names; the first of repeated headers wins, as in Starlette.
    out: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1")
        if key not in out:
            out[key] = value.decode("latin-1")
    return out


async def _read_body(receive: Receive, declared: str | None, limit: int) -> bytes | None:
    """The raw body, refusing with 413 as soon as it exceeds `limit`; None if the client left."""
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise Rejected(400, "bad_request", "Content-Length is not a number") from None
        if size > limit:
            raise Rejected(413, "too_large", f"body of {declared} bytes exceeds the {limit}-byte limit")
    message = await receive()
    if message["type"] != "http.request":
        return None
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):  # the usual case: the whole body in one message
        if len(body) > limit:
            raise Rejected(413, "too_large", f"body exceeds the {limit}-byte limit")
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "too_large", f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _send(send: Send, answer: Answer) -> None:
    headers = [(b"content-type", answer.content_type), (b"content-length", str(len(answer.body)).encode())]
    if answer.status == 503:
        headers.append((b"retry-after", RETRY_AFTER_SECONDS.encode()))
    start: Message = {"type": "http.response.start", "status": answer.status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": answer.body})
