"""The sandbox's Orb account in memory: objects, the changes the API and control routes make,
and the webhook events each change emits."""

from __future__ import annotations

import base64
import copy
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.sandbox.orb import objects as o
from bridge.sandbox.orb.clock import SandboxClock, iso, parse_time
from bridge.sandbox.orb.collection import Collection
from bridge.sandbox.orb.errors import OrbError, invalid, not_found

JSON = dict[str, Any]
EventSink = Callable[[JSON, str], None]
"""Receives each event body (expanded style) and the customer id it belongs to."""

CHANGE_OPTIONS = ("requested_date", "end_of_subscription_term", "immediate")
SUBSCRIPTION_EDITABLE = (
    "auto_collection",
    "default_invoice_memo",
    "invoicing_threshold",
    "metadata",
    "net_terms",
)


def add_months(moment: datetime, months: int, day: int) -> datetime:
    """The same time `months` later on `day` (clamped to the month's length)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    last = (datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC) - timedelta(days=1)).day
    return moment.replace(year=year, month=month, day=min(day, last))


def billing_period(start: datetime, day: int, at: datetime) -> tuple[datetime, datetime]:
    """The monthly period (ending on `day` at midnight) that contains `at` (the first one
    when `at` is before the start)."""
    end = start.replace(day=min(day, 28), hour=0, minute=0, second=0, microsecond=0)
    if end <= start:
        end = add_months(end, 1, day)
    begin = start
    while end <= at:
        begin, end = end, add_months(end, 1, day)
    return begin, end


def _str_field(body: JSON, name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise invalid(name, "field required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise invalid(name, "must be a non-empty string" if required else "must be a string")
    return value


def _time_field(body: JSON, name: str) -> datetime | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(name, "must be an ISO 8601 date or date-time")
    try:
        return parse_time(value)
    except ValueError as exc:
        raise invalid(name, "must be an ISO 8601 date or date-time") from exc


def _metadata(body: JSON, current: dict[str, str]) -> dict[str, str]:
    """Orb's metadata update: keys set to null are removed, `metadata: null` clears all."""
    raw = body.get("metadata")
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise invalid("metadata", "must be an object of string keys")
    merged = dict(current)
    for key, value in raw.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, str):
            merged[key] = value
        else:
            raise invalid(f"metadata.{key}", "must be a string or null")
    return merged


def _address(body: JSON, name: str) -> JSON | None:
    raw = body.get(name)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid(name, "must be an object")
    unknown = set(raw) - set(o.ADDRESS_KEYS)
    if unknown:
        raise invalid(f"{name}.{sorted(unknown)[0]}", "extra fields not permitted")
    return o.address(**{k: (str(v) if v is not None else None) for k, v in raw.items()})


class Store:
    """Every object of one sandboxed Orb account, and the operations that change them."""

    def __init__(self, clock: SandboxClock, *, seed: int = 0) -> None:
        self.clock = clock
        self.sinks: list[EventSink] = []
        self.muted = False  # while a tenant is generated: history, not news
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        """Forget everything (objects, counters); events already queued are not recalled."""
        self._rng = random.Random(f"orb-ids-{seed}")
        self.customers = Collection()
        self.plans = Collection()
        self.prices: dict[str, JSON] = {}
        self.subscriptions = Collection()
        self.invoices = Collection()
        self.credit_notes = Collection()
        self.ledger: dict[str, list[JSON]] = {}
        self.by_external: dict[str, str] = {}
        self.subs_of: dict[str, list[str]] = {}
        self.invoices_of: dict[str, list[str]] = {}
        self.events_emitted = 0
        self._invoice_seq = 0
        self._credit_note_seq = 0

    STATE = (
        "_rng", "customers", "plans", "prices", "subscriptions", "invoices", "credit_notes", "ledger",
        "by_external", "subs_of", "invoices_of", "events_emitted", "_invoice_seq", "_credit_note_seq",
    )  # fmt: skip

    def adopt(self, other: Store) -> None:
        """Take over another store's objects (one built off the event loop), keeping our sinks."""
        for name in self.STATE:
            setattr(self, name, getattr(other, name))

    # --- ids and events -----------------------------------------------------------------------

    def new_id(self) -> str:
        """An Orb-looking id (16 letters and digits), deterministic for a seed and call order."""
        return base64.b64encode(self._rng.randbytes(12), altchars=b"Xz").decode()

    def next_invoice_number(self) -> str:
        self._invoice_seq += 1
        return f"INV-{self._invoice_seq:06d}"

    def next_credit_note_number(self) -> str:
        self._credit_note_seq += 1
        return f"CN-{self._credit_note_seq:06d}"

    def emit(self, event_type: str, customer_id: str, properties: Any = None, **objects: JSON) -> JSON:
        """Build Orb's event envelope (expanded style) and hand it to every sink."""
        if self.muted:
            return {}
        self.events_emitted += 1
        body: JSON = {
            "id": self.new_id(),
            "created_at": iso(self.clock.now()),
            "type": event_type,
            "properties": properties if properties is not None else {},
            "payload_style": "expanded",
        }
        body.update({kind: copy.deepcopy(obj) for kind, obj in objects.items()})
        for sink in self.sinks:
            sink(body, customer_id)
        return body

    # --- customers ----------------------------------------------------------------------------

    def customer(self, cid: str) -> JSON:
        cust = self.customers.get(cid)
        if cust is None:
            raise not_found("Customer", cid)
        return cust

    def customer_by_external(self, external_id: str) -> JSON:
        cid = self.by_external.get(external_id)
        if cid is None:
            raise not_found("Customer", external_id)
        return self.customers.items[cid]

    def add_customer(self, cust: JSON) -> JSON:
        """Store a built customer (generator and API create share this)."""
        self.customers.add(cust["id"], cust)
        if cust.get("external_customer_id"):
            self.by_external[cust["external_customer_id"]] = cust["id"]
        return cust

    def create_customer(self, body: JSON) -> JSON:
        name = _str_field(body, "name", required=True)
        email = _str_field(body, "email", required=True)
        assert name is not None and email is not None
        external = _str_field(body, "external_customer_id")
        if external is not None and external in self.by_external:
            raise OrbError("duplicate", f"A customer with external_customer_id {external} already exists.")
        provider = _str_field(body, "payment_provider")
        if provider is not None and provider not in o.PAYMENT_PROVIDERS:
            raise invalid("payment_provider", f"must be one of {', '.join(o.PAYMENT_PROVIDERS)}")
        currency = _str_field(body, "currency")
        timezone = _str_field(body, "timezone") or "Etc/UTC"
        cust = o.customer(
            self.new_id(),
            name=name,
            email=email,
            created_at=self.clock.now(),
            external_customer_id=external,
            currency=currency,
            timezone=timezone,
            billing_address=_address(body, "billing_address"),
            metadata=_metadata(body, {}),
            payment_provider=provider,
            payment_provider_id=_str_field(body, "payment_provider_id"),
        )
        cust["shipping_address"] = _address(body, "shipping_address")
        if isinstance(body.get("additional_emails"), list):
            cust["additional_emails"] = [str(e) for e in body["additional_emails"]]
        if isinstance(body.get("auto_collection"), bool):
            cust["auto_collection"] = body["auto_collection"]
        self.add_customer(cust)
        self.emit("customer.created", cust["id"], customer=cust)
        return cust

    def update_customer(self, cust: JSON, body: JSON) -> JSON:
        """`PUT /customers/{id}`: change the given fields; `customer.edited` names what changed."""
        if not isinstance(body, dict):
            raise invalid("body", "must be a JSON object")
        changes: JSON = {}
        for key, value in body.items():
            if key not in o.CUSTOMER_EDITABLE:
                continue
            if key in ("billing_address", "shipping_address"):
                new: Any = _address(body, key)
            elif key == "metadata":
                new = _metadata(body, cust["metadata"])
            elif key in ("auto_collection", "email_delivery"):
                if not isinstance(value, bool):
                    raise invalid(key, "must be a boolean")
                new = value
            elif key == "additional_emails":
                if not isinstance(value, list):
                    raise invalid(key, "must be a list of strings")
                new = [str(v) for v in value]
            elif key == "tax_id":
                if value is not None and not (
                    isinstance(value, dict) and {"country", "type", "value"} <= set(value)
                ):
                    raise invalid(key, "must have country, type and value")
                new = value
            elif key == "payment_provider":
                if value is not None and value not in o.PAYMENT_PROVIDERS:
                    raise invalid(key, f"must be one of {', '.join(o.PAYMENT_PROVIDERS)}")
                new = value
            else:
                if value is not None and not isinstance(value, str):
                    raise invalid(key, "must be a string")
                if key in ("name", "email") and not value:
                    raise invalid(key, "must be a non-empty string")
                new = value
            if new != cust.get(key):
                changes[key] = new
        external = changes.get("external_customer_id")
        if external and self.by_external.get(external, cust["id"]) != cust["id"]:
            raise OrbError("duplicate", f"A customer with external_customer_id {external} already exists.")
        if not changes:
            return cust
        previous = {k: cust.get(k) for k in changes if k in o.CUSTOMER_PREVIOUS_ATTRIBUTES}
        if "external_customer_id" in changes:
            if cust.get("external_customer_id"):
                self.by_external.pop(cust["external_customer_id"], None)
            if external:
                self.by_external[external] = cust["id"]
        cust.update(changes)
        self.emit("customer.edited", cust["id"], {"previous_attributes": previous}, customer=cust)
        return cust

    # --- plans --------------------------------------------------------------------------------

    def add_plan(self, plan: JSON) -> JSON:
        self.plans.add(plan["id"], plan)
        for price in plan["prices"]:
            self.prices[price["id"]] = price
        return plan

    def plan(self, plan_id: str | None, external_plan_id: str | None, field: str = "plan_id") -> JSON:
        if plan_id is not None:
            found = self.plans.get(plan_id)
            if found is None:
                raise not_found("Plan", plan_id)
            return found
        if external_plan_id is not None:
            for candidate in self.plans.items.values():
                if candidate["external_plan_id"] == external_plan_id:
                    return candidate
            raise not_found("Plan", external_plan_id)
        raise invalid(field, "one of plan_id or external_plan_id is required")

    # --- subscriptions ------------------------------------------------------------------------

    def subscription_record(self, sid: str) -> JSON:
        sub = self.subscriptions.get(sid)
        if sub is None:
            raise not_found("Subscription", sid)
        return sub

    def render_subscription(self, sub: JSON) -> JSON:
        """The API's subscription: the stored fields plus today's customer and plan."""
        out = {k: v for k, v in sub.items() if not k.startswith("_")}
        out["customer"] = self.customers.items[sub["_customer_id"]]
        out["plan"] = self.plans.items[sub["_plan_id"]]
        if sub["status"] == "active":
            begin, end = billing_period(
                parse_time(sub["start_date"]), sub["billing_cycle_day"], self.clock.now()
            )
            out["current_billing_period_start_date"] = iso(begin)
            out["current_billing_period_end_date"] = iso(end)
        return out

    def _intervals(self, plan: JSON, start: datetime, day: int, quantity: float) -> list[JSON]:
        period = billing_period(start, day, max(start, self.clock.now()))
        return [
            o.price_interval(
                self.new_id(),
                price,
                start=start,
                end=None,
                billing_cycle_day=day,
                period=period,
                quantity=quantity if price["price_type"] == "fixed_price" else None,
            )
            for price in plan["prices"]
        ]

    def add_subscription(
        self,
        cust: JSON,
        plan: JSON,
        *,
        start: datetime,
        created_at: datetime,
        quantity: float = 1.0,
        metadata: dict[str, str] | None = None,
        name: str | None = None,
        net_terms: int | None = None,
    ) -> JSON:
        """Store a new subscription record (no event); status follows the sandbox clock."""
        day = min(start.day, 28)
        now = self.clock.now()
        sub: JSON = {
            "id": self.new_id(),
            "active_plan_phase_order": None,
            "adjustment_intervals": [],
            "auto_collection": None,
            "auto_issuance": None,
            "billing_cycle_anchor_configuration": {"day": day, "month": None, "year": None},
            "billing_cycle_day": day,
            "created_at": iso(created_at),
            "current_billing_period_end_date": None,
            "current_billing_period_start_date": None,
            "default_invoice_memo": None,
            "discount_intervals": [],
            "end_date": None,
            "fixed_fee_quantity_schedule": [
                {"end_date": None, "price_id": p["id"], "quantity": quantity, "start_date": iso(start)}
                for p in plan["prices"]
                if p["price_type"] == "fixed_price"
            ],
            "invoicing_threshold": None,
            "maximum_intervals": [],
            "metadata": dict(metadata or {}),
            "minimum_intervals": [],
            "name": name or plan["name"],
            "net_terms": plan["net_terms"] if net_terms is None else net_terms,
            "pending_subscription_change": None,
            "price_intervals": self._intervals(plan, start, day, quantity),
            "redeemed_coupon": None,
            "start_date": iso(start),
            "status": "active" if start <= now else "upcoming",
            "trial_info": {"end_date": None},
            "_customer_id": cust["id"],
            "_plan_id": plan["id"],
            "_quantity": quantity,
            "_pending": None,
        }
        self.subscriptions.add(sub["id"], sub)
        self.subs_of.setdefault(cust["id"], []).append(sub["id"])
        return sub

    def create_subscription(self, body: JSON) -> JSON:
        if not isinstance(body, dict):
            raise invalid("body", "must be a JSON object")
        cid = _str_field(body, "customer_id")
        external = _str_field(body, "external_customer_id")
        if cid is None and external is None:
            raise invalid("customer_id", "one of customer_id or external_customer_id is required")
        cust = self.customer(cid) if cid is not None else self.customer_by_external(str(external))
        plan = self.plan(_str_field(body, "plan_id"), _str_field(body, "external_plan_id"))
        start = _time_field(body, "start_date") or self.clock.now()
        net_terms = body.get("net_terms")
        if net_terms is not None and (not isinstance(net_terms, int) or net_terms < 0):
            raise invalid("net_terms", "must be a non-negative integer")
        name = _str_field(body, "name")
        sub = self.add_subscription(
            cust,
            plan,
            start=start,
            created_at=self.clock.now(),
            metadata=_metadata(body, {}),
            name=name,
            net_terms=net_terms,
        )
        if isinstance(body.get("auto_collection"), bool):
            sub["auto_collection"] = body["auto_collection"]
        rendered = self.render_subscription(sub)
        self.emit("subscription.created", cust["id"], subscription=rendered)
        if sub["status"] == "active":
            self.emit("subscription.started", cust["id"], subscription=rendered)
        return {**rendered, "changed_resources": None}

    def update_subscription(self, sub: JSON, body: JSON) -> JSON:
        changes = {}
        for key in SUBSCRIPTION_EDITABLE:
            if key not in body:
                continue
            new = _metadata(body, sub["metadata"]) if key == "metadata" else body[key]
            if key == "net_terms" and (not isinstance(new, int) or new < 0):
                raise invalid(key, "must be a non-negative integer")
            if new != sub.get(key):
                changes[key] = new
        if changes:
            previous = {k: sub.get(k) for k in changes}
            sub.update(changes)
            self.emit(
                "subscription.edited",
                sub["_customer_id"],
                {"previous_attributes": previous},
                subscription=self.render_subscription(sub),
            )
        return self.render_subscription(sub)

    def _apply_plan_change(self, sub: JSON, plan: JSON, at: datetime) -> None:
        previous = sub["_plan_id"]
        for interval in sub["price_intervals"]:
            if interval["end_date"] is None:
                interval["end_date"] = iso(at)
                interval["current_billing_period_start_date"] = None
                interval["current_billing_period_end_date"] = None
        for entry in sub["fixed_fee_quantity_schedule"]:
            if entry["end_date"] is None:
                entry["end_date"] = iso(at)
        sub["price_intervals"].extend(self._intervals(plan, at, sub["billing_cycle_day"], sub["_quantity"]))
        sub["fixed_fee_quantity_schedule"].extend(
            {"end_date": None, "price_id": p["id"], "quantity": sub["_quantity"], "start_date": iso(at)}
            for p in plan["prices"]
            if p["price_type"] == "fixed_price"
        )
        sub["_plan_id"] = plan["id"]
        sub["_pending"] = None
        sub["pending_subscription_change"] = None
        self.emit(
            "subscription.plan_changed",
            sub["_customer_id"],
            {"previous_plan_id": previous},
            subscription=self.render_subscription(sub),
        )

    def schedule_plan_change(self, sub: JSON, body: JSON) -> JSON:
        option = body.get("change_option")
        if option not in CHANGE_OPTIONS:
            raise invalid("change_option", f"must be one of {', '.join(CHANGE_OPTIONS)}")
        if sub["status"] == "ended":
            raise OrbError("constraint", f"Subscription {sub['id']} has ended and cannot change plans.")
        plan = self.plan(_str_field(body, "plan_id"), _str_field(body, "external_plan_id"))
        if plan["id"] == sub["_plan_id"]:
            raise OrbError("constraint", "The subscription is already on this plan.")
        now = self.clock.now()
        if option == "immediate":
            at = now
        elif option == "requested_date":
            requested = _time_field(body, "change_date")
            if requested is None:
                raise invalid("change_date", "required when change_option is requested_date")
            at = requested
        else:
            at = billing_period(parse_time(sub["start_date"]), sub["billing_cycle_day"], now)[1]
        if at <= now:
            self._apply_plan_change(sub, plan, now)
        else:
            sub["_pending"] = {"plan_id": plan["id"], "at": at}
            sub["pending_subscription_change"] = {"id": self.new_id()}
            self.emit(
                "subscription.plan_change_scheduled",
                sub["_customer_id"],
                {"change_date": iso(at), "new_plan_id": plan["id"], "previous_plan_id": sub["_plan_id"]},
                subscription=self.render_subscription(sub),
            )
        return {**self.render_subscription(sub), "changed_resources": None}

    def _end(self, sub: JSON, at: datetime) -> None:
        sub["status"] = "ended"
        sub["end_date"] = iso(at)
        sub["_cancel_at"] = None
        for interval in sub["price_intervals"]:
            if interval["end_date"] is None or parse_time(interval["end_date"]) > at:
                interval["end_date"] = iso(at)
            interval["current_billing_period_start_date"] = None
            interval["current_billing_period_end_date"] = None
        self.emit("subscription.ended", sub["_customer_id"], subscription=self.render_subscription(sub))

    def cancel(self, sub: JSON, body: JSON) -> JSON:
        option = body.get("cancel_option")
        if option not in CHANGE_OPTIONS:
            raise invalid("cancel_option", f"must be one of {', '.join(CHANGE_OPTIONS)}")
        if sub["status"] == "ended":
            raise OrbError("constraint", f"Subscription {sub['id']} has already ended.")
        now = self.clock.now()
        if option == "immediate":
            at = now
        elif option == "requested_date":
            requested = _time_field(body, "cancellation_date")
            if requested is None:
                raise invalid("cancellation_date", "required when cancel_option is requested_date")
            at = requested
        else:
            at = billing_period(parse_time(sub["start_date"]), sub["billing_cycle_day"], now)[1]
        if at <= now:
            self._end(sub, now)
        else:
            sub["_cancel_at"] = at
            sub["end_date"] = iso(at)
            self.emit(
                "subscription.cancellation_scheduled",
                sub["_customer_id"],
                {"cancellation_date": iso(at)},
                subscription=self.render_subscription(sub),
            )
        return {**self.render_subscription(sub), "changed_resources": None}

    def edit_price_intervals(self, sub: JSON, body: JSON) -> JSON:
        """`POST /subscriptions/{id}/price_intervals`: `add` (price_id, start_date, end_date)
        and `edit` (price_interval_id, end_date) as Orb takes them."""
        adds = body.get("add") or []
        edits = body.get("edit") or []
        if not isinstance(adds, list) or not isinstance(edits, list):
            raise invalid("add" if not isinstance(adds, list) else "edit", "must be a list")
        new_intervals: list[JSON] = []
        for n, add in enumerate(adds):
            if not isinstance(add, dict):
                raise invalid(f"add[{n}]", "must be an object")
            pid = add.get("price_id")
            if not isinstance(pid, str):
                raise invalid(f"add[{n}].price_id", "field required")
            price = self.prices.get(pid)
            if price is None:
                raise not_found("Price", pid)
            start = _time_field(add, "start_date")
            if start is None:
                raise invalid(f"add[{n}].start_date", "field required")
            end = _time_field(add, "end_date")
            day = sub["billing_cycle_day"]
            new_intervals.append(
                o.price_interval(
                    self.new_id(),
                    price,
                    start=start,
                    end=end,
                    billing_cycle_day=day,
                    period=billing_period(start, day, max(start, self.clock.now())),
                    quantity=sub["_quantity"] if price["price_type"] == "fixed_price" else None,
                )
            )
        by_id = {i["id"]: i for i in sub["price_intervals"]}
        updates: list[tuple[JSON, str | None]] = []
        for n, edit in enumerate(edits):
            iid = edit.get("price_interval_id") if isinstance(edit, dict) else None
            if not isinstance(iid, str):
                raise invalid(f"edit[{n}].price_interval_id", "field required")
            if iid not in by_id:
                raise not_found("PriceInterval", iid)
            end = _time_field(edit, "end_date")
            updates.append((by_id[iid], iso(end)))
        if not new_intervals and not updates:
            raise invalid("add", "one of add or edit must be given")
        for interval, end_iso in updates:
            interval["end_date"] = end_iso
        sub["price_intervals"].extend(new_intervals)
        rendered = self.render_subscription(sub)
        self.emit(
            "subscription.edited", sub["_customer_id"], {"previous_attributes": {}}, subscription=rendered
        )
        return {**rendered, "changed_resources": None}

    # --- invoices -----------------------------------------------------------------------------

    def invoice(self, iid: str) -> JSON:
        inv = self.invoices.get(iid)
        if inv is None:
            raise not_found("Invoice", iid)
        return inv

    def render_invoice(self, inv: JSON) -> JSON:
        cust = self.customers.items[inv["customer"]["id"]]
        inv["customer"]["external_customer_id"] = cust.get("external_customer_id")
        return inv

    def add_invoice(self, inv: JSON) -> JSON:
        self.invoices.add(inv["id"], inv)
        self.invoices_of.setdefault(inv["customer"]["id"], []).append(inv["id"])
        return inv

    def draft_invoice(
        self, sub: JSON, *, period: tuple[datetime, datetime] | None = None, rng: random.Random | None = None
    ) -> JSON:
        """A draft invoice for one period of the subscription's active price intervals."""
        cust = self.customers.items[sub["_customer_id"]]
        begin, end = period or billing_period(
            parse_time(sub["start_date"]), sub["billing_cycle_day"], self.clock.now()
        )
        rng = rng or self._rng
        lines = []
        for interval in sub["price_intervals"]:
            start = parse_time(interval["start_date"])
            stop = parse_time(interval["end_date"]) if interval["end_date"] else None
            if start >= end or (stop is not None and stop <= begin):
                continue
            price = interval["price"]
            quantity = (
                sub["_quantity"] if price["price_type"] == "fixed_price" else float(rng.randint(0, 5000))
            )
            lines.append(o.line_item(self.new_id(), price, quantity=quantity, start=begin, end=end))
        plan = self.plans.items[sub["_plan_id"]]
        inv = o.invoice(
            self.new_id(),
            number=self.next_invoice_number(),
            cust=cust,
            subscription_id=sub["id"],
            lines=lines,
            created_at=begin if begin <= self.clock.now() else self.clock.now(),
            net_terms=sub["net_terms"] if sub["net_terms"] is not None else plan["net_terms"],
        )
        return self.add_invoice(inv)

    def issue(self, inv: JSON) -> JSON:
        if inv["status"] != "draft":
            raise OrbError(
                "constraint", f"Invoice {inv['id']} is {inv['status']}; only a draft can be issued."
            )
        now = self.clock.now()
        inv["status"] = "issued"
        inv["issued_at"] = iso(now)
        inv["hosted_invoice_url"] = f"https://withorb.com/invoice/{inv['id']}"
        if inv["auto_collection"]["enabled"]:
            inv["auto_collection"]["next_attempt_at"] = iso(now + timedelta(hours=1))
            inv["auto_collection"]["num_attempts"] = 0
        zero = inv["amount_due"] == "0.00"
        if zero:
            inv["status"] = "paid"
            inv["paid_at"] = iso(now)
        self.emit(
            "invoice.issued",
            inv["customer"]["id"],
            {"automatically_marked_as_paid": zero},
            invoice=self.render_invoice(inv),
        )
        return inv

    def mark_paid(self, inv: JSON, body: JSON) -> JSON:
        received = _time_field(body, "payment_received_date")
        if received is None:
            raise invalid("payment_received_date", "field required")
        if inv["status"] != "issued":
            raise OrbError(
                "constraint",
                f"Invoice {inv['id']} is {inv['status']}; only an issued invoice can be marked paid.",
            )
        inv["status"] = "paid"
        inv["paid_at"] = iso(self.clock.now())
        inv["payment_received_at"] = iso(received)
        inv["auto_collection"]["next_attempt_at"] = None
        self.emit(
            "invoice.manually_marked_as_paid",
            inv["customer"]["id"],
            {
                "external_id": _str_field(body, "external_id"),
                "notes": _str_field(body, "notes"),
                "payment_received_date": iso(received),
            },
            invoice=self.render_invoice(inv),
        )
        return inv

    def collect(self, inv: JSON, *, succeed: bool) -> JSON:
        """A payment attempt by the customer's payment provider (sandbox action)."""
        if inv["status"] != "issued":
            raise OrbError(
                "constraint", f"Invoice {inv['id']} is {inv['status']}; only an issued invoice can be paid."
            )
        now = self.clock.now()
        cust = self.customers.items[inv["customer"]["id"]]
        provider = cust.get("payment_provider") or "stripe_charge"
        attempt_id = self.new_id()
        inv["payment_attempts"].append(
            {
                "id": attempt_id,
                "amount": inv["amount_due"],
                "created_at": iso(now),
                "payment_provider": "stripe",
                "payment_provider_id": f"pi_{attempt_id}",
                "receipt_pdf": None,
                "succeeded": succeed,
            }
        )
        collection = inv["auto_collection"]
        collection["num_attempts"] = (collection["num_attempts"] or 0) + 1
        collection["previously_attempted_at"] = iso(now)
        properties = {
            "payment_provider": provider,
            "payment_provider_id": cust.get("payment_provider_id"),
            "payment_provider_transaction_id": f"pi_{attempt_id}",
        }
        if succeed:
            inv["status"] = "paid"
            inv["paid_at"] = iso(now)
            inv["payment_received_at"] = iso(now)
            collection["next_attempt_at"] = None
            self.emit("invoice.payment_succeeded", cust["id"], properties, invoice=self.render_invoice(inv))
        else:
            inv["payment_failed_at"] = iso(now)
            collection["next_attempt_at"] = iso(now + timedelta(days=3))
            self.emit("invoice.payment_failed", cust["id"], properties, invoice=self.render_invoice(inv))
        return inv

    def void(self, inv: JSON) -> JSON:
        if inv["status"] != "issued":
            raise OrbError(
                "constraint", f"Invoice {inv['id']} is {inv['status']}; only an issued invoice can be voided."
            )
        inv["status"] = "void"
        inv["voided_at"] = iso(self.clock.now())
        inv["amount_due"] = "0.00"
        self.emit("invoice.manually_marked_as_void", inv["customer"]["id"], invoice=self.render_invoice(inv))
        return inv

    def edit_invoice(self, inv: JSON, body: JSON) -> JSON:
        """`PUT /invoices/{id}`: metadata, due date, net terms (`invoice.edited`)."""
        previous: JSON = {}
        if "metadata" in body:
            new_meta = _metadata(body, inv["metadata"])
            if new_meta != inv["metadata"]:
                previous["metadata"] = inv["metadata"]
                inv["metadata"] = new_meta
        if "due_date" in body:
            due = _time_field(body, "due_date")
            if iso(due) != inv["due_date"]:
                previous["due_date"] = inv["due_date"]
                inv["due_date"] = iso(due)
        if previous:
            self.emit(
                "invoice.edited",
                inv["customer"]["id"],
                {"previous_attributes": previous},
                invoice=self.render_invoice(inv),
            )
        return self.render_invoice(inv)

    # --- credit notes and credits -------------------------------------------------------------

    def credit_note(self, cnid: str) -> JSON:
        note = self.credit_notes.get(cnid)
        if note is None:
            raise not_found("CreditNote", cnid)
        return note

    def add_credit_note(
        self, inv: JSON, *, amount_cents: int | None = None, at: datetime | None = None
    ) -> JSON:
        """A refund credit note against the invoice's first line (no event)."""
        if inv["status"] not in ("issued", "paid") or not inv["line_items"]:
            raise OrbError(
                "constraint", f"Invoice {inv['id']} is {inv['status']}; no credit note can be issued."
            )
        line = inv["line_items"][0]
        amount = amount_cents if amount_cents is not None else max(1, o.cents(line["amount"]) // 2)
        note = o.credit_note(
            self.new_id(),
            number=self.next_credit_note_number(),
            inv=inv,
            line=line,
            amount_cents=amount,
            created_at=at or self.clock.now(),
        )
        self.credit_notes.add(note["id"], note)
        inv["credit_notes"].append(
            {
                "id": note["id"],
                "credit_note_number": note["credit_note_number"],
                "memo": None,
                "reason": note["reason"],
                "total": note["total"],
                "type": note["type"],
                "voided_at": None,
            }
        )
        return note

    def issue_credit_note(self, inv: JSON, amount_cents: int | None = None) -> JSON:
        note = self.add_credit_note(inv, amount_cents=amount_cents)
        self.emit("credit_note.issued", inv["customer"]["id"], credit_note=note)
        return note

    def ledger_balance(self, cid: str) -> float:
        entries = self.ledger.get(cid)
        return float(entries[-1]["ending_balance"]) if entries else 0.0

    def add_ledger_entry(
        self,
        cust: JSON,
        entry_type: str,
        amount: float,
        *,
        at: datetime | None = None,
        expiry: datetime | None = None,
        description: str | None = None,
        block_id: str | None = None,
        cost_basis: str | None = "1.00",
    ) -> JSON:
        """Append an entry to the customer's credit ledger (no event)."""
        entries = self.ledger.setdefault(cust["id"], [])
        if block_id is None:
            block_id = self.new_id() if entry_type == "increment" else _open_block(entries)
        entry = o.ledger_entry(
            self.new_id(),
            entry_type=entry_type,
            cust=cust,
            amount=amount,
            starting_balance=self.ledger_balance(cust["id"]),
            sequence=len(entries) + 1,
            created_at=at or self.clock.now(),
            block_id=block_id,
            expiry=expiry,
            cost_basis=cost_basis if entry_type == "increment" else None,
            description=description,
        )
        entries.append(entry)
        return entry

    def create_ledger_entry(self, cust: JSON, body: JSON) -> JSON:
        """`POST /customers/{id}/credits/ledger_entry` for `increment` and `decrement`."""
        entry_type = body.get("entry_type")
        if entry_type not in ("increment", "decrement"):
            raise invalid("entry_type", "this sandbox takes increment or decrement")
        amount = body.get("amount")
        if not isinstance(amount, int | float) or isinstance(amount, bool) or amount <= 0:
            raise invalid("amount", "must be a positive number")
        if entry_type == "decrement" and amount > self.ledger_balance(cust["id"]):
            raise OrbError("constraint", "The decrement is larger than the customer's credit balance.")
        entry = self.add_ledger_entry(
            cust,
            entry_type,
            float(amount),
            expiry=_time_field(body, "expiry_date"),
            description=_str_field(body, "description"),
            cost_basis=_str_field(body, "per_unit_cost_basis") or "1.00",
        )
        if entry_type == "increment":
            self.emit(
                "customer.credit_ledger_incremented",
                cust["id"],
                {
                    "block": o.credit_block(entry, balance=float(amount)),
                    "pricing_unit": {
                        "id": "credits",
                        "display_name": "Credits",
                        "name": "credits",
                        "symbol": None,
                    },
                },
                customer=cust,
            )
        return entry

    # --- time ---------------------------------------------------------------------------------

    def advance(self, delta: timedelta) -> JSON:
        """Move the clock and carry out what fell due: starts, plan changes, cancellations."""
        now = self.clock.advance(delta)
        started = changed = ended = 0
        for sub in self.subscriptions.items.values():
            if sub["status"] == "upcoming" and parse_time(sub["start_date"]) <= now:
                sub["status"] = "active"
                started += 1
                self.emit(
                    "subscription.started", sub["_customer_id"], subscription=self.render_subscription(sub)
                )
            pending = sub.get("_pending")
            if pending and pending["at"] <= now and sub["status"] == "active":
                self._apply_plan_change(sub, self.plans.items[pending["plan_id"]], pending["at"])
                changed += 1
            cancel_at = sub.get("_cancel_at")
            if cancel_at and cancel_at <= now and sub["status"] != "ended":
                self._end(sub, cancel_at)
                ended += 1
        return {"now": iso(now), "started": started, "plan_changes": changed, "ended": ended}


def _open_block(entries: list[JSON]) -> str:
    for entry in reversed(entries):
        if entry["entry_type"] == "increment":
            return str(entry["credit_block"]["id"])
    return "no_block"
