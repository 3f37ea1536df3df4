"""The Chargebee sandbox's /api/v2 over plain HTTP: form encoding, errors, idempotency expiry,
events, faults, request limit and the control API's input checks."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from chargebee_sandbox_support import API_KEY, control, serve

from bridge.sandbox.chargebee.app import create_app

AUTH = (API_KEY, "")


class FakeTime:
    """A clock the test moves by hand (the sandbox adds its own offset on top)."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


@pytest.fixture
def url(clock: FakeTime) -> Iterator[str]:
    with serve(create_app(clock=clock, requests_per_minute=1000)) as base:
        assert control(base, "POST", "/tenant", {"seed": 5, "customers": 12}).status_code == 200
        yield base


def api(url: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{url}/api/v2{path}", auth=AUTH, timeout=30, **kwargs)  # type: ignore[arg-type]


def test_missing_credentials_get_401_with_chargebee_error_body(url: str) -> None:
    answer = httpx.get(f"{url}/api/v2/customers")
    assert answer.status_code == 401
    body = answer.json()
    assert body["api_error_code"] == "api_authentication_failed"
    assert body["http_status_code"] == 401
    assert "message" in body


def test_limit_outside_1_to_100_is_400_naming_limit(url: str) -> None:
    for bad in ("0", "101", "ten"):
        answer = api(url, "GET", "/customers", params={"limit": bad})
        assert answer.status_code == 400
        assert answer.json()["param"] == "limit"
        assert answer.json()["api_error_code"] == "param_wrong_value"


def test_default_page_is_10_and_offset_continues_without_overlap(url: str) -> None:
    first = api(url, "GET", "/customers").json()
    assert len(first["list"]) == 10
    second = api(url, "GET", "/customers", params={"offset": first["next_offset"]}).json()
    assert "next_offset" not in second
    ids = [row["customer"]["id"] for row in first["list"] + second["list"]]
    assert len(ids) == len(set(ids)) == 12


def test_garbage_offset_is_400_naming_offset(url: str) -> None:
    answer = api(url, "GET", "/customers", params={"offset": "not-an-offset"})
    assert answer.status_code == 400
    assert answer.json()["param"] == "offset"


def test_nested_form_names_build_billing_address_and_subscription_items(url: str) -> None:
    customer = api(
        url,
        "POST",
        "/customers",
        data={
            "id": "cust-form",
            "first_name": "Form",
            "billing_address[city]": "Oslo",
            "billing_address[country]": "NO",
        },
    ).json()["customer"]
    assert customer["billing_address"]["city"] == "Oslo"
    answer = api(
        url,
        "POST",
        "/customers/cust-form/subscription_for_items",
        data={
            "subscription_items[item_price_id][0]": "enterprise-USD-monthly",
            "subscription_items[quantity][0]": "60",
            "subscription_items[item_price_id][1]": "api-calls-USD-monthly",
            "subscription_items[quantity][1]": "1500",
        },
    ).json()
    items = answer["subscription"]["subscription_items"]
    assert [(i["item_price_id"], i["quantity"]) for i in items] == [
        ("enterprise-USD-monthly", 60),
        ("api-calls-USD-monthly", 1500),
    ]
    # volume: 60 seats all at the 51-200 tier price; tiered: 1000 free units then 500 at 2.
    assert items[0]["amount"] == 60 * 3500
    assert items[1]["amount"] == 500 * 2
    assert answer["invoice"]["total"] == 60 * 3500 + 1000
    assert answer["customer"]["id"] == "cust-form"


def test_subscription_without_items_is_400_naming_the_first_item(url: str) -> None:
    customer_id = api(url, "GET", "/customers", params={"limit": 1}).json()["list"][0]["customer"]["id"]
    before = len(control(url, "GET", "/snapshot").json()["objects"]["subscription"])
    answer = api(url, "POST", f"/customers/{customer_id}/subscription_for_items", data={"id": "x"})
    assert answer.status_code == 400
    assert answer.json()["param"] == "subscription_items[item_price_id][0]"
    unknown = api(
        url,
        "POST",
        f"/customers/{customer_id}/subscription_for_items",
        data={"subscription_items[item_price_id][0]": "no-such-price"},
    )
    assert unknown.status_code == 404
    assert unknown.json()["api_error_code"] == "resource_not_found"
    assert unknown.json()["param"] == "subscription_items[item_price_id][0]"
    assert len(control(url, "GET", "/snapshot").json()["objects"]["subscription"]) == before


def test_unknown_subscription_and_unknown_path_are_404(url: str) -> None:
    assert api(url, "GET", "/subscriptions/nope").json()["api_error_code"] == "resource_not_found"
    answer = api(url, "GET", "/no_such_resource")
    assert answer.status_code == 404
    assert answer.json()["api_error_code"] == "resource_not_found"


def test_json_body_is_refused_and_changes_nothing(url: str) -> None:
    answer = api(url, "POST", "/customers", json={"first_name": "Json"})
    assert answer.status_code == 415
    assert answer.json()["type"] == "invalid_request"
    assert control(url, "GET", "/snapshot?counts=true").json()["counts"]["customer"] == 12


def test_cancelling_a_cancelled_subscription_is_invalid_state(url: str) -> None:
    sub_id = api(url, "GET", "/subscriptions", params={"status[is]": "active", "limit": 1}).json()["list"][0][
        "subscription"
    ]["id"]
    first = api(url, "POST", f"/subscriptions/{sub_id}/cancel_for_items", data={"end_of_term": "false"})
    assert first.json()["subscription"]["status"] == "cancelled"
    assert first.json()["subscription"]["mrr"] == 0
    again = api(url, "POST", f"/subscriptions/{sub_id}/cancel_for_items")
    assert again.status_code == 400
    assert again.json()["api_error_code"] == "invalid_state_for_request"


def test_every_change_raises_resource_version_and_every_object_carries_one(url: str) -> None:
    for action in (
        "edit_customer",
        "change_subscription",
        "renew_subscription",
        "pay_invoice",
        "issue_credit_note",
        "create_quote",
    ):
        assert control(url, "POST", f"/actions/{action}", {}).status_code == 200
    for path, key in [
        ("/customers", "customer"),
        ("/subscriptions", "subscription"),
        ("/invoices", "invoice"),
        ("/item_prices", "item_price"),
        ("/items", "item"),
        ("/quotes", "quote"),
        ("/coupons", "coupon"),
        ("/credit_notes", "credit_note"),
    ]:
        rows = api(url, "GET", path, params={"limit": 100}).json()["list"]
        assert rows, path
        for row in rows:
            assert isinstance(row[key]["resource_version"], int), path
            assert isinstance(row[key]["updated_at"], int), path
    customer = api(url, "GET", "/customers", params={"limit": 1}).json()["list"][0]["customer"]
    versions = [customer["resource_version"]]
    for n in range(3):
        versions.append(
            api(url, "POST", f"/customers/{customer['id']}", data={"phone": str(n)}).json()["customer"][
                "resource_version"
            ]
        )
    assert versions == sorted(versions) and len(set(versions)) == 4


def test_idempotency_key_is_forgotten_after_30_minutes_of_sandbox_time(url: str, clock: FakeTime) -> None:
    headers = {"chargebee-idempotency-key": "create-once"}
    first = api(url, "POST", "/customers", data={"first_name": "Once"}, headers=headers)
    clock.now += 29 * 60
    replay = api(url, "POST", "/customers", data={"first_name": "Once"}, headers=headers)
    assert replay.headers["chargebee-idempotency-replayed"] == "true"
    assert replay.json() == first.json()
    clock.now += 2 * 60
    fresh = api(url, "POST", "/customers", data={"first_name": "Once"}, headers=headers)
    assert "chargebee-idempotency-replayed" not in fresh.headers
    assert fresh.json()["customer"]["id"] != first.json()["customer"]["id"]


def test_idempotency_key_longer_than_100_chars_is_refused(url: str) -> None:
    answer = api(
        url, "POST", "/customers", data={"first_name": "L"}, headers={"chargebee-idempotency-key": "k" * 101}
    )
    assert answer.status_code == 400
    assert control(url, "GET", "/snapshot?counts=true").json()["counts"]["customer"] == 12


def test_events_filter_by_type_and_occurred_at(url: str, clock: FakeTime) -> None:
    control(url, "POST", "/actions/edit_customer", {})
    clock.now += 100
    control(url, "POST", "/actions/change_subscription", {})
    changed = api(url, "GET", "/events", params={"event_type[is]": "subscription_changed"}).json()["list"]
    assert [row["event"]["event_type"] for row in changed] == ["subscription_changed"]
    later = api(url, "GET", "/events", params={"occurred_at[after]": str(int(clock.now) - 50)}).json()["list"]
    assert {row["event"]["event_type"] for row in later} == {"subscription_changed"}
    both = api(
        url, "GET", "/events", params={"event_type[in]": '["customer_changed","subscription_changed"]'}
    )
    assert len(both.json()["list"]) == 2
    bad = api(url, "GET", "/events", params={"occurred_at[after]": "yesterday"})
    assert bad.status_code == 400 and bad.json()["param"] == "occurred_at[after]"


def test_injected_5xx_affects_only_the_requested_count(url: str) -> None:
    control(url, "POST", "/faults", {"status": 503, "count": 2})
    statuses = [api(url, "GET", "/customers").status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    control(url, "POST", "/faults", {"status": 500})
    assert api(url, "GET", "/customers").json()["api_error_code"] == "internal_error"
    control(url, "DELETE", "/faults")
    assert api(url, "GET", "/customers").status_code == 200


def test_request_limit_answers_429_until_the_next_minute(clock: FakeTime) -> None:
    clock.now = 1_800_000_000.0  # on a minute boundary
    with serve(create_app(clock=clock, requests_per_minute=3)) as base:
        statuses = [api(base, "GET", "/customers").status_code for _ in range(4)]
        limited = api(base, "GET", "/customers")
        clock.now += 60
        after = api(base, "GET", "/customers").status_code
    assert statuses == [200, 200, 200, 429]
    assert limited.json()["api_error_code"] == "api_request_limit_exceeded"
    assert limited.json()["type"] == "operation_failed"
    assert int(limited.headers["retry-after"]) >= 1
    assert after == 200


def test_control_api_rejects_bad_input_and_changes_nothing(url: str) -> None:
    assert control(url, "POST", "/tenant", {"customers": -1}).status_code == 400
    assert control(url, "POST", "/faults", {"status": 418}).status_code == 400
    assert control(url, "POST", "/webhooks/mode", {"duplicate_rate": 2}).status_code == 400
    assert control(url, "POST", "/clock/advance", {"seconds": "soon"}).status_code == 400
    unknown = control(url, "POST", "/actions/teleport", {})
    assert unknown.status_code == 404 and "teleport" in unknown.json()["detail"]
    assert control(url, "GET", "/faults").json()["faults"] == []
    assert control(url, "GET", "/snapshot?counts=true").json()["counts"]["customer"] == 12


def test_reset_empties_the_site(url: str) -> None:
    control(url, "POST", "/actions/run", {"count": 5})
    assert control(url, "POST", "/reset").status_code == 200
    counts = control(url, "GET", "/snapshot?counts=true").json()["counts"]
    assert set(counts.values()) == {0}
