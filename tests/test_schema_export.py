"""`bridge schema export`: a Salesforce DX source package of what the active mappings need."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bridge.cli import app
from bridge.mapping import build_mapper, load_overrides
from bridge.salesforce.schema import load_schema

runner = CliRunner()
NS = {"md": "http://soap.sforce.com/2006/04/metadata"}


@pytest.fixture(autouse=True)
def _plain_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("BRIDGE_SYNC_OBJECTS", "BRIDGE_MAPPING_FILE", "BRIDGE_SALESFORCE_API_VERSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no bridge.toml of the developer's


def _written_fields(overrides: Path | None = None, objects: str = "") -> set[str]:
    """`SObject.Field` of every custom field the mappings write or read back, from the model."""
    mapper = build_mapper(overrides=load_overrides(overrides) if overrides else None, sync_objects=objects)
    out: set[str] = set()
    for vm in mapper.mappings.values():
        for om in vm.objects:
            if om.enabled:
                names = [om.external_id.field, *(r.target for r in om.fields), *(p.field for p in om.parents)]
                out.update(f"{om.sobject}.{n}" for n in names)
                out.update(f"{p.sobject}.{p.external_id_field}" for p in om.parents)
        for rm in vm.reverse:
            out.update(f"{rm.sobject}.{f.salesforce}" for f in rm.fields)
    return {f for f in out if f.endswith("__c")}


def _export(out: Path, *args: str) -> dict[str, ET.Element]:
    result = runner.invoke(app, ["schema", "export", "--out", str(out), *args])
    assert result.exit_code == 0, result.output
    return {str(p.relative_to(out)): ET.parse(p).getroot() for p in out.rglob("*.xml")}


def _members(package: ET.Element, kind: str) -> set[str]:
    return {
        m.text or ""
        for t in package.findall("md:types", NS)
        if t.findtext("md:name", namespaces=NS) == kind
        for m in t.findall("md:members", NS)
    }


def test_package_holds_every_custom_field_the_mappings_write_with_flags_and_lookups(tmp_path: Path) -> None:
    files = _export(tmp_path / "pkg")
    schema = load_schema()
    package = files.pop("package.xml")
    fields = _members(package, "CustomField")
    objects = _members(package, "CustomObject")
    assert package.findtext("md:version", namespaces=NS) == "62.0"
    assert _written_fields() <= fields
    # Every member has its file and every file is a member.
    assert {f"objects/{o}/{o}.object-meta.xml" for o in objects} | {
        f"objects/{f.split('.')[0]}/fields/{f.split('.')[1]}.field-meta.xml" for f in fields
    } == set(files)
    # Standard objects are never created; only their custom fields are.
    assert "Account" not in objects and "Account.Chargebee_Id__c" in fields
    assert all(schema.get(o) is not None and schema.get(o).custom for o in objects)  # type: ignore[union-attr]
    for member in fields:
        obj, name = member.split(".")
        root = files[f"objects/{obj}/fields/{name}.field-meta.xml"]
        fdef = schema.get(obj).field(name)  # type: ignore[union-attr]
        assert fdef is not None and root.findtext("md:fullName", namespaces=NS) == name
        assert (root.findtext("md:externalId", namespaces=NS) == "true") == fdef.external_id
        if fdef.type == "reference":
            assert root.findtext("md:type", namespaces=NS) in ("Lookup", "MasterDetail")
            assert root.findtext("md:referenceTo", namespaces=NS) == fdef.reference_to[0]
            assert root.findtext("md:relationshipName", namespaces=NS) + "__r" == fdef.relationship_name
    orb_id = files["objects/OrbInvoice__c/fields/Orb_Id__c.field-meta.xml"]
    assert orb_id.findtext("md:unique", namespaces=NS) == "true"
    assert orb_id.findtext("md:length", namespaces=NS) == "255"
    invoice = files["objects/OrbInvoice__c/OrbInvoice__c.object-meta.xml"]
    assert invoice.findtext("md:nameField/md:type", namespaces=NS) == "Text"
    assert invoice.findtext("md:deploymentStatus", namespaces=NS) == "Deployed"


def test_object_selection_and_overrides_shape_the_package(tmp_path: Path) -> None:
    overrides = tmp_path / "m.toml"
    overrides.write_text('[orb.objects.customer]\ndrop = ["Timezone__c"]\n')
    files = _export(tmp_path / "pkg", "--objects", "customer", "--overrides", str(overrides))
    fields = _members(files["package.xml"], "CustomField")
    assert fields >= _written_fields(overrides, "customer")
    assert "OrbCustomer__c.Timezone__c" not in fields
    assert not any(f.startswith(("OrbInvoice__c.", "CB_Invoice__c.")) for f in fields)
    assert "OrbInvoice__c" not in _members(files["package.xml"], "CustomObject")


def test_json_format_prints_the_same_package(tmp_path: Path) -> None:
    files = _export(tmp_path / "pkg")
    result = runner.invoke(app, ["schema", "export", "--format", "json"])
    assert result.exit_code == 0, result.output
    manifest = json.loads(result.output)
    assert set(manifest["types"]["CustomField"]) == _members(files["package.xml"], "CustomField")
    assert set(manifest["types"]["CustomObject"]) == _members(files["package.xml"], "CustomObject")
    [lookup] = [
        f
        for o in manifest["objects"]
        if o["name"] == "OrbInvoice__c"
        for f in o["fields"]
        if f["fullName"] == "Orb_Customer__c"
    ]
    assert lookup["referenceTo"] == "OrbCustomer__c" and lookup["type"] == "Lookup"


def test_refuses_a_non_empty_folder_unless_forced_and_then_replaces_the_package(tmp_path: Path) -> None:
    out = tmp_path / "pkg"
    _export(out)
    stale = out / "objects" / "Gone__c" / "Gone__c.object-meta.xml"
    stale.parent.mkdir(parents=True)
    stale.write_text("<CustomObject/>")
    refused = runner.invoke(app, ["schema", "export", "--out", str(out), "--objects", "customer"])
    assert refused.exit_code == 2 and "--force" in refused.output
    assert stale.exists()
    forced = runner.invoke(app, ["schema", "export", "--out", str(out), "--objects", "customer", "--force"])
    assert forced.exit_code == 0, forced.output
    assert not stale.exists()
    assert not (out / "objects" / "OrbInvoice__c").exists()


def test_fields_writeback_and_sync_status_use_are_in_the_package(tmp_path: Path) -> None:
    # Not written by any forward mapping, yet a deploy without them breaks writeback or sync.
    from bridge.salesforce.metadata import WRITEBACK_FIELDS

    package = _export(tmp_path / "pkg")["package.xml"]
    members = _members(package, "CustomField")
    wanted = {
        f"{sobject}.{name}"
        for fields in WRITEBACK_FIELDS.values()
        for sobject, names in fields.items()
        for name in names
    }
    assert wanted | {"Account.Last_Synced_At__c"} <= members
