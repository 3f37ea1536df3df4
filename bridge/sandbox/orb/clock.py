"""The sandbox clock: real time plus an offset that the control API can move forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class SandboxClock:
    """`now()` is the wall clock shifted by `advance()`s, or a fixed start moved by them."""

    def __init__(self, start: datetime | None = None) -> None:
        self._fixed = start
        self._offset = timedelta(0)

    def now(self) -> datetime:
        """The sandbox's current time (UTC, microseconds dropped like Orb's timestamps)."""
        base = self._fixed if self._fixed is not None else datetime.now(UTC)
        return (base + self._offset).replace(microsecond=0)

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward (never back) and return the new now."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self._offset += delta
        return self.now()


def iso(moment: datetime | None) -> str | None:
    """Orb's timestamp form: ISO 8601 with an explicit UTC offset."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


def parse_time(value: str) -> datetime:
    """An ISO date or date-time from a request; no zone means UTC. Raises ValueError."""
    text = value.strip()
    if len(text) == 10:
        text += "T00:00:00"
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
