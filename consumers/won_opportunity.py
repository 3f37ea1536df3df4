"""A Closed Won Opportunity → at most one billing subscription per platform.

- Chargebee (its package's rule): the Opportunity has "Update Chargebee" checked; the items are
  its line items' `PricebookEntry.CB_Id__c`; the id lands in `Subscription_Id__c`.
- Orb (Orb's integration has no Opportunity handling, so the bridge adds one): the
  Opportunity names the plan in its `Orb_Plan__c` lookup to the `OrbPlan__c` records Orb syncs
  (a plan is one Orb price list, so line items do not say more); the customer is the Account's
  Orb customer (`OrbCustomer__c.Account__c`, else `external_customer_id` = the Account Id); the
  id lands in `Orb_Subscription_Id__c`.

Both creates carry the key `opportunity-<Id>-won`, so a duplicate delivery, a replay or a retry
after a lost answer gets the first subscription back instead of a second one; an id already on
the Opportunity skips the call altogether. The vendors forget keys (Chargebee after 30 minutes,
Orb after 48 hours), and an Opportunity may change in between (the same key with another body is
refused), so each create is also recognisable for good: the Chargebee subscription's id is the
Opportunity Id (a second create is refused as `duplicate_entry`), and the Orb subscription
carries the Opportunity Id in its metadata, which is looked for among the customer's
subscriptions before creating one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bridge.billing.chargebee import ChargebeeClient, taken_id
from bridge.billing.errors import BillingApiError
from bridge.billing.orb import OrbClient
from bridge.errors import PermanentError
from bridge.salesforce.client import SalesforceClient
from consumers.outcomes import Outcome, Result
from consumers.salesforce_records import read_record, update_record, update_records

# Tells sync, ahead of Chargebee's webhook, about the subscription a won Opportunity creates:
# (customer id, subscription id, items, the state keys of the records it already has).
Announce = Callable[[str, str, list[dict[str, Any]], list[str]], Awaitable[None]]

# The Orb subscription metadata key naming the Opportunity it was created for.
ORB_OPPORTUNITY_KEY = "salesforce_opportunity_id"


def idempotency_key(opportunity_id: str) -> str:
    """The key both platforms see for this Opportunity's subscription."""
    return f"opportunity-{opportunity_id}-won"


class WonOpportunity:
    """Creates the subscriptions a won Opportunity asks for and writes their ids back."""

    def __init__(
        self,
        salesforce: SalesforceClient,
        *,
        orb: OrbClient | None = None,
        chargebee: ChargebeeClient | None = None,
        chargebee_site: str = "default",
        announce: Announce | None = None,
    ) -> None:
        self.salesforce = salesforce
        self.announce = announce
        self.orb = orb
        self.chargebee = chargebee
        self.site = chargebee_site
        self.calls = 0

    async def handle(self, opp_id: str, opp: dict[str, Any]) -> Result:
        """One result for the Opportunity: dead-lettered if any platform's create must be fixed."""
        results: list[Result] = []
        if self.chargebee is not None and opp.get("Update_Chargebee__c") is True:
            results.append(await self._chargebee(opp_id, opp, self.chargebee))
        if self.orb is not None and opp.get("Orb_Plan__c"):
            results.append(await self._orb(opp_id, opp, self.orb))
        if not results:
            return Result(Outcome.NOOP, detail="not marked to create a subscription")
        dead = next((r for r in results if r.outcome is Outcome.DEAD_LETTERED), None)
        if dead is not None:
            return dead  # a redrive skips the platform that succeeded: its id is on the record
        applied = [r.detail for r in results if r.outcome is Outcome.APPLIED]
        if applied:
            return Result(Outcome.APPLIED, detail=",".join(applied))
        return results[0]

    async def _chargebee(self, opp_id: str, opp: dict[str, Any], chargebee: ChargebeeClient) -> Result:
        if opp.get("Subscription_Id__c"):
            return Result(Outcome.NOOP, detail="Chargebee subscription already created")
        account = await read_record(self.salesforce, "Account", str(opp.get("AccountId") or ""))
        customer = (account or {}).get("Chargebee_Id__c")
        if not customer:
            return Result.dead(
                PermanentError(
                    f"Opportunity {opp_id} won, but its Account has no Chargebee customer "
                    "(Chargebee_Id__c): sync the Account first, then redrive"
                )
            )
        lines = await self.salesforce.query_all(
            "SELECT Id, Quantity, CB_Id__c, PricebookEntry.CB_Id__c FROM OpportunityLineItem "
            f"WHERE OpportunityId = '{opp_id}'"
        )
        prefix = f"{self.site}_"
        priced = {
            str(line["PricebookEntry"]["CB_Id__c"]).removeprefix(prefix): line
            for line in lines
            if (line.get("PricebookEntry") or {}).get("CB_Id__c")
        }
        items = [
            {"item_price_id": price, "quantity": int(float(line.get("Quantity") or 1))}
            for price, line in priced.items()
        ]
        if not items:
            return Result.dead(
                PermanentError(f"Opportunity {opp_id} won, but none of its products has a Chargebee price")
            )
        if await self._link(opp_id, opp, priced) and self.announce is not None:
            keys = [
                f"Opportunity:{prefix}{opp_id}",
                *(f"OpportunityLineItem:{prefix}{opp_id}_{p}" for p in priced),
            ]
            await self.announce(str(customer), opp_id, items, keys)
        try:
            created = await chargebee.create_subscription_for_items(
                str(customer), {"id": opp_id, "subscription_items": items}, idempotency_key(opp_id)
            )
            subscription_id = str(created["subscription"]["id"])
        except BillingApiError as exc:
            # Created by an earlier delivery: its id is taken, or (within 30 minutes, the items
            # changed since) its key is. The subscription with the Opportunity's id is the one.
            if not (taken_id(exc) or exc.code == "unable_to_process_request"):
                raise
            subscription_id = await self._existing_chargebee(chargebee, opp_id, exc)
        finally:
            self.calls += 1
        await update_record(self.salesforce, "Opportunity", opp_id, {"Subscription_Id__c": subscription_id})
        return Result(Outcome.APPLIED, detail=subscription_id)

    async def _orb(self, opp_id: str, opp: dict[str, Any], orb: OrbClient) -> Result:
        if opp.get("Orb_Subscription_Id__c"):
            return Result(Outcome.NOOP, detail="Orb subscription already created")
        plan = await read_record(self.salesforce, "OrbPlan__c", str(opp["Orb_Plan__c"]))
        plan_id = (plan or {}).get("Orb_Id__c")
        if not plan_id:
            return Result.dead(
                PermanentError(f"Opportunity {opp_id} won, but its Orb_Plan__c has no Orb plan id")
            )
        account_id = str(opp.get("AccountId") or "")
        customer_id = await self._orb_customer(account_id, orb) if account_id else None
        if customer_id is None:
            return Result.dead(
                PermanentError(
                    f"Opportunity {opp_id} won, but Account {account_id or '(none)'} has no Orb "
                    "customer: create or link one, then redrive"
                )
            )
        subscription_id = await self._existing_orb(orb, customer_id, opp_id)
        if subscription_id is None:
            # The body must not vary between deliveries (Orb answers 409 to the same key with
            # another body): the customer is always resolved to its Orb id, never sent as either.
            body = {
                "customer_id": customer_id,
                "plan_id": str(plan_id),
                "metadata": {ORB_OPPORTUNITY_KEY: opp_id},
            }
            created = await orb.create_subscription(body, idempotency_key(opp_id))
            self.calls += 1
            subscription_id = str(created["id"])
        await update_record(
            self.salesforce, "Opportunity", opp_id, {"Orb_Subscription_Id__c": subscription_id}
        )
        return Result(Outcome.APPLIED, detail=subscription_id)

    async def _link(self, opp_id: str, opp: dict[str, Any], priced: dict[str, dict[str, Any]]) -> bool:
        """Give the Opportunity and its lines the external ids of the subscription to come.

        Chargebee's webhook about the new subscription maps to an Opportunity keyed by the
        subscription id (the Opportunity Id) and a line item per item price. With those ids on
        this Opportunity and its lines, sync updates them instead of creating a second
        Opportunity next to this one. False when the Opportunity already stands for another
        subscription (sync made it from one): it is left as it is.
        """
        target = f"{self.site}_{opp_id}"
        if opp.get("CB_Id__c") not in (None, "", target):
            return False
        records: list[dict[str, Any]] = []
        if opp.get("CB_Id__c") != target:
            records.append({"attributes": {"type": "Opportunity"}, "id": opp_id, "CB_Id__c": target})
        for price, line in priced.items():
            if line.get("CB_Id__c") != f"{target}_{price}":
                records.append(
                    {
                        "attributes": {"type": "OpportunityLineItem"},
                        "id": line["Id"],
                        "CB_Id__c": f"{target}_{price}",
                    }
                )
        if records:
            await update_records(self.salesforce, records)
        return True

    async def _existing_chargebee(self, chargebee: ChargebeeClient, opp_id: str, refusal: Exception) -> str:
        """The id of the subscription an earlier delivery created (it bears the Opportunity Id)."""
        try:
            found = await chargebee.retrieve("subscriptions", opp_id)
        except BillingApiError as exc:
            if exc.status == 404:
                raise refusal from None  # not ours after all: the refusal stands
            raise
        self.calls += 1
        return str(found["subscription"]["id"])

    async def _existing_orb(self, orb: OrbClient, customer_id: str, opp_id: str) -> str | None:
        """The customer's subscription created for this Opportunity by an earlier delivery."""
        self.calls += 1
        async for sub in orb.list("/subscriptions", {"customer_id[]": customer_id}):
            if (sub.get("metadata") or {}).get(ORB_OPPORTUNITY_KEY) == opp_id:
                return str(sub["id"])
        return None

    async def _orb_customer(self, account_id: str, orb: OrbClient) -> str | None:
        """The Orb id of the Account's customer: the synced OrbCustomer__c, else Orb's own
        record whose `external_customer_id` is the Account Id."""
        rows = await self.salesforce.query_all(
            f"SELECT Orb_Id__c FROM OrbCustomer__c WHERE Account__c = '{account_id}' LIMIT 1"
        )
        if rows and rows[0].get("Orb_Id__c"):
            return str(rows[0]["Orb_Id__c"])
        found = await orb.customer_by_external_id(account_id)
        return None if found is None else str(found["id"])
