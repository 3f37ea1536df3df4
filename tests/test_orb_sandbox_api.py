"""The Orb sandbox's /v1 API, driven by the real orb-billing SDK with strict response validation."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import orb
import pytest
from orb import Orb
from orb_sandbox_servers import API_KEY, control, serve

from bridge.sandbox.orb.app import create_app
from bridge.sandbox.orb.clock import SandboxClock

DOCS = "https://docs.withorb.com/reference/error-responses"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = create_app(api_keys=API_KEY, clock=SandboxClock(datetime(2025, 6, 15, 12, tzinfo=UTC)))
    with serve(app) as url:
        control(url, "POST", "/_sandbox/tenant", {"seed": 7, "customers": 230})
        yield url


@pytest.fixture
def client(base: str) -> Orb:
    return Orb(api_key=API_KEY, base_url=f"{base}/v1", _strict_response_validation=True, max_retries=0)


def _new_customer(client: Orb, tag: str) -> orb.types.Customer:
    return client.customers.create(name=f"Sandbox {tag}", email=f"{tag}@example.com")


def test_customer_list_auto_paginates_over_several_pages_newest_first(client: Orb) -> None:
    first = client.customers.list(limit=100)
    assert first.pagination_metadata.has_more and first.pagination_metadata.next_cursor
    ids = [c.id for c in client.customers.list(limit=100)]  # the SDK follows next_cursor
    assert len(ids) == len(set(ids)) >= 230
    created = [c.created_at for c in client.customers.list(limit=50)]
    assert created == sorted(created, reverse=True)


def test_customer_update_changes_fields_and_fetch_by_external_id_finds_it(client: Orb) -> None:
    cust = client.customers.create(name="Acme", email="a@acme.test", external_customer_id="crm-acme-1")
    updated = client.customers.update(
        cust.id,
        name="Acme GmbH",
        billing_address={"city": "Berlin", "country": "DE"},
        metadata={"tier": "gold"},
    )
    assert updated.name == "Acme GmbH"
    assert updated.billing_address is not None and updated.billing_address.city == "Berlin"
    again = client.customers.fetch_by_external_id("crm-acme-1")
    assert again.id == cust.id and again.metadata == {"tier": "gold"}
    assert client.customers.fetch(cust.id).name == "Acme GmbH"


def test_same_idempotency_key_and_body_creates_one_subscription(client: Orb) -> None:
    cust = _new_customer(client, "idem")
    plan = client.plans.list().data[0]
    first = client.subscriptions.create(customer_id=cust.id, plan_id=plan.id, idempotency_key="sub-idem-1")
    second = client.subscriptions.create(customer_id=cust.id, plan_id=plan.id, idempotency_key="sub-idem-1")
    assert first.id == second.id
    subs = list(client.subscriptions.list(customer_id=[cust.id]))
    assert [s.id for s in subs] == [first.id]


def test_replayed_answer_is_flagged_with_idempotent_replayed_header(client: Orb) -> None:
    cust = _new_customer(client, "replay")
    plan = client.plans.list().data[0]
    raw = client.subscriptions.with_raw_response.create(
        customer_id=cust.id, plan_id=plan.id, idempotency_key="rp-1"
    )
    assert raw.headers.get("Idempotency-Key") == "rp-1" and "Idempotent-Replayed" not in raw.headers
    again = client.subscriptions.with_raw_response.create(
        customer_id=cust.id, plan_id=plan.id, idempotency_key="rp-1"
    )
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.parse().id == raw.parse().id


def test_same_idempotency_key_with_another_body_is_a_409_resource_conflict(client: Orb) -> None:
    cust = _new_customer(client, "conflict")
    plans = client.plans.list().data
    client.subscriptions.create(customer_id=cust.id, plan_id=plans[0].id, idempotency_key="sub-conflict")
    with pytest.raises(orb.ResourceConflict) as caught:
        client.subscriptions.create(customer_id=cust.id, plan_id=plans[1].id, idempotency_key="sub-conflict")
    assert caught.value.status_code == 409
    assert len(list(client.subscriptions.list(customer_id=[cust.id]))) == 1


def test_idempotency_key_expires_after_48_hours_of_sandbox_time(base: str, client: Orb) -> None:
    cust = _new_customer(client, "expiry")
    plan = client.plans.list().data[0]
    first = client.subscriptions.create(customer_id=cust.id, plan_id=plan.id, idempotency_key="sub-expiry")
    control(base, "POST", "/_sandbox/clock/advance", {"days": 2, "seconds": 1})
    later = client.subscriptions.create(customer_id=cust.id, plan_id=plan.id, idempotency_key="sub-expiry")
    assert later.id != first.id


def test_unknown_ids_are_404_resource_not_found(client: Orb) -> None:
    with pytest.raises(orb.ResourceNotFound) as caught:
        client.customers.fetch("nope")
    assert caught.value.body["detail"] == "Could not find a resource of type Customer with identifier: nope."  # type: ignore[index]
    for call in (
        lambda: client.subscriptions.fetch("nope"),
        lambda: client.invoices.fetch("nope"),
        lambda: client.credit_notes.fetch("nope"),
        lambda: client.plans.fetch("nope"),
        lambda: client.customers.credits.ledger.list(customer_id="nope"),
    ):
        with pytest.raises(orb.ResourceNotFound):
            call()


def test_invalid_limit_is_a_400_validation_error_naming_the_param(client: Orb) -> None:
    with pytest.raises(orb.RequestValidationError) as caught:
        client.customers.list(limit=101)
    assert caught.value.status_code == 400
    assert any("limit" in str(e) for e in caught.value.validation_errors)


def test_missing_fields_on_create_name_the_field_and_create_nothing(client: Orb) -> None:
    before = client.customers.list(limit=1).data[0].id
    with pytest.raises(orb.RequestValidationError) as caught:
        client.customers.create(name="No mail", email="")
    assert "email" in str(caught.value.validation_errors)
    assert client.customers.list(limit=1).data[0].id == before


def test_bad_or_missing_api_key_is_401_with_orbs_body(base: str) -> None:
    bad = Orb(api_key="wrong", base_url=f"{base}/v1", max_retries=0)
    with pytest.raises(orb.OrbAuthenticationError):
        bad.customers.list()
    resp = httpx.get(f"{base}/v1/customers")
    assert resp.status_code == 401
    assert resp.json()["type"] == f"{DOCS}#401-authentication-error"


def test_unknown_route_is_404_url_not_found(base: str) -> None:
    resp = httpx.get(f"{base}/v1/nothing_here", headers={"Authorization": f"Bearer {API_KEY}"})
    assert resp.status_code == 404 and resp.json()["type"] == f"{DOCS}#404-url-not-found"


def test_plan_change_and_cancel_through_the_sdk(client: Orb) -> None:
    cust = _new_customer(client, "change")
    plans = client.plans.list().data
    sub = client.subscriptions.create(customer_id=cust.id, plan_id=plans[0].id)
    assert sub.status == "active" and sub.plan is not None and sub.plan.id == plans[0].id
    changed = client.subscriptions.schedule_plan_change(
        sub.id, change_option="immediate", plan_id=plans[1].id
    )
    assert changed.plan is not None and changed.plan.id == plans[1].id
    assert {i.price.id for i in changed.price_intervals if i.end_date is None} == {
        p.id for p in plans[1].prices
    }
    cancelled = client.subscriptions.cancel(sub.id, cancel_option="immediate")
    assert cancelled.status == "ended" and cancelled.end_date is not None
    with pytest.raises(orb.ConstraintViolation):
        client.subscriptions.cancel(sub.id, cancel_option="immediate")
    with pytest.raises(orb.RequestValidationError):
        client.subscriptions.schedule_plan_change(sub.id, change_option="someday", plan_id=plans[0].id)  # type: ignore[arg-type]


def test_price_intervals_add_an_interval(client: Orb) -> None:
    cust = _new_customer(client, "intervals")
    plans = client.plans.list().data
    sub = client.subscriptions.create(customer_id=cust.id, plan_id=plans[0].id)
    extra = plans[2].prices[0]
    out = client.subscriptions.price_intervals(
        sub.id, add=[{"price_id": extra.id, "start_date": "2025-07-01"}]
    )
    assert extra.id in [i.price.id for i in out.price_intervals]


def test_invoice_moves_from_draft_to_issued_to_paid_and_void_only_from_issued(client: Orb) -> None:
    draft = client.invoices.list(status=["draft"], limit=1).data[0]
    assert draft.line_items and draft.issued_at is None
    issued = client.invoices.issue(draft.id)
    assert issued.status == "issued" and issued.issued_at is not None
    with pytest.raises(orb.ConstraintViolation):
        client.invoices.issue(draft.id)
    paid = client.invoices.mark_paid(draft.id, payment_received_date="2025-06-15")
    assert paid.status == "paid" and paid.paid_at is not None
    with pytest.raises(orb.ConstraintViolation):
        client.invoices.void(draft.id)
    other = client.invoices.list(status=["issued"], limit=1).data[0]
    assert client.invoices.void(other.id).status == "void"


def test_invoice_list_filters_by_customer_and_total_equals_line_sum(client: Orb) -> None:
    cid = client.invoices.list(limit=1).data[0].customer.id
    invoices = list(client.invoices.list(customer_id=cid, limit=2))
    assert invoices and all(i.customer.id == cid for i in invoices)
    for inv in invoices:
        assert round(sum(float(li.amount) for li in inv.line_items), 2) == float(inv.subtotal)


def test_credit_notes_and_ledger_list(client: Orb) -> None:
    notes = list(client.credit_notes.list(limit=10))
    assert notes and all(n.invoice_id for n in notes)
    assert client.credit_notes.fetch(notes[0].id).id == notes[0].id
    with_ledger = next(
        c.id
        for c in client.customers.list(limit=100)
        if client.customers.credits.ledger.list(customer_id=c.id).data
    )
    entries = list(client.customers.credits.ledger.list(customer_id=with_ledger))
    assert entries[-1].entry_type == "increment"  # newest first: the first entry is the grant
    assert all(e.customer.id == with_ledger for e in entries)


def test_injected_500_and_429_answer_like_orb_then_clear(base: str, client: Orb) -> None:
    control(base, "POST", "/_sandbox/faults", {"mode": "error", "status": 503, "count": 1})
    with pytest.raises(orb.InternalServerError) as caught:
        client.customers.list(limit=1)
    assert caught.value.response.headers.get("Transient-Error") == "true"
    control(base, "POST", "/_sandbox/faults", {"mode": "rate_limit", "retry_after": 7, "count": 1})
    with pytest.raises(orb.TooManyRequests) as limited:
        client.customers.list(limit=1)
    assert limited.value.response.headers["Retry-After"] == "7"
    assert client.customers.list(limit=1).data  # faults used up


def test_sdk_retries_through_a_single_injected_5xx(base: str) -> None:
    retrying = Orb(api_key=API_KEY, base_url=f"{base}/v1", _strict_response_validation=True, max_retries=2)
    control(base, "POST", "/_sandbox/faults", {"mode": "error", "count": 1})
    assert retrying.customers.list(limit=1).data
    assert control(base, "GET", "/_sandbox/faults")["pending"] == []


def test_bad_fault_request_is_400_naming_the_field(base: str) -> None:
    resp = httpx.post(f"{base}/_sandbox/faults", json={"mode": "error", "status": 404})
    assert resp.status_code == 400 and "status" in resp.json()["validation_errors"][0]


def test_a_key_still_in_flight_is_a_409_and_the_first_request_completes(base: str, client: Orb) -> None:
    cust = _new_customer(client, "inflight")
    plan = client.plans.list().data[0]
    control(
        base, "POST", "/_sandbox/faults", {"mode": "latency", "latency_ms": 600, "count": 1, "method": "POST"}
    )
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": "sub-inflight"}
    body = {"customer_id": cust.id, "plan_id": plan.id}

    def create() -> httpx.Response:
        return httpx.post(f"{base}/v1/subscriptions", json=body, headers=headers, timeout=10)

    with ThreadPoolExecutor(2) as pool:
        slow = pool.submit(create)
        time.sleep(0.2)
        fast = pool.submit(create).result()
        first = slow.result()
    assert first.status_code == 200
    assert fast.status_code == 409 and fast.json()["type"] == f"{DOCS}#409-resource-conflict"
    assert create().json()["id"] == first.json()["id"]  # finished: now replayed


def test_created_at_filters_bound_the_list(client: Orb) -> None:
    newest = client.customers.list(limit=3).data
    after = list(client.customers.list(created_at_gte=newest[-1].created_at, limit=100))
    assert {c.id for c in newest} <= {c.id for c in after}
    assert all(c.created_at >= newest[-1].created_at for c in after)
    with pytest.raises(orb.RequestValidationError) as caught:
        client.customers.list(extra_query={"created_at[gt]": "yesterday"})
    assert "created_at[gt]" in str(caught.value.validation_errors)


def test_future_subscription_is_upcoming_until_the_clock_reaches_its_start(base: str, client: Orb) -> None:
    cust = _new_customer(client, "upcoming")
    plan = client.plans.list().data[0]
    now = datetime.fromisoformat(control(base, "GET", "/_sandbox/clock")["now"])
    sub = client.subscriptions.create(
        customer_id=cust.id, plan_id=plan.id, start_date=now + timedelta(days=3)
    )
    assert sub.status == "upcoming"
    control(base, "POST", "/_sandbox/clock/advance", {"days": 4})
    assert client.subscriptions.fetch(sub.id).status == "active"


def test_malformed_or_oversized_bodies_are_refused_and_change_nothing(base: str, client: Orb) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    before = client.customers.list(limit=1).data[0].id
    broken = httpx.post(f"{base}/v1/customers", content=b'{"name": "x",', headers=headers)
    assert broken.status_code == 400 and broken.json()["validation_errors"][0].startswith("body:")
    huge = httpx.post(
        f"{base}/v1/customers", content=b'{"name": "' + b"x" * 1_100_000 + b'"}', headers=headers
    )
    assert huge.status_code == 413 and huge.json()["type"] == f"{DOCS}#413-request-too-large"
    assert client.customers.list(limit=1).data[0].id == before


def test_external_customer_id_routes_update_and_list_the_ledger(client: Orb) -> None:
    cust = client.customers.create(name="Ext", email="ext@example.com", external_customer_id="crm-ext-9")
    updated = client.customers.update_by_external_id("crm-ext-9", email="new@example.com")
    assert updated.id == cust.id and updated.email == "new@example.com"
    client.customers.credits.ledger.create_entry(cust.id, entry_type="increment", amount=40.0)
    client.customers.credits.ledger.create_entry(cust.id, entry_type="decrement", amount=15.0)
    entries = list(client.customers.credits.ledger.list_by_external_id("crm-ext-9"))
    assert [(e.entry_type, e.ending_balance) for e in entries] == [("decrement", 25.0), ("increment", 40.0)]
    with pytest.raises(orb.ConstraintViolation):
        client.customers.credits.ledger.create_entry(cust.id, entry_type="decrement", amount=100.0)
    with pytest.raises(orb.ResourceNotFound):
        client.customers.update_by_external_id("crm-missing", email="x@example.com")
