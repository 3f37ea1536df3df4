"""Compare the ground truth of a chaos run with Salesforce and the billing sandbox.

`compare` reads only plain data (sandbox snapshots, the CDC log, what the driver and the people
did), so it can later be backed by `bridge reconcile` without touching the driver.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench.chaos_humans import Humans
from bench.chaos_workload import Truth, version_in

# Which Salesforce record holds each vendor's customer, and by which external id.
TARGETS = {"orb": ("OrbCustomer__c", "Orb_Id__c"), "chargebee": ("Account", "Chargebee_Id__c")}
EXTERNAL_IDS = ("Orb_Id__c", "Chargebee_Id__c", "CB_Id__c")
_SYSTEM = {"LastModifiedDate", "LastModifiedById", "SystemModstamp"}


@dataclass
class Findings:
    """Every must-be-zero figure with the records behind it (examples kept short)."""

    applied: int = 0
    lost: list[str] = field(default_factory=list)
    duplicate_creates: list[str] = field(default_factory=list)
    stale_overwrites: list[str] = field(default_factory=list)
    echo_writes: list[str] = field(default_factory=list)
    writeback_applied: int = 0


def compare(
    truth: Truth,
    records: dict[str, list[dict[str, Any]]],
    cdc: list[dict[str, Any]],
    humans: Humans | None,
    billing: dict[str, Any],
    integration_user: str,
    changes: list[dict[str, Any]],
) -> Findings:
    """Billing truth against Salesforce (and people's edits against Chargebee).

    `records`: `/_sandbox/records`; `cdc`: `/_sandbox/events` (the org's write history);
    `billing`: per Chargebee customer `{"city", "subscriptions"}`; `changes`: the envelopes on
    `salesforce.changes`.
    """
    out = Findings()
    by_ext: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for sobject, rows in records.items():
        for ext in EXTERNAL_IDS:
            groups: dict[str, list[dict[str, Any]]] = {}
            for row in rows:
                if row.get(ext):
                    groups.setdefault(str(row[ext]).lower(), []).append(row)
            for key, group in groups.items():
                if len(group) > 1:
                    out.duplicate_creates.append(f"{sobject}.{ext}={key} ×{len(group)}")
            if ext in (TARGETS["orb"][1], TARGETS["chargebee"][1]):
                by_ext.setdefault(f"{sobject}.{ext}", {}).update(groups)
    history = _name_history(cdc)
    for (source, record), acked in sorted(truth.acked.items()):
        sobject, ext = TARGETS[source]
        rows = by_ext.get(f"{sobject}.{ext}", {}).get(record.lower(), [])
        now = version_in(rows[0].get("Name")) if rows else None
        seen = history.get(rows[0]["Id"], []) if rows else []
        backwards = [(a, b) for a, b in itertools.pairwise(seen) if b < a]
        if backwards:
            out.stale_overwrites.append(
                f"{source} {record}: Name went v{backwards[0][0]} → v{backwards[0][1]}"
            )
        if now is not None and now >= acked:
            out.applied += 1
        elif acked in seen:
            out.stale_overwrites.append(f"{source} {record}: v{acked} was written, then v{now} over it")
        else:
            out.lost.append(
                f"{source} {record}: acked v{acked}, Salesforce has {'v' + str(now) if now else 'nothing'}"
            )
    if humans is not None:
        _writeback(out, humans, records, cdc, billing, integration_user)
    for env in changes:
        header = (env.get("payload") or {}).get("ChangeEventHeader") or {}
        if header.get("commitUser") == integration_user:
            out.echo_writes.append(
                f"salesforce.changes carries the bridge's own {header.get('entityName')} change"
            )
    return out


def _name_history(cdc: list[dict[str, Any]]) -> dict[str, list[int]]:
    """Per record id, the versions its Name took, in commit order."""
    out: dict[str, list[int]] = {}
    for event in cdc:
        payload = event["data"]["payload"]
        version = version_in(payload.get("Name"))
        if version is None:
            continue
        for rid in payload["ChangeEventHeader"]["recordIds"]:
            out.setdefault(rid, []).append(version)
    return out


def _writeback(
    out: Findings,
    humans: Humans,
    records: dict[str, list[dict[str, Any]]],
    cdc: list[dict[str, Any]],
    billing: dict[str, Any],
    integration_user: str,
) -> None:
    accounts = {r["Id"]: r for r in records.get("Account", [])}
    opps = {r["Id"]: r for r in records.get("Opportunity", [])}
    first_edit: dict[str, int] = {}
    for n, event in enumerate(cdc):
        header = event["data"]["payload"]["ChangeEventHeader"]
        if header["entityName"] == "Account" and header["commitUser"] != integration_user:
            for rid in header["recordIds"]:
                first_edit.setdefault(rid, n)
    edited = {d.account for d in humans.deals if d.cities}
    for n, event in enumerate(cdc):
        header = event["data"]["payload"]["ChangeEventHeader"]
        if header["entityName"] != "Account" or header["commitUser"] != integration_user:
            continue
        for rid in header["recordIds"]:
            changed = set(header.get("changedFields") or []) - _SYSTEM
            if rid in edited and n > first_edit.get(rid, n) and changed:
                out.echo_writes.append(f"Account {rid}: bridge wrote {sorted(changed)} after a person's edit")
    for deal in humans.deals:
        billed = billing.get(deal.customer, {})
        ok = True
        if deal.cities:
            want = deal.cities[-1]
            if billed.get("city") != want:
                out.lost.append(
                    f"writeback {deal.customer}: city {want!r} not in Chargebee ({billed.get('city')!r})"
                )
                ok = False
            sf_city = accounts.get(deal.account, {}).get("BillingCity")
            if sf_city != want:
                out.stale_overwrites.append(
                    f"Account {deal.account}: BillingCity {sf_city!r}, person set {want!r}"
                )
                ok = False
        if deal.won:
            new = set(billed.get("subscriptions", ())) - humans.subscriptions_before.get(deal.customer, set())
            if len(new) > 1:
                out.duplicate_creates.append(
                    f"Opportunity {deal.opportunity}: {len(new)} Chargebee subscriptions"
                )
            # The subscription's webhook must update the won Opportunity, not add another.
            extra = [
                o for o in opps.values() if o.get("AccountId") == deal.account and o["Id"] != deal.opportunity
            ]
            if extra:
                out.duplicate_creates.append(
                    f"Opportunity {deal.opportunity}: {len(extra)} more Opportunities on its Account"
                )
            if not new:
                out.lost.append(f"Opportunity {deal.opportunity} won: no Chargebee subscription")
                ok = False
            elif opps.get(deal.opportunity, {}).get("Subscription_Id__c") not in new:
                out.lost.append(f"Opportunity {deal.opportunity}: Subscription_Id__c not written back")
                ok = False
        out.writeback_applied += ok


def dlq_classes(headers: list[dict[str, str]]) -> dict[str, int]:
    """Dead letters by error class."""
    return dict(Counter(h.get("dlq-error-class", "Unknown") for h in headers))


def dlq_examples(headers: list[dict[str, str]], limit: int = 3) -> list[str]:
    """A few distinct dead-letter reasons, `class: message`."""
    seen = {f"{h.get('dlq-error-class')}: {h.get('dlq-error-message', '')[:160]}" for h in headers}
    return sorted(seen)[:limit]
