"""The sandbox reads exactly what the `chargebee` SDK's own form encoder writes."""

from __future__ import annotations

from chargebee import util
from hypothesis import given
from hypothesis import strategies as st

from bridge.sandbox.chargebee.forms import list_values, parse_pairs

_text = st.text(alphabet=st.characters(min_codepoint=48, max_codepoint=122), min_size=1, max_size=12)


def _sdk_pairs(params: dict[str, object]) -> list[tuple[str, str]]:
    return [(k, str(v)) for k, v in util.serialize(params).items()]


def test_nested_objects_and_indexed_lists_from_the_sdk_encoder() -> None:
    params = {
        "id": "sub-1",
        "billing_address": {"city": "Oslo", "country": "NO"},
        "subscription_items": [{"item_price_id": "a", "quantity": 2}, {"item_price_id": "b"}],
        "auto_collection": True,
    }
    parsed = parse_pairs(_sdk_pairs(params))
    assert parsed["id"] == "sub-1"
    assert parsed["billing_address"] == {"city": "Oslo", "country": "NO"}
    assert parsed["subscription_items"] == [
        {"_index": 0, "item_price_id": "a", "quantity": "2"},
        {"_index": 1, "item_price_id": "b"},
    ]
    assert parsed["auto_collection"] == "true"


@given(st.lists(st.tuples(_text, st.integers(1, 10_000)), min_size=1, max_size=8))
def test_any_item_list_survives_sdk_encoding_in_order(items: list[tuple[str, int]]) -> None:
    params = {"subscription_items": [{"item_price_id": i, "quantity": q} for i, q in items]}
    rows = parse_pairs(_sdk_pairs(params))["subscription_items"]
    assert [(r["item_price_id"], int(r["quantity"])) for r in rows] == items


def test_in_filter_values_accept_json_and_the_sdk_python_repr() -> None:
    assert list_values('["a","b"]') == ["a", "b"]
    assert list_values(str(["a", "b"])) == ["a", "b"]
