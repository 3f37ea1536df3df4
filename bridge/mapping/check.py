"""Checks a mapping against a Salesforce schema: every target exists and fits. Pure."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bridge.mapping.model import Conflict, FieldRule, ObjectMapping, ParentRef, VendorMapping
from bridge.mapping.transforms import FITS, kind_of, kind_of_constant
from bridge.salesforce.schema import FieldDef, Schema, SObjectDef

_Bad = Callable[[str | None, str], None]
_TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "id"})


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a mapping, named as `<source>.<mapping> <SObject>.<field>`."""

    where: str
    sobject: str
    field: str | None
    message: str

    def __str__(self) -> str:
        target = f"{self.sobject}.{self.field}" if self.field else self.sobject
        return f"{self.where} → {target}: {self.message}"


def check_mappings(mappings: Iterable[VendorMapping], schema: Schema) -> list[Problem]:
    """`check_mapping` for several vendors."""
    return [p for vm in mappings for p in check_mapping(vm, schema)]


def touched_sobjects(mappings: Iterable[VendorMapping]) -> list[str]:
    """Every SObject `check_mappings` looks up: targets, their parents, reverse sources (once each)."""
    seen: dict[str, str] = {}
    for vm in mappings:
        for om in vm.objects:
            for name in [om.sobject, *(p.sobject for p in om.parents)]:
                seen.setdefault(name.lower(), name)
        for rev in vm.reverse:
            seen.setdefault(rev.sobject.lower(), rev.sobject)
    return list(seen.values())


def check_mapping(mapping: VendorMapping, schema: Schema) -> list[Problem]:
    """Every problem that would make Salesforce reject what `mapping` writes (empty: fine)."""
    problems: list[Problem] = []
    for om in mapping.objects:
        problems += _check_object(mapping.source, om, schema)
    for rev in mapping.reverse:
        where = f"{mapping.source}.reverse[{rev.sobject}]"
        sobj = schema.get(rev.sobject)
        if sobj is None:
            problems.append(Problem(where, rev.sobject, None, "no such SObject"))
            continue
        for name in [rev.key_field, *(f.salesforce for f in rev.fields)]:
            if sobj.field(name) is None:
                problems.append(Problem(where, rev.sobject, name, "no such field"))
        for name in rev.require_true:
            fd = sobj.field(name)
            if fd is None or fd.type != "boolean":
                problems.append(Problem(where, rev.sobject, name, "require_true needs a checkbox field"))
    return problems


def _check_object(source: str, om: ObjectMapping, schema: Schema) -> list[Problem]:
    where = f"{source}.{om.name}"
    sobj = schema.get(om.sobject)
    if sobj is None:
        return [Problem(where, om.sobject, None, "no such SObject in the schema")]
    out: list[Problem] = []

    def bad(fieldname: str | None, message: str) -> None:
        out.append(Problem(where, om.sobject, fieldname, message))

    key = sobj.field(om.external_id.field)
    if key is None:
        bad(om.external_id.field, "external id field does not exist")
    elif not (key.external_id or key.type == "id"):
        bad(key.name, "is not an external id: upserts need externalId=true")
    elif key.type not in _TEXT_TYPES:
        bad(key.name, f"external id of type {key.type}: the mapping writes text")

    for rule in om.fields:
        fd = sobj.field(rule.target)
        if fd is None:
            bad(rule.target, "no such field")
            continue
        _check_writable(fd, rule.conflict, bad)
        _check_type(rule, fd, bad)
    for parent in om.parents:
        _check_parent(parent, sobj, schema, bad)
    _check_required(om, sobj, bad)
    return out


def _check_writable(fd: FieldDef, conflict: Conflict, bad: _Bad) -> None:
    if not fd.createable:
        bad(fd.name, "is not createable (read-only or formula)")
    elif not fd.updateable and conflict is not Conflict.MAP_ONLY:
        bad(fd.name, "is not updateable: map it with conflict map_only")


def _check_type(rule: FieldRule, fd: FieldDef, bad: _Bad) -> None:
    kind = kind_of_constant(rule.value) if rule.is_constant else kind_of(rule.transform)
    if kind is None:
        return
    if fd.type not in FITS[kind]:
        how = f"constant {rule.value!r}" if rule.is_constant else f"transform {rule.transform.value}"
        bad(fd.name, f"{how} gives {kind}, which does not fit a {fd.type} field")
        return
    if kind == "id" and "Account" not in fd.reference_to and fd.type == "reference":
        bad(fd.name, f"an Account Id does not fit a lookup to {', '.join(fd.reference_to)}")
    if rule.is_constant and fd.picklist and isinstance(rule.value, str) and rule.value not in fd.picklist:
        bad(fd.name, f"{rule.value!r} is not one of the picklist values")
    if rule.default is not None and kind_of_constant(rule.default) not in (None, kind) and kind != "number":
        bad(fd.name, f"default {rule.default!r} does not fit a {fd.type} field")


def _check_parent(parent: ParentRef, sobj: SObjectDef, schema: Schema, bad: _Bad) -> None:
    fd = sobj.field(parent.field)
    if fd is None:
        bad(parent.field, "no such lookup field")
        return
    if fd.type != "reference":
        bad(fd.name, f"is a {fd.type}, not a lookup")
        return
    if parent.sobject not in fd.reference_to:
        bad(fd.name, f"looks up {', '.join(fd.reference_to)}, not {parent.sobject}")
    if (fd.relationship_name or "").lower() != parent.relationship.lower():
        bad(fd.name, f"relationship is {fd.relationship_name}, the mapping writes {parent.relationship}")
    _check_writable(fd, parent.conflict, bad)
    target = schema.get(parent.sobject)
    if target is None:
        bad(fd.name, f"parent SObject {parent.sobject} is not in the schema")
        return
    ext = target.field(parent.external_id_field)
    if ext is None or not ext.external_id:
        bad(fd.name, f"{parent.sobject}.{parent.external_id_field} is not an external id")


def _check_required(om: ObjectMapping, sobj: SObjectDef, bad: _Bad) -> None:
    mapped = {r.target.lower() for r in om.fields} | {p.field.lower() for p in om.parents}
    mapped.add(om.external_id.field.lower())
    for fd in sobj.all_fields():
        if fd.required and fd.createable and fd.name.lower() not in mapped:
            bad(fd.name, "is required on create and not mapped")
