"""The Salesforce metadata the active mappings need, as a deployable Salesforce DX source package.

Source of truth: the mappings (which SObjects and fields are written or read back) and the
schema files (types, lengths, external ids, lookups). Custom objects get an
`objects/<Obj>/<Obj>.object-meta.xml`; every custom field, on custom and standard objects, an
`objects/<Obj>/fields/<Field>.field-meta.xml`; `package.xml` lists them all. Standard objects
and standard fields exist in every org and are never part of the package.

    sf project deploy start --source-dir <out> --target-org <alias>
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bridge.errors import ConfigError
from bridge.mapping.model import VendorMapping
from bridge.salesforce.schema import FieldDef, Schema, SObjectDef

NAMESPACE = "http://soap.sforce.com/2006/04/metadata"

# Schema (describe) types → Metadata API CustomField types.
_TYPES = {
    "string": "Text",
    "boolean": "Checkbox",
    "int": "Number",
    "double": "Number",
    "currency": "Currency",
    "percent": "Percent",
    "date": "Date",
    "datetime": "DateTime",
    "email": "Email",
    "phone": "Phone",
    "url": "Url",
    "picklist": "Picklist",
    "multipicklist": "MultiselectPicklist",
}
_TEXT_AREA_MAX = 255  # longer text areas are Long Text Areas


@dataclass
class ObjectNeed:
    """One SObject the mappings touch: created when custom, and the custom fields they use."""

    sobject: SObjectDef
    fields: dict[str, FieldDef] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        return self.sobject.custom


# Fields writeback itself reads or writes beyond the reverse mappings, per billing source
# (consumers/won_opportunity.py and consumers/new_customer.py).
WRITEBACK_FIELDS: dict[str, dict[str, tuple[str, ...]]] = {
    "orb": {"Opportunity": ("Orb_Plan__c", "Orb_Subscription_Id__c"), "Account": ("Orb_Billing_Email__c",)},
    "chargebee": {"Opportunity": ("Subscription_Id__c",)},
}


def needed_metadata(mappings: Iterable[VendorMapping], schema: Schema) -> list[ObjectNeed]:
    """Every SObject the enabled mappings write or read back, with the custom fields involved.

    A lookup's parent needs its external id field too, even when the parent's own mapping is
    not selected: the upsert resolves `Parent__r.Ext__c` against it."""
    wanted: dict[str, set[str]] = {}

    def want(sobject: str, *names: str) -> None:
        wanted.setdefault(sobject, set()).update(names)

    for vm in mappings:
        for om in vm.objects:
            if not om.enabled:
                continue
            want(om.sobject, om.external_id.field, *(r.target for r in om.fields))
            if om.synced_at_field:
                want(om.sobject, om.synced_at_field)
            for ref in om.parents:
                want(om.sobject, ref.field)
                want(ref.sobject, ref.external_id_field)
        for rm in vm.reverse:
            want(rm.sobject, rm.key_field, *rm.require_true, *(f.salesforce for f in rm.fields))
        for sobject, names in WRITEBACK_FIELDS.get(vm.source, {}).items():
            want(sobject, *names)
    needs: list[ObjectNeed] = []
    problems: list[str] = []
    for name in sorted(wanted):
        obj = schema.get(name)
        if obj is None:
            problems.append(f"{name}: no such SObject in the schema")
            continue
        need = ObjectNeed(obj)
        for fname in sorted(wanted[name], key=str.lower):
            fdef = obj.field(fname)
            if fdef is None:
                problems.append(f"{obj.name}.{fname}: no such field in the schema")
            elif fdef.name.endswith("__c"):
                need.fields[fdef.name] = fdef
        if need.custom or need.fields:
            needs.append(need)
    if problems:
        raise ConfigError("the mappings use what the schema lacks: " + "; ".join(problems))
    return needs


def object_metadata(need: ObjectNeed) -> dict[str, Any]:
    """The CustomObject body of a custom object (without its fields)."""
    obj = need.sobject
    master_detail = any(f.master_detail for f in obj.fields)
    name_field = obj.field("Name")
    return {
        "label": obj.label,
        "pluralLabel": obj.label_plural,
        "nameField": {"label": name_field.label if name_field else f"{obj.label} Name", "type": "Text"},
        "deploymentStatus": "Deployed",
        # A master-detail child inherits its sharing from the master.
        "sharingModel": "ControlledByParent" if master_detail else "ReadWrite",
        "visibility": "Public",
    }


def field_metadata(fdef: FieldDef, owner: SObjectDef) -> dict[str, Any]:
    """The CustomField body of one custom field (Metadata API names and required elements)."""
    out: dict[str, Any] = {"fullName": fdef.name, "label": fdef.label}
    if fdef.description:
        out["description"] = fdef.description
    if fdef.type == "reference":
        if len(fdef.reference_to) != 1 or not fdef.relationship_name:
            raise ConfigError(f"{owner.name}.{fdef.name}: a lookup needs referenceTo + relationshipName")
        # Metadata names the relationship without the `__r` the API adds.
        out.update(
            referenceTo=fdef.reference_to[0],
            relationshipLabel=owner.label_plural,
            relationshipName=fdef.relationship_name.removesuffix("__r"),
        )
        if fdef.master_detail:
            out.update(
                type="MasterDetail",
                relationshipOrder=0,
                reparentableMasterDetail=False,
                writeRequiresMasterRead=False,
            )
        else:
            out.update(type="Lookup", deleteConstraint="SetNull", required=False)
        return out
    if fdef.type == "textarea":
        length = fdef.length or 32768
        if length > _TEXT_AREA_MAX:
            out.update(type="LongTextArea", length=length, visibleLines=3)
        else:
            out.update(type="TextArea")
        out["required"] = False
        return out
    kind = _TYPES.get(fdef.type)
    if kind is None:
        raise ConfigError(f"{owner.name}.{fdef.name}: type {fdef.type} cannot be exported")
    out["type"] = kind
    if kind == "Checkbox":
        out["defaultValue"] = False  # required for checkboxes; they have no `required`
        return out
    out["required"] = fdef.required
    if kind == "Text":
        out["length"] = fdef.length or 255
    elif kind in ("Number", "Currency", "Percent"):
        scale = fdef.scale if fdef.scale is not None else (0 if fdef.type == "int" else 2)
        out.update(precision=fdef.precision or 18, scale=scale)
    elif kind in ("Picklist", "MultiselectPicklist"):
        out["valueSet"] = {
            "valueSetDefinition": {
                "sorted": False,
                "value": [{"fullName": v, "default": False, "label": v} for v in fdef.picklist],
            }
        }
        if kind == "MultiselectPicklist":
            out["visibleLines"] = 4
    if fdef.external_id:
        out["externalId"] = True
    if fdef.unique and kind in ("Text", "Number", "Email"):
        out["unique"] = True
        if kind == "Text":
            out["caseSensitive"] = False
    return out


def package_manifest(needs: list[ObjectNeed], api_version: str) -> dict[str, Any]:
    """The package: members by metadata type, the API version, and each object's metadata."""
    objects = []
    for need in needs:
        entry: dict[str, Any] = {"name": need.sobject.name, "custom": need.custom}
        if need.custom:
            entry["object"] = object_metadata(need)
        entry["fields"] = [field_metadata(f, need.sobject) for f in need.fields.values()]
        objects.append(entry)
    return {
        "version": api_version,
        "types": {
            "CustomField": sorted(f"{n.sobject.name}.{f}" for n in needs for f in n.fields),
            "CustomObject": sorted(n.sobject.name for n in needs if n.custom),
        },
        "objects": objects,
    }


def source_files(manifest: dict[str, Any]) -> dict[str, str]:
    """Relative path → XML text of every file of the DX source package."""
    files: dict[str, str] = {}
    pkg = ET.Element("Package", xmlns=NAMESPACE)
    for type_name, members in sorted(manifest["types"].items()):
        if not members:
            continue
        types = ET.SubElement(pkg, "types")
        for member in members:
            ET.SubElement(types, "members").text = member
        ET.SubElement(types, "name").text = type_name
    ET.SubElement(pkg, "version").text = manifest["version"]
    files["package.xml"] = _xml(pkg)
    for obj in manifest["objects"]:
        name = obj["name"]
        if "object" in obj:
            files[f"objects/{name}/{name}.object-meta.xml"] = _xml(_element("CustomObject", obj["object"]))
        for fmeta in obj["fields"]:
            path = f"objects/{name}/fields/{fmeta['fullName']}.field-meta.xml"
            files[path] = _xml(_element("CustomField", fmeta))
    return files


def _element(tag: str, body: dict[str, Any]) -> ET.Element:
    root = ET.Element(tag, xmlns=NAMESPACE)
    _fill(root, body)
    return root


def _fill(parent: ET.Element, body: dict[str, Any]) -> None:
    # Salesforce writes fullName first, then the elements in alphabetical order.
    for key in sorted(body, key=lambda k: (k != "fullName", k)):
        value = body[key]
        for item in value if isinstance(value, list) else [value]:
            child = ET.SubElement(parent, key)
            if isinstance(item, dict):
                _fill(child, item)
            elif isinstance(item, bool):
                child.text = "true" if item else "false"
            else:
                child.text = str(item)


def _xml(root: ET.Element) -> str:
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
