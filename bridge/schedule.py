"""When a periodic job runs: "daily", "daily@HH:MM" (UTC) or "every N{s,m,h}".

    daily          every day at 00:00 UTC
    daily@03:30    every day at 03:30 UTC
    every 90s      every 90 seconds (also 15m, 6h; "every 5 m" works too)

Pure: `parse` turns a spec into a `Schedule`, `Schedule.next_after` computes the next run. A bad
spec raises `BadInput` naming the spec and the accepted forms.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from bridge.errors import BadInput

FORMS = '"daily", "daily@HH:MM" (UTC) or "every N{s,m,h}" (e.g. "every 15m")'
_DAILY = re.compile(r"daily(?:@(?P<hh>\d{1,2}):(?P<mm>\d{2}))?")
_EVERY = re.compile(r"every\s*(?P<n>\d+)\s*(?P<unit>[smh])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class Schedule:
    """Either a fixed time of day (UTC) or a fixed interval; `spec` is what the user wrote."""

    spec: str
    at: time | None = None
    every: timedelta | None = None

    def next_after(self, now: datetime) -> datetime:
        """The first run strictly after `now` (an aware datetime)."""
        if now.tzinfo is None:
            raise ValueError("next_after needs an aware datetime")
        now = now.astimezone(UTC)
        if self.every is not None:
            return now + self.every
        assert self.at is not None
        today = datetime.combine(now.date(), self.at, tzinfo=UTC)
        return today if today > now else today + timedelta(days=1)


def parse(spec: str) -> Schedule:
    """A `Schedule` from its text; raise `BadInput` naming the problem."""
    text = spec.strip().lower()
    if daily := _DAILY.fullmatch(text):
        if daily["hh"] is None:
            return Schedule(spec, at=time(0, 0))
        hh, mm = int(daily["hh"]), int(daily["mm"])
        if hh > 23 or mm > 59:
            raise BadInput(f"schedule {spec!r}: {hh:02d}:{mm:02d} is not a time of day (00:00–23:59)")
        return Schedule(spec, at=time(hh, mm))
    if every := _EVERY.fullmatch(text):
        n = int(every["n"])
        if n == 0:
            raise BadInput(f"schedule {spec!r}: the interval must be at least 1{every['unit']}")
        return Schedule(spec, every=timedelta(seconds=n * _UNIT_SECONDS[every["unit"]]))
    raise BadInput(f"schedule {spec!r} is not understood; use {FORMS}")
