"""One process, several roles: `bridge run` (and each single-role command) runs here.

Every role and periodic job is an asyncio task sharing one stop event:

- SIGTERM or SIGINT sets it: the receiver stops accepting and lets in-flight requests finish,
  consumers finish the batch in hand and commit, producers flush; exit code 0.
- A second signal exits at once (128 + signal number): the operator asked twice.
- A role that fails, or ends while nobody asked it to, stops all the others and the process
  exits 1, so a supervisor restarts it: never a half-alive process.
- Shutdown is bounded: roles still running `shutdown_timeout` seconds after the stop are
  cancelled and the exit code is 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import uvloop

from bridge.logs import get_logger
from bridge.schedule import Schedule

log = get_logger("runner")

RoleMain = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


class RoleFailed(Exception):
    """A role could not start, failed, or ended on its own; the message says which and why."""


SHUTDOWN_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class PeriodicJob:
    """An async job run on a schedule inside the process (e.g. a daily reconcile)."""

    name: str
    schedule: Schedule
    job: Callable[[], Awaitable[object]]


async def run_periodic(
    job: PeriodicJob, stop: asyncio.Event, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> None:
    """Run `job` at each scheduled time until `stop` (which also interrupts a run in progress);
    a failed run is logged and the next one still comes."""
    while not stop.is_set():
        due = job.schedule.next_after(now())
        log.info("periodic_job_scheduled", job=job.name, at=due.isoformat())
        delay = max(0.0, (due - now()).total_seconds())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            return
        running = asyncio.ensure_future(job.job())
        stopped = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
        if not running.done():
            # A stop must not wait for a long job; an interrupted run is simply run again next time.
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
            log.info("periodic_job_interrupted", job=job.name)
            return
        if (exc := running.exception()) is not None:
            # One failed reconcile must not take the receiver and consumers down with it.
            log.error("periodic_job_failed", job=job.name, error=repr(exc))
        else:
            log.info("periodic_job_done", job=job.name, result=str(running.result())[:500])


async def run_roles(
    roles: Mapping[str, RoleMain],
    stop: asyncio.Event,
    periodic: Sequence[PeriodicJob] = (),
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECONDS,
) -> None:
    """Run every role until `stop` is set or one of them ends; raise `RoleFailed` if any failed."""
    tasks: dict[asyncio.Task[None], str] = {
        asyncio.create_task(main(stop), name=name): name for name, main in roles.items()
    }
    for job in periodic:
        tasks[asyncio.create_task(run_periodic(job, stop), name=f"periodic:{job.name}")] = job.name
    log.info("roles_started", roles=list(roles), periodic=[j.name for j in periodic])
    stopper = asyncio.create_task(stop.wait())
    failures: list[str] = []
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        reported = set() if stop.is_set() else {t for t in tasks if t in done}
        for task in reported:
            failures.append(_failure(tasks[task], task))
        stop.set()
        log.info("shutting_down", reason="; ".join(failures) or "stop requested")
        finished, unfinished = await asyncio.wait(tasks, timeout=shutdown_timeout)
        for task in finished:
            if task not in reported and not task.cancelled() and task.exception() is not None:
                failures.append(_failure(tasks[task], task))
        for task in unfinished:
            failures.append(f"{tasks[task]}: still running {shutdown_timeout:g}s after the stop")
            task.cancel()
        if unfinished:
            await asyncio.wait(unfinished, timeout=5)
    finally:
        stopper.cancel()
    if failures:
        raise RoleFailed("; ".join(failures))
    log.info("stopped_cleanly", roles=list(roles))


def _failure(name: str, task: asyncio.Task[None]) -> str:
    exc = task.exception() if not task.cancelled() else asyncio.CancelledError()
    if exc is None:
        return f"{name}: ended although no stop was asked"
    log.error("role_failed", role=name, error=repr(exc), exc_info=exc)
    return f"{name}: {exc!r}"


def run_process(
    roles: Mapping[str, RoleMain],
    periodic: Sequence[PeriodicJob] = (),
    shutdown_timeout: float = SHUTDOWN_TIMEOUT_SECONDS,
) -> int:
    """Run roles in this process until a signal or a failure; returns the exit code."""

    async def main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def on_signal(sig: signal.Signals) -> None:
            if stop.is_set():
                log.warning("forced_exit", signal=sig.name)
                sys.stderr.flush()
                os._exit(128 + sig.value)
            log.info("stop_requested", signal=sig.name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await run_roles(roles, stop, periodic, shutdown_timeout)
        except RoleFailed as exc:
            log.error("exiting_after_failure", error=str(exc))
            return 1
        return 0

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())
