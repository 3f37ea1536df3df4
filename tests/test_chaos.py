"""The short chaos run: every bridge role as a process, one kill -9, one fault of each kind;
nothing acknowledged may be lost, duplicated, overwritten by an older version or echoed."""

from __future__ import annotations

from bench.chaos import MUST_BE_ZERO, Options, run_chaos


async def test_short_chaos_run_loses_duplicates_overwrites_and_echoes_nothing() -> None:
    opts = Options(
        seed=7,
        events=240,
        rate=40.0,
        kill_every=2.0,
        kills=1,
        broker_restart=False,  # the full run restarts the broker; here it would double the time
        accounts=3,
        sf_timeout_ms=0,  # a real timeout costs the client's 30 s; the full run has one
        converge_timeout=60.0,
    )
    card = await run_chaos(opts)
    assert {k: card[k] for k in MUST_BE_ZERO} == dict.fromkeys(MUST_BE_ZERO, 0), card["examples"]
    assert card["converged"]
    assert card["acknowledged"] == card["events_sent"] and card["vendor_gave_up"] == 0
    assert card["applied"] == card["records"]
    assert sum(card["kills"].values()) == 1
    assert card["crashes"] == {}
    assert set(card["faults_injected"]["salesforce"]) == {
        "server_error",
        "unable_to_lock_row",
        "request_limit_exceeded",
        "drop",
    }
    assert card["writeback"]["applied"] == card["writeback"]["accounts"] == 3
