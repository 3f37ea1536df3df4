"""What handling one record can end in; the consume loop turns these into commits, DLQ writes
and metrics in one place."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Outcome(StrEnum):
    """The result of handling one Kafka record."""

    APPLIED = "applied"  # written to the destination
    STALE = "skipped_stale"  # an older version than the one already applied
    NOOP = "skipped_noop"  # same values as already applied: no API call
    DUPLICATE = "skipped_duplicate"  # an event id seen moments ago
    ECHO = "skipped_echo"  # a change the bridge itself caused
    UNMAPPED = "skipped_unmapped"  # an event type no mapping handles (yet)
    DEAD_LETTERED = "dead_lettered"  # permanent error: parked in the DLQ


@dataclass(frozen=True)
class Result:
    """Outcome of one record, with the permanent error when it was dead-lettered."""

    outcome: Outcome
    error: BaseException | None = None
    detail: str = ""

    @classmethod
    def dead(cls, error: BaseException) -> Result:
        return cls(Outcome.DEAD_LETTERED, error)
