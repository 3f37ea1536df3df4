"""Points in time given on the command line: ISO 8601 or 'how long ago' (30m, 2h, 7d)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bridge.errors import BadInput
from bridge.events import utcnow

_AGO = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """A timezone-aware UTC datetime from ISO 8601 (naive means UTC) or an age like '2h'."""
    raw = text.strip()
    ago = _AGO.match(raw)
    if ago:
        delta = timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        return (now or utcnow()) - delta
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise BadInput(
            f"not a time: {text!r} (use ISO 8601 like 2026-01-31T12:00:00Z, or an age like 30m, 2h, 7d)"
        ) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_millis(value: datetime) -> int:
    """Kafka timestamps are milliseconds since the epoch."""
    return int(value.timestamp() * 1000)


def from_millis(ms: int) -> datetime:
    """The inverse of `to_millis`."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)
