"""The runner: roles as tasks with one stop signal; a failing role stops them all; periodic jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.errors import BadInput
from bridge.roles import ROLES, cdc_unconfigured, parse_roles
from bridge.runner import PeriodicJob, RoleFailed, RoleMain, run_periodic, run_roles
from bridge.schedule import parse
from bridge.settings import Settings


def _patient(log: list[str], name: str) -> RoleMain:
    """A role that works until stopped, then cleans up (and says so)."""

    async def main(stop: asyncio.Event) -> None:
        log.append(f"{name} started")
        await stop.wait()
        await asyncio.sleep(0)  # the clean-up takes a turn of the loop
        log.append(f"{name} closed")

    return main


def _crashing(after: asyncio.Event) -> RoleMain:
    async def main(stop: asyncio.Event) -> None:
        await after.wait()
        raise RuntimeError("the mapping exploded")

    return main


async def test_stop_ends_every_role_after_its_cleanup_without_error() -> None:
    log: list[str] = []
    stop = asyncio.Event()
    runner = asyncio.create_task(run_roles({"a": _patient(log, "a"), "b": _patient(log, "b")}, stop))
    while len(log) < 2:
        await asyncio.sleep(0.01)
    stop.set()
    await runner
    assert sorted(log) == ["a closed", "a started", "b closed", "b started"]


async def test_a_failing_role_stops_the_others_cleanly_and_is_reported() -> None:
    log: list[str] = []
    started = asyncio.Event()

    async def a(stop: asyncio.Event) -> None:
        started.set()
        await _patient(log, "a")(stop)

    with pytest.raises(RoleFailed, match=r"b: RuntimeError\('the mapping exploded'\)"):
        await run_roles({"a": a, "b": _crashing(started)}, asyncio.Event())
    assert log == ["a started", "a closed"]


async def test_a_role_that_ends_on_its_own_counts_as_a_failure() -> None:
    log: list[str] = []

    async def quitter(stop: asyncio.Event) -> None:
        return None

    with pytest.raises(RoleFailed, match="quitter: ended although no stop was asked"):
        await run_roles({"keeper": _patient(log, "keeper"), "quitter": quitter}, asyncio.Event())
    assert log[-1] == "keeper closed"


async def test_a_role_failing_during_shutdown_makes_the_run_fail() -> None:
    async def bad_cleanup(stop: asyncio.Event) -> None:
        await stop.wait()
        raise OSError("could not commit")

    stop = asyncio.Event()
    stop.set()
    with pytest.raises(RoleFailed, match="bad: OSError"):
        await run_roles({"bad": bad_cleanup}, stop)


async def test_a_role_ignoring_the_stop_is_cancelled_after_the_shutdown_timeout() -> None:
    cancelled: list[bool] = []

    async def deaf(stop: asyncio.Event) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    stop = asyncio.Event()
    stop.set()
    with pytest.raises(RoleFailed, match="deaf: still running"):
        await run_roles({"deaf": deaf}, stop, shutdown_timeout=0.05)
    assert cancelled == [True]


def _jumping_clock(step: timedelta) -> Callable[[], datetime]:
    """Each reading is `step` later: every scheduled run is due at once."""
    now = [datetime(2026, 3, 1, tzinfo=UTC)]

    def read() -> datetime:
        now[0] += step
        return now[0]

    return read


async def test_periodic_job_runs_at_each_due_time_and_survives_a_failed_run() -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    async def job() -> str:
        calls.append(len(calls))
        if len(calls) == 2:
            raise RuntimeError("salesforce said no")
        if len(calls) == 4:
            stop.set()
        return "ok"

    await run_periodic(
        PeriodicJob("reconcile", parse("every 1h"), job), stop, now=_jumping_clock(timedelta(hours=1))
    )
    assert calls == [0, 1, 2, 3]


async def test_periodic_job_waits_for_its_time_and_the_stop_cancels_the_wait() -> None:
    stop = asyncio.Event()
    calls: list[int] = []

    async def job() -> None:
        calls.append(1)

    waiting = asyncio.create_task(run_periodic(PeriodicJob("reconcile", parse("daily"), job), stop))
    await asyncio.sleep(0.05)
    stop.set()
    await waiting
    assert calls == []


async def test_a_stop_interrupts_a_periodic_job_in_progress_without_failing() -> None:
    stop = asyncio.Event()
    cancelled: list[bool] = []

    async def long_job() -> None:
        stop.set()  # the operator stops the bridge while the job runs
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    await run_periodic(
        PeriodicJob("reconcile", parse("every 1h"), long_job), stop, now=_jumping_clock(timedelta(hours=1))
    )
    assert cancelled == [True]


async def test_periodic_jobs_run_beside_roles_and_stop_with_them() -> None:
    stop = asyncio.Event()
    log: list[str] = []

    async def job() -> None:
        log.append("job")
        stop.set()

    await run_roles(
        {"a": _patient(log, "a")},
        stop,
        periodic=[PeriodicJob("j", parse("every 1s"), job)],
    )
    assert log == ["a started", "job", "a closed"]


def test_parse_roles_keeps_start_order_and_names_unknown_ones() -> None:
    assert parse_roles("all") == ROLES
    assert parse_roles("sync, receiver") == ("receiver", "sync")
    with pytest.raises(BadInput, match="unknown role\\(s\\) sink"):
        parse_roles("receiver,sink")
    with pytest.raises(BadInput, match="no role given"):
        parse_roles(" , ")


def test_cdc_is_configured_only_with_complete_login_settings() -> None:
    base = Settings(_env_file=None)  # type: ignore[call-arg]
    reason = cdc_unconfigured(base.model_copy(update={"salesforce_username": "u"}))
    assert reason is not None and "BRIDGE_SALESFORCE_PASSWORD" in reason and "USERNAME" not in reason
    token = base.model_copy(update={"salesforce_auth_flow": "token"})
    assert "BRIDGE_SALESFORCE_ACCESS_TOKEN" in (cdc_unconfigured(token) or "")
    full = base.model_copy(
        update={"salesforce_client_id": "c", "salesforce_username": "u", "salesforce_password": "p"}
    )
    assert cdc_unconfigured(full) is None


def test_run_with_an_unknown_role_names_it_and_starts_nothing() -> None:
    result = CliRunner().invoke(app, ["run", "--roles", "receiver,sink"])
    assert result.exit_code == 2
    assert "unknown role(s) sink" in result.stderr


def test_run_asking_for_the_listener_without_a_salesforce_login_says_what_is_missing() -> None:
    result = CliRunner().invoke(app, ["run", "--roles", "listener"], env={"BRIDGE_SALESFORCE_USERNAME": ""})
    assert result.exit_code == 2
    assert "BRIDGE_SALESFORCE_USERNAME" in result.stderr


def test_run_with_a_missing_mapping_file_names_it_and_starts_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = CliRunner().invoke(app, ["run", "--roles", "sync"], env={"BRIDGE_MAPPING_FILE": str(missing)})
    assert result.exit_code == 2
    assert "nope.toml" in result.stderr
