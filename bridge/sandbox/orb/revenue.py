"""Daily revenue per invoice line item: the rows behind `OrbDailyLineItemRevenue__c`.

Orb has no public endpoint for them (its data exports carry them); the sandbox derives them
from issued and paid invoices, spreading each line's amount and quantity evenly over the days
of its service period, and lists them oldest invoice first with Orb's cursor pagination.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from bridge.sandbox.orb import objects as o
from bridge.sandbox.orb.clock import parse_time
from bridge.sandbox.orb.collection import decode_cursor, page_of
from bridge.sandbox.orb.errors import invalid
from bridge.sandbox.orb.store import Store

JSON = dict[str, Any]
COUNTED = ("issued", "paid")


def line_rows(inv: JSON, index: int) -> list[JSON]:
    """The daily rows of one line item: its amount split by day (the last day takes the rest)."""
    line = inv["line_items"][index]
    start = parse_time(line["start_date"])
    days = max(1, (parse_time(line["end_date"]) - start).days)
    total = o.cents(line["amount"])
    quantity = float(line["quantity"])
    # a fixed fee's quantity is a level (seats held each day); usage is spread like the amount
    level = line["price"]["price_type"] == "fixed_price"
    share, per_day_qty = total // days, quantity if level else round(quantity / days, 6)
    rows = []
    for day in range(days):
        last = day == days - 1
        date = (start + timedelta(days=day)).date().isoformat()
        rows.append(
            {
                "id": f"{line['id']}_{date}",
                "invoice_id": inv["id"],
                "line_item_id": line["id"],
                "customer_id": inv["customer"]["id"],
                "date": date,
                "quantity": round(quantity - per_day_qty * (days - 1), 6)
                if last and not level
                else per_day_qty,
                "amount": o.money(total - share * (days - 1) if last else share),
                "currency": inv["currency"],
                "price_id": line["price"]["id"],
                "item": dict(line["price"]["item"]),
            }
        )
    return rows


def _positions(store: Store, customer_id: str | None, invoice_id: str | None) -> list[str]:
    if invoice_id is not None:
        return [invoice_id] if invoice_id in store.invoices else []
    if customer_id is not None:
        return list(store.invoices_of.get(customer_id, []))
    return store.invoices.order


def page(
    store: Store,
    *,
    limit: int,
    cursor: str | None,
    customer_id: str | None = None,
    invoice_id: str | None = None,
) -> JSON:
    """One page of rows; the cursor names the next row (`invoice_id|line index|day index`)."""
    order = _positions(store, customer_id, invoice_id)
    start_inv, start_line, start_day = 0, 0, 0
    if cursor:
        try:
            inv_id, line_s, day_s = decode_cursor(cursor).split("|")
            found = store.invoices.position(inv_id) if order is store.invoices.order else order.index(inv_id)
            if found is None:
                raise ValueError(inv_id)
            start_inv, start_line, start_day = found, int(line_s), int(day_s)
        except ValueError as exc:
            raise invalid("cursor", "is not a cursor this API returned") from exc
    out: list[JSON] = []
    for position in range(start_inv, len(order)):
        inv = store.invoices.items[order[position]]
        if inv["status"] not in COUNTED:
            continue
        first_line = start_line if position == start_inv else 0
        for index in range(first_line, len(inv["line_items"])):
            rows = line_rows(inv, index)
            first_day = start_day if position == start_inv and index == start_line else 0
            for day in range(first_day, len(rows)):
                if len(out) == limit:
                    result = page_of(out, True, f"{inv['id']}|{index}|{day}")
                    return result
                out.append(rows[day])
    return page_of(out, False, None)


def all_rows(store: Store, customer_id: str | None = None) -> Iterator[JSON]:
    """Every row (tests and benchmarks)."""
    for iid in _positions(store, customer_id, None):
        inv = store.invoices.items[iid]
        if inv["status"] in COUNTED:
            for index in range(len(inv["line_items"])):
                yield from line_rows(inv, index)
