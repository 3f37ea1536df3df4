"""The org-wide API allowance: read from `Sforce-Limit-Info`, spent carefully.

Every instance reads the usage Salesforce reports on each answer. Above `slow_share` of the
daily allowance writes are paced by a token bucket; above `stop_share` they stop (a transient
error: events wait in Kafka) until the reported usage falls again. Usage is only learnt from
answers, so while stopped one call per `probe_seconds` is let through to read it afresh.
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass

from prometheus_client import Gauge

from bridge.salesforce.errors import SalesforceTransientError

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")

API_USED = Gauge("bridge_salesforce_api_used", "API calls used today, as Salesforce reports.")
API_ALLOWANCE = Gauge("bridge_salesforce_api_allowance", "Daily API allowance of the org.")


@dataclass(frozen=True)
class ApiUsage:
    """Calls used and the daily allowance, org-wide."""

    used: int
    allowance: int

    @property
    def share(self) -> float:
        return self.used / self.allowance if self.allowance else 0.0


def parse_limit_info(header: str | None) -> ApiUsage | None:
    """Parse `Sforce-Limit-Info: api-usage=N/M`; None when absent or malformed."""
    if not header:
        return None
    match = _USAGE.search(header)
    return ApiUsage(int(match.group(1)), int(match.group(2))) if match else None


class ApiBudget:
    """Paces calls once the org's usage passes `slow_share`; refuses past `stop_share`."""

    def __init__(
        self,
        slow_share: float = 0.8,
        stop_share: float = 0.95,
        slow_rate_per_second: float = 1.0,
        probe_seconds: float = 60.0,
    ) -> None:
        self.probe_seconds = probe_seconds
        self._last_probe = 0.0
        self.slow_share = slow_share
        self.stop_share = stop_share
        self.rate = slow_rate_per_second
        self.usage: ApiUsage | None = None
        self._tokens = 1.0
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    def observe(self, usage: ApiUsage | None) -> None:
        """Record the usage reported on an answer."""
        if usage is None:
            return
        self.usage = usage
        # Every answer is a fresh reading: a probe is due only after `probe_seconds` without one.
        self._last_probe = time.monotonic()
        API_USED.set(usage.used)
        API_ALLOWANCE.set(usage.allowance)

    async def acquire(self) -> None:
        """Wait for permission to make one call; raise a transient error past `stop_share`."""
        if self.usage is None or self.usage.share < self.slow_share:
            return
        if self.usage.share >= self.stop_share:
            now = time.monotonic()
            if now - self._last_probe >= self.probe_seconds:
                self._last_probe = now
                return  # this call is the probe: its answer tells the current usage
            raise SalesforceTransientError(
                f"API_BUDGET: {self.usage.used}/{self.usage.allowance} calls used, above "
                f"{self.stop_share:.0%}: writes paused, events stay in Kafka",
                code="API_BUDGET",
                retry_after=min(self.probe_seconds, 60.0),
            )
        async with self._lock:
            now = time.monotonic()
            self._tokens = min(1.0, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens < 1.0:
                await asyncio.sleep((1.0 - self._tokens) / self.rate)
                self._tokens = 1.0
                self._last = time.monotonic()
            self._tokens -= 1.0
