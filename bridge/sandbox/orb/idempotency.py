"""Orb's `Idempotency-Key` on POST/PATCH: the same key and body replay the first answer
(`Idempotent-Replayed: true`), the same key with another body or while the first request is
still running is a 409 resource conflict; keys are kept 48 hours (sandbox clock), at most 64
characters. Answers of 5xx, 409 and 429 are not kept: the request may be retried as is."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from bridge.sandbox.orb.errors import OrbError, invalid

KEEP = timedelta(hours=48)
MAX_KEY_LENGTH = 64


@dataclass
class Stored:
    fingerprint: str
    at: datetime
    status: int | None = None  # None while the first request runs
    body: Any = None


def fingerprint(method: str, path: str, body: Any) -> str:
    canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS) if body is not None else b""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


class IdempotencyKeys:
    """Remembered keys and their first answers."""

    def __init__(self) -> None:
        self._keys: dict[str, Stored] = {}

    def clear(self) -> None:
        self._keys.clear()

    def begin(self, key: str, print_: str, now: datetime) -> Stored | None:
        """The stored answer to replay, or None when this request should run (it is now
        marked running). Raises OrbError 409 / 400 as Orb would."""
        if not key or len(key) > MAX_KEY_LENGTH:
            raise invalid("Idempotency-Key", f"must be 1 to {MAX_KEY_LENGTH} characters")
        stored = self._keys.get(key)
        if stored is not None and now - stored.at > KEEP:
            stored = None
        if stored is None:
            self._keys[key] = Stored(print_, now)
            return None
        if stored.fingerprint != print_:
            raise OrbError(
                "conflict",
                "Idempotency key was already used with a different request; use a new key for a new request.",
            )
        if stored.status is None:
            raise OrbError("conflict", "A request with this idempotency key is still being processed.")
        return stored

    def finish(self, key: str, status: int, body: Any) -> None:
        stored = self._keys.get(key)
        if stored is None:
            return
        if status >= 500 or status in (409, 429):
            del self._keys[key]
        else:
            stored.status, stored.body = status, body
