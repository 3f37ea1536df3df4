"""The chaos run's Salesforce side: people edit Accounts and win Opportunities in the sandbox,
and those changes must reach Chargebee once (CDC → listener → writeback → billing API).

Setup creates Chargebee customers through the Chargebee sandbox's API, whose webhooks reach the
receiver, so sync creates their Accounts; then a person prices one Opportunity per Account.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.chaos_cluster import CB_API_KEY, CB_PASSWORD, CB_USER
from bridge.mapping.registry import chargebee_site_from_url

WON = "Closed Won"


@dataclass
class Deal:
    """One Chargebee customer, its Account and its Opportunity."""

    customer: str
    account: str = ""
    opportunity: str = ""
    cities: list[str] = field(default_factory=list)  # every city a person set, in order
    won: bool = False


@dataclass
class Humans:
    """The people's side of the run and what they did (the writeback ground truth)."""

    sf: str
    cb: str
    seed: int
    deals: list[Deal] = field(default_factory=list)
    price: str = ""
    subscriptions_before: dict[str, set[str]] = field(default_factory=dict)
    edits: int = 0

    async def _human(
        self, http: httpx.AsyncClient, sobject: str, fields: dict[str, Any], rid: str = ""
    ) -> str:
        body = {"user": "Ann Lee (Sales Ops)", "fields": fields}
        if rid:
            r = await http.patch(f"{self.sf}/_sandbox/records/{sobject}/{rid}", json=body)
        else:
            r = await http.post(f"{self.sf}/_sandbox/records/{sobject}", json=body)
        r.raise_for_status()
        return str(r.json().get("id") or rid)

    async def load_catalog(self, http: httpx.AsyncClient) -> int:
        """The Chargebee site's product catalog (no customers); returns its item price count."""
        r = await http.post(f"{self.cb}/_sandbox/tenant", json={"seed": self.seed, "customers": 0})
        r.raise_for_status()
        api = httpx.BasicAuth(CB_API_KEY, "")
        prices = (await http.get(f"{self.cb}/api/v2/item_prices", params={"limit": 100}, auth=api)).json()
        return len(prices["list"])

    async def setup(self, http: httpx.AsyncClient, receiver: str, count: int, timeout: float = 90.0) -> None:
        """Chargebee customers (their webhooks create the Accounts), then priced Opportunities.

        The catalog must be loaded first (`load_catalog`).
        """
        endpoint = {"url": f"{receiver}/webhooks/chargebee", "username": CB_USER, "password": CB_PASSWORD}
        r = await http.put(f"{self.cb}/_sandbox/webhooks/endpoints", json={"endpoints": [endpoint]})
        r.raise_for_status()
        api = httpx.BasicAuth(CB_API_KEY, "")
        prices = (await http.get(f"{self.cb}/api/v2/item_prices", params={"limit": 100}, auth=api)).json()
        plans = sorted(
            x["item_price"]["id"] for x in prices["list"] if x["item_price"]["item_type"] == "plan"
        )
        self.price = plans[0]
        for i in range(count):
            cid = f"cbw_s{self.seed}_{i}"
            r = await http.post(
                f"{self.cb}/api/v2/customers", data={"id": cid, "company": f"Writeback {i}"}, auth=api
            )
            r.raise_for_status()
            self.deals.append(Deal(cid))
            self.subscriptions_before[cid] = await self.subscriptions(http, cid)
        wanted = {d.customer: d for d in self.deals}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = (await http.get(f"{self.sf}/_sandbox/records/Account")).json()
            for row in rows:
                deal = wanted.get(row.get("Chargebee_Id__c") or "")
                if deal is not None:
                    deal.account = row["Id"]
            if all(d.account for d in self.deals):
                break
            await asyncio.sleep(0.5)
        missing = [d.customer for d in self.deals if not d.account]
        if missing:
            raise RuntimeError(f"setup: no Account synced for Chargebee customers {missing[:5]}")
        site = chargebee_site_from_url(f"{self.cb}/api/v2")
        key = f"{site}_{self.price}"
        entries = (await http.get(f"{self.sf}/_sandbox/records/PricebookEntry")).json()
        synced = next((e for e in entries if e.get("CB_Id__c") == key), None)
        if synced is not None:  # the catalog backfill wrote the price's entry: sell from it
            entry, book = synced["Id"], synced["Pricebook2Id"]
        else:
            product = await self._human(http, "Product2", {"Name": "Chaos plan"})
            book = await self._human(http, "Pricebook2", {"Name": "Chaos book"})
            entry = await self._human(
                http,
                "PricebookEntry",
                {
                    "Pricebook2Id": book,
                    "Product2Id": product,
                    "UnitPrice": 49,
                    "IsActive": True,
                    "CB_Id__c": key,
                },
            )
        for n, deal in enumerate(self.deals):
            deal.opportunity = await self._human(
                http,
                "Opportunity",
                {
                    "Name": f"Deal {n}",
                    "StageName": "Negotiation",
                    "CloseDate": "2026-12-31",
                    "AccountId": deal.account,
                    "Pricebook2Id": book,
                    "Update_Chargebee__c": True,
                },
            )
            await self._human(
                http,
                "OpportunityLineItem",
                {
                    "OpportunityId": deal.opportunity,
                    "PricebookEntryId": entry,
                    "Quantity": 2,
                    "UnitPrice": 49,
                },
            )

    async def subscriptions(self, http: httpx.AsyncClient, customer: str) -> set[str]:
        """Ids of the customer's Chargebee subscriptions now."""
        r = await http.get(
            f"{self.cb}/api/v2/subscriptions",
            params={"customer_id[is]": customer, "limit": 100},
            auth=httpx.BasicAuth(CB_API_KEY, ""),
        )
        r.raise_for_status()
        return {x["subscription"]["id"] for x in r.json()["list"]}

    async def play(self, http: httpx.AsyncClient, seconds: float, edits_per_account: int = 2) -> None:
        """Over `seconds`, each Account gets its city edits and each Opportunity is won once."""
        rng = random.Random(self.seed + 2)
        plan: list[tuple[float, Deal, str]] = []
        for deal in self.deals:
            times = sorted(rng.uniform(0, seconds) for _ in range(edits_per_account + 1))
            kinds = ["edit"] * edits_per_account + ["win"]
            rng.shuffle(kinds)
            plan += [(t, deal, k) for t, k in zip(times, kinds, strict=True)]
        plan.sort(key=lambda x: x[0])
        began = time.monotonic()
        for at, deal, kind in plan:
            delay = began + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if kind == "win":
                await self._human(http, "Opportunity", {"StageName": WON}, deal.opportunity)
                deal.won = True
            else:
                city = f"City {deal.customer} {len(deal.cities) + 1}"
                fields = {"BillingCity": city, "Sync_with_Chargebee__c": True}
                await self._human(http, "Account", fields, deal.account)
                deal.cities.append(city)
            self.edits += 1
