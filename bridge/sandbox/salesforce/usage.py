"""The org-wide daily API allowance: a rolling 24-hour count, as `Sforce-Limit-Info` reports it."""

from __future__ import annotations

from collections import deque

from bridge.sandbox.salesforce.clock import Clock

_DAY = 24 * 3600
_BUCKET = 60


class ApiUsage:
    """Calls used in the last 24 hours, counted in one-minute buckets."""

    def __init__(self, clock: Clock, allowance: int) -> None:
        self.clock = clock
        self.allowance = allowance
        self._buckets: deque[list[int]] = deque()
        self._total = 0

    def used(self) -> int:
        horizon = int(self.clock() - _DAY) // _BUCKET
        while self._buckets and self._buckets[0][0] <= horizon:
            self._total -= self._buckets.popleft()[1]
        return self._total

    def take(self) -> bool:
        """Count one call; False (and nothing counted) when the allowance is used up."""
        if self.used() >= self.allowance:
            return False
        minute = int(self.clock()) // _BUCKET
        if self._buckets and self._buckets[-1][0] == minute:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([minute, 1])
        self._total += 1
        return True

    def set_used(self, n: int) -> None:
        """Pretend `n` calls were made just now (tests of the allowance)."""
        self._buckets.clear()
        self._total = 0
        if n > 0:
            self._buckets.append([int(self.clock()) // _BUCKET, n])
            self._total = n

    def header(self) -> str:
        return f"api-usage={self.used()}/{self.allowance}"
