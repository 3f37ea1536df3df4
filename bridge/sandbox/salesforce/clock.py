"""Time for the sandbox: an injectable wall clock that tests (and `/_sandbox/clock`) can move."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], float]
"""Seconds since the epoch, like `time.time`."""


class SandboxClock:
    """Wraps a base clock and adds an offset that the control API can advance."""

    def __init__(self, base: Clock | None = None) -> None:
        self._base: Clock = base or time.time
        self.offset = 0.0

    def __call__(self) -> float:
        return self._base() + self.offset

    def advance(self, seconds: float) -> None:
        """Move sandbox time forward (token expiry, event retention, daily allowance)."""
        self.offset += seconds


def sf_datetime(epoch: float) -> str:
    """Salesforce's REST datetime format: `2024-05-01T12:00:00.000+0000`."""
    dt = datetime.fromtimestamp(epoch, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}+0000"
