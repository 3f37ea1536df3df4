"""`schema_from_describes`: an org's describe answers become the `Schema` the mappings are checked against."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from bridge.errors import ConfigError
from bridge.mapping import build_mapper, check_mappings, touched_sobjects
from bridge.salesforce.describe_schema import schema_from_describes
from bridge.salesforce.schema import load_schema
from bridge.sandbox.salesforce.catalog import Catalog
from bridge.sandbox.salesforce.describe import describe

BASE = "/services/data/v62.0"


def _field(name: str, type_: str, **extra: Any) -> dict[str, Any]:
    """A field entry with the keys and defaults a real org's describe carries."""
    entry: dict[str, Any] = {
        "name": name,
        "label": name,
        "type": type_,
        "length": 0,
        "byteLength": 0,
        "precision": 0,
        "scale": 0,
        "digits": 0,
        "nillable": True,
        "createable": True,
        "updateable": True,
        "defaultedOnCreate": False,
        "externalId": False,
        "unique": False,
        "calculated": False,
        "cascadeDelete": False,
        "referenceTo": [],
        "relationshipName": None,
        "picklistValues": [],
        "inlineHelpText": None,
    }
    entry.update(extra)
    return entry


def _value(value: str, active: bool = True) -> dict[str, Any]:
    return {"active": active, "defaultValue": False, "label": value, "validFor": None, "value": value}


READ_ONLY = {"createable": False, "updateable": False}

# Shaped after a real org's `GET /sobjects/Account/describe` (fields trimmed, types kept).
ACCOUNT = {
    "name": "Account",
    "label": "Account",
    "labelPlural": "Accounts",
    "keyPrefix": "001",
    "custom": False,
    "fields": [
        _field("Id", "id", length=18, nillable=False, **READ_ONLY),
        _field("IsDeleted", "boolean", nillable=False, defaultedOnCreate=True, **READ_ONLY),
        _field("Name", "string", length=255, nillable=False),
        _field(
            "Type",
            "picklist",
            length=255,
            picklistValues=[
                _value("Prospect"),
                _value("Old", active=False),
                _value("Other"),
            ],
        ),
        _field("BillingStreet", "textarea", length=255),
        _field("BillingAddress", "address", **READ_ONLY),
        _field("BillingGeo", "location", **READ_ONLY),
        _field("Rating_Text__c", "combobox", length=40),
        _field("Secret__c", "encryptedstring", length=175),
        _field("Seats__c", "long", digits=18),
        _field("NumberOfEmployees", "int", digits=8),
        _field("AnnualRevenue", "currency", precision=18, scale=0),
        _field("Opens_At__c", "time"),
        _field("Logo__c", "base64", length=32000),
        _field("Age_Days__c", "double", precision=18, scale=2, calculated=True, **READ_ONLY),
        _field(
            "Billing_Key__c",
            "string",
            length=64,
            externalId=True,
            unique=True,
            inlineHelpText="Key in the billing system",
        ),
        _field(
            "OwnerId",
            "reference",
            length=18,
            nillable=False,
            defaultedOnCreate=True,
            referenceTo=["User"],
            relationshipName="Owner",
        ),
        _field("CreatedDate", "datetime", nillable=False, defaultedOnCreate=True, **READ_ONLY),
    ],
}

# A master-detail child without Name or Owner (and, as some objects, no SystemModstamp).
LINE = {
    "name": "Line__c",
    "label": "Line",
    "labelPlural": "Lines",
    "keyPrefix": None,
    "custom": True,
    "fields": [
        _field("Id", "id", length=18, nillable=False, **READ_ONLY),
        _field(
            "Account__c",
            "reference",
            length=18,
            nillable=False,
            referenceTo=["Account"],
            relationshipName="Account__r",
            cascadeDelete=True,
            updateable=False,
        ),
        _field("Quantity__c", "double", precision=18, scale=0, nillable=False, defaultedOnCreate=True),
    ],
}


def test_a_real_shaped_describe_becomes_the_fields_the_org_reported_and_no_others() -> None:
    schema = schema_from_describes([ACCOUNT, LINE])

    account = schema.get("account")
    assert account is not None
    assert [f.name for f in account.all_fields()] == [f["name"] for f in ACCOUNT["fields"]]
    assert (account.label_plural, account.key_prefix, account.custom) == ("Accounts", "001", False)
    assert account.name_field and account.has_owner
    line = schema.get("Line__c")
    assert line is not None
    assert [f.name for f in line.all_fields()] == ["Id", "Account__c", "Quantity__c"]
    assert not line.name_field and not line.has_owner and line.key_prefix == "" and line.custom


def test_field_flags_follow_the_describe() -> None:
    schema = schema_from_describes([ACCOUNT, LINE])
    account, line = schema.get("Account"), schema.get("Line__c")
    assert account is not None and line is not None

    def fd(obj: Any, name: str) -> Any:
        found = obj.field(name)
        assert found is not None, name
        return found

    # Required: not nillable, not defaulted on create, createable. Only Name and the lookup.
    assert [f.name for f in account.all_fields() if f.required] == ["Name"]
    assert [f.name for f in line.all_fields() if f.required] == ["Account__c"]
    assert fd(account, "Type").picklist == ["Prospect", "Other"]  # the inactive value is gone
    key = fd(account, "Billing_Key__c")
    assert key.external_id and key.unique and key.length == 64
    assert key.description == "Key in the billing system"
    assert fd(account, "BillingStreet").length == 255
    assert fd(account, "Opens_At__c").length is None  # 0 in the describe: no cap, not a cap of 0
    assert fd(account, "NumberOfEmployees").precision == 8  # int fields report `digits`
    assert (fd(account, "AnnualRevenue").precision, fd(account, "AnnualRevenue").scale) == (18, 0)
    assert fd(account, "BillingStreet").precision is None
    formula = fd(account, "Age_Days__c")
    assert not formula.createable and not formula.updateable
    owner = fd(account, "OwnerId")
    assert owner.reference_to == ["User"] and owner.relationship_name == "Owner" and not owner.required
    parent = fd(line, "Account__c")
    assert parent.master_detail and parent.reference_to == ["Account"] and not parent.updateable
    assert {f.type for f in account.all_fields()} >= {"combobox", "encryptedstring", "long", "time", "base64"}


def test_the_sandbox_describe_round_trips_to_the_schema_it_serves() -> None:
    served = load_schema()
    catalog = Catalog(served)
    describes = [describe(catalog, catalog.get(name), BASE) for name in served.objects]

    rebuilt = schema_from_describes(describes)

    assert sorted(rebuilt.objects) == sorted(served.objects)
    for name, obj in served.objects.items():
        again = rebuilt.objects[name]
        assert [f.name for f in again.all_fields()] == [f.name for f in catalog.get(name).ordered]
        for want in obj.all_fields():
            got = again.field(want.name)
            assert got is not None, f"{name}.{want.name}"
            keys = ("type", "length", "required", "external_id", "unique", "reference_to")
            keys += ("relationship_name", "master_detail", "picklist", "createable", "updateable")
            assert {k: getattr(got, k) for k in keys} == {k: getattr(want, k) for k in keys}, want.name
        assert (again.label, again.label_plural, again.key_prefix, again.custom) == (
            obj.label,
            obj.label_plural,
            obj.key_prefix,
            obj.custom,
        )


def _served_describes() -> list[dict[str, Any]]:
    served = load_schema()
    catalog = Catalog(served)
    return [describe(catalog, catalog.get(name), BASE) for name in served.objects]


def _retype(describes: list[dict[str, Any]], sobject: str, field: str, type_: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(describes)
    obj = next(d for d in out if d["name"] == sobject)
    next(f for f in obj["fields"] if f["name"] == field)["type"] = type_
    return out


def test_check_accepts_strings_in_a_combobox_and_names_an_address_field_that_cannot_take_them() -> None:
    mapper = build_mapper(chargebee_site="acme")
    describes = _served_describes()
    assert check_mappings(mapper.mappings.values(), schema_from_describes(describes)) == []

    combobox = schema_from_describes(_retype(describes, "OrbCustomer__c", "Billing_City__c", "combobox"))
    assert check_mappings(mapper.mappings.values(), combobox) == []

    address = schema_from_describes(_retype(describes, "OrbCustomer__c", "Billing_City__c", "address"))
    problems = [str(p) for p in check_mappings(mapper.mappings.values(), address)]
    assert problems == [
        "orb.customer → OrbCustomer__c.Billing_City__c: transform str gives string, "
        "which does not fit a address field"
    ]


def test_a_field_type_unknown_to_the_bridge_is_kept_as_one_that_takes_no_value() -> None:
    odd = copy.deepcopy(LINE)
    odd["fields"].append(_field("Weird__c", "datacategorygroupreference"))
    line = schema_from_describes([odd]).get("Line__c")
    assert line is not None
    weird = line.field("Weird__c")
    assert weird is not None and weird.type == "anyType"


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"label": "No name", "fields": []}, "no SObject name"),
        ({"name": "Thing__c"}, "describe of Thing__c has no fields list"),
        ({"name": "Thing__c", "fields": [{"type": "string"}]}, "Thing__c has a field without a name"),
    ],
)
def test_a_malformed_describe_is_an_error_naming_what_is_wrong(bad: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        schema_from_describes([bad])


def test_the_same_sobject_twice_is_an_error() -> None:
    with pytest.raises(ConfigError, match="describe of Line__c given twice"):
        schema_from_describes([LINE, LINE])


def test_touched_sobjects_lists_targets_parents_and_reverse_sources_once() -> None:
    mapper = build_mapper(chargebee_site="acme")
    touched = touched_sobjects(mapper.mappings.values())

    assert len(touched) == len({t.lower() for t in touched})
    expected = set()
    for vm in mapper.mappings.values():
        expected |= {om.sobject for om in vm.objects} | {r.sobject for r in vm.reverse}
        expected |= {p.sobject for om in vm.objects for p in om.parents}
    assert set(touched) == expected
    assert {"Account", "OrbCustomer__c", "OrbInvoice__c"} <= set(touched)
