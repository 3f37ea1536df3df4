"""Trouble on demand for the API: injected 5xx, 429 with `Retry-After`, added latency, and
Chargebee's per-minute request limit."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass

from bridge.sandbox.chargebee.clock import SandboxClock
from bridge.sandbox.chargebee.errors import rate_limited, server_error


@dataclass
class Fault:
    """Applies to the next `count` API requests under `path_prefix` (every one when `count` is None)."""

    status: int | None = None
    retry_after: int = 1
    latency_ms: int = 0
    count: int | None = None
    path_prefix: str = "/api/v2/"

    def as_json(self) -> dict[str, object]:
        """The control API's view."""
        return {
            "status": self.status,
            "retry_after": self.retry_after,
            "latency_ms": self.latency_ms,
            "count": self.count,
            "path_prefix": self.path_prefix,
        }


class Faults:
    """Active faults and the request limit, checked before each API request."""

    def __init__(self, clock: SandboxClock, requests_per_minute: int | None = None) -> None:
        self.clock = clock
        self.requests_per_minute = requests_per_minute
        self.active: list[Fault] = []
        self._window = -1
        self._used = 0

    def clear(self) -> None:
        """Remove every injected fault."""
        self.active.clear()

    async def apply(self, path: str) -> None:
        """Sleep, then raise the first matching fault's error, then enforce the request limit."""
        for fault in list(self.active):
            if not path.startswith(fault.path_prefix):
                continue
            if fault.count is not None:
                fault.count -= 1
                if fault.count <= 0:
                    self.active.remove(fault)
            if fault.latency_ms:
                await asyncio.sleep(fault.latency_ms / 1000)
            if fault.status == 429:
                raise rate_limited(fault.retry_after)
            if fault.status is not None:
                raise server_error(fault.status)
        self._count_request()

    def _count_request(self) -> None:
        if self.requests_per_minute is None:
            return
        now = self.clock.now()
        window = int(now // 60)
        if window != self._window:
            self._window, self._used = window, 0
        self._used += 1
        if self._used > self.requests_per_minute:
            raise rate_limited(max(1, math.ceil(60 - now % 60)))
