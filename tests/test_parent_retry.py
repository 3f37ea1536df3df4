"""A child whose parent reaches Salesforce later lands by itself: its MissingParent dead letter
is redriven after a delay, up to a limit, and then waits for a person."""

from __future__ import annotations

import asyncio
from typing import Any

from mapping_payloads import cb_customer, cb_envelope, cb_event, cb_item, cb_item_price, cb_subscription
from sync_harness import Org, publish_all, running_sync, salesforce_sandbox, sync_settings, wait_for

from bridge.events import Envelope
from bridge.ops.dlq import load
from bridge.settings import Settings


def _subscription_to_a_price_not_synced_yet() -> Envelope:
    """Its line item looks up the item price's PricebookEntry, which Salesforce does not have."""
    return cb_envelope(
        cb_event("subscription_created", subscription=cb_subscription(), customer=cb_customer())
    )


def _the_prices() -> list[Envelope]:
    """The plan's and the addon's items and prices the subscription's two lines point at."""
    out = []
    for item, price in (("team", "team-EUR-monthly"), ("support", "support-EUR-monthly")):
        body = {**cb_item_price(price), "item_id": item}
        out.append(cb_envelope(cb_event("item_created", event_id=f"ev_{item}", item=cb_item(item))))
        out.append(cb_envelope(cb_event("item_price_created", event_id=f"ev_{price}", item_price=body)))
    return out


def _lines(org: Org) -> dict[str, dict[str, Any]]:
    return org.by_ext("OpportunityLineItem", "CB_Id__c")


async def test_child_dead_lettered_for_its_missing_parent_lands_once_the_parent_arrives(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        org = Org(url)
        s = sync_settings(settings, url).model_copy(
            update={"sync_parent_retry_seconds": 0.5, "sync_parent_retries": 3}
        )
        async with running_sync(s) as loop:
            await publish_all(s, [_subscription_to_a_price_not_synced_yet()])
            await wait_for(lambda: loop.stats.outcomes.get("dead_lettered", 0) == 1, timeout=30)
            [letter] = await load(s, "sync", include_handled=True)
            assert letter.error_class == "MissingParent"
            assert _lines(org) == {}  # the Opportunity landed, its line could not
            await publish_all(s, _the_prices())
            await wait_for(lambda: len(_lines(org)) == 2, timeout=30)
        entries = org.by_ext("PricebookEntry", "CB_Id__c")
        assert sorted(line["PricebookEntryId"] for line in _lines(org).values()) == sorted(
            entries[f"default_{price}"]["Id"] for price in ("team-EUR-monthly", "support-EUR-monthly")
        )
        letters = await load(s, "sync", include_handled=True)
        # Redriven until the parents were there (how often depends on timing); none left over.
        assert letters and all(x.handled == "redriven" for x in letters)
        assert await load(s, "sync") == []


async def test_a_parent_that_never_comes_leaves_the_letter_for_a_person_after_the_retries(
    settings: Settings,
) -> None:
    with salesforce_sandbox() as url:
        s = sync_settings(settings, url).model_copy(
            update={"sync_parent_retry_seconds": 0.3, "sync_parent_retries": 2}
        )
        async with running_sync(s) as loop:
            await publish_all(s, [_subscription_to_a_price_not_synced_yet()])
            # The first dead letter and one per redrive: 1 + 2.
            await wait_for(lambda: loop.stats.outcomes.get("dead_lettered", 0) == 3, timeout=30)
            # Longer than a third redrive would wait (0.3 s × 2²): none comes.
            await asyncio.sleep(2.0)
            assert loop.stats.outcomes.get("dead_lettered", 0) == 3
        letters = await load(s, "sync", include_handled=True)
        assert [x.handled for x in letters] == ["redriven", "redriven", None]
        assert [x.headers["dlq-attempts"] for x in letters] == ["1", "2", "3"]
        assert {x.error_class for x in letters} == {"MissingParent"}
