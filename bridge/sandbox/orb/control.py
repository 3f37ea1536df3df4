"""`/_sandbox/…` control routes of the Orb sandbox: reset, snapshot, tenant, clock, webhook
deliveries, pause/resume, endpoints, faults, daily revenue, and actions that move the tenant
forward (each emits the webhooks Orb would)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from bridge.sandbox.orb import revenue, tenant
from bridge.sandbox.orb.clock import iso
from bridge.sandbox.orb.collection import parse_limit
from bridge.sandbox.orb.errors import OrbError, invalid
from bridge.sandbox.orb.faults import parse_fault
from bridge.sandbox.orb.store import Store
from bridge.sandbox.orb.webhooks import Endpoint

if TYPE_CHECKING:
    from bridge.sandbox.orb.app import Sandbox

JSON = dict[str, Any]
Handler = Callable[[Request, JSON], Awaitable[Any]]
ACTIONS = (
    "issue_invoice",
    "pay_invoice",
    "fail_payment",
    "void_invoice",
    "change_plan",
    "cancel_subscription",
    "edit_customer",
    "add_credits",
    "issue_credit_note",
)


def _int(raw: Any, name: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    if isinstance(raw, bool):
        raise invalid(name, "must be an integer")
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise invalid(name, "must be an integer") from exc
    if not low <= value <= high:
        raise invalid(name, f"must be between {low} and {high}")
    return value


def control_table(sb: Sandbox) -> list[tuple[str, Handler, list[str]]]:
    store, dispatcher = sb.store, sb.dispatcher

    async def reset(request: Request, body: JSON) -> Any:
        store.reset(_int(body.get("seed"), "seed", 0, 0, 2**31))
        dispatcher.clear()
        sb.idempotency.clear()
        sb.faults.clear()
        return {"reset": True}

    async def snapshot(request: Request, body: JSON) -> Any:
        counts = {
            "customers": len(store.customers),
            "plans": len(store.plans),
            "subscriptions": len(store.subscriptions),
            "invoices": len(store.invoices),
            "credit_notes": len(store.credit_notes),
            "ledger_entries": sum(len(v) for v in store.ledger.values()),
            "events_emitted": store.events_emitted,
        }
        by_status: dict[str, int] = {}
        for d in dispatcher.deliveries:
            by_status[d.status] = by_status.get(d.status, 0) + 1
        out: JSON = {
            "now": iso(sb.clock.now()),
            "counts": counts,
            "deliveries": by_status,
            "webhooks_paused": dispatcher.paused,
        }
        if request.query_params.get("full") in ("1", "true"):
            out["customers"] = list(store.customers.items.values())
            out["plans"] = list(store.plans.items.values())
            out["subscriptions"] = [store.render_subscription(s) for s in store.subscriptions.items.values()]
            out["invoices"] = [store.render_invoice(i) for i in store.invoices.items.values()]
            out["credit_notes"] = list(store.credit_notes.items.values())
            out["credit_ledger_entries"] = [e for v in store.ledger.values() for e in v]
        return out

    async def load_tenant(request: Request, body: JSON) -> Any:
        seed = _int(body.get("seed"), "seed", 0, 0, 2**31)
        count = _int(body.get("customers"), "customers", 100, 0, 100_000)
        months = _int(body.get("months"), "months", 6, 1, 36)
        # built in a worker thread (10k customers take seconds), swapped in on the loop
        fresh = Store(sb.clock, seed=seed)
        summary = await run_in_threadpool(tenant.generate, fresh, seed=seed, customers=count, months=months)
        store.adopt(fresh)
        dispatcher.clear()
        sb.idempotency.clear()
        return summary.as_dict()

    async def clock(request: Request, body: JSON) -> Any:
        return {"now": iso(sb.clock.now())}

    async def advance(request: Request, body: JSON) -> Any:
        seconds = _int(body.get("seconds"), "seconds", 0, 0, 10**9)
        days = _int(body.get("days"), "days", 0, 0, 3650)
        if not seconds and not days:
            raise invalid("seconds", "give seconds or days to move the clock forward")
        return store.advance(timedelta(days=days, seconds=seconds))

    async def deliveries(request: Request, body: JSON) -> Any:
        q = request.query_params
        limit = _int(q.get("limit"), "limit", 100, 1, 10_000)
        status, event_type, customer = q.get("status"), q.get("event_type"), q.get("customer_id")
        if status is not None and status not in ("pending", "retrying", "delivered", "failed"):
            raise invalid("status", "must be one of pending, retrying, delivered, failed")
        with_body = q.get("body") in ("1", "true")
        rows = [
            d.summary(with_body)
            for d in dispatcher.deliveries
            if (status is None or d.status == status)
            and (event_type is None or d.event_type == event_type)
            and (customer is None or d.customer_id == customer)
        ]
        return {"data": rows[-limit:], "total": len(rows), "paused": dispatcher.paused}

    async def delivery(request: Request, body: JSON) -> Any:
        found = dispatcher.get(str(request.path_params["delivery_id"]))
        if found is None:
            raise OrbError("not_found", f"No delivery {request.path_params['delivery_id']}.")
        return found.summary(with_body=True)

    async def webhooks(request: Request, body: JSON) -> Any:
        return {
            "paused": dispatcher.paused,
            "endpoints": [{"url": e.url, "payload_style": e.payload_style} for e in dispatcher.endpoints],
        }

    async def pause(request: Request, body: JSON) -> Any:
        dispatcher.pause()
        return {"paused": True}

    async def resume(request: Request, body: JSON) -> Any:
        dispatcher.resume()
        return {"paused": False}

    async def settle(request: Request, body: JSON) -> Any:
        if dispatcher.paused:
            raise OrbError("constraint", "Webhooks are paused; resume them before waiting for delivery.")
        timeout = _int(body.get("timeout_seconds"), "timeout_seconds", 10, 0, 120)
        settled = await dispatcher.settle(timeout)
        return {"settled": settled, "outstanding": dispatcher.outstanding}

    async def add_endpoint(request: Request, body: JSON) -> Any:
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise invalid("url", "must be an http(s) URL")
        style = body.get("payload_style", sb.payload_style)
        if style not in ("expanded", "standard"):
            raise invalid("payload_style", "must be expanded or standard")
        secret = body.get("secret", sb.webhook_secret)
        if not isinstance(secret, str) or not secret:
            raise invalid("secret", "must be a non-empty string")
        dispatcher.endpoints.append(Endpoint(url, secret, style))
        return await webhooks(request, body)

    async def remove_endpoints(request: Request, body: JSON) -> Any:
        dispatcher.endpoints.clear()
        return await webhooks(request, body)

    async def add_fault(request: Request, body: JSON) -> Any:
        sb.faults.pending.append(parse_fault(body))
        return {"pending": [f.as_dict() for f in sb.faults.pending]}

    async def list_faults(request: Request, body: JSON) -> Any:
        return {"pending": [f.as_dict() for f in sb.faults.pending], "applied": sb.faults.applied}

    async def clear_faults(request: Request, body: JSON) -> Any:
        sb.faults.clear()
        return {"pending": []}

    async def daily_revenue(request: Request, body: JSON) -> Any:
        q = request.query_params
        cid, iid = q.get("customer_id"), q.get("invoice_id")
        if cid is not None:
            store.customer(cid)
        if iid is not None:
            store.invoice(iid)
        return revenue.page(
            store,
            limit=parse_limit(q.get("limit")),
            cursor=q.get("cursor") or None,
            customer_id=cid,
            invoice_id=iid,
        )

    async def action(request: Request, body: JSON) -> Any:
        name = str(request.path_params["action"])
        if name not in ACTIONS:
            raise OrbError("url_not_found", f"Unknown action {name}; one of {', '.join(ACTIONS)}.")
        return run_action(sb, name, body)

    return [
        ("/_sandbox/reset", reset, ["POST"]),
        ("/_sandbox/snapshot", snapshot, ["GET"]),
        ("/_sandbox/tenant", load_tenant, ["POST"]),
        ("/_sandbox/clock", clock, ["GET"]),
        ("/_sandbox/clock/advance", advance, ["POST"]),
        ("/_sandbox/deliveries", deliveries, ["GET"]),
        ("/_sandbox/deliveries/{delivery_id}", delivery, ["GET"]),
        ("/_sandbox/webhooks", webhooks, ["GET"]),
        ("/_sandbox/webhooks/pause", pause, ["POST"]),
        ("/_sandbox/webhooks/resume", resume, ["POST"]),
        ("/_sandbox/webhooks/settle", settle, ["POST"]),
        ("/_sandbox/webhooks/endpoints", add_endpoint, ["POST"]),
        ("/_sandbox/webhooks/endpoints", remove_endpoints, ["DELETE"]),
        ("/_sandbox/faults", add_fault, ["POST"]),
        ("/_sandbox/faults", list_faults, ["GET"]),
        ("/_sandbox/faults", clear_faults, ["DELETE"]),
        ("/_sandbox/daily_line_item_revenue", daily_revenue, ["GET"]),
        ("/_sandbox/actions/{action}", action, ["POST"]),
    ]


def _pick_subscription(sb: Sandbox, body: JSON) -> JSON:
    store = sb.store
    if isinstance(body.get("subscription_id"), str):
        return store.subscription_record(body["subscription_id"])
    cid = body.get("customer_id")
    ids = store.subs_of.get(cid, []) if isinstance(cid, str) else store.subscriptions.order
    if isinstance(cid, str):
        store.customer(cid)
    for sid in ids:
        sub = store.subscriptions.items[sid]
        if sub["status"] == "active":
            return sub
    raise OrbError("constraint", "No active subscription to act on.")


def _pick_invoice(sb: Sandbox, body: JSON, status: str) -> JSON:
    store = sb.store
    if isinstance(body.get("invoice_id"), str):
        return store.invoice(body["invoice_id"])
    cid = body.get("customer_id")
    if isinstance(cid, str):
        store.customer(cid)
    ids = store.invoices_of.get(cid, []) if isinstance(cid, str) else store.invoices.order
    for iid in ids:
        if store.invoices.items[iid]["status"] == status:
            return store.invoices.items[iid]
    raise OrbError("constraint", f"No {status} invoice to act on.")


def run_action(sb: Sandbox, name: str, body: JSON) -> JSON:
    """Carry out one tenant action; targets default to the oldest match (deterministic)."""
    store = sb.store
    if name == "issue_invoice":
        sub = _pick_subscription(sb, body)
        return store.render_invoice(store.issue(store.draft_invoice(sub)))
    if name in ("pay_invoice", "fail_payment"):
        inv = _pick_invoice(sb, body, "issued")
        return store.render_invoice(store.collect(inv, succeed=name == "pay_invoice"))
    if name == "void_invoice":
        return store.render_invoice(store.void(_pick_invoice(sb, body, "issued")))
    if name == "issue_credit_note":
        inv = _pick_invoice(sb, body, "paid")
        amount = body.get("amount_cents")
        if amount is not None and (not isinstance(amount, int) or amount < 1):
            raise invalid("amount_cents", "must be a positive integer")
        return store.issue_credit_note(inv, amount)
    if name == "change_plan":
        sub = _pick_subscription(sb, body)
        plan_id = body.get("plan_id")
        if plan_id is None:
            plans = [p for p in store.plans.order if p != sub["_plan_id"]]
            if not plans:
                raise OrbError("constraint", "No other plan to change to.")
            plan_id = plans[0]
        change = {"change_option": body.get("change_option", "immediate"), "plan_id": plan_id}
        if "change_date" in body:
            change["change_date"] = body["change_date"]
        return store.schedule_plan_change(sub, change)
    if name == "cancel_subscription":
        sub = _pick_subscription(sb, body)
        return store.cancel(sub, {"cancel_option": body.get("cancel_option", "immediate")})
    if name == "edit_customer":
        cid = body.get("customer_id")
        cust = store.customer(cid) if isinstance(cid, str) else _first_customer(sb)
        fields = body.get("fields")
        if fields is None:
            fields = {"name": f"{cust['name']} (edited)"}
        if not isinstance(fields, dict):
            raise invalid("fields", "must be an object of customer fields")
        return store.update_customer(cust, fields)
    # add_credits
    cid = body.get("customer_id")
    cust = store.customer(cid) if isinstance(cid, str) else _first_customer(sb)
    amount = body.get("amount", 100)
    return store.create_ledger_entry(cust, {"entry_type": "increment", "amount": amount})


def _first_customer(sb: Sandbox) -> JSON:
    if not sb.store.customers.order:
        raise OrbError("constraint", "The sandbox has no customers; load a tenant first.")
    return sb.store.customers.items[sb.store.customers.order[0]]
