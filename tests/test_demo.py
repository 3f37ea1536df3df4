"""`bridge demo` is a product feature: its scenario must end the way the report claims."""

from __future__ import annotations

from bridge.sandbox.demo import run_demo, summarize_calls


async def test_demo_scenario_lands_skips_and_reports_what_it_says(kafka_bootstrap: str) -> None:
    lines: list[str] = []
    report = await run_demo(kafka_bootstrap, lines.append)
    statuses = [status for *_, status in report.webhooks]
    assert statuses.count(401) == 1  # the forged delivery, and only it
    assert all(s == 200 for s in statuses if s != 401)
    assert report.sync_outcomes["skipped_duplicate"] == 1
    # The two out-of-order deliveries; an event whose record had a newer version in the same
    # fetch (coalesced, never written) counts as stale too, so batching may add some.
    assert report.sync_outcomes["skipped_stale"] >= 2
    assert report.sync_outcomes["dead_lettered"] == len(report.dead_letters) == 1
    assert report.dead_letters[0][1] == "INVALID_FIELD"
    for billing, value, salesforce, sf_value in report.side_by_side:
        assert value == sf_value, (billing, salesforce)
    records, _writes, per_record = summarize_calls(report)
    assert records >= 25 and per_record < 1.0
    assert report.cdc["published"] == 3 and report.cdc["echo"] >= 1
    assert [c["type"] for c in report.changes] == [
        "Account.UPDATE",
        "Opportunity.CREATE",
        "Opportunity.UPDATE",
    ]
    assert report.topics["billing.orb.events"] == 13  # the forged one was never stored
    assert report.writeback["chargebee_city"] == "Palo Alto"
    assert report.writeback["billing_calls"] >= 1
    assert report.writeback["echo_writes"] == 0
    from bridge.kafka import delete_topics_with_prefix
    from bridge.settings import Settings

    leftovers = await delete_topics_with_prefix(
        Settings(kafka_bootstrap=kafka_bootstrap), report.topic_prefix
    )
    assert leftovers == []  # the demo removed its own topics
