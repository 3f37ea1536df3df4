"""A `Schema` built from an org's describe answers (`GET /sobjects/{Obj}/describe`). Pure.

The describe lists every field the org has, system fields included, so the objects built
here carry `systemFields: false`: `all_fields()` then reports exactly what the org reported.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, get_args

from pydantic import ValidationError

from bridge.errors import ConfigError
from bridge.salesforce.schema import FieldDef, FieldType, Schema, SObjectDef

KNOWN_TYPES = frozenset(get_args(FieldType))
_NUMERIC = frozenset({"int", "long", "double", "currency", "percent"})
_WHOLE = frozenset({"int", "long"})


def schema_from_describes(describes: Iterable[dict[str, Any]]) -> Schema:
    """One `Schema` from sObject describe answers; a malformed one is a `ConfigError` naming it."""
    objects: dict[str, SObjectDef] = {}
    for describe in describes:
        obj = sobject_from_describe(describe)
        if obj.name.lower() in {name.lower() for name in objects}:
            raise ConfigError(f"describe of {obj.name} given twice")
        objects[obj.name] = obj
    return Schema(objects=objects)


def sobject_from_describe(describe: dict[str, Any]) -> SObjectDef:
    """One `SObjectDef` from one describe answer."""
    name = describe.get("name") if isinstance(describe, dict) else None
    if not isinstance(name, str) or not name:
        raise ConfigError("a describe answer has no SObject name")
    raw_fields = describe.get("fields")
    if not isinstance(raw_fields, list):
        raise ConfigError(f"describe of {name} has no fields list")
    fields = [field_from_describe(name, f) for f in raw_fields]
    names = {f.name.lower() for f in fields}
    try:
        return SObjectDef(
            name=name,
            label=str(describe.get("label") or name),
            label_plural=str(describe.get("labelPlural") or describe.get("label") or name),
            # Some objects (e.g. platform events' shares) have no key prefix.
            key_prefix=str(describe.get("keyPrefix") or ""),
            custom=bool(describe.get("custom")),
            name_field="name" in names,
            has_owner="ownerid" in names,
            system_fields=False,
            fields=fields,
        )
    except ValidationError as exc:
        raise ConfigError(f"describe of {name} is not valid: {exc}") from exc


def field_from_describe(sobject: str, f: Any) -> FieldDef:
    """One `FieldDef` from one entry of a describe's `fields`."""
    if not isinstance(f, dict) or not isinstance(f.get("name"), str):
        raise ConfigError(f"describe of {sobject} has a field without a name")
    name: str = f["name"]
    ftype = f.get("type")
    if ftype not in KNOWN_TYPES:
        # A type the bridge never writes (e.g. datacategorygroupreference): it takes no mapped value,
        # so the field is kept as `anyType` and check reports it only if a mapping writes it.
        ftype = "anyType"
    createable = bool(f.get("createable"))
    numeric = ftype in _NUMERIC
    # Integer fields report their size as `digits` and 0 as precision.
    precision = (f.get("digits") if ftype in _WHOLE else f.get("precision")) or None
    try:
        return FieldDef(
            name=name,
            label=str(f.get("label") or name),
            type=ftype,
            # Describe says 0 where a length does not apply; None means "no cap" to the bridge.
            length=f.get("length") or None,
            precision=precision if numeric else None,
            scale=f.get("scale") if numeric else None,
            required=createable and not f.get("nillable", True) and not f.get("defaultedOnCreate", False),
            external_id=bool(f.get("externalId")),
            unique=bool(f.get("unique")),
            reference_to=list(f.get("referenceTo") or []),
            relationship_name=f.get("relationshipName"),
            master_detail=bool(f.get("cascadeDelete")),
            picklist=[
                str(v["value"])
                for v in f.get("picklistValues") or []
                if isinstance(v, dict) and v.get("active", True) and v.get("value") is not None
            ],
            createable=createable,
            updateable=bool(f.get("updateable")),
            description=f.get("inlineHelpText"),
        )
    except ValidationError as exc:
        raise ConfigError(f"{sobject}.{name}: describe entry is not valid: {exc}") from exc
