"""The sandbox clock: wall time plus an offset that tests and the control API can move."""

from __future__ import annotations

import time
from collections.abc import Callable


class SandboxClock:
    """Seconds since the epoch as the sandbox sees them."""

    def __init__(self, source: Callable[[], float] = time.time) -> None:
        self._source = source
        self._offset = 0.0

    def now(self) -> float:
        """Current sandbox time in seconds."""
        return self._source() + self._offset

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward (idempotency expiry, renewals) without waiting."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._offset += seconds
