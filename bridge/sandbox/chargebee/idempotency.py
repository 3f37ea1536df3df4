"""`chargebee-idempotency-key`: the first answer to a POST is kept for 30 minutes (sandbox clock).

A replay with the same request gets that answer again plus `chargebee-idempotency-replayed: true`;
the same key on a different request is refused with 422 `unable_to_process_request`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bridge.sandbox.chargebee.errors import ChargebeeApiError, wrong_value

HEADER = "chargebee-idempotency-key"
REPLAYED_HEADER = "chargebee-idempotency-replayed"
TTL_SECONDS = 30 * 60
MAX_KEY_LENGTH = 100


@dataclass(frozen=True)
class StoredAnswer:
    """What the first request with a key received."""

    fingerprint: str
    status: int
    body: bytes
    stored_at: float


def fingerprint(method: str, path: str, body: bytes) -> str:
    """Identity of a request for replay comparison."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyStore:
    """Answers by key, forgotten after `ttl` seconds of sandbox time."""

    def __init__(self, ttl: float = TTL_SECONDS) -> None:
        self.ttl = ttl
        self._answers: dict[str, StoredAnswer] = {}

    def lookup(self, key: str, request_fingerprint: str, now: float) -> StoredAnswer | None:
        """The stored answer to replay, None for a fresh key, or 422 for a reused key."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise wrong_value(HEADER, f"must be between 1 and {MAX_KEY_LENGTH} characters")
        stored = self._answers.get(key)
        if stored is None:
            return None
        if now - stored.stored_at > self.ttl:
            del self._answers[key]
            return None
        if stored.fingerprint != request_fingerprint:
            raise ChargebeeApiError(
                422,
                "unable_to_process_request",
                "The idempotency key has already been used with a different request. "
                "Use a new idempotency key for a different request.",
                error_type="invalid_request",
            )
        return stored

    def remember(self, key: str, request_fingerprint: str, status: int, body: bytes, now: float) -> None:
        """Keep the answer to replay later."""
        self._answers[key] = StoredAnswer(request_fingerprint, status, body, now)

    def clear(self) -> None:
        """Forget every key."""
        self._answers.clear()
