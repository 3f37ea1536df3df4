"""The sandbox's own control API under `/_sandbox/` (not part of Chargebee): reset, snapshot,
deliveries, webhook pause/resume/mode/endpoints, faults, clock, tenant loading and actions that
move the tenant forward so webhooks flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.sandbox.chargebee import operations, tenant
from bridge.sandbox.chargebee.errors import ChargebeeApiError
from bridge.sandbox.chargebee.faults import Fault
from bridge.sandbox.chargebee.operations import ItemRequest
from bridge.sandbox.chargebee.site import Site
from bridge.sandbox.chargebee.webhooks import WebhookEndpoint

Json = dict[str, Any]
MAX_TENANT_CUSTOMERS = 200_000
MAX_ACTIONS_PER_RUN = 10_000


class ControlError(Exception):
    """A bad control request: 400 (or `status`) with `{"error", "detail"}`."""

    def __init__(self, detail: str, status: int = 400, code: str = "bad_request") -> None:
        super().__init__(detail)
        self.detail, self.status, self.code = detail, status, code


def _reply(body: object, status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


async def _body(request: Request) -> Json:
    raw = await request.body()
    if not raw:
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ControlError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ControlError("body must be a JSON object")
    return body


def _int(body: Json, name: str, default: int, low: int, high: int) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ControlError(f"{name} must be an integer between {low} and {high}")
    return value


def _pick(site: Site, kind: str, wanted: object, accept: Callable[[Json], bool]) -> Json:
    if wanted is not None:
        return site.store.get(kind, str(wanted))
    candidates = sorted(obj_id for obj_id, obj in site.store.objects[kind].items() if accept(obj))
    if not candidates:
        raise ControlError(
            f"no {kind} fits this action; load a tenant first", status=409, code="nothing_to_act_on"
        )
    return site.store.objects[kind][site.actions_rng.choice(candidates)]


def _active(sub: Json) -> bool:
    return sub["status"] in ("active", "in_trial")


def edit_customer(site: Site, body: Json) -> Json:
    """Change a customer's phone (or the given `fields`): `customer_changed`."""
    cust = _pick(site, "customer", body.get("customer_id"), lambda _: True)
    fields = body.get("fields") or {"phone": f"+1-555-{site.actions_rng.randint(1000, 9999)}"}
    if not isinstance(fields, dict):
        raise ControlError("fields must be an object")
    return {"customer": operations.update_customer(site, cust["id"], dict(fields), source="admin_console")}


def change_subscription(site: Site, body: Json) -> Json:
    """Raise the quantity of an active subscription's first item: `subscription_changed`."""
    sub = _pick(site, "subscription", body.get("subscription_id"), _active)
    first = sub["subscription_items"][0]
    request = ItemRequest(first["item_price_id"], int(first["quantity"]) + site.actions_rng.randint(1, 5), 0)
    return operations.update_subscription_items(
        site, sub["id"], [request], replace=False, source="admin_console"
    )


def cancel_subscription(site: Site, body: Json) -> Json:
    """Cancel an active subscription now: `subscription_cancelled`."""
    sub = _pick(site, "subscription", body.get("subscription_id"), _active)
    return operations.cancel_subscription(
        site,
        sub["id"],
        end_of_term=bool(body.get("end_of_term", False)),
        reason_code="Not Paid",
        source="admin_console",
    )


def renew_subscription(site: Site, body: Json) -> Json:
    """Renew an active subscription: `subscription_renewed`, `invoice_generated`."""
    sub = _pick(site, "subscription", body.get("subscription_id"), _active)
    return operations.renew_subscription(site, sub["id"])


def pay_invoice(site: Site, body: Json) -> Json:
    """Pay an unpaid invoice in full: `payment_succeeded`, `invoice_updated`."""
    inv = _pick(site, "invoice", body.get("invoice_id"), lambda i: i["status"] not in ("paid", "voided"))
    return operations.pay_invoice(site, inv["id"], source="admin_console")


def issue_credit_note(site: Site, body: Json) -> Json:
    """Credit a quarter of an invoice: `credit_note_created`, `invoice_updated`."""
    inv = _pick(
        site,
        "invoice",
        body.get("invoice_id"),
        lambda i: int(i["total"]) > 0 and not i["issued_credit_notes"],
    )
    total = body.get("total", int(inv["total"]) // 4 or 1)
    if not isinstance(total, int):
        raise ControlError("total must be an integer")
    return operations.create_credit_note(
        site, inv["id"], total, "product_unsatisfactory", source="admin_console"
    )


def create_quote(site: Site, body: Json) -> Json:
    """Quote the customer's current plan again: `quote_created`."""
    sub = _pick(site, "subscription", body.get("subscription_id"), _active)
    requests = [
        ItemRequest(i["item_price_id"], int(i["quantity"]), n)
        for n, i in enumerate(sub["subscription_items"])
    ]
    return operations.create_quote(site, sub["customer_id"], requests, None, source="admin_console")


ACTIONS: dict[str, Callable[[Site, Json], Json]] = {
    "edit_customer": edit_customer,
    "change_subscription": change_subscription,
    "cancel_subscription": cancel_subscription,
    "renew_subscription": renew_subscription,
    "issue_invoice": renew_subscription,
    "pay_invoice": pay_invoice,
    "issue_credit_note": issue_credit_note,
    "create_quote": create_quote,
}
_RANDOM_MIX = [
    "edit_customer",
    "change_subscription",
    "renew_subscription",
    "pay_invoice",
    "pay_invoice",
    "issue_credit_note",
    "create_quote",
    "cancel_subscription",
]


def run_actions(site: Site, count: int) -> list[str]:
    """`count` actions drawn (seeded) from a realistic mix; skips an action that has nothing to act on."""
    done = []
    for _ in range(count):
        name = site.actions_rng.choice(_RANDOM_MIX)
        try:
            ACTIONS[name](site, {})
        except ControlError:
            continue
        done.append(name)
    return done


def _handler(work: Callable[[Site, Json, Request], Any]) -> Callable[[Request], Any]:
    async def run(request: Request) -> Response:
        site: Site = request.app.state.site
        try:
            body = await _body(request) if request.method in ("POST", "PUT") else {}
            return _reply(await work(site, body, request))
        except ControlError as exc:
            return _reply({"error": exc.code, "detail": exc.detail}, exc.status)
        except ChargebeeApiError as exc:
            return exc.response()

    return run


async def _reset(site: Site, body: Json, request: Request) -> Json:
    site.reset()
    return {"reset": True}


async def _snapshot(site: Site, body: Json, request: Request) -> Json:
    if request.query_params.get("counts") == "true":
        return {"site": site.name, "counts": site.store.counts()}
    return {"site": site.name, "counts": site.store.counts(), **site.store.snapshot()}


async def _deliveries(site: Site, body: Json, request: Request) -> Json:
    status = request.query_params.get("status")
    rows = [d.as_json() for d in site.webhooks.deliveries if status is None or d.status == status]
    return {"paused": site.webhooks.paused, "deliveries": rows}


async def _pause(site: Site, body: Json, request: Request) -> Json:
    site.webhooks.pause()
    return {"paused": True}


async def _resume(site: Site, body: Json, request: Request) -> Json:
    site.webhooks.resume()
    return {"paused": False}


async def _wait(site: Site, body: Json, request: Request) -> Json:
    timeout = body.get("timeout", 5)
    if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        raise ControlError("timeout must be a number of seconds between 0 and 60")
    return {"idle": await site.webhooks.wait_idle(float(timeout))}


async def _endpoints(site: Site, body: Json, request: Request) -> Json:
    if request.method == "PUT":
        rows = body.get("endpoints")
        if not isinstance(rows, list) or not all(
            isinstance(r, dict) and isinstance(r.get("url"), str) for r in rows
        ):
            raise ControlError("endpoints must be a list of {url, username?, password?}")
        site.webhooks.endpoints = [
            WebhookEndpoint(r["url"], r.get("username"), r.get("password"), id=f"whv2_{n + 1}")
            for n, r in enumerate(rows)
        ]
    return {
        "endpoints": [{"id": e.id, "url": e.url, "username": e.username} for e in site.webhooks.endpoints]
    }


async def _mode(site: Site, body: Json, request: Request) -> Json:
    out_of_order = body.get("out_of_order")
    rate = body.get("duplicate_rate")
    seed = body.get("seed")
    if out_of_order is not None and not isinstance(out_of_order, bool):
        raise ControlError("out_of_order must be true or false")
    if rate is not None and (not isinstance(rate, int | float) or not 0 <= rate <= 1):
        raise ControlError("duplicate_rate must be between 0 and 1")
    if seed is not None and not isinstance(seed, int):
        raise ControlError("seed must be an integer")
    site.webhooks.configure(out_of_order=out_of_order, duplicate_rate=rate, seed=seed)
    return {"out_of_order": site.webhooks.out_of_order, "duplicate_rate": site.webhooks.duplicate_rate}


async def _faults(site: Site, body: Json, request: Request) -> Json:
    if request.method == "DELETE":
        site.faults.clear()
    elif request.method == "POST":
        status = body.get("status")
        if status is not None and (not isinstance(status, int) or status not in (429, 500, 502, 503, 504)):
            raise ControlError("status must be one of 429, 500, 502, 503, 504")
        count = body.get("count")
        if count is not None and (not isinstance(count, int) or count < 1):
            raise ControlError("count must be a positive integer (omit it for every request)")
        prefix = body.get("path_prefix", "/api/v2/")
        if not isinstance(prefix, str):
            raise ControlError("path_prefix must be a string")
        site.faults.active.append(
            Fault(
                status=status,
                retry_after=_int(body, "retry_after", 1, 0, 3600),
                latency_ms=_int(body, "latency_ms", 0, 0, 30_000),
                count=count,
                path_prefix=prefix,
            )
        )
    return {"faults": [f.as_json() for f in site.faults.active]}


async def _tenant(site: Site, body: Json, request: Request) -> Json:
    seed = _int(body, "seed", 1, 0, 2**31)
    count = _int(body, "customers", 100, 0, MAX_TENANT_CUSTOMERS)
    months = _int(body, "history_months", 6, 1, 36)
    generated = tenant.generate(seed, count, now=site.now(), history_months=months)
    return {"loaded": site.load(generated)}


async def _advance(site: Site, body: Json, request: Request) -> Json:
    seconds = body.get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise ControlError("seconds must be a non-negative number")
    site.clock.advance(float(seconds))
    return {"now": site.clock.now()}


async def _action(site: Site, body: Json, request: Request) -> Json:
    name = request.path_params["name"]
    if name == "run":
        return {"done": run_actions(site, _int(body, "count", 10, 1, MAX_ACTIONS_PER_RUN))}
    action = ACTIONS.get(name)
    if action is None:
        raise ControlError(
            f"unknown action {name!r}; known: run, {', '.join(sorted(ACTIONS))}", 404, "not_found"
        )
    return action(site, body)


ROUTES = [
    Route("/_sandbox/reset", _handler(_reset), methods=["POST"]),
    Route("/_sandbox/snapshot", _handler(_snapshot), methods=["GET"]),
    Route("/_sandbox/deliveries", _handler(_deliveries), methods=["GET"]),
    Route("/_sandbox/webhooks/pause", _handler(_pause), methods=["POST"]),
    Route("/_sandbox/webhooks/resume", _handler(_resume), methods=["POST"]),
    Route("/_sandbox/webhooks/wait", _handler(_wait), methods=["POST"]),
    Route("/_sandbox/webhooks/endpoints", _handler(_endpoints), methods=["GET", "PUT"]),
    Route("/_sandbox/webhooks/mode", _handler(_mode), methods=["POST"]),
    Route("/_sandbox/faults", _handler(_faults), methods=["GET", "POST", "DELETE"]),
    Route("/_sandbox/tenant", _handler(_tenant), methods=["POST"]),
    Route("/_sandbox/clock/advance", _handler(_advance), methods=["POST"]),
    Route("/_sandbox/actions/{name}", _handler(_action), methods=["POST"]),
]
