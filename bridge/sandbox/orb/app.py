"""The Orb sandbox as a Starlette app: Orb's `/v1` API and the `/_sandbox` control routes.

`create_app()` with no arguments reads the environment (for `bridge sandbox orb`):
`BRIDGE_SANDBOX_ORB_API_KEYS` (comma separated, default `orb-sandbox-key`),
`BRIDGE_SANDBOX_ORB_WEBHOOK_URLS` (comma separated), `BRIDGE_ORB_WEBHOOK_SECRET` (the secret the
bridge's receiver checks), `BRIDGE_SANDBOX_ORB_PAYLOAD_STYLE` (`expanded` or `standard`),
`BRIDGE_SANDBOX_ORB_CUSTOMERS` and `BRIDGE_SANDBOX_ORB_SEED` (a tenant to load at start).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bridge.sandbox.orb import tenant
from bridge.sandbox.orb.clock import SandboxClock, iso, parse_time
from bridge.sandbox.orb.collection import Collection, parse_limit
from bridge.sandbox.orb.errors import OrbError, invalid, not_found
from bridge.sandbox.orb.faults import Faults
from bridge.sandbox.orb.idempotency import IdempotencyKeys, fingerprint
from bridge.sandbox.orb.store import Store
from bridge.sandbox.orb.webhooks import Dispatcher, Endpoint, PayloadStyle

JSON = dict[str, Any]
Handler = Callable[[Request, JSON], Awaitable[Any]]
DEFAULT_API_KEY = "orb-sandbox-key"
DEFAULT_WEBHOOK_SECRET = "orb-sandbox-webhook-secret"
MAX_BODY = 1_000_000


def respond(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


class Sandbox:
    """Everything one running Orb sandbox holds."""

    def __init__(
        self,
        clock: SandboxClock,
        api_keys: set[str],
        dispatcher: Dispatcher,
        *,
        webhook_secret: str,
        payload_style: PayloadStyle,
        seed: int = 0,
    ) -> None:
        self.clock = clock
        self.webhook_secret = webhook_secret
        self.payload_style: PayloadStyle = payload_style
        self.api_keys = api_keys
        self.store = Store(clock, seed=seed)
        self.dispatcher = dispatcher
        self.store.sinks.append(dispatcher.submit)
        self.idempotency = IdempotencyKeys()
        self.faults = Faults()

    def authenticate(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise OrbError("auth", "Missing or malformed Authorization header; expected 'Bearer <API key>'.")
        if token.strip() not in self.api_keys:
            raise OrbError("auth", "The API key is not valid.")

    def api(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        """Wrap a `/v1` handler: auth, JSON body, idempotency, faults, Orb error bodies."""

        async def endpoint(request: Request) -> Response:
            key: str | None = None
            try:
                self.authenticate(request)
                body = await read_json(request)
                if request.method in ("POST", "PATCH"):
                    key = request.headers.get("idempotency-key")
                headers = {"Idempotency-Key": key} if key is not None else {}
                if key is not None:
                    print_ = fingerprint(request.method, request.url.path, body)
                    stored = self.idempotency.begin(key, print_, self.clock.now())
                    if stored is not None:
                        return respond(
                            stored.status or 200, stored.body, {**headers, "Idempotent-Replayed": "true"}
                        )
                # after the key is taken, so a slow request holds its key as a real one would
                faulted = await self.faults.apply(request)
                if faulted is not None:
                    if key is not None:
                        self.idempotency.finish(key, faulted.status_code, None)
                    return faulted
                try:
                    status, result = 200, await handler(request, body)
                except OrbError as exc:
                    status, result = exc.status, exc.body
                except Exception:
                    if key is not None:  # a crash must not hold the key "in flight" for 48 h
                        self.idempotency.finish(key, 500, None)
                    raise
                if key is not None:
                    self.idempotency.finish(key, status, result)
                return respond(status, result, headers)
            except OrbError as exc:
                return respond(exc.status, exc.body)

        return endpoint


async def read_json(request: Request) -> JSON:
    if request.method not in ("POST", "PUT", "PATCH"):
        return {}
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise OrbError("too_large", f"The request body is larger than {MAX_BODY} bytes.")
    if not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise invalid("body", f"is not valid JSON ({exc})") from exc
    if not isinstance(body, dict):
        raise invalid("body", "must be a JSON object")
    return body


def _query_list(request: Request, name: str) -> list[str]:
    values = request.query_params.getlist(f"{name}[]") + request.query_params.getlist(name)
    return [v for value in values for v in value.split(",") if v]


def _page_args(request: Request) -> tuple[int, str | None]:
    return parse_limit(request.query_params.get("limit")), request.query_params.get("cursor") or None


BOUNDS: dict[str, Callable[[str, str], bool]] = {
    "gt": lambda v, b: v > b,
    "gte": lambda v, b: v >= b,
    "lt": lambda v, b: v < b,
    "lte": lambda v, b: v <= b,
}


def _created(request: Request) -> Callable[[JSON], bool]:
    """Orb's `created_at[gt|gte|lt|lte]` filters (stored timestamps share one ISO form, so
    they compare as strings)."""
    tests: list[tuple[Callable[[str, str], bool], str]] = []
    for op, check in BOUNDS.items():
        name = f"created_at[{op}]"
        raw = request.query_params.get(name)
        if raw is None:
            continue
        try:
            bound = iso(parse_time(raw))
        except ValueError as exc:
            raise invalid(name, "must be an ISO 8601 date-time") from exc
        tests.append((check, str(bound)))
    return lambda obj: all(check(obj["created_at"], bound) for check, bound in tests)


def _both(a: Callable[[JSON], bool], b: Callable[[JSON], bool] | None) -> Callable[[JSON], bool]:
    return a if b is None else (lambda obj: a(obj) and b(obj))


def v1_routes(sb: Sandbox) -> list[Route]:
    """Orb's public API, as far as the sandbox implements it."""
    store = sb.store

    def path(request: Request, name: str) -> str:
        return str(request.path_params[name])

    async def ping(request: Request, body: JSON) -> Any:
        return {"response": "Orb sandbox"}

    async def list_customers(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        return store.customers.page(cursor=cursor, limit=limit, render=lambda c: c, keep=_created(request))

    async def create_customer(request: Request, body: JSON) -> Any:
        return store.create_customer(body)

    async def get_customer(request: Request, body: JSON) -> Any:
        return store.customer(path(request, "customer_id"))

    async def update_customer(request: Request, body: JSON) -> Any:
        return store.update_customer(store.customer(path(request, "customer_id")), body)

    async def get_customer_external(request: Request, body: JSON) -> Any:
        return store.customer_by_external(path(request, "external_customer_id"))

    async def update_customer_external(request: Request, body: JSON) -> Any:
        return store.update_customer(store.customer_by_external(path(request, "external_customer_id")), body)

    async def ledger(request: Request, body: JSON) -> Any:
        cust = (
            store.customer(path(request, "customer_id"))
            if "customer_id" in request.path_params
            else store.customer_by_external(path(request, "external_customer_id"))
        )
        limit, cursor = _page_args(request)
        entry_type = request.query_params.get("entry_type")
        entries = store.ledger.get(cust["id"], [])
        view = Collection()
        for entry in entries:
            view.add(entry["id"], entry)
        return view.page(
            cursor=cursor,
            limit=limit,
            render=lambda e: e,
            keep=_both(_created(request), (lambda e: e["entry_type"] == entry_type) if entry_type else None),
        )

    async def create_ledger_entry(request: Request, body: JSON) -> Any:
        return store.create_ledger_entry(store.customer(path(request, "customer_id")), body)

    async def list_plans(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        status = request.query_params.get("status")
        return store.plans.page(
            cursor=cursor,
            limit=limit,
            render=lambda p: p,
            keep=_both(_created(request), (lambda p: p["status"] == status) if status else None),
        )

    async def get_plan(request: Request, body: JSON) -> Any:
        return store.plan(path(request, "plan_id"), None)

    async def get_plan_external(request: Request, body: JSON) -> Any:
        return store.plan(None, path(request, "external_plan_id"))

    async def list_prices(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        view = Collection()
        for pid, price in store.prices.items():
            view.add(pid, price)
        return view.page(cursor=cursor, limit=limit, render=lambda p: p)

    async def get_price(request: Request, body: JSON) -> Any:
        price = store.prices.get(path(request, "price_id"))
        if price is None:
            raise not_found("Price", path(request, "price_id"))
        return price

    async def list_subscriptions(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        status = request.query_params.get("status")
        if status is not None and status not in ("active", "ended", "upcoming"):
            raise invalid("status", "must be one of active, ended, upcoming")
        cids = _query_list(request, "customer_id")
        for external in _query_list(request, "external_customer_id"):
            cids.append(store.by_external.get(external, f"unknown:{external}"))
        plan_id = request.query_params.get("plan_id")
        subset = None
        if len(cids) == 1:
            subset = store.subs_of.get(cids[0], [])

        created = _created(request)

        def keep(sub: JSON) -> bool:
            return (
                created(sub)
                and (not cids or sub["_customer_id"] in cids)
                and (status is None or sub["status"] == status)
                and (plan_id is None or sub["_plan_id"] == plan_id)
            )

        return store.subscriptions.page(
            cursor=cursor, limit=limit, render=store.render_subscription, keep=keep, subset=subset
        )

    async def create_subscription(request: Request, body: JSON) -> Any:
        return store.create_subscription(body)

    async def get_subscription(request: Request, body: JSON) -> Any:
        return store.render_subscription(store.subscription_record(path(request, "subscription_id")))

    async def update_subscription(request: Request, body: JSON) -> Any:
        return store.update_subscription(store.subscription_record(path(request, "subscription_id")), body)

    async def schedule_plan_change(request: Request, body: JSON) -> Any:
        return store.schedule_plan_change(store.subscription_record(path(request, "subscription_id")), body)

    async def cancel(request: Request, body: JSON) -> Any:
        return store.cancel(store.subscription_record(path(request, "subscription_id")), body)

    async def price_intervals(request: Request, body: JSON) -> Any:
        return store.edit_price_intervals(store.subscription_record(path(request, "subscription_id")), body)

    async def list_invoices(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        statuses = _query_list(request, "status")
        bad = [s for s in statuses if s not in ("draft", "issued", "paid", "synced", "void")]
        if bad:
            raise invalid("status", f"unknown invoice status {bad[0]}")
        cid = request.query_params.get("customer_id")
        external = request.query_params.get("external_customer_id")
        if external is not None:
            cid = store.by_external.get(external, f"unknown:{external}")
        sub_id = request.query_params.get("subscription_id")
        subset = store.invoices_of.get(cid, []) if cid is not None else None

        created = _created(request)

        def keep(inv: JSON) -> bool:
            return (
                created(inv)
                and (cid is None or inv["customer"]["id"] == cid)
                and (not statuses or inv["status"] in statuses)
                and (sub_id is None or (inv["subscription"] or {}).get("id") == sub_id)
            )

        return store.invoices.page(
            cursor=cursor, limit=limit, render=store.render_invoice, keep=keep, subset=subset
        )

    async def get_invoice(request: Request, body: JSON) -> Any:
        return store.render_invoice(store.invoice(path(request, "invoice_id")))

    async def update_invoice(request: Request, body: JSON) -> Any:
        return store.edit_invoice(store.invoice(path(request, "invoice_id")), body)

    async def issue(request: Request, body: JSON) -> Any:
        return store.render_invoice(store.issue(store.invoice(path(request, "invoice_id"))))

    async def mark_paid(request: Request, body: JSON) -> Any:
        return store.render_invoice(store.mark_paid(store.invoice(path(request, "invoice_id")), body))

    async def pay(request: Request, body: JSON) -> Any:
        return store.render_invoice(store.collect(store.invoice(path(request, "invoice_id")), succeed=True))

    async def void(request: Request, body: JSON) -> Any:
        return store.render_invoice(store.void(store.invoice(path(request, "invoice_id"))))

    async def list_credit_notes(request: Request, body: JSON) -> Any:
        limit, cursor = _page_args(request)
        cid = request.query_params.get("customer_id")
        return store.credit_notes.page(
            cursor=cursor,
            limit=limit,
            render=lambda n: n,
            keep=_both(_created(request), (lambda n: n["customer"]["id"] == cid) if cid else None),
        )

    async def get_credit_note(request: Request, body: JSON) -> Any:
        return store.credit_note(path(request, "credit_note_id"))

    table: list[tuple[str, Handler, list[str]]] = [
        ("/v1/ping", ping, ["GET"]),
        ("/v1/customers", list_customers, ["GET"]),
        ("/v1/customers", create_customer, ["POST"]),
        ("/v1/customers/external_customer_id/{external_customer_id}", get_customer_external, ["GET"]),
        ("/v1/customers/external_customer_id/{external_customer_id}", update_customer_external, ["PUT"]),
        ("/v1/customers/external_customer_id/{external_customer_id}/credits/ledger", ledger, ["GET"]),
        ("/v1/customers/{customer_id}", get_customer, ["GET"]),
        ("/v1/customers/{customer_id}", update_customer, ["PUT"]),
        ("/v1/customers/{customer_id}/credits/ledger", ledger, ["GET"]),
        ("/v1/customers/{customer_id}/credits/ledger_entry", create_ledger_entry, ["POST"]),
        ("/v1/plans", list_plans, ["GET"]),
        ("/v1/plans/external_plan_id/{external_plan_id}", get_plan_external, ["GET"]),
        ("/v1/plans/{plan_id}", get_plan, ["GET"]),
        ("/v1/prices", list_prices, ["GET"]),
        ("/v1/prices/{price_id}", get_price, ["GET"]),
        ("/v1/subscriptions", list_subscriptions, ["GET"]),
        ("/v1/subscriptions", create_subscription, ["POST"]),
        ("/v1/subscriptions/{subscription_id}", get_subscription, ["GET"]),
        ("/v1/subscriptions/{subscription_id}", update_subscription, ["PUT"]),
        ("/v1/subscriptions/{subscription_id}/schedule_plan_change", schedule_plan_change, ["POST"]),
        ("/v1/subscriptions/{subscription_id}/cancel", cancel, ["POST"]),
        ("/v1/subscriptions/{subscription_id}/price_intervals", price_intervals, ["POST"]),
        ("/v1/invoices", list_invoices, ["GET"]),
        ("/v1/invoices/{invoice_id}", get_invoice, ["GET"]),
        ("/v1/invoices/{invoice_id}", update_invoice, ["PUT"]),
        ("/v1/invoices/{invoice_id}/issue", issue, ["POST"]),
        ("/v1/invoices/{invoice_id}/mark_paid", mark_paid, ["POST"]),
        ("/v1/invoices/{invoice_id}/pay", pay, ["POST"]),
        ("/v1/invoices/{invoice_id}/void", void, ["POST"]),
        ("/v1/credit_notes", list_credit_notes, ["GET"]),
        ("/v1/credit_notes/{credit_note_id}", get_credit_note, ["GET"]),
    ]
    routes = [Route(p, sb.api(h), methods=m) for p, h, m in table]

    async def url_not_found(request: Request) -> Response:
        err = OrbError("url_not_found", f"No route for {request.method} {request.url.path}.")
        return respond(err.status, err.body)

    routes.append(Route("/v1/{rest:path}", url_not_found, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]))
    return routes


def control_routes(sb: Sandbox) -> list[Route]:
    """`/_sandbox/…`: reset, snapshot, tenant, clock, deliveries, webhooks, faults, actions."""
    from bridge.sandbox.orb.control import control_table

    return [Route(p, _control(h), methods=m) for p, h, m in control_table(sb)]


def _control(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            body = await read_json(request)
            return respond(200, await handler(request, body))
        except OrbError as exc:
            return respond(exc.status, exc.body)
        except ValueError as exc:
            err = invalid("body", str(exc))
            return respond(err.status, err.body)

    return endpoint


def _env_list(name: str) -> list[str]:
    return [v.strip() for v in os.environ.get(name, "").split(",") if v.strip()]


def create_app(
    *,
    api_keys: Iterable[str] | str | None = None,
    webhook_endpoints: Iterable[Endpoint | str] | None = None,
    webhook_secret: str | None = None,
    payload_style: PayloadStyle | None = None,
    clock: SandboxClock | None = None,
    retry_backoff_seconds: float = 10.0,
    max_delivery_attempts: int = 8,
    delivery_timeout_seconds: float = 10.0,
    seed: int | None = None,
    customers: int | None = None,
    months: int = 6,
) -> Starlette:
    """The Orb sandbox app. Without arguments it is configured from the environment (see the
    module docstring); tests pass keys, endpoints (URLs or `Endpoint`s), secret, payload style,
    a clock, and a short `retry_backoff_seconds`."""
    keys = {api_keys} if isinstance(api_keys, str) else set(api_keys or [])
    keys = keys or set(_env_list("BRIDGE_SANDBOX_ORB_API_KEYS")) or {DEFAULT_API_KEY}
    secret = webhook_secret or os.environ.get("BRIDGE_ORB_WEBHOOK_SECRET", "") or DEFAULT_WEBHOOK_SECRET
    style: PayloadStyle = payload_style or (
        "standard" if os.environ.get("BRIDGE_SANDBOX_ORB_PAYLOAD_STYLE") == "standard" else "expanded"
    )
    raw_endpoints = (
        list(webhook_endpoints)
        if webhook_endpoints is not None
        else _env_list("BRIDGE_SANDBOX_ORB_WEBHOOK_URLS")
    )
    endpoints = [e if isinstance(e, Endpoint) else Endpoint(e, secret, style) for e in raw_endpoints]
    dispatcher = Dispatcher(
        endpoints,
        max_attempts=max_delivery_attempts,
        backoff_seconds=retry_backoff_seconds,
        timeout_seconds=delivery_timeout_seconds,
    )
    if seed is None:
        seed = int(os.environ.get("BRIDGE_SANDBOX_ORB_SEED", "0"))
    if customers is None:
        customers = int(os.environ.get("BRIDGE_SANDBOX_ORB_CUSTOMERS", "0"))
    sb = Sandbox(
        clock or SandboxClock(), keys, dispatcher, webhook_secret=secret, payload_style=style, seed=seed
    )
    if customers:
        tenant.generate(sb.store, seed=seed, customers=customers, months=months)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        dispatcher.kick()
        try:
            yield
        finally:
            await dispatcher.aclose()

    app = Starlette(routes=[*v1_routes(sb), *control_routes(sb)], lifespan=lifespan)
    app.state.sandbox = sb
    return app
