"""Builds the mapper the bridge runs with: defaults, then the user's overrides and selection."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from bridge.errors import ConfigError
from bridge.events import Envelope
from bridge.mapping import chargebee, orb
from bridge.mapping.engine import Mapper
from bridge.mapping.model import RecordWrite, VendorMapping
from bridge.mapping.overrides import Overrides, apply_overrides, select_objects
from bridge.salesforce.schema import Schema

DEFAULT_SITE = "default"


def chargebee_site_from_url(api_url: str) -> str:
    """The site name of a Chargebee API URL (`https://acme.chargebee.com/api/v2` → `acme`)."""
    host = urlsplit(api_url).hostname or ""
    if not host or host.replace(".", "").isdigit() or host == "localhost":
        return DEFAULT_SITE
    return host.split(".")[0]


def default_mappings(
    *,
    chargebee_site: str = DEFAULT_SITE,
    chargebee_domain: str | None = None,
    chargebee_price_book: str = chargebee.DEFAULT_PRICE_BOOK,
    account_metadata_key: str | None = orb.DEFAULT_ACCOUNT_METADATA_KEY,
) -> list[VendorMapping]:
    """The default Orb and Chargebee mappings."""
    return [
        orb.default_mapping(account_metadata_key),
        chargebee.default_mapping(chargebee_site, domain=chargebee_domain, price_book=chargebee_price_book),
    ]


def build_mapper(
    *,
    chargebee_site: str = DEFAULT_SITE,
    overrides: Overrides | None = None,
    sync_objects: str | Iterable[str] | None = None,
    origin: str = "overrides",
    schema: Schema | None = None,
) -> Mapper:
    """Defaults → overrides (options, object changes) → object selection (the overrides file's
    `sync_objects`, else `sync_objects`, e.g. `Settings.sync_objects`; empty = all).
    With `schema`, text longer than its field is cut to the field's length."""
    ov = overrides or Overrides()
    cb_opts = dict(ov.chargebee.options)
    orb_opts = dict(ov.orb.options)
    try:
        vendors = [
            orb.default_mapping(
                str(orb_opts.get("account_metadata_key", orb.DEFAULT_ACCOUNT_METADATA_KEY)) or None
            ),
            chargebee.default_mapping(
                str(cb_opts.get("site", chargebee_site)),
                domain=str(cb_opts["domain"]) if "domain" in cb_opts else None,
                price_book=str(cb_opts.get("price_book", chargebee.DEFAULT_PRICE_BOOK)),
            ),
        ]
    except ValueError as exc:
        raise ConfigError(f"{origin}: {exc}") from exc
    vendors = [apply_overrides(vm, ov.vendor(vm.source), origin) for vm in vendors]
    names: list[str]
    if ov.sync_objects is not None:
        names = ov.sync_objects
    elif isinstance(sync_objects, str):
        names = sync_objects.split(",")
    else:
        names = list(sync_objects or [])
    if any(n.strip() for n in names):
        try:
            vendors = select_objects(vendors, names)
        except ConfigError as exc:
            raise ConfigError(f"{origin}: {exc}") from exc
    return Mapper(vendors, schema)


@lru_cache(maxsize=1)
def _default_mapper() -> Mapper:
    return build_mapper()


def map_event(envelope: Envelope, mapper: Mapper | None = None) -> list[RecordWrite]:
    """Map `envelope` with `mapper` (default: the default mappings, Chargebee site `default`)."""
    return (mapper or _default_mapper()).map_event(envelope)
