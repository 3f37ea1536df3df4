"""`describe` answers built from the schema, in the shape Salesforce's REST API returns."""

from __future__ import annotations

from typing import Any

from bridge.salesforce.schema import FieldDef
from bridge.sandbox.salesforce.catalog import Catalog, ObjectInfo

_SOAP = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "percent": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}


def urls(info: ObjectInfo, base: str) -> dict[str, str]:
    root = f"{base}/sobjects/{info.name}"
    return {
        "sobject": root,
        "describe": f"{root}/describe",
        "rowTemplate": f"{root}/{{ID}}",
    }


def summary(info: ObjectInfo, base: str) -> dict[str, Any]:
    """The entry of `GET /sobjects/` for one object."""
    obj = info.sobject
    return {
        "name": obj.name,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "keyPrefix": obj.key_prefix,
        "custom": obj.custom,
        "customSetting": False,
        "createable": True,
        "updateable": True,
        "deletable": True,
        "queryable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "replicateable": True,
        "layoutable": True,
        "activateable": False,
        "feedEnabled": False,
        "deprecatedAndHidden": False,
        "urls": urls(info, base),
    }


def field_json(f: FieldDef) -> dict[str, Any]:
    nillable = not f.required and f.type != "boolean" and f.name != "Id"
    return {
        "name": f.name,
        "label": f.label,
        "type": f.type,
        "soapType": _SOAP.get(f.type, "xsd:string"),
        "length": f.length or 0,
        "byteLength": (f.length or 0) * 3,
        "precision": f.precision or 0,
        "scale": f.scale or 0,
        "digits": 0,
        "nillable": nillable,
        "createable": f.createable,
        "updateable": f.updateable,
        "defaultedOnCreate": f.type == "boolean" or f.name in ("OwnerId", "CreatedDate", "CreatedById"),
        "externalId": f.external_id,
        "unique": f.unique,
        "idLookup": f.external_id or f.name == "Id",
        "caseSensitive": False,
        "custom": f.name.endswith("__c"),
        "calculated": False,
        "filterable": f.type != "textarea",
        "sortable": f.type != "textarea",
        "groupable": f.type not in ("textarea", "double", "currency", "percent", "datetime"),
        "nameField": f.name == "Name",
        "referenceTo": list(f.reference_to),
        "relationshipName": f.relationship_name,
        "relationshipOrder": 0 if f.master_detail else None,
        "cascadeDelete": f.master_detail,
        "restrictedDelete": False,
        "writeRequiresMasterRead": f.master_detail,
        "polymorphicForeignKey": len(f.reference_to) > 1,
        "picklistValues": [
            {"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
            for v in f.picklist
        ],
        "restrictedPicklist": False,
        "inlineHelpText": f.description,
        "defaultValue": False if f.type == "boolean" else None,
        "htmlFormatted": False,
        "autoNumber": False,
        "encrypted": False,
        "deprecatedAndHidden": False,
    }


def describe(catalog: Catalog, info: ObjectInfo, base: str) -> dict[str, Any]:
    """`GET /sobjects/{Obj}/describe`."""
    out = summary(info, base)
    out.update(
        fields=[field_json(f) for f in info.ordered],
        childRelationships=[
            {
                "childSObject": child,
                "field": f.name,
                "relationshipName": _child_relationship(child, f),
                "cascadeDelete": f.master_detail,
                "restrictedDelete": False,
                "deprecatedAndHidden": False,
            }
            for child, f in info.children
        ],
        recordTypeInfos=[],
        supportedScopes=[{"label": "All", "name": "everything"}],
        networkScopeFieldName=None,
        listviewable=None,
        lookupLayoutable=None,
        sobjectDescribeOption="FULL",
    )
    out["urls"].update(
        compactLayouts=f"{base}/sobjects/{info.name}/describe/compactLayouts",
        layouts=f"{base}/sobjects/{info.name}/describe/layouts",
    )
    return out


def _child_relationship(child: str, f: FieldDef) -> str:
    """`Contacts` for Contact.AccountId; `Foos__r` for a custom child `Foo__c`."""
    if child.endswith("__c"):
        return child[:-3] + "s__r"
    return child + ("es" if child.endswith("s") else "s")
