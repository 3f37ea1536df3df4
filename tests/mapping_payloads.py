"""Payload builders for tests (they live in `bridge.sandbox.payloads`), plus test-only schema helpers."""

from __future__ import annotations

from pathlib import Path

from bridge.salesforce.schema import Schema, load_schema
from bridge.sandbox.payloads import (
    ACCOUNT_ID,
    T0,
    cb_coupon,
    cb_credit_note,
    cb_customer,
    cb_envelope,
    cb_event,
    cb_invoice,
    cb_item,
    cb_item_price,
    cb_quote,
    cb_subscription,
    orb_customer,
    orb_envelope,
    orb_event,
    orb_invoice,
    orb_line_item,
    orb_plan,
    orb_subscription,
    orb_unit_price,
)

STANDARD_FIXTURE = Path(__file__).parent / "fixtures" / "standard_schema.json"

__all__ = [
    "ACCOUNT_ID",
    "T0",
    "cb_coupon",
    "cb_credit_note",
    "cb_customer",
    "cb_envelope",
    "cb_event",
    "cb_invoice",
    "cb_item",
    "cb_item_price",
    "cb_quote",
    "cb_subscription",
    "orb_customer",
    "orb_envelope",
    "orb_event",
    "orb_invoice",
    "orb_line_item",
    "orb_plan",
    "orb_subscription",
    "orb_unit_price",
]


def schema_files() -> tuple[Path, ...]:
    """Extra schema files for tests: the test-only standard objects until the shipped
    `standard.json` exists (then the real one is used, and the fixture would clash with it)."""
    from bridge.salesforce.schema import HERE

    return () if (HERE / "standard.json").exists() else (STANDARD_FIXTURE,)


def merged_schema() -> Schema:
    """Every shipped family plus, while needed, the standard-objects fixture."""
    return load_schema(None, schema_files())
