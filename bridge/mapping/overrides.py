"""User overrides of the default mappings, from a TOML (or YAML) file. Pure apart from reading it.

    sync_objects = ["customer", "invoice"]      # as BRIDGE_SYNC_OBJECTS; "orb:invoice" for one vendor

    [orb.options]
    account_metadata_key = "sf_account_id"

    [chargebee.options]
    site = "acme"

    [orb.objects.invoice]
    enabled = true
    drop = ["Memo__c"]
    rename = { Total__c = "Invoice_Total__c" }
    constants = { Source_System__c = "Orb" }
    conflicts = { Name = "overwrite_if_empty" }

Every mistake is a `ConfigError` naming the key at fault (`orb.objects.invoice.drop`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bridge.errors import ConfigError
from bridge.mapping.model import Conflict, FieldRule, ObjectMapping, ParentRef, Scalar, VendorMapping

# Options each vendor's default mapping understands (passed to its `default_mapping`).
KNOWN_OPTIONS: dict[str, frozenset[str]] = {
    "orb": frozenset({"account_metadata_key"}),
    "chargebee": frozenset({"site", "domain", "price_book"}),
}
# Objects every other record of the vendor refers to: never switched off by a selection.
ALWAYS_SYNCED = frozenset({"site"})


class ObjectOverride(BaseModel):
    """Changes to one object mapping."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool | None = None
    drop: list[str] = Field(default_factory=list)
    rename: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, Scalar] = Field(default_factory=dict)
    conflicts: dict[str, Conflict] = Field(default_factory=dict)


class VendorOverride(BaseModel):
    """Options and object changes for one vendor."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    options: dict[str, Scalar] = Field(default_factory=dict)
    objects: dict[str, ObjectOverride] = Field(default_factory=dict)


class Overrides(BaseModel):
    """A whole overrides file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    sync_objects: list[str] | None = None
    orb: VendorOverride = Field(default_factory=VendorOverride)
    chargebee: VendorOverride = Field(default_factory=VendorOverride)

    def vendor(self, source: str) -> VendorOverride:
        """The overrides for `source` (empty when the file says nothing)."""
        found = getattr(self, source, None)
        return found if isinstance(found, VendorOverride) else VendorOverride()


def parse_overrides(text: str, origin: str = "overrides", *, yaml_format: bool = False) -> Overrides:
    """Parse TOML (or YAML) text; a bad file is a `ConfigError` naming the key."""
    data: Any
    if yaml_format:
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{origin}: not valid TOML: {exc}") from exc
    try:
        parsed = Overrides.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"{where}: {err['msg']}")
        raise ConfigError(f"{origin}: " + "; ".join(lines)) from exc
    for source, vo in (("orb", parsed.orb), ("chargebee", parsed.chargebee)):
        for name in vo.options:
            if name not in KNOWN_OPTIONS[source]:
                known = ", ".join(sorted(KNOWN_OPTIONS[source]))
                raise ConfigError(f"{origin}: {source}.options.{name}: unknown option (known: {known})")
    return parsed


def load_overrides(path: Path) -> Overrides:
    """Read and parse an overrides file (`.yaml`/`.yml` as YAML, anything else as TOML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read mapping overrides {path}: {exc.strerror}") from exc
    return parse_overrides(text, str(path), yaml_format=path.suffix.lower() in (".yaml", ".yml"))


def apply_overrides(
    mapping: VendorMapping, override: VendorOverride, origin: str = "overrides"
) -> VendorMapping:
    """`mapping` with the object changes of `override` applied (options are the caller's)."""
    objects = list(mapping.objects)
    for name, change in override.objects.items():
        where = f"{origin}: {mapping.source}.objects.{name}"
        idx = next((i for i, o in enumerate(objects) if o.name == name), None)
        if idx is None:
            known = ", ".join(o.name for o in objects)
            raise ConfigError(f"{where}: no such mapping (known: {known})")
        objects[idx] = _apply_object(objects[idx], change, where)
    try:
        # Re-validate: a rename may have mapped one field twice.
        return VendorMapping.model_validate(mapping.model_copy(update={"objects": objects}).model_dump())
    except ValidationError as exc:
        raise ConfigError(f"{origin}: {mapping.source}: {exc.errors()[0]['msg']}") from exc


def _apply_object(om: ObjectMapping, change: ObjectOverride, where: str) -> ObjectMapping:
    fields = list(om.fields)
    parents = list(om.parents)

    def index_of(target: str) -> tuple[str, int] | None:
        for i, r in enumerate(fields):
            if r.target.lower() == target.lower():
                return "field", i
        for i, p in enumerate(parents):
            if p.field.lower() == target.lower():
                return "parent", i
        return None

    def unknown(key: str, target: str) -> ConfigError:
        mapped = ", ".join([r.target for r in fields] + [p.field for p in parents])
        return ConfigError(f"{where}.{key}: {target} is not mapped by {om.name} (mapped: {mapped})")

    for target in change.drop:
        found = index_of(target)
        if found is None:
            raise unknown("drop", target)
        kind, i = found
        if kind == "field":
            fields.pop(i)
        else:
            parents.pop(i)
    for old, new in change.rename.items():
        found = index_of(old)
        if found is None:
            raise unknown("rename", old)
        if index_of(new) is not None:
            raise ConfigError(f"{where}.rename: {new} is already mapped by {om.name}")
        kind, i = found
        if kind == "field":
            fields[i] = fields[i].model_copy(update={"target": new})
        else:
            parents[i] = _renamed_parent(parents[i], new, where)
    for target, value in change.constants.items():
        found = index_of(target)
        rule = FieldRule(target=target, value=value)
        if found is None:
            fields.append(rule)
        elif found[0] == "field":
            fields[found[1]] = rule
        else:
            raise ConfigError(f"{where}.constants: {target} is a lookup; drop it or rename it instead")
    for target, conflict in change.conflicts.items():
        found = index_of(target)
        if found is None:
            raise unknown("conflicts", target)
        kind, i = found
        if kind == "field":
            fields[i] = fields[i].model_copy(update={"conflict": conflict})
        else:
            parents[i] = parents[i].model_copy(update={"conflict": conflict})
    update: dict[str, object] = {"fields": fields, "parents": parents}
    if change.enabled is not None:
        update["enabled"] = change.enabled
    return om.model_copy(update=update)


def _renamed_parent(parent: ParentRef, new: str, where: str) -> ParentRef:
    if not new.endswith("__c"):
        raise ConfigError(f"{where}.rename: a lookup can only be renamed to a custom field (…__c), not {new}")
    return parent.model_copy(update={"field": new, "relationship": new[:-3] + "__r"})


def select_objects(mappings: Iterable[VendorMapping], names: Iterable[str]) -> list[VendorMapping]:
    """Keep only the named object types enabled (`invoice`, or `orb:invoice` for one vendor);
    an unknown name is a `ConfigError` listing the known ones."""
    wanted = [n.strip() for n in names if n.strip()]
    vendors = list(mappings)
    known: set[str] = set()
    for vm in vendors:
        for om in vm.objects:
            for label in (om.sync_object, om.name):
                known.update({label, f"{vm.source}:{label}"})
    bad = [n for n in wanted if n not in known]
    if bad:
        plain = ", ".join(sorted(k for k in known if ":" not in k))
        raise ConfigError(f"sync objects: unknown {', '.join(bad)} (known: {plain})")
    chosen = set(wanted)
    out = []
    for vm in vendors:
        objects = []
        for om in vm.objects:
            labels = {om.sync_object, om.name, f"{vm.source}:{om.sync_object}", f"{vm.source}:{om.name}"}
            keep = om.enabled and (om.sync_object in ALWAYS_SYNCED or bool(labels & chosen))
            objects.append(om if keep == om.enabled else om.model_copy(update={"enabled": keep}))
        out.append(vm.model_copy(update={"objects": objects}))
    return out
