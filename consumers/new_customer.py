"""An Account with no billing customer yet → one customer at the platform, created once.

- Chargebee (its package's rule): "Sync with Chargebee" checked and no `Chargebee_Id__c`. The
  customer is created from the Account's reverse-mapped fields, with the Account Id as its
  Chargebee id and the key `account-<Id>-create`; its id (and `Is_Synced__c`) is written back
  to the Account as the integration user, so the CDC listener drops that write instead of
  echoing it. Chargebee forgets keys after 30 minutes, but it refuses a second customer with
  the same id (`duplicate_entry`): a delivery after that finds the first one and writes it back.
- Orb (only with `orb_create_customers`): an Account with an `Orb_Billing_Email__c` (Orb
  requires an email) and no Orb customer whose `external_customer_id` is the Account Id gets
  one with that external id; Orb refuses a second customer with the same external id, so this
  holds past the 48-hour key window too. Nothing is written back: sync links the
  `OrbCustomer__c` to the Account by that external id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge.billing.chargebee import ChargebeeClient, taken_id
from bridge.billing.errors import BillingApiError
from bridge.billing.orb import OrbClient
from bridge.mapping.model import VendorMapping
from bridge.mapping.reverse import creation_values
from bridge.salesforce.client import SalesforceClient
from consumers.salesforce_records import update_record

ORB_EMAIL_FIELD = "Orb_Billing_Email__c"


def idempotency_key(account_id: str) -> str:
    """The key both platforms see for this Account's customer."""
    return f"account-{account_id}-create"


class NewCustomer:
    """Creates the billing customers an Account is missing; `calls` counts the creates."""

    def __init__(
        self,
        salesforce: SalesforceClient,
        mappings: Sequence[VendorMapping],
        *,
        chargebee: ChargebeeClient | None = None,
        orb: OrbClient | None = None,
        create_orb_customers: bool = False,
    ) -> None:
        self.salesforce = salesforce
        self.mappings = {m.source: m for m in mappings}
        self.chargebee = chargebee
        self.orb = orb if create_orb_customers else None
        self.calls = 0

    def fields(self) -> set[str]:
        """The Account fields `handle` reads (beyond the reverse-mapped ones)."""
        fields = {"Id"}
        if self.chargebee is not None and "chargebee" in self.mappings:
            fields.add("Chargebee_Id__c")
        if self.orb is not None:
            fields |= {"Name", ORB_EMAIL_FIELD}
        return fields

    async def handle(self, account: dict[str, Any]) -> set[str]:
        """The platforms (`chargebee`, `orb`) a customer was created at for this Account."""
        created: set[str] = set()
        if await self._chargebee(account):
            created.add("chargebee")
        if await self._orb(account):
            created.add("orb")
        return created

    async def _chargebee(self, account: dict[str, Any]) -> bool:
        mapping = self.mappings.get("chargebee")
        if self.chargebee is None or mapping is None or account.get("Chargebee_Id__c"):
            return False
        values = creation_values(mapping, "Account", account)
        if values is None:
            return False  # "Sync with Chargebee" is not checked
        account_id = str(account["Id"])
        try:
            created = await self.chargebee.create_customer(
                {"id": account_id, **values}, idempotency_key(account_id)
            )
            customer_id = str(created["customer"]["id"])
        except BillingApiError as exc:
            if not taken_id(exc):
                raise
            customer_id = account_id  # created by an earlier delivery whose id never reached us
        finally:
            self.calls += 1
        await update_record(
            self.salesforce, "Account", account_id, {"Chargebee_Id__c": customer_id, "Is_Synced__c": True}
        )
        return True

    async def _orb(self, account: dict[str, Any]) -> bool:
        mapping = self.mappings.get("orb")
        email = account.get(ORB_EMAIL_FIELD)
        if self.orb is None or mapping is None or not email:
            return False
        account_id = str(account["Id"])
        if await self.orb.customer_by_external_id(account_id) is not None:
            return False
        values = creation_values(mapping, "Account", account) or {}
        body = {
            "name": account.get("Name") or account_id,
            **values,
            "email": str(email),
            "external_customer_id": account_id,
        }
        await self.orb.create_customer(body, idempotency_key(account_id))
        self.calls += 1
        return True
