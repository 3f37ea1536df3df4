"""User overrides (TOML): rename, drop, constants, conflicts, object selection; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from mapping_payloads import (
    cb_customer,
    cb_envelope,
    cb_event,
    merged_schema,
    orb_envelope,
    orb_event,
    orb_invoice,
)

from bridge.errors import ConfigError
from bridge.mapping import build_mapper, check_mappings, load_overrides, reverse_update
from bridge.mapping.overrides import parse_overrides

INVOICE = orb_event(
    "invoice.issued", invoice=orb_invoice(lines=1), properties={"automatically_marked_as_paid": False}
)

GOOD = """
sync_objects = ["invoice", "chargebee:customer"]

[chargebee.options]
site = "acme-test"

[orb.objects.invoice]
drop = ["Memo__c", "Orb_Subscription__c", "Subtotal__c"]
rename = { Total__c = "Subtotal__c", Amount_Due__c = "Invoice_Total_X__c" }
constants = { Status__c = "synced-by-bridge" }
conflicts = { Name = "overwrite_if_empty" }
"""


def test_overrides_rename_drop_add_constants_and_change_conflicts() -> None:
    mapper = build_mapper(overrides=parse_overrides(GOOD))
    inv = next(w for w in mapper.map_event(orb_envelope(INVOICE)) if w.sobject == "OrbInvoice__c")
    assert "Memo__c" not in inv.fields and "Orb_Subscription__r" not in inv.fields
    assert inv.fields["Subtotal__c"] == 60.0 and "Total__c" not in inv.fields
    assert inv.fields["Status__c"] == "synced-by-bridge"
    assert inv.fill_if_empty == {"Name": "ACME-0001"} and "Name" not in inv.fields


def test_sync_objects_select_what_is_written_and_options_apply() -> None:
    mapper = build_mapper(overrides=parse_overrides(GOOD))
    orb_writes = {w.sobject for w in mapper.map_event(orb_envelope(INVOICE))}
    assert orb_writes == {"OrbInvoice__c"}  # no customer/subscription stubs, no line items
    cb_writes = mapper.map_event(cb_envelope(cb_event("customer_created", customer=cb_customer())))
    assert [w.sobject for w in cb_writes] == ["CB_Site__c", "Account", "Contact"]
    assert cb_writes[0].external_id == "acme-test"


def test_sync_objects_setting_string_is_used_when_the_file_has_none() -> None:
    mapper = build_mapper(sync_objects="customer")
    assert mapper.map_event(orb_envelope(INVOICE)) == [
        w for w in mapper.map_event(orb_envelope(INVOICE)) if w.sobject == "OrbCustomer__c"
    ]
    assert {w.sobject for w in mapper.map_event(orb_envelope(INVOICE))} == {"OrbCustomer__c"}


def test_renamed_field_that_does_not_exist_is_caught_by_check() -> None:
    schema = merged_schema()
    problems = check_mappings(build_mapper(overrides=parse_overrides(GOOD)).mappings.values(), schema)
    assert [str(p) for p in problems] == ["orb.invoice → OrbInvoice__c.Invoice_Total_X__c: no such field"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "[orb.objects.invoice]\ndorp = ['Memo__c']",
            "orb.objects.invoice.dorp: Extra inputs are not permitted",
        ),
        ("[orb.objects.invoce]\ndrop = ['Memo__c']", "orb.objects.invoce: no such mapping"),
        (
            "[orb.objects.invoice]\ndrop = ['Nope__c']",
            "orb.objects.invoice.drop: Nope__c is not mapped by invoice",
        ),
        ("[orb.objects.invoice]\nconflicts = { Name = 'sometimes' }", "orb.objects.invoice.conflicts.Name"),
        ("[chargebee.options]\nsitee = 'x'", "chargebee.options.sitee: unknown option"),
        ("[stripe]\nx = 1", "stripe: Extra inputs are not permitted"),
        ("sync_objects = ['invoices']", "sync objects: unknown invoices"),
        ("[orb.objects.invoice\n", "not valid TOML"),
        (
            "[orb.objects.invoice]\nrename = { Total__c = 'Name' }",
            "orb.objects.invoice.rename: Name is already mapped",
        ),
    ],
)
def test_bad_override_files_name_the_key_at_fault(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mapping.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        build_mapper(overrides=load_overrides(path), origin=str(path))
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_missing_overrides_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read mapping overrides"):
        load_overrides(tmp_path / "absent.toml")


def test_reverse_flows_account_changes_back_only_when_sync_is_checked() -> None:
    cb = build_mapper(chargebee_site="acme").mappings["chargebee"]
    account = {
        "Id": "001Dn00000AbCdEfGH",
        "Chargebee_Id__c": "cb_cus_1",
        "Sync_with_Chargebee__c": True,
        "Name": "Acme AG",
        "BillingCity": "Hamburg",
        "Net_Term_Days__c": 45.0,
    }
    update = reverse_update(
        cb, "Account", account, changed_fields=["Name", "BillingCity", "Net_Term_Days__c"]
    )
    assert update is not None and update.key == "cb_cus_1" and update.billing_key == "id"
    assert update.values == {
        "company": "Acme AG",
        "billing_address": {"city": "Hamburg"},
        "net_term_days": 45,
    }
    assert reverse_update(cb, "Account", {**account, "Sync_with_Chargebee__c": False}, ["Name"]) is None
    assert reverse_update(cb, "Account", account, changed_fields=["Description"]) is None
    orb = build_mapper().mappings["orb"]
    orb_update = reverse_update(orb, "Account", account, ["Name"])
    assert orb_update is not None and orb_update.billing_key == "external_customer_id"
    assert orb_update.key == "001Dn00000AbCdEfGH" and orb_update.values == {"name": "Acme AG"}


def test_yaml_overrides_work_like_toml(tmp_path: Path) -> None:
    path = tmp_path / "mapping.yaml"
    path.write_text(
        "orb:\n  objects:\n    invoice:\n      drop: [Memo__c]\n      constants: {Status__c: fixed}\n"
    )
    mapper = build_mapper(overrides=load_overrides(path))
    inv = next(w for w in mapper.map_event(orb_envelope(INVOICE)) if w.sobject == "OrbInvoice__c")
    assert inv.fields["Status__c"] == "fixed" and "Memo__c" not in inv.fields
    path.write_text("orb:\n  objects:\n    invoice:\n      drop: Memo__c\n")
    with pytest.raises(ConfigError, match=r"orb\.objects\.invoice\.drop: Input should be a valid list"):
        load_overrides(path)
