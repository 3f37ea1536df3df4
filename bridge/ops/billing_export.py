"""Billing export: page through Orb and Chargebee lists and turn every object into the envelope
its webhook would have produced. Backfill publishes these; reconcile maps and compares them.

An exported envelope is built from a vendor-shaped webhook body and parsed by the receiver's
own parser (`bridge.sources`), so its source, key, object type and payload are exactly what
the mapping and the sync consume from real webhooks. Its version is the object's own
(Chargebee `resource_version`; Orb has no update stamp, so the newest of the object's own
timestamps, carried as the body's `created_at`): an export never beats a newer webhook in the
sync's version guard. The event id is derived from object id + version, so publishing the
same object twice is a duplicate the sync drops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from bridge.billing.chargebee import ChargebeeClient
from bridge.billing.orb import OrbClient
from bridge.billing.page import Page
from bridge.errors import BadInput, ConfigError
from bridge.events import Envelope
from bridge.mapping import Mapper, build_mapper, chargebee_site_from_url, load_overrides
from bridge.mapping.overrides import ALWAYS_SYNCED
from bridge.settings import Settings
from bridge.sources import chargebee as chargebee_source
from bridge.sources import orb as orb_source
from bridge.sources.request import Rejected

# Orb objects carry no "updated at": these are the stamps of the changes an object records.
_ORB_STAMPS = ("created_at", "issued_at", "paid_at", "voided_at", "sync_failed_at", "payment_failed_at")


@dataclass(frozen=True)
class ExportKind:
    """One list endpoint of one vendor, and the sync object types its objects feed."""

    vendor: str
    name: str  # the list resource: customers, invoices…
    path: str  # as the client's `pages` takes it
    object_type: str  # the object's key in the webhook body
    event_type: str  # the webhook type an exported object is given
    feeds: frozenset[str]  # sync object names (BRIDGE_SYNC_OBJECTS) mapped from it

    @property
    def label(self) -> str:
        return f"{self.vendor}:{self.name}"


def _cb(name: str, obj: str, event: str, *feeds: str) -> ExportKind:
    return ExportKind("chargebee", name, name, obj, event, frozenset(feeds or (obj,)))


def _orb(name: str, obj: str, event: str, *feeds: str) -> ExportKind:
    return ExportKind("orb", name, f"/{name}", obj, event, frozenset(feeds or (obj,)))


# Parents first: customers and catalog before subscriptions before invoices and credit notes.
CATALOG: tuple[ExportKind, ...] = (
    _cb("customers", "customer", "customer_changed"),
    _cb("items", "item", "item_updated"),
    _cb("item_prices", "item_price", "item_price_updated"),
    _cb("coupons", "coupon", "coupon_updated"),
    _cb("subscriptions", "subscription", "subscription_changed"),
    _cb("quotes", "quote", "quote_updated"),
    _cb("invoices", "invoice", "invoice_updated"),
    _cb("credit_notes", "credit_note", "credit_note_updated"),
    _orb("customers", "customer", "customer.edited"),
    _orb("plans", "plan", "plan.edited"),
    _orb("subscriptions", "subscription", "subscription.edited", "subscription", "subscription_version"),
    _orb("invoices", "invoice", "invoice.edited", "invoice", "invoice_line_item"),
)


@dataclass(frozen=True)
class Selection:
    """What an export covers: the list endpoints in order, and the object mappings they serve."""

    kinds: list[ExportKind]
    mappings: dict[str, frozenset[str]]  # vendor → selected object mapping names
    skipped: list[str] = field(default_factory=list)  # selected, but no list endpoint exports it


def configured_mapper(settings: Settings) -> Mapper:
    """The mapper `bridge sync` runs with (defaults, overrides file, BRIDGE_SYNC_OBJECTS)."""
    return build_mapper(
        chargebee_site=chargebee_site_from_url(settings.chargebee_api_url),
        overrides=load_overrides(Path(settings.mapping_file)) if settings.mapping_file else None,
        sync_objects=settings.sync_objects or None,
    )


def select(mapper: Mapper, objects: Sequence[str] | None = None) -> Selection:
    """The export for `objects` (`invoice`, `orb:invoice`; default: every type the mapper syncs).

    An unknown name, or one the active sync configuration does not sync, is `BadInput`.
    """
    wanted = [o.strip() for o in objects or () if o.strip()]
    labels: dict[str, set[tuple[str, str]]] = {}  # label → {(vendor, mapping name)}
    for vm in mapper.mappings.values():
        for om in vm.objects:
            for label in {om.sync_object, om.name}:
                for name in (label, f"{vm.source}:{label}"):
                    labels.setdefault(name, set()).add((vm.source, om.name))
    unknown = [w for w in wanted if w not in labels]
    if unknown:
        known = ", ".join(sorted(n for n in labels if ":" not in n))
        raise BadInput(f"unknown object type {', '.join(unknown)} (known: {known})")
    chosen: set[tuple[str, str]] = set()
    for vm in mapper.mappings.values():
        for om in vm.objects:
            if om.enabled and (not wanted or om.sync_object in ALWAYS_SYNCED):
                chosen.add((vm.source, om.name))
    inactive = []
    for w in wanted:
        enabled = {
            pair
            for pair in labels[w]
            if (mapping := mapper.mappings[pair[0]].object(pair[1])) and mapping.enabled
        }
        if not enabled:
            inactive.append(w)
        chosen |= enabled
    if inactive:
        raise BadInput(
            f"object type {', '.join(inactive)} is not synced by the active configuration "
            "(BRIDGE_SYNC_OBJECTS or the mapping file's sync_objects)"
        )
    by_vendor: dict[str, set[str]] = {}
    sync_objects: dict[str, set[str]] = {}
    for vendor, name in chosen:
        chosen_om = mapper.mappings[vendor].object(name)
        by_vendor.setdefault(vendor, set()).add(name)
        if chosen_om is not None and chosen_om.sync_object not in ALWAYS_SYNCED:
            sync_objects.setdefault(vendor, set()).add(chosen_om.sync_object)
    kinds = [k for k in CATALOG if k.feeds & sync_objects.get(k.vendor, set())]
    covered = {(k.vendor, f) for k in kinds for f in k.feeds}
    skipped = sorted(f"{v}:{s}" for v, names in sync_objects.items() for s in names if (v, s) not in covered)
    return Selection(kinds, {v: frozenset(n) for v, n in by_vendor.items()}, skipped)


def for_configured_vendors(
    selection: Selection, settings: Settings, objects: Sequence[str] | None
) -> Selection:
    """Leave out vendors that have no API key (noted as skipped), unless `objects` names the
    vendor (`orb:invoice`): then the missing key is reported as an error."""
    named = {o.split(":", 1)[0].strip() for o in objects or () if ":" in o}
    keys = {"orb": settings.orb_api_key, "chargebee": settings.chargebee_api_key}
    missing = {v for v, key in keys.items() if key is None and v not in named}
    dropped = sorted(missing & {k.vendor for k in selection.kinds})
    if not dropped:
        return selection
    return Selection(
        [k for k in selection.kinds if k.vendor not in missing],
        {v: n for v, n in selection.mappings.items() if v not in missing},
        selection.skipped + [f"{v}: no BRIDGE_{v.upper()}_API_KEY" for v in dropped],
    )


class Lister(Protocol):
    """What the export needs of a billing client: pages of a list from a cursor."""

    def pages(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        page_size: int = 100,
        cursor: str | None = None,
    ) -> AsyncIterator[Page]: ...


def billing_clients(settings: Settings, http: Any, vendors: set[str]) -> dict[str, Lister]:
    """The API clients of `vendors`; a missing API key is a `ConfigError` naming the setting."""
    clients: dict[str, Lister] = {}
    if "orb" in vendors:
        if settings.orb_api_key is None:
            raise ConfigError("exporting Orb objects needs BRIDGE_ORB_API_KEY (and BRIDGE_ORB_API_URL)")
        clients["orb"] = OrbClient(http, settings.orb_api_url, settings.orb_api_key.get_secret_value())
    if "chargebee" in vendors:
        if settings.chargebee_api_key is None:
            raise ConfigError(
                "exporting Chargebee objects needs BRIDGE_CHARGEBEE_API_KEY (and BRIDGE_CHARGEBEE_API_URL)"
            )
        clients["chargebee"] = ChargebeeClient(
            http, settings.chargebee_api_url, settings.chargebee_api_key.get_secret_value()
        )
    return clients


def since_filter(kind: ExportKind, since: datetime | None) -> dict[str, Any]:
    """The list filter for `--since`: Chargebee by update time, Orb by creation time (its
    lists filter on nothing else)."""
    if since is None:
        return {}
    if kind.vendor == "chargebee":
        return {"updated_at[after]": int(since.timestamp())}
    return {"created_at[gte]": since.astimezone(UTC).isoformat().replace("+00:00", "Z")}


async def export_pages(
    kind: ExportKind,
    client: Lister,
    *,
    since: datetime | None = None,
    cursor: str | None = None,
    page_size: int = 100,
) -> AsyncIterator[Page]:
    """The pages of `kind` from `cursor` on (the vendor's cursor, as a checkpoint holds it)."""
    async for page in client.pages(kind.path, since_filter(kind, since), page_size, cursor):
        yield page


def envelope_for(
    kind: ExportKind, entry: dict[str, Any], *, prefix: str, observed_at: datetime | None = None
) -> Envelope:
    """The envelope of one listed object, shaped as its webhook (`prefix` starts the event id).

    With `observed_at` (reconcile), an Orb object's version is the time it was read: what the
    API answered then is the newest state, and a later webhook still wins over it.
    """
    try:
        if kind.vendor == "chargebee":
            return _chargebee_envelope(kind, entry, prefix)
        return _orb_envelope(kind, entry, prefix, observed_at)
    except Rejected as exc:
        raise BadInput(f"{kind.label}: listed object is not usable: {exc.message}") from exc


def _chargebee_envelope(kind: ExportKind, entry: dict[str, Any], prefix: str) -> Envelope:
    obj = entry.get(kind.object_type)
    if not isinstance(obj, dict) or not obj.get("id"):
        raise BadInput(f"{kind.label}: list entry has no {kind.object_type} with an id")
    version = obj.get("resource_version") or 0
    stamp = obj.get("updated_at") or obj.get("created_at") or obj.get("date") or 0
    body = {
        "id": f"{prefix}_{kind.object_type}_{obj['id']}_{version}",
        "occurred_at": int(stamp),
        "source": "none",
        "user": "bridge",
        "object": "event",
        "api_version": "v2",
        "webhook_status": "not_applicable",
        "event_type": kind.event_type,
        "content": entry,
    }
    envelope, _ = chargebee_source.parse(orjson.dumps(body))
    return envelope


def _orb_envelope(
    kind: ExportKind, obj: dict[str, Any], prefix: str, observed_at: datetime | None
) -> Envelope:
    if not obj.get("id"):
        raise BadInput(f"{kind.label}: listed object has no id")
    stamp = _iso(observed_at) if observed_at is not None else orb_version_stamp(obj)
    body = {
        "id": f"{prefix}_{kind.object_type}_{obj['id']}_{stamp}",
        "created_at": stamp,
        "type": kind.event_type,
        "properties": {},
        "payload_style": "expanded",
        kind.object_type: obj,
    }
    envelope, _ = orb_source.parse(orjson.dumps(body))
    return envelope


def orb_version_stamp(obj: dict[str, Any]) -> str:
    """The newest change an Orb object records (ISO 8601, UTC), never later than now."""
    now = datetime.now(UTC)
    newest: datetime | None = None
    for name in _ORB_STAMPS:
        raw = obj.get(name)
        if not isinstance(raw, str) or not raw:
            continue
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            continue
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        if when <= now and (newest is None or when > newest):
            newest = when
    return _iso(newest or datetime(1970, 1, 1, tzinfo=UTC))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
