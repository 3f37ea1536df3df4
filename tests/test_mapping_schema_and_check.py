"""The Orb/Chargebee schema families and check_mapping against the merged schema."""

from __future__ import annotations

import re

import pytest
from mapping_payloads import merged_schema

from bridge.mapping import FieldRule, ParentRef, Transform, check_mapping, check_mappings, default_mappings
from bridge.mapping.model import Conflict
from bridge.salesforce.schema import HERE, Schema, load_family

ORB_OBJECTS = {
    "OrbCustomer__c",
    "OrbSubscription__c",
    "OrbSubscriptionVersion__c",
    "OrbPlan__c",
    "OrbInvoice__c",
    "OrbInvoiceLineItemBilling__c",
    "OrbDailyLineItemRevenue__c",
    "OrbCommittedLedgerEntry__c",
}


@pytest.fixture(scope="module")
def schema() -> Schema:
    return merged_schema()


def test_orb_family_defines_exactly_the_eight_seed_objects_each_with_orb_id() -> None:
    fam = load_family(HERE / "orb.json")
    # Besides them, only additions to standard objects (Opportunity's Orb plan and subscription).
    assert {o.name for o in fam.objects if not o.extends} == ORB_OBJECTS
    for obj in (o for o in fam.objects if not o.extends):
        key = obj.field("Orb_Id__c")
        assert key is not None and key.external_id and key.unique and key.length == 255, obj.name


def test_chargebee_custom_objects_have_cb_id_and_names_follow_their_labels() -> None:
    fam = load_family(HERE / "chargebee.json")
    for obj in fam.objects:
        if obj.extends:
            continue
        assert obj.name == re.sub(r"\W+", "_", obj.label) + "__c"
        key = obj.field("CB_Id__c")
        assert key is not None and key.external_id and key.unique, obj.name


def test_standard_objects_get_an_external_id_to_upsert_by(schema: Schema) -> None:
    for name, field in [
        ("Account", "Chargebee_Id__c"),
        ("Contact", "Chargebee_Id__c"),
        ("Product2", "CB_Id__c"),
        ("Pricebook2", "CB_Id__c"),
        ("PricebookEntry", "CB_Id__c"),
        ("Opportunity", "CB_Id__c"),
        ("OpportunityLineItem", "CB_Id__c"),
    ]:
        obj = schema.get(name)
        assert obj is not None
        fd = obj.field(field)
        assert fd is not None and fd.external_id, f"{name}.{field}"
    account = schema.get("Account")
    assert account is not None
    for seed_field in ("Is_Synced__c", "Sync_with_Chargebee__c", "Chargebee_Email__c", "VAT_Number__c"):
        assert account.field(seed_field) is not None, seed_field


def test_key_prefixes_are_unique_and_lookups_point_at_known_objects(schema: Schema) -> None:
    prefixes = [o.key_prefix for o in schema.objects.values()]
    assert len(prefixes) == len(set(prefixes))
    for obj in schema.objects.values():
        for fd in obj.fields:
            if fd.type != "reference" or not fd.name.endswith("__c"):
                continue
            assert fd.relationship_name == fd.name[:-3] + "__r", f"{obj.name}.{fd.name}"
            for target in fd.reference_to:
                assert schema.get(target) is not None, f"{obj.name}.{fd.name} → {target}"


def test_orb_customer_links_to_account(schema: Schema) -> None:
    cust = schema.get("OrbCustomer__c")
    assert cust is not None
    fd = cust.field("Account__c")
    assert fd is not None and fd.reference_to == ["Account"] and fd.relationship_name == "Account__r"


def test_every_default_mapping_passes_check_against_the_merged_schema(schema: Schema) -> None:
    problems = check_mappings(default_mappings(chargebee_site="acme"), schema)
    assert problems == [], "\n".join(map(str, problems))


def _with(mapping_name: str, **update: object):  # type: ignore[no-untyped-def]
    orb = default_mappings()[0]
    objects = [o.model_copy(update=update) if o.name == mapping_name else o for o in orb.objects]
    return orb.model_copy(update={"objects": objects})


def test_check_reports_unknown_field_and_object(schema: Schema) -> None:
    orb = default_mappings()[0]
    inv = orb.object("invoice")
    assert inv is not None
    broken = _with("invoice", fields=[*inv.fields, FieldRule(target="Nope__c", source="id")])
    assert [str(p) for p in check_mapping(broken, schema)] == [
        "orb.invoice → OrbInvoice__c.Nope__c: no such field"
    ]
    gone = _with("invoice", sobject="OrbInvoiceX__c")
    assert any("no such SObject" in p.message for p in check_mapping(gone, schema))


def test_check_reports_type_mismatch_and_non_external_id_key(schema: Schema) -> None:
    inv = default_mappings()[0].object("invoice")
    assert inv is not None
    wrong_type = _with(
        "invoice",
        fields=[FieldRule(target="Will_Auto_Issue__c", source="total", transform=Transform.DECIMAL)],
    )
    messages = [p.message for p in check_mapping(wrong_type, schema)]
    assert any("number, which does not fit a boolean field" in m for m in messages)
    bad_key = _with("invoice", external_id=inv.external_id.model_copy(update={"field": "Invoice_Number__c"}))
    assert any("is not an external id" in p.message for p in check_mapping(bad_key, schema))


def test_check_reports_lookup_to_the_wrong_object(schema: Schema) -> None:
    wrong = ParentRef(
        field="Orb_Customer__c",
        relationship="Orb_Customer__r",
        sobject="OrbPlan__c",
        external_id_field="Orb_Id__c",
        source="customer.id",
    )
    broken = _with("invoice", parents=[wrong])
    assert any("not OrbPlan__c" in p.message for p in check_mapping(broken, schema))


def test_check_wants_map_only_for_fields_salesforce_will_not_update(schema: Schema) -> None:
    cb = default_mappings(chargebee_site="acme")[1]
    pbe = cb.object("pricebook_entry")
    assert pbe is not None
    parents = [p.model_copy(update={"conflict": Conflict.OVERWRITE}) for p in pbe.parents]
    objects = [
        o.model_copy(update={"parents": parents}) if o.name == "pricebook_entry" else o for o in cb.objects
    ]
    messages = [str(p) for p in check_mapping(cb.model_copy(update={"objects": objects}), schema)]
    want = "PricebookEntry.Product2Id: is not updateable: map it with conflict map_only"
    assert f"chargebee.pricebook_entry → {want}" in messages


def test_check_reports_required_field_left_unmapped(schema: Schema) -> None:
    cb = default_mappings(chargebee_site="acme")[1]
    opp = cb.object("opportunity")
    assert opp is not None
    fields = [r for r in opp.fields if r.target != "StageName"]
    objects = [o.model_copy(update={"fields": fields}) if o.name == "opportunity" else o for o in cb.objects]
    messages = [str(p) for p in check_mapping(cb.model_copy(update={"objects": objects}), schema)]
    assert messages == ["chargebee.opportunity → Opportunity.StageName: is required on create and not mapped"]
