"""Schedules of periodic jobs: next-run computation and clear errors for bad specs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from bridge.errors import BadInput
from bridge.schedule import parse

T = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_daily_without_a_time_runs_at_midnight_utc_next_day() -> None:
    assert parse("daily").next_after(T) == datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def test_daily_at_a_later_time_today_runs_today_and_an_earlier_time_tomorrow() -> None:
    assert parse("daily@13:30").next_after(T) == datetime(2026, 3, 1, 13, 30, tzinfo=UTC)
    assert parse("daily@03:05").next_after(T) == datetime(2026, 3, 2, 3, 5, tzinfo=UTC)


def test_daily_exactly_at_the_time_runs_the_next_day_not_twice() -> None:
    assert parse("daily@12:00").next_after(T) == datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_daily_converts_a_local_now_to_utc() -> None:
    berlin = T.astimezone(timezone(timedelta(hours=1)))  # 13:00 local = 12:00 UTC
    assert parse("Daily@12:30").next_after(berlin) == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("spec", "seconds"),
    [("every 90s", 90), ("every 15m", 900), ("every 6h", 21600), ("every5m", 300), ("EVERY 2 h", 7200)],
)
def test_every_runs_one_interval_later(spec: str, seconds: int) -> None:
    assert parse(spec).next_after(T) == T + timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("spec", "names"),
    [
        ("weekly", "not understood"),
        ("daily@25:00", "25:00 is not a time of day"),
        ("daily@12:75", "12:75 is not a time of day"),
        ("every 0s", "at least 1s"),
        ("every 5d", "not understood"),
        ("every -5m", "not understood"),
        ("", "not understood"),
    ],
)
def test_a_bad_spec_is_a_clear_error_naming_it(spec: str, names: str) -> None:
    with pytest.raises(BadInput, match=names) as caught:
        parse(spec)
    assert repr(spec) in str(caught.value)


def test_next_after_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="aware"):
        parse("daily").next_after(datetime(2026, 3, 1, 12, 0))
