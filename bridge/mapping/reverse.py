"""Salesforce → billing: which changed Salesforce fields become which billing fields. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bridge.mapping.model import ReverseField, VendorMapping


@dataclass(frozen=True, slots=True)
class ReverseUpdate:
    """An update to one billing object: `values` nested as the vendor's API takes them."""

    source: str
    billing_object: str
    billing_key: str
    key: str
    values: dict[str, Any]


def reverse_update(
    mapping: VendorMapping,
    sobject: str,
    record: Mapping[str, Any],
    changed_fields: Iterable[str] | None = None,
) -> ReverseUpdate | None:
    """The billing update a Salesforce record change implies; None when nothing flows back
    (no reverse mapping, a required checkbox unchecked, no key, or no mapped field changed)."""
    rev = next((r for r in mapping.reverse if r.sobject.lower() == sobject.lower()), None)
    if rev is None:
        return None
    if any(record.get(name) is not True for name in rev.require_true):
        return None
    key = record.get(rev.key_field)
    if key in (None, ""):
        return None
    changed = None if changed_fields is None else {c.lower() for c in changed_fields}
    values: dict[str, Any] = {}
    for rf in rev.fields:
        if changed is not None and rf.salesforce.lower() not in changed:
            continue
        if rf.salesforce not in record:
            continue
        _put(values, rf.billing, _convert(rf, record[rf.salesforce]))
    if not values:
        return None
    return ReverseUpdate(mapping.source, rev.billing_object, rev.billing_key, str(key), values)


def creation_values(mapping: VendorMapping, sobject: str, record: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every mapped field of a record that has no billing object yet, nested for the vendor's
    create call; None when nothing flows back (no reverse mapping, a required checkbox unchecked)."""
    rev = next((r for r in mapping.reverse if r.sobject.lower() == sobject.lower()), None)
    if rev is None or any(record.get(name) is not True for name in rev.require_true):
        return None
    values: dict[str, Any] = {}
    for rf in rev.fields:
        if record.get(rf.salesforce) not in (None, ""):
            _put(values, rf.billing, _convert(rf, record[rf.salesforce]))
    return values


def _convert(rf: ReverseField, value: Any) -> Any:
    if value is None:
        return None
    if rf.transform == "int":
        return int(value)
    if rf.transform == "bool":
        return bool(value)
    return str(value)


def _put(target: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = target
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
