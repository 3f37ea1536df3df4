"""Records whose parent was not in Salesforce yet get another try once it probably is.

A child can reach the sync before its parent: vendors deliver webhooks out of order, and a
parent such as an item price travels on another partition than the subscriptions using it.
Salesforce then refuses the child's upsert ("Foreign key external ID: … not found"); the sync
dead-letters that record as `MissingParent` and carries on. This job redrives those dead
letters to their source topic after `BRIDGE_SYNC_PARENT_RETRY_SECONDS`, doubling the wait with
each attempt, up to `BRIDGE_SYNC_PARENT_RETRIES`; after that they wait in the DLQ for a person
(`bridge dlq redrive --class MissingParent`). A redrive is safe: the version guard skips it if
a newer version of the record landed meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

from bridge.errors import BridgeError
from bridge.events import utcnow
from bridge.logs import get_logger
from bridge.ops.dlq import DeadLetter, Selection, redrive, select
from bridge.settings import Settings

CLASS = "MissingParent"
log = get_logger("consumers.parent_retry")


def _attempts(letter: DeadLetter) -> int:
    return int(letter.headers.get("dlq-attempts", "1") or 1)


def has_redrive_left(letter: DeadLetter, retries: int) -> bool:
    """Whether the sync will still redrive this MissingParent letter by itself."""
    return _attempts(letter) <= retries


def due(letter: DeadLetter, settings: Settings, now: datetime) -> bool:
    """Whether this dead letter's next automatic redrive is due (never past the attempt limit)."""
    if not has_redrive_left(letter, settings.sync_parent_retries):
        return False
    wait = settings.sync_parent_retry_seconds * 2 ** (_attempts(letter) - 1)
    return now - letter.timestamp >= timedelta(seconds=wait)


async def redrive_missing_parents(settings: Settings, now: datetime | None = None) -> int:
    """Redrive every due MissingParent dead letter of the sync DLQ; return how many."""
    letters = await select(settings, "sync", Selection(classes=(CLASS,)))
    ready = [x for x in letters if due(x, settings, now or utcnow())]
    if ready:
        await redrive(settings, ready)
        log.info("missing_parents_redriven", count=len(ready))
    return len(ready)


async def run_parent_retries(settings: Settings, stop: asyncio.Event, leads: Callable[[], bool]) -> None:
    """Every few seconds until `stop`, redrive due MissingParent letters while `leads()`.

    One sync instance leads (the owner of one chosen partition), so several instances do not
    redrive the same letters.
    """
    if settings.sync_parent_retry_seconds <= 0 or settings.sync_parent_retries <= 0:
        return
    # Each round reads the DLQ topics whole: often enough for the delays, rarely enough to cost nothing.
    interval = max(0.2, settings.sync_parent_retry_seconds / 2)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        if stop.is_set() or not leads():
            continue
        try:
            await redrive_missing_parents(settings)
        except BridgeError as exc:  # broker away: the next round tries again
            log.warning("missing_parent_redrive_failed", error=str(exc))
