"""The mapping is a pure function: same input, same output; the input is never changed;
parents always come before children."""

from __future__ import annotations

import copy

from hypothesis import given, settings
from hypothesis import strategies as st
from mapping_payloads import (
    ACCOUNT_ID,
    cb_customer,
    cb_envelope,
    cb_event,
    cb_invoice,
    cb_subscription,
    orb_customer,
    orb_envelope,
    orb_event,
    orb_invoice,
    orb_subscription,
)

from bridge.mapping import build_mapper, default_mappings, dependency_ranks
from bridge.mapping.model import RecordWrite

MAPPER = build_mapper(chargebee_site="acme")
texts = st.text(min_size=1, max_size=20)
cents = st.integers(min_value=0, max_value=10**9)
amounts = st.decimals(min_value=0, max_value=10**6, places=2, allow_nan=False).map(str)


@st.composite
def orb_events(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    customer = orb_customer(
        draw(texts),
        name=draw(texts),
        balance=draw(amounts),
        external_customer_id=draw(st.sampled_from([None, ACCOUNT_ID, "crm-1"])),
    )
    kind = draw(st.sampled_from(["customer", "subscription", "invoice"]))
    if kind == "customer":
        return orb_event("customer.edited", customer=customer, properties={})
    if kind == "subscription":
        return orb_event(
            "subscription.edited", subscription=orb_subscription(draw(texts), customer), properties={}
        )
    inv = orb_invoice(draw(texts), customer_id=customer["id"], lines=draw(st.integers(0, 4)))
    inv["total"] = draw(amounts)
    return orb_event("invoice.issued", invoice=inv, properties={"automatically_marked_as_paid": False})


@st.composite
def chargebee_events(draw: st.DrawFn) -> dict:  # type: ignore[type-arg]
    customer = cb_customer(draw(texts), company=draw(texts), resource_version=draw(cents))
    kind = draw(st.sampled_from(["customer", "subscription", "invoice"]))
    if kind == "customer":
        return cb_event("customer_changed", customer=customer)
    if kind == "subscription":
        sub = cb_subscription(draw(texts), customer["id"])
        sub["mrr"] = draw(cents)
        return cb_event("subscription_changed", subscription=sub, customer=customer)
    inv = cb_invoice(draw(texts), customer["id"], draw(st.one_of(st.none(), texts)))
    inv["total"] = draw(cents)
    return cb_event("invoice_updated", invoice=inv)


def _parents_first(writes: list[RecordWrite]) -> None:
    rank = {w.key: w.rank for w in writes}
    for w in writes:
        for parent in w.parents:
            if parent in rank:
                assert rank[parent] < w.rank, f"{parent} after {w.key}"
    assert [w.rank for w in writes] == sorted(w.rank for w in writes)


@settings(max_examples=60, deadline=None)
@given(orb_events())
def test_orb_mapping_is_deterministic_does_not_mutate_and_orders_parents_first(body: dict) -> None:  # type: ignore[type-arg]
    envelope = orb_envelope(body)
    before = copy.deepcopy(envelope.payload)
    first = MAPPER.map_event(envelope)
    assert MAPPER.map_event(orb_envelope(copy.deepcopy(body))) == first
    assert envelope.payload == before
    assert first, "every generated event touches a seeded object"
    _parents_first(first)


@settings(max_examples=60, deadline=None)
@given(chargebee_events())
def test_chargebee_mapping_is_deterministic_does_not_mutate_and_orders_parents_first(body: dict) -> None:  # type: ignore[type-arg]
    envelope = cb_envelope(body)
    before = copy.deepcopy(envelope.payload)
    first = MAPPER.map_event(envelope)
    assert MAPPER.map_event(cb_envelope(copy.deepcopy(body))) == first
    assert envelope.payload == before
    _parents_first(first)


def test_every_default_reference_points_at_a_lower_ranked_object() -> None:
    for vm in default_mappings():
        ranks = dependency_ranks(vm)
        for om in vm.objects:
            for parent in om.parents:
                assert ranks[parent.sobject] < ranks[om.sobject] or parent.sobject not in ranks, (
                    f"{om.name}: {parent.sobject}"
                )


@settings(max_examples=30, deadline=None)
@given(chargebee_events(), chargebee_events())
def test_digest_is_equal_exactly_when_the_mapped_values_are(a: dict, b: dict) -> None:  # type: ignore[type-arg]
    for x in MAPPER.map_event(cb_envelope(a)):
        for y in MAPPER.map_event(cb_envelope(b)):
            same = (x.fields, x.fill_if_empty, x.create_only) == (y.fields, y.fill_if_empty, y.create_only)
            assert (x.digest() == y.digest()) == same
