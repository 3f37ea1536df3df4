"""Chargebee's nested form encoding, as its API reference writes parameter names."""

from bridge.billing.chargebee import form_encode


def test_nested_objects_and_item_lists_use_chargebee_names() -> None:
    encoded = form_encode(
        {
            "first_name": "Ada",
            "auto_collection": "on",
            "billing_address": {"city": "Paris", "zip": None},
            "subscription_items": [
                {"item_price_id": "pro-USD-monthly", "quantity": 3},
                {"item_price_id": "seats-USD-monthly", "quantity": 10},
            ],
            "coupon_ids": ["WELCOME", "VIP"],
            "invoice_immediately": True,
            "po_number": None,
        }
    )
    assert encoded == [
        ("first_name", "Ada"),
        ("auto_collection", "on"),
        ("billing_address[city]", "Paris"),
        ("subscription_items[item_price_id][0]", "pro-USD-monthly"),
        ("subscription_items[quantity][0]", "3"),
        ("subscription_items[item_price_id][1]", "seats-USD-monthly"),
        ("subscription_items[quantity][1]", "10"),
        ("coupon_ids[0]", "WELCOME"),
        ("coupon_ids[1]", "VIP"),
        ("invoice_immediately", "true"),
    ]
