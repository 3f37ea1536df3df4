"""Read-only standard fields Salesforce computes on save (compound names, Opportunity flags)."""

from __future__ import annotations

from collections.abc import Callable

from bridge.sandbox.salesforce.store import Row, Store


def _full_name(row: Row, store: Store) -> None:
    row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or None


def _opportunity_flags(row: Row, store: Store) -> None:
    stage = row.get("StageName")
    row["IsClosed"] = stage in ("Closed Won", "Closed Lost")
    row["IsWon"] = stage == "Closed Won"


def _from_product(row: Row, store: Store) -> None:
    found = store.locate(row["Product2Id"]) if row.get("Product2Id") else None
    if found is not None:
        row["Name"] = found[1].get("Name")
        row["ProductCode"] = found[1].get("ProductCode")


DERIVED: dict[str, Callable[[Row, Store], None]] = {
    "Contact": _full_name,
    "User": _full_name,
    "Opportunity": _opportunity_flags,
    "PricebookEntry": _from_product,
}
